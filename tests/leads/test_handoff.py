"""The hand-off: the owner of a routed MQL accepts it (SAL) or sends it back with a reason
(recycled, to marketing) within the working hours the tier's policy allows; they are reminded
before the deadline and the lead escalates to their manager after it, once each; a manager can
reassign."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from marketloop.crm.models import Tier
from marketloop.leads import selectors, services
from marketloop.leads.errors import LeadError, LeadErrorCode
from marketloop.leads.models import Assignment, HandoffPolicy, Lead, RejectReason, Stage
from marketloop.leads.policies import policy_for
from marketloop.leads.workhours import add_working_hours
from marketloop.org.errors import NotAllowed
from marketloop.org.models import Notification, Role
from tests.leads.conftest import person, score_to_mql

pytestmark = [pytest.mark.django_db,
              pytest.mark.usefixtures("fast_passwords", "organisation_once", "model")]

MINUTE = timedelta(minutes=1)


def routed(org, tier: str = Tier.ORDINARY) -> Lead:
    lead = score_to_mql(person(org.gd_sales, tier=tier)[1])
    assert lead.owner is not None
    return lead


# ---- the clock ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("tier", "hours"), [(Tier.HQ_STRATEGIC, 4),
                                             (Tier.REGIONAL_STRATEGIC, 8),
                                             (Tier.REGIONAL_KEY, 16), (Tier.ORDINARY, 24)])
def test_assignment_sets_the_deadline_in_working_hours_by_tier(org, gd_team, tier, hours):
    lead = routed(org, tier)
    assert policy_for(tier).accept_within_hours == hours
    assert lead.accept_due_at == add_working_hours(lead.assigned_at, hours)
    assert lead.remind_at == add_working_hours(lead.assigned_at, hours - 2)
    assert lead.reminded_at is None and lead.escalated_at is None


def test_a_changed_policy_applies_to_new_hand_offs(org, gd_team, admin_user, hq_marketer):
    with pytest.raises(NotAllowed):
        services.save_policy(actor=hq_marketer, tier=Tier.ORDINARY, accept_within_hours=6,
                             remind_before_hours=1)
    with pytest.raises(LeadError) as refused:
        services.save_policy(actor=admin_user, tier=Tier.ORDINARY, accept_within_hours=6,
                             remind_before_hours=6)
    assert "remind_before_hours" in refused.value.errors

    services.save_policy(actor=admin_user, tier=Tier.ORDINARY, accept_within_hours=6,
                         remind_before_hours=1)

    lead = routed(org)
    assert lead.accept_due_at == add_working_hours(lead.assigned_at, 6)
    assert lead.remind_at == add_working_hours(lead.assigned_at, 5)


def test_the_policies_page_is_for_administrators(org, admin_user, hq_marketer):
    client = Client()
    client.force_login(hq_marketer)
    assert client.get(reverse("leads:policies")).status_code == 403
    client.force_login(admin_user)
    page = client.get(reverse("leads:policies"))
    assert page.status_code == 200 and 'name="hq_strategic-accept"' in page.content.decode()
    values = {f"{p.tier}-{k}": v for p in selectors.policies()
              for k, v in (("accept", p.accept_within_hours), ("remind", p.remind_before_hours))}
    response = client.post(reverse("leads:policies"), {**values, "regional_key-accept": "12",
                                                       "regional_key-remind": "3"})
    assert response.status_code == 302
    policy = HandoffPolicy.objects.get(tier=Tier.REGIONAL_KEY)
    assert (policy.accept_within_hours, policy.remind_before_hours) == (12, 3)
    bad = client.post(reverse("leads:policies"), {**values, "ordinary-accept": "0"})
    assert bad.status_code == 422


# ---- accept or reject --------------------------------------------------------------------------


def test_the_owner_accepts_and_the_lead_is_sales_accepted(org, gd_team):
    lead = routed(org)
    owner = lead.owner

    services.accept(actor=owner, lead=lead)

    lead.refresh_from_db()
    assert lead.stage == Stage.SAL and lead.sal_at and lead.accept_due_at is None
    change = lead.stage_changes.last()
    assert (change.from_stage, change.to_stage, change.cause, change.by) == (
        Stage.MQL, Stage.SAL, "user", owner)


def test_only_the_owner_accepts_or_rejects(org, gd_team):
    lead = routed(org)
    colleague = next(rep for rep in gd_team.reps if rep != lead.owner)
    assert lead in selectors.leads_visible(colleague)  # same province: they see it
    with pytest.raises(LeadError) as refused:
        services.accept(actor=colleague, lead=lead)
    assert refused.value.code == LeadErrorCode.NOT_OWNER
    with pytest.raises(LeadError):
        services.reject(actor=colleague, lead=lead, reason=RejectReason.NO_NEED)


def test_a_rejected_lead_returns_to_marketing_with_its_reason(org, gd_team, hq_marketer):
    lead = routed(org)
    owner = lead.owner

    services.reject(actor=owner, lead=lead, reason=RejectReason.NO_BUDGET,
                    note="Budget frozen until Q3")

    lead.refresh_from_db()
    assert lead.stage == Stage.RECYCLED and lead.recycled_at and lead.times_recycled == 1
    assert (lead.reject_reason, lead.reject_note) == ("no_budget", "Budget frozen until Q3")
    assert (lead.owner_unit, lead.owner, lead.partner, lead.in_triage) == (
        org.hq_marketing, None, None, False)
    assert lead.accept_due_at is None and lead.assigned_at is None
    change = lead.stage_changes.last()
    assert (change.from_stage, change.to_stage, change.by) == (Stage.MQL, Stage.RECYCLED, owner)
    assert change.reason == "Rejected: No budget: Budget frozen until Q3"
    assert lead not in selectors.leads_visible(owner)
    assert lead in selectors.leads_visible(hq_marketer)


def test_the_reason_other_needs_a_note(org, gd_team):
    lead = routed(org)
    with pytest.raises(LeadError) as refused:
        services.reject(actor=lead.owner, lead=lead, reason=RejectReason.OTHER, note=" ")
    assert refused.value.code == LeadErrorCode.NOTE_REQUIRED
    with pytest.raises(LeadError) as refused:
        services.reject(actor=lead.owner, lead=lead, reason="bored")
    assert refused.value.code == LeadErrorCode.REASON_REQUIRED
    services.reject(actor=lead.owner, lead=lead, reason=RejectReason.OTHER,
                    note="Merged into a group deal")
    assert Lead.objects.get(pk=lead.pk).reject_note == "Merged into a group deal"


def test_an_accepted_lead_can_still_be_sent_back_but_not_accepted_twice(org, gd_team):
    lead = routed(org)
    owner = lead.owner
    services.accept(actor=owner, lead=lead)
    with pytest.raises(LeadError) as refused:
        services.accept(actor=owner, lead=lead)
    assert refused.value.code == LeadErrorCode.WRONG_STAGE
    services.reject(actor=owner, lead=lead, reason=RejectReason.NOT_DECISION_MAKER)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.RECYCLED


# ---- reminders and escalation ------------------------------------------------------------------


def test_the_owner_is_reminded_once_before_the_deadline(org, gd_team):
    lead = routed(org)
    Notification.objects.all().delete()
    assert services.send_reminders(now=lead.remind_at - MINUTE) == 0

    assert services.send_reminders(now=lead.remind_at + MINUTE) == 1
    assert services.send_reminders(now=lead.remind_at + 2 * MINUTE) == 0

    lead.refresh_from_db()
    assert lead.reminded_at == lead.remind_at + MINUTE
    note = Notification.objects.get()
    assert (note.user, note.kind) == (lead.owner, "lead_reminder")
    assert note.url == reverse("leads:lead_detail", args=[lead.pk])
    assert lead.name in note.title


def test_an_overdue_lead_escalates_to_the_owners_manager_once(org, gd_team):
    lead = routed(org)
    Notification.objects.all().delete()
    assert services.escalate_overdue(now=lead.accept_due_at - MINUTE) == 0

    assert services.escalate_overdue(now=lead.accept_due_at + MINUTE) == 1
    assert services.escalate_overdue(now=lead.accept_due_at + 2 * MINUTE) == 0

    lead.refresh_from_db()
    assert lead.escalated_to == gd_team.manager  # the province's manager, above gd-sales
    assert lead.stage == Stage.MQL and lead.owner is not None  # still the owner's to answer
    note = Notification.objects.get()
    assert (note.user, note.kind) == (gd_team.manager, "lead_escalated")
    assert str(lead.owner) in note.body


def test_escalation_climbs_the_tree_to_the_nearest_manager(org, make_user):
    rep = make_user(org.gd_sales, Role.SALES_REP)
    make_user(org.gx, Role.MANAGER)  # another province: not above gd-sales
    region_manager = make_user(org.region_south, Role.MANAGER)
    lead = routed(org)
    assert lead.owner == rep

    services.escalate_overdue(now=lead.accept_due_at + MINUTE)

    assert Lead.objects.get(pk=lead.pk).escalated_to == region_manager


def test_accepted_leads_are_neither_reminded_nor_escalated(org, gd_team):
    lead = routed(org)
    due = lead.accept_due_at
    services.accept(actor=lead.owner, lead=lead)
    assert services.send_reminders(now=due - MINUTE) == 0
    assert services.escalate_overdue(now=due + MINUTE) == 0


def test_a_manager_reassigns_and_the_clock_starts_again(org, gd_team):
    lead = routed(org)
    first_owner = lead.owner
    services.escalate_overdue(now=lead.accept_due_at + MINUTE)
    other = next(rep for rep in gd_team.reps if rep != first_owner)
    Notification.objects.all().delete()

    services.reassign(actor=gd_team.manager, lead=lead, owner=other, reason="On leave")

    lead.refresh_from_db()
    assert lead.owner == other and lead.escalated_at is None and lead.reminded_at is None
    assert lead.accept_due_at == add_working_hours(lead.assigned_at, 24)
    last = lead.assignments.last()
    assert (last.how, last.by, last.owner) == (Assignment.How.ESCALATED, gd_team.manager, other)
    assert last.detail["from"] == str(first_owner) and last.detail["reason"] == "On leave"
    assert Notification.objects.get().user == other


def test_only_managers_reassign_and_only_within_their_reach(org, gd_team, make_user):
    lead = routed(org)
    other = next(rep for rep in gd_team.reps if rep != lead.owner)
    with pytest.raises(NotAllowed):
        services.reassign(actor=other, lead=lead, owner=other)
    gx_rep = make_user(org.gx_sales, Role.SALES_REP)
    with pytest.raises(LeadError) as refused:
        services.reassign(actor=gd_team.manager, lead=lead, owner=gx_rep)
    assert refused.value.code == LeadErrorCode.NOT_ELIGIBLE
    marketer = make_user(org.gd_sales, Role.MARKETER)
    with pytest.raises(LeadError):
        services.reassign(actor=gd_team.manager, lead=lead, owner=marketer)


def test_an_assignment_notifies_the_new_owner(org, gd_team):
    Notification.objects.all().delete()
    lead = routed(org)
    note = Notification.objects.get(user=lead.owner)
    assert note.kind == "lead_assigned" and lead.name in note.title
    assert note.url == reverse("leads:lead_detail", args=[lead.pk])
