"""Where an MQL goes: the team its account's tier and territory name (the crm tier rules put
the account there: HQ key-account department, a province's key-account or sales department,
or the province's partner), then the person in that team with the lowest open load, ties to
the one handed a lead least recently. Unknown accounts, and teams with nobody to take the lead,
go to marketing's triage queue.

The functions here decide and lock; services.py writes. Two workers routing at once take the
lead's row lock first (so a lead is routed once) and then the team's lock (so the loads they
count include each other's assignments)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Count, Max
from django.utils.translation import gettext as _

from marketloop.crm.models import Account
from marketloop.leads.models import Assignment, Lead, Stage
from marketloop.org.models import Function, OrgUnit, Role, UnitKind, User

SELLING_ROLES = [Role.ACCOUNT_MANAGER, Role.SALES_REP, Role.PARTNER_STAFF]
LOAD_STAGES = [Stage.MQL, Stage.SAL]

# Namespaces of PostgreSQL advisory locks (the first of the two int4 keys).
TEAM_LOCK = 0x4C54  # "LT": assignments within one team
PROFILE_LOCK = 0x4C50  # "LP": the lifecycle of one profile


class TriageReason:
    UNKNOWN_ACCOUNT = "unknown_account"
    NO_OWNER_UNIT = "no_owner_unit"
    NO_ELIGIBLE_PERSON = "no_eligible_person"


@dataclass(frozen=True)
class Candidate:
    user_id: int
    name: str
    load: int
    last_assigned: datetime | None

    def as_detail(self) -> dict[str, Any]:
        return {"id": self.user_id, "name": self.name, "load": self.load,
                "last_assigned": self.last_assigned.isoformat() if self.last_assigned else None}


@dataclass
class Decision:
    """Where a lead goes: a team and a person, or triage with the reason."""

    unit: OrgUnit | None
    owner: Candidate | None
    candidates: list[Candidate] = field(default_factory=list)
    triage_reason: str = ""
    explanation: str = ""

    @property
    def to_triage(self) -> bool:
        return self.owner is None


def marketing_unit() -> OrgUnit:
    """HQ marketing, which owns leads while marketing works them (HQ itself where there is no
    marketing department)."""
    unit = (OrgUnit.objects.filter(kind=UnitKind.HQ_DEPARTMENT, function=Function.MARKETING)
            .order_by("id").first()
            or OrgUnit.objects.filter(kind=UnitKind.HQ).order_by("id").first()
            or OrgUnit.objects.filter(parent__isnull=True).order_by("id").first())
    if unit is None:
        raise RuntimeError("The organisation has no units: create HQ first.")
    return unit


def lock_team(unit_id: int) -> None:
    """Serialise assignments within one team until the transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [TEAM_LOCK, _int4(unit_id)])


def lock_profiles(profile_ids: list[int]) -> None:
    """Serialise lifecycle work on these profiles until the transaction ends (in id order, so
    two transactions never wait on each other in a circle)."""
    if not profile_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, k) FROM (SELECT DISTINCT "
            "(unnest(%s::bigint[]) %% 2147483647)::int AS k ORDER BY 1) keys",
            [PROFILE_LOCK, sorted(set(profile_ids))])


def _int4(value: int) -> int:
    return value % 2147483647  # a shared key between two ids only serialises them


def is_eligible(user: User) -> bool:
    """Whether a person can be handed leads: active, in a unit, with a selling role."""
    return bool(user.is_active and user.unit_id and user.has_role(*SELLING_ROLES))


def eligible_people(unit_ids: list[int] | None = None) -> Any:
    qs = User.objects.filter(is_active=True, unit__isnull=False, roles__overlap=SELLING_ROLES)
    if unit_ids is not None:
        qs = qs.filter(unit_id__in=unit_ids)
    return qs


def candidates(unit_id: int) -> list[Candidate]:
    """The people of a team who can take a lead, with their open load (leads at MQL or SAL
    they own) and when they were last handed one. Read under the team's lock."""
    people = list(eligible_people([unit_id]).order_by("id"))
    if not people:
        return []
    ids = [person.pk for person in people]
    loads = dict(Lead.objects.filter(owner_id__in=ids, stage__in=LOAD_STAGES)
                 .values("owner").annotate(n=Count("id")).values_list("owner", "n"))
    last = dict(Assignment.objects.filter(owner_id__in=ids).values("owner")
                .annotate(at=Max("at")).values_list("owner", "at"))
    return [Candidate(user_id=person.pk, name=str(person), load=loads.get(person.pk, 0),
                      last_assigned=last.get(person.pk)) for person in people]


def pick(people: list[Candidate]) -> Candidate | None:
    """The lowest open load; among equals the one handed a lead least recently (never before
    comes first), then the lowest id."""
    if not people:
        return None
    return min(people, key=lambda c: (c.load, c.last_assigned is not None,
                                      c.last_assigned or datetime.min, c.user_id))


def decide(lead: Lead, *, lock: bool = True) -> Decision:
    """Where `lead` goes now. With `lock`, the chosen team's lock is taken first."""
    account: Account | None = lead.account
    if account is None:
        return Decision(unit=None, owner=None, triage_reason=TriageReason.UNKNOWN_ACCOUNT,
                        explanation=_("The lead's company is not a known account."))
    unit = account.owner_unit
    if unit is None:  # pragma: no cover - the column is required; kept for imported data
        return Decision(unit=None, owner=None, triage_reason=TriageReason.NO_OWNER_UNIT,
                        explanation=_("The account has no owner unit."))
    return decide_in_team(unit, lock=lock, explanation=_(
        "%(account)s (%(tier)s, %(province)s) is owned by %(unit)s.") % {
        "account": account.name, "tier": account.get_tier_display(),
        "province": account.province.display_name if account.province_id else "—",
        "unit": unit.display_name})


def decide_in_team(unit: OrgUnit, *, lock: bool = True, explanation: str = "") -> Decision:
    if lock:
        lock_team(unit.pk)
    people = candidates(unit.pk)
    chosen = pick(people)
    if chosen is None:
        return Decision(unit=unit, owner=None, candidates=people,
                        triage_reason=TriageReason.NO_ELIGIBLE_PERSON,
                        explanation=_("Nobody in %(unit)s can take leads (an active account "
                                      "manager, sales rep or partner staff).")
                        % {"unit": unit.display_name})
    return Decision(unit=unit, owner=chosen, candidates=people, explanation=explanation)


def partner_for(unit: OrgUnit, account: Account | None) -> int | None:
    """The partner that shares the lead: the owning team if it is a partner, else the partner
    that shares the account with the team that owns it."""
    if unit.kind == UnitKind.PARTNER:
        return unit.pk
    if account is not None and account.owner_unit_id == unit.pk:
        return account.partner_id
    return None


def manager_of(unit: OrgUnit, *, besides: int | None = None) -> User | None:
    """The person a team's overdue leads escalate to: an active manager in the team, else in
    the nearest unit above it."""
    ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    chain = list(reversed(ids)) or [unit.pk]
    managers = (User.objects.filter(is_active=True, unit_id__in=chain,
                                    roles__contains=[Role.MANAGER])
                .exclude(pk=besides).order_by("id"))
    by_unit: dict[int, User] = {}
    for manager in managers:
        by_unit.setdefault(manager.unit_id, manager)
    return next((by_unit[uid] for uid in chain if uid in by_unit), None)
