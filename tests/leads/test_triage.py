"""Marketing's triage queue: MQLs no team could take. Only HQ sees it (HQ marketing owns those
leads); a marketer links the company's account and routes the lead again, assigns it by hand
to a team and a person, or disqualifies it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from marketloop.leads import routing, services
from marketloop.leads.errors import LeadError, LeadErrorCode
from marketloop.leads.models import Assignment, Lead, Stage
from marketloop.leads.workhours import add_working_hours
from marketloop.org.models import Role
from marketloop.tracking.models import Identity, IdentityKind, Profile
from tests.factories import AccountFactory
from tests.leads.conftest import person, score_to_mql, set_score

pytestmark = [pytest.mark.django_db,
              pytest.mark.usefixtures("fast_passwords", "organisation_once", "model")]


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def unknown_company(org, name: str = "Lin") -> Lead:
    profile = Profile.objects.create(owner_unit=org.hq_marketing, traits={"name": name})
    Identity.objects.create(kind=IdentityKind.EMAIL, value=f"{name.lower()}@nowhere.example.cn",
                            profile=profile)
    set_score(profile, fit=90, engagement=90)
    services.apply_scores(profile_ids=[profile.pk])
    lead = Lead.objects.get(profile=profile)
    assert lead.in_triage
    return lead


def test_only_hq_sees_the_triage_queue(org, gd_team, hq_marketer, make_user):
    waiting = unknown_company(org, "Lin")
    routed = score_to_mql(person(org.gd_sales)[1])
    south = make_user(org.region_south, Role.MARKETER)

    page = client_of(hq_marketer).get(reverse("leads:triage")).content.decode()
    assert waiting.name in page and routed.name not in page
    assert "The lead&#x27;s company is not a known account." in page
    for outsider in (gd_team.manager, gd_team.reps[0], south):
        assert waiting.name not in client_of(outsider).get(reverse("leads:triage")).content \
            .decode()


def test_linking_the_account_routes_the_lead_to_its_team(org, gd_team, hq_marketer):
    lead = unknown_company(org)
    account = AccountFactory(owner_unit=org.gd_sales)

    response = client_of(hq_marketer).post(reverse("leads:triage_link", args=[lead.pk]),
                                           {"account": account.pk})

    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.account == account and not lead.in_triage and lead.owner in gd_team.reps
    assert list(lead.assignments.values_list("how", flat=True)) == [
        Assignment.How.TRIAGE, Assignment.How.ROUTED]


def test_a_linked_account_whose_team_cannot_take_it_stays_in_triage_with_the_new_reason(
        org, hq_marketer):
    lead = unknown_company(org)
    services.link_account(actor=hq_marketer, lead=lead,
                          account=AccountFactory(owner_unit=org.gx_sales))
    lead.refresh_from_db()
    assert lead.in_triage
    assert lead.assignments.last().detail["reason"] == routing.TriageReason.NO_ELIGIBLE_PERSON


def test_a_marketer_assigns_by_hand_to_a_team_and_a_person(org, gd_team, hq_marketer):
    lead = unknown_company(org)
    chosen = gd_team.reps[2]

    response = client_of(hq_marketer).post(
        reverse("leads:triage_assign", args=[lead.pk]),
        {"unit": org.gd_sales.pk, "owner": chosen.pk, "reason": "Asked for a Guangzhou rep"})

    assert response.status_code == 302
    lead.refresh_from_db()
    assert (lead.owner, lead.owner_unit, lead.in_triage) == (chosen, org.gd_sales, False)
    assert lead.accept_due_at == add_working_hours(lead.assigned_at, 24)
    last = lead.assignments.last()
    assert (last.how, last.by) == (Assignment.How.MANUAL, hq_marketer)
    assert last.detail["reason"] == "Asked for a Guangzhou rep"


def test_without_a_person_the_team_member_with_the_lowest_load_gets_it(org, gd_team,
                                                                       hq_marketer):
    for rep in gd_team.reps[:2]:
        Lead.objects.create(name="held", stage=Stage.SAL, owner=rep, owner_unit=org.gd_sales)
    lead = unknown_company(org)
    services.assign_by_hand(actor=hq_marketer, lead=lead, unit=org.gd_sales)
    assert Lead.objects.get(pk=lead.pk).owner == gd_team.reps[2]


def test_hand_assignment_is_refused_to_people_outside_the_team_or_a_team_of_nobody(
        org, gd_team, hq_marketer, make_user):
    lead = unknown_company(org)
    gx_rep = make_user(org.gx_sales, Role.SALES_REP)
    with pytest.raises(LeadError) as refused:
        services.assign_by_hand(actor=hq_marketer, lead=lead, unit=org.gd_sales, owner=gx_rep)
    assert refused.value.code == LeadErrorCode.NOT_ELIGIBLE
    with pytest.raises(LeadError) as refused:
        services.assign_by_hand(actor=hq_marketer, lead=lead, unit=org.zj_sales)
    assert refused.value.code == LeadErrorCode.NO_TEAM
    assert Lead.objects.get(pk=lead.pk).in_triage


def test_a_lead_out_of_triage_is_not_triaged(org, gd_team, hq_marketer):
    routed = score_to_mql(person(org.gd_sales)[1])
    with pytest.raises(LeadError) as refused:
        services.assign_by_hand(actor=hq_marketer, lead=routed, unit=org.gd_sales)
    assert refused.value.code == LeadErrorCode.NOT_IN_TRIAGE


def test_a_marketer_disqualifies_a_lead_in_triage(org, hq_marketer):
    lead = unknown_company(org)
    services.disqualify(actor=hq_marketer, lead=lead, reason="A job seeker")
    lead.refresh_from_db()
    assert lead.stage == Stage.DISQUALIFIED and not lead.in_triage
