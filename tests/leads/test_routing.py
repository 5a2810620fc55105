"""Routing: an MQL goes to the team its account's tier and territory name, then to the person
there with the lowest open load (ties: the one handed a lead least recently); unknown accounts
and teams with nobody to take it go to marketing's triage. Two workers never assign a lead
twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from marketloop.crm.models import Tier
from marketloop.leads import routing, selectors, services
from marketloop.leads.models import Assignment, Lead, Stage
from marketloop.org.models import Role, User
from marketloop.tracking.models import Identity, IdentityKind, Profile
from tests.factories import AccountFactory, ContactFactory
from tests.leads.conftest import person, score_to_mql, set_score

pytestmark = [pytest.mark.django_db,
              pytest.mark.usefixtures("fast_passwords", "organisation_once", "model")]


def open_lead(owner: User, stage: str = Stage.MQL) -> Lead:
    """A lead someone already holds (their open load)."""
    return Lead.objects.create(name=f"held by {owner}", stage=stage, owner=owner,
                               owner_unit_id=owner.unit_id)


def test_an_mql_goes_to_the_person_with_the_lowest_open_load(org, gd_team):
    busy, idle, middle = gd_team.reps
    for _ in range(2):
        open_lead(busy)
    open_lead(middle, Stage.SAL)
    for stage in (Stage.SQL, Stage.CUSTOMER, Stage.RECYCLED):  # not open load
        open_lead(idle, stage)

    lead = score_to_mql(person(org.gd_sales)[1])

    assert lead.owner == idle
    assignment = lead.assignments.get()
    assert assignment.how == Assignment.How.ROUTED and assignment.owner == idle
    loads = {c["name"]: c["load"] for c in assignment.detail["candidates"]}
    assert loads == {str(busy): 2, str(idle): 0, str(middle): 1}
    assert assignment.detail["chosen"] == idle.pk


def test_equal_loads_go_to_the_person_handed_a_lead_least_recently(org, gd_team):
    first, second, third = gd_team.reps
    now = timezone.now()
    for rep, days_ago in ((first, 1), (second, 3), (third, 2)):
        old = open_lead(rep, Stage.SQL)
        Assignment.objects.create(lead=old, owner_unit=org.gd_sales, owner=rep,
                                  how=Assignment.How.ROUTED, at=now - timedelta(days=days_ago))

    lead = score_to_mql(person(org.gd_sales)[1])

    assert lead.owner == second


def test_a_batch_of_mqls_is_spread_round_robin(org, gd_team):
    owners = Counter(score_to_mql(person(org.gd_sales)[1]).owner for _ in range(7))
    assert sorted(owners.values()) == [2, 2, 3]
    # Then the two with two each (handed theirs least recently among the lowest loads).
    next_owner = score_to_mql(person(org.gd_sales)[1]).owner
    assert owners[next_owner] == 2


def test_people_who_cannot_take_leads_are_not_candidates(org, make_user):
    eligible = make_user(org.gd_sales, Role.ACCOUNT_MANAGER)
    make_user(org.gd_sales, Role.MARKETER)
    make_user(org.gd_sales, Role.PROJECT_MANAGER)
    inactive = make_user(org.gd_sales, Role.SALES_REP)
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    make_user(org.gx_sales, Role.SALES_REP)  # another team

    lead = score_to_mql(person(org.gd_sales)[1])

    assert lead.owner == eligible
    assert [c["id"] for c in lead.assignments.get().detail["candidates"]] == [eligible.pk]


def test_the_accounts_team_decides_hq_key_accounts_and_partners(org, make_user):
    hq_manager = make_user(org.hq_key_account, Role.ACCOUNT_MANAGER)
    partner_staff = make_user(org.gd_partner, Role.PARTNER_STAFF)
    gd_rep = make_user(org.gd_sales, Role.SALES_REP)

    strategic = score_to_mql(person(org.hq_key_account, tier=Tier.HQ_STRATEGIC)[1])
    partners = score_to_mql(person(org.gd_partner, partner=org.gd_partner)[1])
    shared = score_to_mql(person(org.gd_sales, partner=org.gd_partner)[1])

    assert (strategic.owner, strategic.owner_unit, strategic.partner) == (
        hq_manager, org.hq_key_account, None)
    assert strategic.tier == Tier.HQ_STRATEGIC
    assert (partners.owner, partners.owner_unit, partners.partner) == (
        partner_staff, org.gd_partner, org.gd_partner)
    # A province team's account shared with the partner: the partner sees the lead too.
    assert (shared.owner, shared.partner) == (gd_rep, org.gd_partner)
    assert set(selectors.leads_visible(partner_staff)) == {partners, shared}


def test_an_unknown_company_goes_to_triage_with_the_reason(org, gd_team):
    profile = Profile.objects.create(owner_unit=org.hq_marketing, traits={"name": "Wu"})
    Identity.objects.create(kind=IdentityKind.EMAIL, value="wu@unknown.example.cn",
                            profile=profile)
    set_score(profile, fit=90, engagement=90)

    services.apply_scores(profile_ids=[profile.pk])

    lead = Lead.objects.get(profile=profile)
    assert lead.stage == Stage.MQL and lead.in_triage
    assert (lead.owner_unit, lead.owner, lead.accept_due_at) == (org.hq_marketing, None, None)
    triage = lead.assignments.get()
    assert triage.how == Assignment.How.TRIAGE and triage.owner_unit == org.hq_marketing
    assert triage.detail["reason"] == routing.TriageReason.UNKNOWN_ACCOUNT


def test_a_team_with_nobody_to_take_leads_sends_them_to_triage(org, make_user):
    make_user(org.gx_sales, Role.MARKETER)
    lead = score_to_mql(person(org.gx_sales)[1])

    assert lead.in_triage and lead.owner is None
    detail = lead.assignments.get().detail
    assert detail["reason"] == routing.TriageReason.NO_ELIGIBLE_PERSON
    assert detail["unit"] == org.gx_sales.display_name


def test_a_routed_lead_is_seen_by_its_team_and_not_by_another_province(org, gd_team, make_user):
    lead = score_to_mql(person(org.gd_sales)[1])
    gx_rep = make_user(org.gx_sales, Role.SALES_REP)
    assert lead in selectors.leads_visible(lead.owner)
    assert lead in selectors.leads_visible(gd_team.manager)
    assert lead not in selectors.leads_visible(gx_rep)


def test_a_lead_is_routed_only_once(org, gd_team):
    lead = score_to_mql(person(org.gd_sales)[1])
    assert services.route_lead(lead_id=lead.pk) is None
    assert services.route_pending() == 0
    assert lead.assignments.count() == 1


def test_the_sweep_routes_mqls_left_waiting(org, gd_team):
    contact = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales))
    waiting = Lead.objects.create(name="left waiting", stage=Stage.MQL, contact=contact,
                                  account=contact.account, owner_unit=org.hq_marketing)

    assert services.sweep()["routed"] == 1

    waiting.refresh_from_db()
    assert waiting.owner in gd_team.reps and waiting.assignments.count() == 1
