"""The plans, activities and budget API: round trips over HTTP with a bearer token, errors as
RFC 9457 problems with stable codes, and hidden rows answering like missing ones."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketloop.campaigns.models import Activity, MarketingPlan
from marketloop.org.models import Role
from tests.api.client import ApiClient, assert_problem
from tests.campaigns.factories import (  # noqa: F401  (a fixture)
    ActivityFactory,
    PlanFactory,
    campaigns_org,
)

pytestmark = pytest.mark.usefixtures("campaigns_org")


@pytest.fixture
def owner(org, make_user):
    return make_user(org.gd, Role.MANAGER, username="gd-plan-owner")


@pytest.fixture
def marketer(org, make_user):
    return make_user(org.gd_sales, Role.MARKETER, username="gd-marketer")


@pytest.fixture
def plan(org, owner):
    return PlanFactory(owner_unit=org.gd, owner=owner, name="广东三季度计划",
                       budget=Decimal("50000"))


def new_plan(org, owner, **fields):
    body = {"name": "广东四季度计划", "year": 2026, "quarter": 4, "owner_unit": org.gd.pk,
            "owner": owner.pk, "budget": "60000", "goal_leads": 100, "goal_revenue": "300000"}
    body.update(fields)
    return body


def new_activity(org, plan, **fields):
    body = {"plan": plan.pk, "name": "珠海沙龙", "kind": "salon", "level": "customer_group",
            "owner_unit": org.gd_sales.pk, "starts_on": "2026-07-15", "ends_on": "2026-07-15",
            "budget": "20000", "audience": "制造业 CIO"}
    body.update(fields)
    return body


# ---- plans -----------------------------------------------------------------------------------

def test_a_plan_round_trip(org, owner):
    api = ApiClient(owner)
    created = api.post("/api/plans", new_plan(org, owner))
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["quarter"], body["owner"]["id"], body["owner_unit"]["id"]) == (
        "广东四季度计划", 4, owner.pk, org.gd.pk)
    assert (body["budget"], body["approved"], body["spent"]) == ("60000.00", "0.00", "0.00")
    assert body["burnt_percent"] == "0.0" and body["activities"] == []

    patched = api.patch(f"/api/plans/{body['id']}", {"budget": "70000", "goal_mqls": 20,
                                                      "reason": "追加"})
    assert patched.status_code == 200, patched.content
    assert (patched.json()["budget"], patched.json()["goal_mqls"]) == ("70000.00", 20)
    fetched = api.get(f"/api/plans/{body['id']}").json()
    assert fetched["budget"] == "70000.00"
    listed = api.get("/api/plans", {"year": 2026, "quarter": 4, "unit": org.region_south.pk})
    assert [p["id"] for p in listed.json()["items"]] == [body["id"]]


def test_a_second_plan_for_the_quarter_is_a_problem(org, owner, plan):
    response = ApiClient(owner).post("/api/plans", new_plan(org, owner, quarter=3))
    problem = assert_problem(response, 422, "plan_exists")
    assert "quarter" in problem["errors"]


def test_a_plan_out_of_sight_answers_like_a_missing_one(org, make_user, plan):
    api = ApiClient(make_user(org.zj, Role.MANAGER))
    hidden, missing = api.get(f"/api/plans/{plan.pk}"), api.get(f"/api/plans/{10**9}")
    assert_problem(hidden, 404, "not_found")
    assert_problem(missing, 404, "not_found")
    assert api.patch(f"/api/plans/{plan.pk}", {"name": "x"}).status_code == 404


def test_patching_a_plan_with_null_is_a_problem(owner, plan):
    problem = assert_problem(ApiClient(owner).patch(f"/api/plans/{plan.pk}", {"budget": None}),
                             422, "invalid")
    assert "budget" in problem["errors"]


def test_the_plan_list_pages(org, owner):
    for quarter in (1, 2, 3, 4):
        PlanFactory(owner_unit=org.gd, owner=owner, quarter=quarter)
    pages = ApiClient(owner).pages("/api/plans", {"limit": 3})
    assert [[p["quarter"] for p in page] for page in pages] == [[4, 3, 2], [1]]
    assert_problem(ApiClient(owner).get("/api/plans", {"cursor": "nonsense"}), 422, "invalid")


# ---- activities ------------------------------------------------------------------------------

def test_an_activity_round_trip(org, owner, plan):
    api = ApiClient(owner)
    created = api.post("/api/activities", new_activity(org, plan))
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["code"] == "2026q3-gd-sales-salon-001"
    assert (body["plan"]["id"], body["owner_unit"]["id"], body["partner"], body["owner"]) == (
        plan.pk, org.gd_sales.pk, None, None)
    assert (body["budget"], body["approved_budget"], body["available"]) == (
        "20000.00", "0.00", "0.00")
    assert body["budget_requests"] == []

    patched = api.patch(f"/api/activities/{body['id']}", {
        "code": "zh-salon-2026", "status": "running", "owner": owner.pk,
        "partner": org.gd_partner.pk, "reason": "定了"})
    assert patched.status_code == 200, patched.content
    changed = patched.json()
    assert (changed["code"], changed["status"], changed["owner"]["id"],
            changed["partner"]["id"]) == ("zh-salon-2026", "running", owner.pk,
                                          org.gd_partner.pk)
    cleared = api.patch(f"/api/activities/{body['id']}", {"partner": None}).json()
    assert cleared["partner"] is None
    assert api.get(f"/api/activities/{body['id']}").json()["code"] == "zh-salon-2026"
    listed = api.get("/api/activities", {"kind": "salon", "period": "2026q3", "q": "zh-"})
    assert [a["id"] for a in listed.json()["items"]] == [body["id"]]


def test_activity_rules_come_back_as_problems(org, owner, plan):
    api = ApiClient(owner)
    early = api.post("/api/activities", new_activity(org, plan, starts_on="2026-06-01"))
    assert "starts_on" in assert_problem(early, 422, "outside_plan_quarter")["errors"]
    ActivityFactory(plan=plan, code="taken")
    assert_problem(api.post("/api/activities", new_activity(org, plan, code="Taken")), 422,
                   "activity_code_taken")
    company = api.post("/api/activities", new_activity(org, plan, level="company"))
    assert "level" in assert_problem(company, 422, "invalid")["errors"]
    assert_problem(api.post("/api/activities", new_activity(org, plan, starts_on="15/07/2026")),
                   422, "validation_error")
    assert_problem(api.post("/api/activities", new_activity(org, plan, colour="red")), 422,
                   "validation_error")


def test_an_activity_in_a_plan_out_of_sight_is_refused_like_a_missing_plan(org, make_user,
                                                                           plan):
    zj = ApiClient(make_user(org.zj, Role.MARKETER))
    hidden = zj.post("/api/activities", new_activity(org, plan))
    missing = zj.post("/api/activities", {**new_activity(org, plan), "plan": 10**9})
    assert_problem(hidden, 422, "unknown_plan")
    assert {k: v for k, v in hidden.json().items() if k != "instance"} == {
        k: v for k, v in missing.json().items() if k != "instance"}
    assert not Activity.objects.exists()


def test_activities_out_of_sight_are_not_found(org, make_user, plan):
    salon = ActivityFactory(plan=plan)
    zj = ApiClient(make_user(org.zj, Role.MARKETER))
    assert_problem(zj.get(f"/api/activities/{salon.pk}"), 404, "not_found")
    assert_problem(zj.patch(f"/api/activities/{salon.pk}", {}), 404, "not_found")
    assert zj.get("/api/activities").json()["items"] == []


# ---- budget ----------------------------------------------------------------------------------

def test_the_budget_round_trip(org, owner, marketer, plan):
    salon = ActivityFactory(plan=plan, owner_unit=org.gd_sales)
    api, boss = ApiClient(marketer), ApiClient(owner)
    asked = api.post(f"/api/activities/{salon.pk}/budget-requests",
                     {"amount": "8000", "reason": "场地"})
    assert asked.status_code == 201, asked.content
    request = asked.json()
    assert (request["status"], request["amount"], request["requested_by"]["id"]) == (
        "pending", "8000.00", marketer.pk)

    assert_problem(api.post(f"/api/budget-requests/{request['id']}/decision",
                            {"approve": True}), 403, "not_plan_owner")
    decided = boss.post(f"/api/budget-requests/{request['id']}/decision",
                        {"approve": True, "note": "好"})
    assert decided.status_code == 200, decided.content
    assert (decided.json()["status"], decided.json()["decision_note"]) == ("approved", "好")
    assert_problem(boss.post(f"/api/budget-requests/{request['id']}/decision",
                             {"approve": False}), 422, "request_already_decided")

    over = api.post(f"/api/activities/{salon.pk}/spend",
                    {"amount": "8000.01", "spent_on": "2026-07-20", "description": "场地"})
    problem = assert_problem(over, 422, "over_approved_budget")
    assert "8000.00" in problem["title"] and "amount" in problem["errors"]
    spent = api.post(f"/api/activities/{salon.pk}/spend",
                     {"amount": "7500", "spent_on": "2026-07-20", "description": "场地",
                      "vendor": "会展中心"})
    assert spent.status_code == 201, spent.content
    assert (spent.json()["amount"], spent.json()["attachments"]) == ("7500.00", [])
    listed = api.get(f"/api/activities/{salon.pk}/spend").json()
    assert [s["id"] for s in listed] == [spent.json()["id"]]
    detail = api.get(f"/api/activities/{salon.pk}").json()
    assert (detail["approved_budget"], detail["spent"], detail["available"]) == (
        "8000.00", "7500.00", "500.00")
    assert [r["status"] for r in detail["budget_requests"]] == ["approved"]
    plan_burn = api.get(f"/api/plans/{plan.pk}").json()
    assert (plan_burn["approved"], plan_burn["spent"], plan_burn["burnt_percent"]) == (
        "8000.00", "7500.00", "15.0")


def test_an_approval_over_the_plans_budget_is_a_problem(org, owner, marketer, plan):
    salon = ActivityFactory(plan=plan)
    request = ApiClient(marketer).post(f"/api/activities/{salon.pk}/budget-requests",
                                       {"amount": "50000.01", "reason": "全部"}).json()
    assert_problem(ApiClient(owner).post(f"/api/budget-requests/{request['id']}/decision",
                                         {"approve": True}), 422, "over_plan_budget")


def test_budget_routes_of_an_activity_out_of_sight_are_not_found(org, make_user, marketer,
                                                                 plan):
    salon = ActivityFactory(plan=plan)
    request = ApiClient(marketer).post(f"/api/activities/{salon.pk}/budget-requests",
                                       {"amount": "1", "reason": "x"}).json()
    zj = ApiClient(make_user(org.zj, Role.MANAGER))
    assert_problem(zj.post(f"/api/activities/{salon.pk}/budget-requests",
                           {"amount": "1", "reason": "x"}), 404)
    assert_problem(zj.post(f"/api/budget-requests/{request['id']}/decision",
                           {"approve": True}), 404)
    assert_problem(zj.get(f"/api/activities/{salon.pk}/spend"), 404)
    assert_problem(zj.post(f"/api/activities/{salon.pk}/spend",
                           {"amount": "1", "spent_on": "2026-07-01", "description": "x"}), 404)
    assert MarketingPlan.objects.count() >= 1
