"""Every write of the leads context: the lifecycle (leads made and moved by the scoring rules
or by hand), routing to an owner, and the hand-off that owner accepts or sends back.

Each write is one transaction (the lifecycle's batch: one per chunk of profiles, then one per
lead it routes), checks the actor's permission and visibility, changes the
lead only through `lifecycle.move`, and leaves an audit entry."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from marketloop.audit import services as audit
from marketloop.crm.models import Account, Contact, Tier
from marketloop.leads import lifecycle, routing
from marketloop.leads.channels import first_touch_channel
from marketloop.leads.errors import LeadError, LeadErrorCode
from marketloop.leads.models import (
    STAGE_ORDER,
    Assignment,
    Channel,
    CustomerNeed,
    HandoffPolicy,
    Lead,
    LeadKind,
    RejectReason,
    Stage,
    StageChange,
)
from marketloop.leads.policies import policy_for
from marketloop.leads.workhours import ZONE, add_working_hours
from marketloop.org.errors import NotAllowed, OrgErrorCode
from marketloop.org.models import OrgUnit, User
from marketloop.org.notifications import notify
from marketloop.org.permissions import Action, require
from marketloop.org.scope import is_visible, visible_unit_ids
from marketloop.scoring import selectors as scoring
from marketloop.tracking.models import Identity, IdentityKind, Profile

CLOSED_STAGES = [Stage.CUSTOMER, Stage.DISQUALIFIED]
MARKETING_STAGES = [Stage.SUBSCRIBER, Stage.LEAD, Stage.RECYCLED]  # nurtured by rules
EVALUATE_CHUNK = 500
ROUTE_PENDING_LIMIT = 500
SWEEP_LIMIT = 500
AUDIT_FIELDS = ("stage", "owner_unit", "owner", "partner", "in_triage", "account", "kind",
                "need", "reject_reason")


def _require_visible(user: User, obj: Any) -> None:
    if not is_visible(user, obj):
        raise NotAllowed(OrgErrorCode.NOT_FOUND, _("No such record."), status=404)


def _invalid(field: str, code: LeadErrorCode, message: str) -> LeadError:
    return LeadError(code, message, errors={field: [message]})


def _locked(lead: Lead | int) -> Lead:
    pk = lead if isinstance(lead, int) else lead.pk
    return Lead.objects.select_for_update(of=("self",)).select_related("account").get(pk=pk)


def _audit(actor: User | None, lead: Lead, action: str, before: dict[str, Any],
           reason: str = "") -> None:
    audit.record(actor=actor, obj=lead, action=action,
                 changes=audit.diff(before, audit.snapshot(lead, AUDIT_FIELDS)), reason=reason)


def _detail_url(lead: Lead) -> str:
    return reverse("leads:lead_detail", args=[lead.pk])


def _local(moment: datetime | None) -> str:
    return date_format(moment.astimezone(ZONE), "Y-m-d H:i") if moment else "—"


def _refresh_scores(lead: Lead) -> None:
    """Copy the profile's current scores onto the lead (its snapshot)."""
    if lead.profile_id is None:
        return
    score = scoring.scores_of([lead.profile_id]).get(lead.profile_id)
    if score is not None:
        lead.fit, lead.engagement = score.fit, score.engagement


# ==== the lifecycle by rule =================================================================


def apply_scores(*, profile_ids: Iterable[int]) -> list[int]:
    """Profiles were (re)scored: a known person without an open lead gets one (a subscriber),
    and a lead moves forward where the scoring model's thresholds say so. Leads that became
    MQLs are then routed, each in its own transaction. Returns their ids."""
    ids = sorted({int(pk) for pk in profile_ids})
    model = scoring.active_model()
    qualified: list[int] = []
    for start in range(0, len(ids), EVALUATE_CHUNK):
        qualified += _evaluate(ids[start:start + EVALUATE_CHUNK], model)
    for lead_id in qualified:
        route_lead(lead_id=lead_id)
    return qualified


@transaction.atomic
def _evaluate(profile_ids: list[int], model: Any) -> list[int]:
    routing.lock_profiles(profile_ids)
    scores = scoring.scores_of(profile_ids)
    leads = {lead.profile_id: lead for lead in Lead.objects.select_for_update()
             .filter(profile_id__in=profile_ids).exclude(stage__in=CLOSED_STAGES)}
    entries: list[Any] = []
    missing = [pk for pk in profile_ids if pk not in leads]
    if missing:
        leads.update(_new_leads(missing, scores, entries))
    qualified = []
    for profile_id, lead in leads.items():
        before = lead.stage
        if _apply_rules(lead, scores.get(profile_id), model):
            lead.save()
            if lead.stage != before:
                entries.append(audit.entry(actor=None, obj=lead, action="stage",
                                           changes={"stage": [before, lead.stage]},
                                           reason=_("Scoring thresholds")))
        if _awaits_routing(lead):
            qualified.append(lead.pk)
    audit.record_many(entries)
    return qualified


def _new_leads(profile_ids: list[int], scores: dict[int, Any],
               entries: list[Any]) -> dict[int, Lead]:
    """Leads for the known people among these profiles (a CRM contact, or an email address).
    A profile whose last lead was disqualified gets no new one by rule: a marketer decided."""
    profiles = (Profile.objects.filter(pk__in=profile_ids, merged_into__isnull=True)
                .select_related("contact__account", "account"))
    emails: dict[int, str] = {}
    for profile_id, value in (Identity.objects.filter(
            profile_id__in=profile_ids, kind=IdentityKind.EMAIL, shared=False)
            .order_by("id").values_list("profile_id", "value")):
        emails.setdefault(profile_id, value)
    last_stage = dict(Lead.objects.filter(profile_id__in=profile_ids)
                      .order_by("profile_id", "-id").distinct("profile_id")
                      .values_list("profile_id", "stage"))
    marketing = routing.marketing_unit()
    made: dict[int, Lead] = {}
    for profile in profiles:
        if not (profile.contact_id or profile.pk in emails):
            continue
        if last_stage.get(profile.pk) == Stage.DISQUALIFIED:
            continue
        account = profile.account or (profile.contact.account if profile.contact else None)
        score = scores.get(profile.pk)
        lead = Lead(
            profile=profile, contact=profile.contact, account=account,
            name=lead_name(profile, account, emails.get(profile.pk)), stage=Stage.SUBSCRIBER,
            owner_unit=marketing, tier=account.tier if account else "",
            province_id=account.province_id if account else None,
            channel=first_touch_channel(profile.pk),
            fit=score.fit if score else 0, engagement=score.engagement if score else 0.0,
        )
        lifecycle.begin(lead, cause=StageChange.Cause.RULE, rule={
            "rule": "known_person", "identified_by": "contact" if profile.contact_id else "email"})
        entries.append(audit.entry(actor=None, obj=lead, action="created",
                                   changes={"stage": [None, lead.stage]},
                                   reason=_("A known person was scored")))
        made[profile.pk] = lead
    return made


def lead_name(profile: Profile, account: Account | None, email: str | None) -> str:
    """The person (and company) as first known: the CRM contact, else the traits the website
    or app reported, else the email address."""
    traits = profile.traits if isinstance(profile.traits, dict) else {}
    first = traits.get("firstName") or traits.get("first_name") or ""
    last = traits.get("lastName") or traits.get("last_name") or ""
    person = ((profile.contact.name if profile.contact else "")
              or str(traits.get("name") or "").strip() or f"{last}{first}".strip()
              or email or str(traits.get("email") or "")
              or _("Profile %(id)s") % {"id": profile.pk})
    company = traits.get("company")
    if isinstance(company, dict):
        company = company.get("name")
    company = account.name if account else str(company or "").strip()
    return (f"{person} · {company}" if company else person)[:200]


def _apply_rules(lead: Lead, score: Any, model: Any) -> bool:
    """Update a marketing-held lead's scores and move it where the thresholds say. Returns
    whether anything changed."""
    if lead.stage not in MARKETING_STAGES or score is None:
        return False
    fit, engagement = score.fit, float(score.engagement)
    changed = (lead.fit, lead.engagement) != (fit, engagement)
    lead.fit, lead.engagement = fit, engagement
    if model is None:
        return changed
    numbers = {"model": model.name, "model_id": model.pk, "fit": fit,
               "engagement": round(engagement, 2), "lead_engagement": model.lead_engagement,
               "mql_fit": model.mql_fit, "mql_engagement": model.mql_engagement}
    is_mql = fit >= model.mql_fit and engagement >= model.mql_engagement
    if lead.stage == Stage.SUBSCRIBER and engagement >= model.lead_engagement:
        lifecycle.move(lead, Stage.LEAD, cause=StageChange.Cause.RULE, rule=numbers)
        changed = True
    if lead.stage == Stage.LEAD and is_mql:
        lifecycle.move(lead, Stage.MQL, cause=StageChange.Cause.RULE, rule=numbers)
        changed = True
    if lead.stage == Stage.RECYCLED:
        floor = (lead.engagement_at_recycle or 0.0) + model.lead_engagement
        if is_mql and engagement >= floor:
            lifecycle.move(lead, Stage.MQL, cause=StageChange.Cause.RULE, rule={
                **numbers, "engagement_at_recycle": round(lead.engagement_at_recycle or 0.0, 2),
                "requalify_at": round(floor, 2)})
            changed = True
    return changed


@transaction.atomic
def merge_profiles(*, pairs: Iterable[tuple[int, int]]) -> int:
    """Profiles were proved one person (survivor, absorbed): the absorbed profile's leads move
    to the survivor. Where both had an open lead, the one further along is kept and the other
    is disqualified as a duplicate, so a person has one open lead. Returns the leads moved."""
    pairs = [(int(survivor), int(absorbed)) for survivor, absorbed in pairs]
    routing.lock_profiles([pk for pair in pairs for pk in pair])
    moved = 0
    for survivor, absorbed in pairs:
        if not Lead.objects.filter(profile_id=absorbed).exists():
            continue
        open_leads = list(Lead.objects.select_for_update().filter(
            profile_id__in=[survivor, absorbed]).exclude(stage__in=CLOSED_STAGES))
        if len(open_leads) > 1:
            keep = max(open_leads, key=_progress)
            for duplicate in open_leads:
                if duplicate.pk != keep.pk:
                    _close_as_duplicate(duplicate, keep)
        moved += Lead.objects.filter(profile_id=absorbed).update(profile_id=survivor)
    return moved


def _progress(lead: Lead) -> tuple[int, int]:
    """How far along a lead is (recycled: not at all); among equals the older one wins."""
    rank = STAGE_ORDER.index(lead.stage) if lead.stage in STAGE_ORDER else -1
    return rank, -lead.pk


def _close_as_duplicate(lead: Lead, kept: Lead) -> None:
    before = audit.snapshot(lead, AUDIT_FIELDS)
    reason = _("Duplicate: the same person as lead %(id)s (their profiles were merged)") % {
        "id": kept.pk}
    lifecycle.move(lead, Stage.DISQUALIFIED, cause=StageChange.Cause.SYSTEM, reason=reason)
    return_to_marketing(lead)
    lead.save()
    _audit(None, lead, "duplicate", before, reason)


def _awaits_routing(lead: Lead) -> bool:
    return lead.stage == Stage.MQL and lead.owner_id is None and not lead.in_triage


# ==== the lifecycle by hand ==================================================================


@transaction.atomic
def qualify(*, actor: User, lead: Lead, reason: str = "") -> Lead:
    """A marketer makes a lead an MQL by hand; it is routed at once."""
    require(actor, Action.EDIT)
    _require_visible(actor, lead)
    lead = _locked(lead)
    if lead.stage not in MARKETING_STAGES:
        raise LeadError(LeadErrorCode.WRONG_STAGE,
                        _("Only a subscriber, a lead or a recycled lead can be qualified."))
    before = audit.snapshot(lead, AUDIT_FIELDS)
    _refresh_scores(lead)
    lifecycle.move(lead, Stage.MQL, cause=StageChange.Cause.USER, by=actor,
                   reason=reason.strip() or _("Qualified by hand"))
    lead.save()
    _audit(actor, lead, "qualified", before, reason)
    _route(lead, by=actor)
    return lead


@transaction.atomic
def disqualify(*, actor: User, lead: Lead, reason: str) -> Lead:
    """A marketer takes a lead out of the funnel; the reason is required."""
    require(actor, Action.EDIT)
    _require_visible(actor, lead)
    reason = (reason or "").strip()
    if not reason:
        raise _invalid("reason", LeadErrorCode.REASON_REQUIRED,
                       _("Say why the lead is disqualified."))
    lead = _locked(lead)
    marketing_mql = lead.stage == Stage.MQL and (lead.in_triage or lead.owner_id is None)
    if lead.stage not in MARKETING_STAGES and not marketing_mql:
        raise LeadError(LeadErrorCode.WRONG_STAGE,
                        _("Only a lead marketing still holds can be disqualified; its owner "
                          "rejects it instead."))
    before = audit.snapshot(lead, AUDIT_FIELDS)
    lifecycle.move(lead, Stage.DISQUALIFIED, cause=StageChange.Cause.USER, by=actor,
                   reason=reason)
    return_to_marketing(lead)
    lead.save()
    _audit(actor, lead, "disqualified", before, reason)
    return lead


@transaction.atomic
def hand_off_need(*, actor: User, contact: Contact, need: str, note: str = "") -> Lead:
    """An existing customer has a new need (a new module, a large upgrade, a confirmed annual
    project plan): a lead straight at MQL, routed like any other."""
    require(actor, Action.CREATE)
    _require_visible(actor, contact)
    note = (note or "").strip()
    if need not in CustomerNeed.values:
        raise _invalid("need", LeadErrorCode.INVALID, _("Choose what the customer needs."))
    if need == CustomerNeed.OTHER and not note:
        raise _invalid("note", LeadErrorCode.NOTE_REQUIRED, _("Describe the need."))
    contact = Contact.objects.select_related("account").get(pk=contact.pk)
    account = contact.account
    profile = (Profile.objects.filter(contact=contact, merged_into__isnull=True)
               .order_by("id").first())
    if profile is not None:
        routing.lock_profiles([profile.pk])
    open_leads = Lead.objects.select_for_update().exclude(stage__in=CLOSED_STAGES)
    with_sales = open_leads.filter(contact=contact).exclude(stage__in=MARKETING_STAGES).first()
    if with_sales is None and profile is not None:
        with_sales = open_leads.filter(profile=profile).exclude(
            stage__in=MARKETING_STAGES).first()
    if with_sales is not None:
        raise LeadError(LeadErrorCode.ALREADY_OPEN,
                        _("%(name)s already has an open lead with sales (%(stage)s).")
                        % {"name": contact.name, "stage": with_sales.get_stage_display()})
    label = str(CustomerNeed(need).label)
    reason = f"{label}: {note}" if note else label
    nurtured = open_leads.filter(profile=profile).first() if profile is not None else None
    if nurtured is not None:
        # The person is in nurture already: that lead becomes the hand-off.
        lead = _locked(nurtured)
        before = audit.snapshot(lead, AUDIT_FIELDS)
        lead.kind, lead.need, lead.note = LeadKind.CUSTOMER_NEED, need, note
        lead.contact, lead.account = contact, account
        lead.tier, lead.province_id = account.tier, account.province_id
        _refresh_scores(lead)
        lifecycle.move(lead, Stage.MQL, cause=StageChange.Cause.USER, by=actor, reason=reason)
        lead.save()
        _audit(actor, lead, "handed_off", before, reason)
    else:
        lead = Lead(kind=LeadKind.CUSTOMER_NEED, need=need, note=note, profile=profile,
                    contact=contact, account=account, stage=Stage.MQL,
                    name=f"{contact.name} · {account.name}"[:200],
                    owner_unit=routing.marketing_unit(), tier=account.tier,
                    province_id=account.province_id, channel=Channel.SALES)
        _refresh_scores(lead)
        lifecycle.begin(lead, cause=StageChange.Cause.USER, by=actor, reason=reason)
        _audit(actor, lead, "handed_off", {}, reason)
    _route(lead, by=actor)
    return lead


# ==== routing ================================================================================


@transaction.atomic
def route_lead(*, lead_id: int, by: User | None = None) -> Assignment | None:
    """Route one MQL that waits for an owner. Safe to call from many workers at once: the
    lead's row lock makes the first one route it and the others find it routed."""
    lead = (Lead.objects.select_for_update(of=("self",)).select_related("account")
            .filter(pk=lead_id).first())
    if lead is None or not _awaits_routing(lead):
        return None
    return _route(lead, by=by)


def route_leads(*, lead_ids: Iterable[int]) -> int:
    """Route several MQLs, each in its own transaction. Returns how many were routed."""
    return sum(route_lead(lead_id=pk) is not None for pk in lead_ids)


def route_pending(*, limit: int = ROUTE_PENDING_LIMIT) -> int:
    """MQLs left waiting for an owner (a routing that failed or never ran) are routed."""
    ids = list(Lead.objects.filter(stage=Stage.MQL, owner__isnull=True, in_triage=False)
               .order_by("mql_at", "id").values_list("id", flat=True)[:limit])
    return route_leads(lead_ids=ids)


def _route(lead: Lead, *, by: User | None,
           how: str = Assignment.How.ROUTED) -> Assignment:
    """Route a locked MQL inside the caller's transaction: its account's team and the person
    there with the lowest open load, or triage."""
    decision = routing.decide(lead)
    if decision.to_triage:
        return _to_triage(lead, decision, by=by)
    assert decision.unit is not None and decision.owner is not None
    owner = User.objects.get(pk=decision.owner.user_id)
    return _hand_to(lead, unit=decision.unit, owner=owner, how=how, by=by, detail={
        "rule": "tier_territory", "tier": lead.account.tier if lead.account else "",
        "unit": decision.unit.display_name, "explanation": decision.explanation,
        "candidates": [c.as_detail() for c in decision.candidates],
        "chosen": decision.owner.user_id})


def _hand_to(lead: Lead, *, unit: OrgUnit, owner: User, how: str, by: User | None,
             detail: dict[str, Any], reason: str = "") -> Assignment:
    """Give a locked lead to `owner` in `unit` (the team's lock is held), start the clock of
    an MQL's hand-off, record the assignment and tell the owner."""
    now = timezone.now()
    before = audit.snapshot(lead, AUDIT_FIELDS)
    lead.owner_unit, lead.owner = unit, owner
    lead.partner_id = routing.partner_for(unit, lead.account)
    lead.in_triage = False
    if lead.account is not None:
        lead.tier, lead.province_id = lead.account.tier, lead.account.province_id
    lead.assigned_at = now
    if lead.stage == Stage.MQL:
        _start_clock(lead, now)
    lead.updated_at = now
    lead.save()
    assignment = Assignment.objects.create(lead=lead, owner_unit=unit, owner=owner, how=how,
                                           detail=detail, at=now, by=by)
    _audit(by, lead, "assigned", before, reason or str(Assignment.How(how).label))
    if lead.stage == Stage.MQL:
        body = _("Accept or reject it by %(due)s (China time).") % {
            "due": _local(lead.accept_due_at)}
    else:
        body = _("It is yours now.")
    notify(user=owner, kind="lead_assigned", url=_detail_url(lead),
           title=_("New lead for you: %(name)s") % {"name": lead.name}, body=body)
    return assignment


def _to_triage(lead: Lead, decision: routing.Decision, *, by: User | None) -> Assignment:
    now = timezone.now()
    before = audit.snapshot(lead, AUDIT_FIELDS)
    marketing = routing.marketing_unit()
    return_to_marketing(lead)
    lead.in_triage = True
    if lead.account is not None:
        lead.tier, lead.province_id = lead.account.tier, lead.account.province_id
    lead.updated_at = now
    lead.save()
    assignment = Assignment.objects.create(
        lead=lead, owner_unit=marketing, owner=None, how=Assignment.How.TRIAGE, at=now, by=by,
        detail={"rule": "triage", "reason": decision.triage_reason,
                "explanation": decision.explanation,
                "unit": decision.unit.display_name if decision.unit else None,
                "candidates": [c.as_detail() for c in decision.candidates]})
    _audit(by, lead, "triage", before, decision.explanation)
    return assignment


def _start_clock(lead: Lead, now: datetime) -> None:
    policy = policy_for(lead.tier)
    lead.accept_due_at = add_working_hours(now, policy.accept_within_hours)
    remind_after = policy.accept_within_hours - policy.remind_before_hours
    lead.remind_at = (add_working_hours(now, remind_after)
                      if policy.remind_before_hours and remind_after > 0 else None)
    lead.reminded_at = lead.escalated_at = None
    lead.escalated_to = None


def return_to_marketing(lead: Lead) -> None:
    """Hand a (locked) lead back to HQ marketing: out of triage, no owner, no hand-off clock.
    Rejected, lost and disqualified leads all end up here."""
    lead.owner_unit = routing.marketing_unit()
    lead.owner = None
    lead.partner = None
    lead.in_triage = False
    lead.assigned_at = lead.accept_due_at = lead.remind_at = None
    lead.reminded_at = lead.escalated_at = None
    lead.escalated_to = None


@transaction.atomic
def link_account(*, actor: User, lead: Lead, account: Account) -> Lead:
    """Triage: the lead's company is this account; route the lead again."""
    require(actor, Action.EDIT)
    _require_visible(actor, lead)
    _require_visible(actor, account)
    lead = _locked(lead)
    if not lead.in_triage:
        raise LeadError(LeadErrorCode.NOT_IN_TRIAGE, _("The lead is not in triage."))
    before = audit.snapshot(lead, AUDIT_FIELDS)
    lead.account = account
    lead.tier, lead.province_id = account.tier, account.province_id
    lead.in_triage = False
    lead.save()
    _audit(actor, lead, "account_linked", before)
    _route(lead, by=actor)
    return lead


@transaction.atomic
def assign_by_hand(*, actor: User, lead: Lead, unit: OrgUnit, owner: User | None = None,
                   reason: str = "") -> Lead:
    """Triage: give the lead to a team, and to a person in it (else the one with the lowest
    open load there)."""
    require(actor, Action.EDIT)
    _require_visible(actor, lead)
    lead = _locked(lead)
    if not lead.in_triage:
        raise LeadError(LeadErrorCode.NOT_IN_TRIAGE, _("The lead is not in triage."))
    if owner is not None and (owner.unit_id != unit.pk or not routing.is_eligible(owner)):
        raise _invalid("owner", LeadErrorCode.NOT_ELIGIBLE,
                       _("Choose an active account manager, sales rep or partner staff "
                         "of this team."))
    decision = routing.decide_in_team(unit)
    if owner is None:
        if decision.owner is None:
            raise _invalid("unit", LeadErrorCode.NO_TEAM, decision.explanation)
        owner = User.objects.get(pk=decision.owner.user_id)
    _hand_to(lead, unit=unit, owner=owner, how=Assignment.How.MANUAL, by=actor, reason=reason,
             detail={"rule": "by_hand", "unit": unit.display_name, "reason": reason,
                     "candidates": [c.as_detail() for c in decision.candidates],
                     "chosen": owner.pk})
    return lead


@transaction.atomic
def reassign(*, actor: User, lead: Lead, owner: User, reason: str = "") -> Lead:
    """A manager gives an assigned lead (waiting for acceptance, or accepted) to someone
    else in their part of the organisation."""
    require(actor, Action.APPROVE)
    _require_visible(actor, lead)
    lead = _locked(lead)
    if lead.stage not in (Stage.MQL, Stage.SAL) or lead.in_triage or lead.owner_id is None:
        raise LeadError(LeadErrorCode.WRONG_STAGE,
                        _("Only an assigned lead (MQL or SAL) can be reassigned."))
    if not routing.is_eligible(owner) or not _within_reach(actor, owner):
        raise _invalid("owner", LeadErrorCode.NOT_ELIGIBLE,
                       _("Choose an active account manager, sales rep or partner staff in "
                         "your part of the organisation."))
    if owner.pk == lead.owner_id:
        raise _invalid("owner", LeadErrorCode.INVALID, _("The lead is theirs already."))
    unit = OrgUnit.objects.get(pk=owner.unit_id)
    routing.lock_team(unit.pk)
    how = Assignment.How.ESCALATED if lead.escalated_at else Assignment.How.MANUAL
    _hand_to(lead, unit=unit, owner=owner, how=how, by=actor, reason=reason,
             detail={"rule": "reassigned", "from": str(lead.owner), "reason": reason,
                     "candidates": [c.as_detail() for c in routing.candidates(unit.pk)],
                     "chosen": owner.pk})
    return lead


def _within_reach(actor: User, person: User) -> bool:
    if actor.is_superuser:
        return True
    if actor.unit is None:
        return False
    units = visible_unit_ids(actor.unit)
    return units is None or person.unit_id in units


# ==== the hand-off ===========================================================================


@transaction.atomic
def accept(*, actor: User, lead: Lead) -> Lead:
    """The owner accepts the lead: it is a sales-accepted lead (SAL)."""
    require(actor, Action.EDIT)
    _require_visible(actor, lead)
    lead = _locked(lead)
    _check_owner(actor, lead)
    if lead.stage != Stage.MQL:
        raise LeadError(LeadErrorCode.WRONG_STAGE, _("Only a lead waiting for acceptance "
                                                     "can be accepted."))
    before = audit.snapshot(lead, AUDIT_FIELDS)
    lifecycle.move(lead, Stage.SAL, cause=StageChange.Cause.USER, by=actor,
                   reason=_("Accepted by the owner"))
    lead.accept_due_at = lead.remind_at = None
    lead.save()
    _audit(actor, lead, "accepted", before)
    return lead


@transaction.atomic
def reject(*, actor: User, lead: Lead, reason: str, note: str = "") -> Lead:
    """The owner sends the lead back with a reason: it returns to marketing's nurture
    (recycled), the reason kept."""
    require(actor, Action.EDIT)
    _require_visible(actor, lead)
    note = (note or "").strip()
    if reason not in RejectReason.values:
        raise _invalid("reason", LeadErrorCode.REASON_REQUIRED, _("Choose a reason."))
    if reason == RejectReason.OTHER and not note:
        raise _invalid("note", LeadErrorCode.NOTE_REQUIRED,
                       _("Say why: the reason is “other”."))
    lead = _locked(lead)
    _check_owner(actor, lead)
    if lead.stage not in (Stage.MQL, Stage.SAL):
        raise LeadError(LeadErrorCode.WRONG_STAGE,
                        _("Only a lead waiting for acceptance, or accepted, can be rejected."))
    before = audit.snapshot(lead, AUDIT_FIELDS)
    label = str(RejectReason(reason).label)
    lead.reject_reason, lead.reject_note = reason, note
    _recycle(lead, by=actor, cause=StageChange.Cause.USER,
             reason=_("Rejected: %(reason)s") % {"reason": f"{label}: {note}" if note else label})
    lead.save()
    _audit(actor, lead, "rejected", before, f"{label}: {note}" if note else label)
    return lead


def _check_owner(actor: User, lead: Lead) -> None:
    if lead.owner_id != actor.pk:
        raise LeadError(LeadErrorCode.NOT_OWNER,
                        _("Only the lead's owner can accept or reject it."))


def _recycle(lead: Lead, *, by: User | None, cause: str, reason: str) -> None:
    """Back to nurture: the current engagement is kept, so the lead re-qualifies by rule only
    after a real rise; marketing owns it again."""
    _refresh_scores(lead)
    lifecycle.move(lead, Stage.RECYCLED, cause=cause, by=by, reason=reason)
    return_to_marketing(lead)


# ---- reminders and escalation (the periodic job) --------------------------------------------


def send_reminders(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> int:
    """Remind owners whose leads are due soon, once per hand-off."""
    now = now or timezone.now()
    due = Lead.objects.filter(stage=Stage.MQL, owner__isnull=False, reminded_at__isnull=True,
                              remind_at__lte=now, accept_due_at__gt=now)
    sent = 0
    for lead_id in list(due.order_by("remind_at").values_list("id", flat=True)[:limit]):
        sent += _remind(lead_id, now, due)
    return sent


@transaction.atomic
def _remind(lead_id: int, now: datetime, due: Any) -> int:
    lead = (due.select_for_update(of=("self",), skip_locked=True).select_related("owner")
            .filter(pk=lead_id).first())
    if lead is None:
        return 0  # reminded meanwhile, or another worker is on it
    lead.reminded_at = now
    lead.save(update_fields=["reminded_at"])
    audit.record(actor=None, obj=lead, action="reminded", changes={},
                 reason=_("Due %(due)s") % {"due": _local(lead.accept_due_at)})
    notify(user=lead.owner, kind="lead_reminder", url=_detail_url(lead),
           title=_("Reminder: accept or reject %(name)s") % {"name": lead.name},
           body=_("The lead is due by %(due)s (China time); after that it goes to your "
                  "manager.") % {"due": _local(lead.accept_due_at)})
    return 1


def escalate_overdue(*, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> int:
    """Leads not accepted or rejected in time go to the owner's manager, once per hand-off."""
    now = now or timezone.now()
    overdue = Lead.objects.filter(stage=Stage.MQL, owner__isnull=False,
                                  escalated_at__isnull=True, accept_due_at__lte=now)
    done = 0
    for lead_id in list(overdue.order_by("accept_due_at").values_list("id", flat=True)[:limit]):
        done += _escalate(lead_id, now, overdue)
    return done


@transaction.atomic
def _escalate(lead_id: int, now: datetime, overdue: Any) -> int:
    lead = (overdue.select_for_update(of=("self",), skip_locked=True)
            .select_related("owner", "owner_unit").filter(pk=lead_id).first())
    if lead is None:
        return 0
    manager = routing.manager_of(lead.owner_unit, besides=lead.owner_id)
    lead.escalated_at, lead.escalated_to = now, manager
    lead.save(update_fields=["escalated_at", "escalated_to"])
    audit.record(actor=None, obj=lead, action="escalated",
                 changes={"escalated_to": [None, str(manager) if manager else None]},
                 reason=_("Not accepted or rejected by %(due)s") % {
                     "due": _local(lead.accept_due_at)})
    if manager is not None:
        notify(user=manager, kind="lead_escalated", url=_detail_url(lead),
               title=_("Overdue lead: %(name)s") % {"name": lead.name},
               body=_("%(owner)s has not accepted or rejected it; it was due %(due)s (China "
                      "time). Reassign it or follow up.") % {
                   "owner": lead.owner, "due": _local(lead.accept_due_at)})
    return 1


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """What the minute's job does: route waiting MQLs, remind, escalate."""
    return {"routed": route_pending(), "reminded": send_reminders(now=now),
            "escalated": escalate_overdue(now=now)}


# ---- hand-off policies ----------------------------------------------------------------------


@transaction.atomic
def save_policy(*, actor: User, tier: str, accept_within_hours: int,
                remind_before_hours: int) -> HandoffPolicy:
    """Change how long a tier's owners have to accept or reject (applies to new hand-offs)."""
    require(actor, Action.ADMINISTER)
    if tier not in Tier.values:
        raise _invalid("tier", LeadErrorCode.INVALID, _("No such tier."))
    if accept_within_hours < 1:
        raise _invalid("accept_within_hours", LeadErrorCode.INVALID,
                       _("Allow at least one working hour."))
    if remind_before_hours < 0 or remind_before_hours >= accept_within_hours:
        raise _invalid("remind_before_hours", LeadErrorCode.INVALID,
                       _("The reminder must come before the deadline (0 for none)."))
    policy = HandoffPolicy.objects.select_for_update().filter(tier=tier).first()
    before = audit.snapshot(policy, ("accept_within_hours", "remind_before_hours")) \
        if policy else {}
    policy = policy or HandoffPolicy(tier=tier)
    policy.accept_within_hours = accept_within_hours
    policy.remind_before_hours = remind_before_hours
    policy.save()
    delta = audit.diff(before, audit.snapshot(policy, ("accept_within_hours",
                                                       "remind_before_hours")))
    if delta:
        audit.record(actor=actor, obj=policy, action="updated" if before else "created",
                     changes=delta)
    return policy


# ==== called by the sales context when an opportunity is opened, won or lost ================


@transaction.atomic
def record_opportunity(*, lead_id: int, by: User | None) -> Lead:
    """An opportunity was opened from this accepted lead: it becomes an SQL."""
    lead = _locked(lead_id)
    if lead.stage != Stage.SAL:
        raise LeadError(LeadErrorCode.WRONG_STAGE,
                        _("Only an accepted lead (SAL) can become an opportunity."))
    before = audit.snapshot(lead, AUDIT_FIELDS)
    lifecycle.move(lead, Stage.SQL, cause=StageChange.Cause.USER, by=by,
                   reason=_("Opportunity opened"))
    lead.save()
    _audit(by, lead, "opportunity", before)
    return lead


@transaction.atomic
def record_won(*, lead_id: int, by: User | None, opportunity_name: str) -> Lead:
    """The lead's opportunity was won: the lead is a customer."""
    lead = _locked(lead_id)
    if lead.stage != Stage.CUSTOMER:
        before = audit.snapshot(lead, AUDIT_FIELDS)
        reason = _("Opportunity won: %(name)s") % {"name": opportunity_name}
        lifecycle.move(lead, Stage.CUSTOMER, cause=StageChange.Cause.SYSTEM, by=by,
                       reason=reason)
        lead.save()
        _audit(by, lead, "won", before, reason)
    return lead


@transaction.atomic
def record_lost(*, lead_id: int, by: User | None, opportunity_name: str, reason: str) -> Lead:
    """The lead's opportunity was lost: the lead returns to marketing's nurture with the
    reason, like a rejected lead."""
    lead = _locked(lead_id)
    if lead.stage == Stage.SQL:
        before = audit.snapshot(lead, AUDIT_FIELDS)
        why = _("Opportunity lost: %(name)s: %(reason)s") % {"name": opportunity_name,
                                                            "reason": reason}
        _recycle(lead, by=by, cause=StageChange.Cause.SYSTEM, reason=why)
        lead.save()
        _audit(by, lead, "lost", before, why)
    return lead
