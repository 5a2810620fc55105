"""Every read of leads, through the visibility scope first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from marketloop.crm.selectors import Page, paginate
from marketloop.leads.models import Assignment, HandoffPolicy, Lead, Stage, StageChange
from marketloop.leads.policies import all_policies
from marketloop.leads.routing import SELLING_ROLES
from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import OrgUnit, UnitKind, User
from marketloop.org.scope import visible, visible_parts, visible_unit_ids
from marketloop.scoring import selectors as scoring
from marketloop.tracking import selectors as tracking_selectors

PAGE_SIZE = 50
SORT = ("-updated_at", "-id")
RELATED = ("owner_unit", "owner", "partner", "province", "account")


def leads_visible(user: User) -> QuerySet[Lead]:
    return visible(user, Lead.objects.all())


@dataclass
class LeadFilter:
    q: str = ""
    stage: str = ""
    awaiting: bool = False  # waiting for the user's acceptance
    mine: bool = False
    tier: str = ""
    province: int | None = None
    triage: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> LeadFilter:
        """From query parameters (UI and API share them); bad values are ignored."""
        stage = str(params.get("stage") or "")
        return cls(q=str(params.get("q") or "").strip()[:100],
                   stage=stage if stage in Stage.values else "",
                   awaiting=_flag(params.get("awaiting")), mine=_flag(params.get("mine")),
                   tier=str(params.get("tier") or ""), province=_int(params.get("province")))


def _flag(value: Any) -> bool:
    return str(value).lower() in {"1", "true", "on", "yes"}


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _filtered(user: User, flt: LeadFilter) -> QuerySet[Lead]:
    qs = Lead.objects.all()
    if flt.q:
        qs = qs.filter(name__icontains=flt.q)
    if flt.stage:
        qs = qs.filter(stage=flt.stage)
    if flt.awaiting:
        qs = qs.filter(stage=Stage.MQL, owner_id=user.pk)
    if flt.mine:
        qs = qs.filter(owner_id=user.pk)
    if flt.tier:
        qs = qs.filter(tier=flt.tier)
    if flt.province:
        qs = qs.filter(province_id=flt.province)
    if flt.triage:
        qs = qs.filter(in_triage=True)
    return qs


def lead_page(user: User, flt: LeadFilter, cursor: str | None = None,
              size: int = PAGE_SIZE) -> Page[Lead]:
    """A page of the leads `user` may see, newest change first. The scope is applied part by
    part (see crm.selectors.paginate), each on its own index."""
    qs = _filtered(user, flt).select_related(*RELATED)
    parts = visible_parts(user, Lead)
    if parts is None:
        items, next_cursor = paginate(qs, SORT, cursor, size)
    elif not parts:
        items, next_cursor = [], None
    else:
        items, next_cursor = paginate(qs, SORT, cursor, size, parts=parts)
    return Page(items=items, next_cursor=next_cursor, sort="-updated")


def triage_page(user: User, cursor: str | None = None, size: int = PAGE_SIZE) -> Page[Lead]:
    return lead_page(user, LeadFilter(triage=True), cursor, size)


def lead_detail(user: User, lead_id: int) -> Lead:
    lead = (leads_visible(user).select_related(*RELATED, "contact", "escalated_to", "profile")
            .filter(pk=lead_id).first())
    if lead is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such lead.")
    return lead


def stage_changes(lead: Lead) -> QuerySet[StageChange]:
    """Of a lead the caller has read through `lead_detail`."""
    return lead.stage_changes.select_related("by").order_by("at", "id")


def assignments(lead: Lead) -> QuerySet[Assignment]:
    """Of a lead the caller has read through `lead_detail`."""
    return lead.assignments.select_related("owner_unit", "owner", "by").order_by("at", "id")


def latest_triage(leads: list[Lead]) -> list[Assignment]:
    """Why each of these leads (read through the scope) is in triage: its last triage entry."""
    return list(Assignment.objects.filter(lead_id__in=[lead.pk for lead in leads],
                                          how=Assignment.How.TRIAGE)
                .order_by("lead_id", "-at", "-id").distinct("lead_id"))


def current_score(lead: Lead) -> Any:
    """The lead's profile's current scores (None without a profile or a score)."""
    if lead.profile_id is None:
        return None
    return scoring.scores_of([lead.profile_id]).get(lead.profile_id)


def profile_lead(user: User, profile_id: int) -> tuple[Any, Any, Lead | None]:
    """A profile the user may see, its contact and its newest lead (each if they may see
    it too)."""
    profile = tracking_selectors.visible_profile(user, profile_id)
    contact = tracking_selectors.contact_of(user, profile)
    lead = (leads_visible(user).filter(profile_id=profile.pk)
            .select_related("owner", "owner_unit").order_by("-id").first())
    return profile, contact, lead


def policies() -> list[HandoffPolicy]:
    """Company-wide settings: one per tier (defaults where none is stored)."""
    return all_policies()


def people_to_assign(user: User) -> QuerySet[User]:
    """People who can take leads, within the user's part of the organisation."""
    qs = User.objects.filter(is_active=True, unit__isnull=False,
                             roles__overlap=SELLING_ROLES).select_related("unit")
    if not user.is_superuser:
        units = visible_unit_ids(user.unit) if user.unit else []
        if units is not None:
            qs = qs.filter(unit_id__in=units)
    return qs.order_by("unit__path", "username")


def teams() -> QuerySet[OrgUnit]:
    """Units that own accounts and so take leads: key-account and sales departments, and
    partners. The organisation chart is public inside the company."""
    return OrgUnit.objects.filter(Q(kind=UnitKind.PROVINCE_DEPARTMENT) | Q(kind=UnitKind.PARTNER)
                                  | Q(kind=UnitKind.HQ_DEPARTMENT, function="key_account")
                                  ).order_by("path")
