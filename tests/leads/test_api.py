"""The leads API: list and read within the caller's scope, accept, reject, qualify, and hand
off a customer's new need; errors are RFC 9457 problems with stable codes."""

from __future__ import annotations

import pytest

from marketloop.leads import services
from marketloop.leads.models import Lead, Stage
from marketloop.org.models import Role
from tests.api.client import ApiClient, assert_problem
from tests.leads.conftest import LEAD_AT, person, score_to_mql, set_score

pytestmark = [pytest.mark.django_db,
              pytest.mark.usefixtures("fast_passwords", "organisation_once", "model")]


def test_the_owner_lists_reads_and_accepts_a_lead(org, gd_team):
    lead = score_to_mql(person(org.gd_sales, "褚七")[1])
    api = ApiClient(lead.owner)

    page = api.get("/api/leads", {"awaiting": "true"}).json()
    assert [item["id"] for item in page["items"]] == [lead.pk] and page["next_cursor"] is None
    detail = api.get(f"/api/leads/{lead.pk}").json()
    assert detail["stage"] == "mql" and detail["owner"]["id"] == lead.owner_id
    assert [c["to_stage"] for c in detail["stage_changes"]] == ["subscriber", "lead", "mql"]
    assert detail["stage_changes"][-1]["rule"]["mql_fit"] == 30
    assert detail["assignments"][0]["how"] == "routed"
    assert detail["accept_due_at"] is not None

    accepted = api.post(f"/api/leads/{lead.pk}/accept")
    assert accepted.status_code == 200 and accepted.json()["stage"] == "sal"


def test_a_rejection_needs_a_known_reason_and_returns_the_lead_to_marketing(org, gd_team):
    lead = score_to_mql(person(org.gd_sales)[1])
    api = ApiClient(lead.owner)
    assert_problem(api.post(f"/api/leads/{lead.pk}/reject", {"reason": "bored"}), 422,
                   "validation_error")
    assert_problem(api.post(f"/api/leads/{lead.pk}/reject", {"reason": "other"}), 422,
                   "note_required")

    response = api.post(f"/api/leads/{lead.pk}/reject",
                        {"reason": "wrong_owner", "note": "Belongs to Hainan"})

    assert response.status_code == 200
    body = response.json()
    assert body["stage"] == "recycled" and body["reject_reason"] == "wrong_owner"
    assert body["owner"] is None and body["owner_unit"]["id"] == org.hq_marketing.pk
    assert_problem(api.get(f"/api/leads/{lead.pk}"), 404, "not_found")  # out of sight now


def test_not_the_owner_and_not_the_role_are_refused_with_their_codes(org, gd_team, make_user):
    lead = score_to_mql(person(org.gd_sales)[1])
    colleague = next(rep for rep in gd_team.reps if rep != lead.owner)
    assert_problem(ApiClient(colleague).post(f"/api/leads/{lead.pk}/accept"), 422,
                   "not_lead_owner")
    supervisor = make_user(org.hq_supervision, Role.SUPERVISOR)
    assert_problem(ApiClient(supervisor).post(f"/api/leads/{lead.pk}/accept"), 403,
                   "not_allowed")
    gx_rep = make_user(org.gx_sales, Role.SALES_REP)
    assert_problem(ApiClient(gx_rep).post(f"/api/leads/{lead.pk}/accept"), 404, "not_found")


def test_a_marketer_qualifies_a_lead_and_it_is_routed(org, gd_team, hq_marketer):
    _contact, profile = person(org.gd_sales)
    set_score(profile, fit=1, engagement=LEAD_AT)
    services.apply_scores(profile_ids=[profile.pk])
    lead = Lead.objects.get(profile=profile)

    response = ApiClient(hq_marketer).post(f"/api/leads/{lead.pk}/qualify",
                                           {"reason": "Asked for a demo"})

    assert response.status_code == 200
    body = response.json()
    assert body["stage"] == "mql" and body["owner"]["id"] in {r.pk for r in gd_team.reps}
    assert body["stage_changes"][-1]["reason"] == "Asked for a demo"
    again = ApiClient(hq_marketer).post(f"/api/leads/{lead.pk}/qualify", {})
    assert_problem(again, 422, "wrong_stage")


def test_handing_off_a_customers_need_creates_a_routed_mql(org, gd_team, gd_rep):
    contact, _profile = person(org.gd_sales)
    api = ApiClient(gd_rep)

    response = api.post("/api/leads", {"contact": contact.pk, "need": "new_module",
                                       "note": "Payroll for 12 subsidiaries"})

    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["need"], body["stage"]) == ("customer_need", "new_module", "mql")
    assert body["note"] == "Payroll for 12 subsidiaries" and body["owner"] is not None
    assert_problem(api.post("/api/leads", {"contact": contact.pk, "need": "new_module"}), 422,
                   "lead_already_open")


def test_a_contact_the_caller_cannot_see_is_unknown(org, gd_rep):
    hidden, _profile = person(org.zj_sales)
    api = ApiClient(gd_rep)
    hidden_answer = api.post("/api/leads", {"contact": hidden.pk, "need": "new_module"})
    missing_answer = api.post("/api/leads", {"contact": 10**9, "need": "new_module"})
    for answer in (hidden_answer, missing_answer):
        body = assert_problem(answer, 422, "unknown_contact")
        assert body["errors"] == {"contact": ["No such contact."]}


def test_the_list_pages_by_cursor_and_refuses_a_bad_one(org, hq_marketer):
    for _ in range(5):
        _contact, profile = person(org.gd_sales)
        set_score(profile, fit=1, engagement=1)
        services.apply_scores(profile_ids=[profile.pk])
    api = ApiClient(hq_marketer)
    pages = api.pages("/api/leads", {"stage": "subscriber", "limit": 2})
    ids = [item["id"] for page in pages for item in page]
    assert len(pages) == 3 and len(ids) == len(set(ids)) == 5
    assert all(item["stage"] == Stage.SUBSCRIBER for page in pages for item in page)
    assert_problem(api.get("/api/leads", {"cursor": "not-a-cursor"}), 422, "invalid")
