"""GET /api/campaigns/report and GET /api/activities/{id}/results over HTTP with a token
(figures: tests/campaigns/report_world.py)."""

from __future__ import annotations

import pytest

from tests.api.client import ApiClient, assert_problem
from tests.campaigns.report_world import (  # noqa: F401  (fixtures)
    Q1,
    World,
    organisation_once_fixture,
    world_fixture,
)

pytestmark = pytest.mark.usefixtures("organisation_once")


def test_the_report_gives_totals_groups_and_activities(world: World):
    response = ApiClient(world.hq).get("/api/campaigns/report",
                                       {**Q1, "model": "linear", "group": "level"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == "linear" and body["group"] == "level"
    assert body["period"] == {"first": "2026-01-01", "last": "2026-03-31",
                              "label": "2026-01 – 2026-03"}
    totals = body["totals"]
    assert (totals["leads"], totals["won_deals"], totals["roi"]) == (6.5, 2.25, 23.5714)
    assert totals["won_revenue"] == "165000.00" and totals["spend"] == "7000.00"
    assert totals["cost_per_lead"] == "1076.92"
    assert body["unattributed"]["leads"] == 1.0
    assert {g["key"]: g["figures"]["leads"] for g in body["groups"]} == {
        "company": 2.0, "region": 1.0, "customer_group": 3.5}
    a = next(item for item in body["activities"] if item["code"] == "rw-a")
    assert (a["kind"], a["level"], a["owner_unit"]["name"]) == ("salon", "customer_group",
                                                                 "Guangdong")
    assert a["figures"]["cost_per_won"] == "5333.33"
    assert a["figures"]["cost_per_sal"] == "8000.00"
    b = next(item for item in body["activities"] if item["code"] == "rw-b")
    assert b["region"] == "hq" and b["figures"]["cost_per_sal"] is None


def test_the_model_changes_the_report(world: World):
    client = ApiClient(world.hq)
    linear = client.get("/api/campaigns/report", {**Q1, "model": "linear"}).json()
    first = client.get("/api/campaigns/report", {**Q1, "model": "first_touch"}).json()
    assert linear["totals"]["won_revenue"] == "165000.00"
    assert first["totals"]["won_revenue"] == "100000.00"


def test_a_province_user_gets_only_their_activities_and_no_bucket(world: World):
    body = ApiClient(world.gd).get("/api/campaigns/report", Q1).json()
    assert [item["code"] for item in body["activities"]] == ["rw-a"]
    assert body["unattributed"] is None
    assert body["totals"]["spend"] == "4000.00"


@pytest.mark.parametrize(("params", "field"), [({"model": "best_guess"}, "model"),
                                               ({"from": "January"}, "from"),
                                               ({"group": "colour"}, "group")])
def test_an_unknown_parameter_is_a_problem_on_its_field(world: World, params, field):
    response = ApiClient(world.hq).get("/api/campaigns/report", params)
    body = assert_problem(response, 422)
    assert field in body["errors"]


def test_an_activitys_results(world: World):
    response = ApiClient(world.hq).get(f"/api/activities/{world.a.pk}/results",
                                       {"model": "linear"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["activity"] == {"id": world.a.pk, "code": "rw-a", "name": "rw-salon-a"}
    assert (body["spend"], body["roi"], body["lookback_days"]) == ("9000.00", 8.3333, 180)
    lead = next(s for s in body["stages"] if s["stage"] == "lead")
    assert (lead["sourced"], lead["influenced"], lead["credited"]) == (3.0, 5, 7.5)
    assert lead["cost_per"] == "1200.00"
    won = next(s for s in body["stages"] if s["stage"] == "won")
    assert (won["credited_amount"], won["influenced_amount"]) == ("75000.00", "100000.00")
    assert [m["month"] for m in body["months"]] == ["2026-01", "2026-02", "2026-03",
                                                    "2026-04", "2026-05"]
    assert body["months"][0]["leads"] == 2.5
    assert body["leads"] == [] and body["opportunities_influenced"] == 0


def test_results_of_a_hidden_activity_answer_like_a_missing_one(world: World):
    client = ApiClient(world.gd)
    hidden = client.get(f"/api/activities/{world.b.pk}/results")
    missing = client.get(f"/api/activities/{10**9}/results")
    assert_problem(hidden, 404, "not_found")
    assert_problem(missing, 404, "not_found")
    assert {k: v for k, v in hidden.json().items() if k != "instance"} == \
        {k: v for k, v in missing.json().items() if k != "instance"}
