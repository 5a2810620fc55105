"""Opportunities over the JSON API: the caller's deals with every documented field, filters,
totals, keyset pages, opening (directly and from a lead), changing, stage moves and the team,
with RFC 9457 problems carrying stable codes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketloop.leads.models import Lead, Stage
from marketloop.org.models import Role
from marketloop.sales.models import Competitor, DealRole, Opportunity, Product
from tests.api.client import ApiClient, assert_problem
from tests.factories import AccountFactory
from tests.sales.factories import OpportunityFactory, accepted_lead, seat

pytestmark = pytest.mark.usefixtures("organisation_once")


@pytest.fixture
def rep_api(gd_rep) -> ApiClient:
    return ApiClient(gd_rep)


def _open(api: ApiClient, account, **fields):
    body = {"account": account.pk, "name": "数据中台项目", "amount": "1200000",
            "expected_close": "2031-04-30", **fields}
    return api.post("/api/opportunities", body)


def test_opening_a_deal_answers_it_with_every_documented_field(org, gd_rep, rep_api, make_user):
    account = AccountFactory(owner_unit=org.gd_sales)
    pm = make_user(org.hq_key_account, Role.PROJECT_MANAGER)
    product = Product.objects.get(code="data-platform")
    rival = Competitor.objects.get(name="SAP")
    response = _open(rep_api, account, currency="EUR", stage="solution",
                     products=[product.pk], competitors=[rival.pk],
                     team=[{"user_id": pm.pk, "role": "project_manager"}])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["account"] == {"id": account.pk, "name": account.name}
    assert body["lead_id"] is None
    assert Decimal(body["amount"]) == Decimal("1200000")
    assert Decimal(body["amount_cny"]) == Decimal("9240000")
    assert body["currency"] == "EUR" and body["big_deal"] is True
    assert (body["stage"], body["probability"]) == ("solution", 30)
    assert body["expected_close"] == "2031-04-30"
    assert body["owner"] == {"id": gd_rep.pk, "name": str(gd_rep)}
    assert body["owner_unit"]["id"] == org.gd_sales.pk and body["partner"] is None
    assert {(m["user"]["id"], m["role"]) for m in body["team"]} == {
        (gd_rep.pk, "account_manager"), (pm.pk, "project_manager")}
    assert body["products"] == [{"id": product.pk, "code": "data-platform",
                                 "name": product.name, "name_en": product.name_en}]
    assert body["competitors"] == [{"id": rival.pk, "name": "SAP"}]
    assert [(c["from_stage"], c["to_stage"]) for c in body["changes"]] == [("", "solution")]
    assert body["close_reason"] == "" and body["closed_at"] is None


def test_opening_from_an_accepted_lead(org, gd_rep, rep_api):
    lead = accepted_lead(gd_rep, AccountFactory(owner_unit=org.gd_sales))
    response = rep_api.post("/api/opportunities", {"lead": lead.pk, "name": "协同办公",
                                                   "amount": "200000",
                                                   "expected_close": "2031-01-31"})
    assert response.status_code == 201
    assert response.json()["lead_id"] == lead.pk
    assert response.json()["account"]["id"] == lead.account_id
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SQL
    again = rep_api.post("/api/opportunities", {"lead": lead.pk, "name": "再来",
                                                "amount": "1", "expected_close": "2031-01-31"})
    assert_problem(again, 422, "lead_not_accepted")


def test_an_account_out_of_sight_is_a_field_problem(org, rep_api):
    hidden = AccountFactory(owner_unit=org.zj_sales)
    body = assert_problem(_open(rep_api, hidden), 422, "unknown_account")
    assert body["errors"] == {"account": ["No such account."]}
    missing = assert_problem(_open(rep_api, type("Gone", (), {"pk": 10**9})), 422)
    body.pop("instance"), missing.pop("instance")
    assert body == missing


def test_the_list_filters_pages_and_totals(org, gd_rep, rep_api):
    deals = [OpportunityFactory(account=AccountFactory(owner_unit=org.gd_sales),
                                amount_cny=Decimal(100000 * (i + 1)), stage="bid",
                                probability=50)
             for i in range(5)]
    OpportunityFactory(account=AccountFactory(owner_unit=org.zj_sales))  # out of sight
    first = rep_api.get("/api/opportunities", {"limit": 2}).json()
    assert first["totals"] == {"count": 5, "amount_cny": "1500000.00",
                               "pipeline_cny": "750000.00"}
    pages = rep_api.pages("/api/opportunities", {"limit": 2})
    assert sorted(i["id"] for page in pages for i in page) == sorted(d.pk for d in deals)
    later = rep_api.get("/api/opportunities", {"limit": 2, "cursor": first["next_cursor"]})
    assert later.json()["totals"] is None
    ranged = rep_api.get("/api/opportunities", {"amount_min": "200000",
                                                "amount_max": "300000"}).json()
    assert {i["id"] for i in ranged["items"]} == {deals[1].pk, deals[2].pk}
    assert rep_api.get("/api/opportunities", {"status": "closed"}).json()["items"] == []
    assert_problem(rep_api.get("/api/opportunities", {"cursor": "nonsense"}), 422, "invalid")


def test_a_hidden_deal_answers_like_a_missing_one(org, rep_api):
    hidden = OpportunityFactory(account=AccountFactory(owner_unit=org.zj_sales))
    seen = assert_problem(rep_api.get(f"/api/opportunities/{hidden.pk}"), 404, "not_found")
    gone = assert_problem(rep_api.get("/api/opportunities/999999999"), 404, "not_found")
    assert seen["title"] == gone["title"]


def test_changing_and_moving_a_deal(org, gd_rep, rep_api):
    deal = _open(rep_api, AccountFactory(owner_unit=org.gd_sales)).json()
    url = f"/api/opportunities/{deal['id']}"
    patched = rep_api.patch(url, {"amount": "2500000", "reason": "范围扩大"})
    assert patched.status_code == 200 and patched.json()["big_deal"] is True
    assert_problem(rep_api.patch(url, {"name": " "}), 422, "invalid")
    assert_problem(rep_api.patch(url, {"owner": 1}), 422, "validation_error")
    moved = rep_api.post(f"{url}/stage", {"stage": "negotiation"}).json()
    assert (moved["stage"], moved["probability"]) == ("negotiation", 75)
    assert_problem(rep_api.post(f"{url}/stage", {"stage": "lost"}), 422, "reason_required")
    lost = rep_api.post(f"{url}/stage", {"stage": "lost", "reason": "客户选择了本地厂商"}).json()
    assert (lost["stage"], lost["close_reason"]) == ("lost", "客户选择了本地厂商")
    assert_problem(rep_api.post(f"{url}/stage", {"stage": "bid"}), 422, "reason_required")


def test_someone_who_sees_the_deal_but_is_not_on_it_gets_a_403(org, make_user):
    deal = OpportunityFactory(account=AccountFactory(owner_unit=org.gd_sales))
    colleague = ApiClient(make_user(org.gd_key_account, Role.PRESALES))
    assert colleague.get(f"/api/opportunities/{deal.pk}").status_code == 200
    assert_problem(colleague.patch(f"/api/opportunities/{deal.pk}", {"name": "新"}), 403,
                   "not_deal_editor")
    assert_problem(colleague.post(f"/api/opportunities/{deal.pk}/stage", {"stage": "bid"}),
                   403, "not_deal_editor")


def test_the_deal_team_over_the_api(org, gd_rep, rep_api, make_user):
    deal = _open(rep_api, AccountFactory(owner_unit=org.gd_sales)).json()
    presales = make_user(org.zj_sales, Role.PRESALES)
    added = rep_api.post(f"/api/opportunities/{deal['id']}/team",
                         {"user_id": presales.pk, "role": "presales"})
    assert added.status_code == 201
    seat_id = added.json()["id"]
    assert added.json()["user"] == {"id": presales.pk, "name": str(presales)}
    assert ApiClient(presales).get(f"/api/opportunities/{deal['id']}").status_code == 200
    assert_problem(rep_api.post(f"/api/opportunities/{deal['id']}/team",
                                {"user_id": 10**9, "role": "presales"}), 422, "unknown_user")
    removed = rep_api.client.delete(f"/api/opportunities/{deal['id']}/team/{seat_id}",
                                    **rep_api.headers)
    assert removed.status_code == 204
    assert ApiClient(presales).get(f"/api/opportunities/{deal['id']}").status_code == 404
    mine = Opportunity.objects.get(pk=deal["id"]).team.get(user=gd_rep)
    last = rep_api.client.delete(f"/api/opportunities/{deal['id']}/team/{mine.pk}",
                                 **rep_api.headers)
    assert_problem(last, 422, "account_manager_required")


def test_removing_a_seat_of_a_hidden_deal_answers_like_a_missing_deal(org, rep_api, make_user):
    hidden = OpportunityFactory(account=AccountFactory(owner_unit=org.zj_sales))
    member = seat(hidden, make_user(org.zj_sales, Role.ACCOUNT_MANAGER))
    seat(hidden, make_user(org.zj_sales, Role.ACCOUNT_MANAGER), DealRole.ACCOUNT_MANAGER)
    hidden_answer = rep_api.client.delete(f"/api/opportunities/{hidden.pk}/team/{member.pk}",
                                          **rep_api.headers)
    missing_answer = rep_api.client.delete(f"/api/opportunities/{10**9}/team/{member.pk}",
                                           **rep_api.headers)
    assert_problem(hidden_answer, 404, "not_found")
    assert_problem(missing_answer, 404, "not_found")
    assert hidden_answer.json()["title"] == missing_answer.json()["title"]
    assert hidden.team.filter(pk=member.pk).exists()
