"""Accounts over the JSON API: the caller's scope, keyset pages, filters, create and change."""

from __future__ import annotations

import pytest

from marketloop.crm.models import Account, Industry, RerouteRun, Tier
from marketloop.org.models import Role
from tests.api.client import ApiClient, assert_problem
from tests.factories import AccountFactory

VALID_CREDIT_CODE = "91110000600037341L"
BAD_CHECK_DIGIT = "91110000600037341M"


@pytest.fixture
def rep_api(gd_rep) -> ApiClient:
    return ApiClient(gd_rep)


def test_list_shows_the_callers_scope_with_every_documented_field(org, gd_rep, rep_api):
    mine = AccountFactory(owner_unit=org.gd_sales, owner=gd_rep, industry_rank=321,
                          revenue_band="large", tier=Tier.REGIONAL_KEY, tier_reason="why")
    sibling = AccountFactory(owner_unit=org.gd_key_account)
    partner = AccountFactory(owner_unit=org.gd_partner, partner=org.gd_partner)
    AccountFactory(owner_unit=org.gx_sales)
    AccountFactory(owner_unit=org.hq_key_account)

    body = rep_api.get("/api/accounts").json()

    assert {item["id"] for item in body["items"]} == {mine.pk, sibling.pk, partner.pk}
    assert body["next_cursor"] is None
    item = next(item for item in body["items"] if item["id"] == mine.pk)
    assert item["tier"] == "regional_key" and item["tier_reason"] == "why"
    assert item["owner_unit"] == {"id": org.gd_sales.pk, "name": org.gd_sales.name}
    assert item["owner"] == {"id": gd_rep.pk, "name": str(gd_rep)}
    assert item["partner"] is None
    assert item["province"] == {"id": org.gd.pk, "code": "gd", "name": org.gd.name}
    assert item["industry"]["code"] == mine.industry.code
    assert item["rank"] == 321 and item["revenue_band"] == "large"
    assert item["credit_code"] == "" and item["parent_id"] is None
    assert item["updated_at"] and item["created_at"]
    partner_item = next(item for item in body["items"] if item["id"] == partner.pk)
    assert partner_item["partner"] == {"id": org.gd_partner.pk, "name": org.gd_partner.name}
    assert partner_item["owner"] is None


def _sort_key(sort: str):
    big = 10**12
    return {
        "name": lambda a: (a.name, a.id),
        "-name": lambda a: (a.name, a.id),
        "rank": lambda a: (a.industry_rank if a.industry_rank is not None else big, a.id),
        "-updated": lambda a: (a.updated_at, a.id),
    }[sort]


@pytest.mark.parametrize("sort", ["name", "-name", "rank", "-updated"])
def test_keyset_pages_cover_every_row_once_in_order(org, gd_rep, rep_api, sort):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    accounts = []
    for i in range(23):
        # Repeated names, repeated and missing ranks, repeated timestamps: ties broken by id.
        accounts.append(AccountFactory(
            owner_unit=org.gd_sales, name=f"广州分页{i % 7}有限公司",
            industry_rank=None if i % 4 == 0 else 100 + i % 5,
            updated_at=now - timedelta(minutes=i % 3)))
    AccountFactory(owner_unit=org.zj_sales, name="广州分页0有限公司")  # out of scope
    expected = sorted(accounts, key=_sort_key(sort), reverse=sort.startswith("-"))

    pages = rep_api.pages("/api/accounts", {"sort": sort, "limit": 5})

    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    seen = [item["id"] for page in pages for item in page]
    assert len(seen) == len(set(seen))
    assert seen == [a.pk for a in expected]


def test_limit_is_capped_at_200(org, rep_api):
    assert_problem(rep_api.get("/api/accounts", {"limit": 201}), 422, "validation_error")
    assert rep_api.get("/api/accounts", {"limit": 200}).status_code == 200


def test_filters(org, gd_rep, rep_api):
    finance = Industry.objects.get(code="finance")
    energy = Industry.objects.get(code="energy")
    huawei = AccountFactory(owner_unit=org.gd_sales, name="华为技术有限公司", industry=finance,
                            tier=Tier.REGIONAL_STRATEGIC, owner=gd_rep, industry_rank=150)
    tencent = AccountFactory(owner_unit=org.gd_key_account, name="腾讯科技有限公司",
                             industry=energy, credit_code=VALID_CREDIT_CODE)
    AccountFactory(owner_unit=org.zj_sales, name="华为浙江有限公司", industry=finance)

    def ids(**params):
        response = rep_api.get("/api/accounts", params)
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["items"]}

    assert ids(q="华为") == {huawei.pk}
    assert ids(q=VALID_CREDIT_CODE.lower()) == {tencent.pk}
    assert ids(tier="regional_strategic") == {huawei.pk}
    assert ids(industry="finance") == {huawei.pk}
    assert ids(industry=str(energy.pk)) == {tencent.pk}
    assert ids(province="gd") == {huawei.pk, tencent.pk}
    assert ids(province=str(org.gx.pk)) == set()
    assert ids(owner=gd_rep.pk) == {huawei.pk}
    assert ids(owner_unit=org.gd_key_account.pk) == {tencent.pk}
    body = assert_problem(rep_api.get("/api/accounts", {"industry": "no-such"}), 422)
    assert "industry" in body["errors"]


def test_detail(org, gd_rep, rep_api):
    parent = AccountFactory(owner_unit=org.gd_sales)
    child = AccountFactory(owner_unit=org.gd_sales, parent=parent)
    body = rep_api.get(f"/api/accounts/{child.pk}").json()
    assert body["id"] == child.pk and body["parent_id"] == parent.pk
    hidden = AccountFactory(owner_unit=org.gx_sales)
    assert_problem(rep_api.get(f"/api/accounts/{hidden.pk}"), 404, "not_found")


def test_create_routes_by_rank_with_industry_and_province_by_code(org, rep_api, make_user):
    make_user(org.gd_key_account, Role.ACCOUNT_MANAGER)
    response = rep_api.post("/api/accounts", {
        "name": "  广州示例制造有限公司 ", "industry": "manufacturing", "province": "gd",
        "credit_code": VALID_CREDIT_CODE.lower(), "rank": 150, "revenue_band": "large"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "广州示例制造有限公司"
    assert body["credit_code"] == VALID_CREDIT_CODE
    assert body["tier"] == "regional_strategic" and "150" in body["tier_reason"]
    assert body["owner_unit"]["id"] == org.gd_key_account.pk
    assert body["province"]["code"] == "gd" and body["industry"]["code"] == "manufacturing"
    assert Account.objects.filter(pk=body["id"]).exists()


def test_create_with_industry_and_province_by_id(org, rep_api):
    industry = Industry.objects.get(code="retail")
    response = rep_api.post("/api/accounts", {"name": "南宁零售有限公司",
                                              "industry": industry.pk, "province": org.gx.pk})
    assert response.status_code == 201, response.content
    assert response.json()["industry"]["id"] == industry.pk
    assert response.json()["province"]["id"] == org.gx.pk


def test_account_routed_outside_the_callers_scope_is_returned_once_then_hidden(org, rep_api):
    response = rep_api.post("/api/accounts", {"name": "百强制造有限公司",
                                              "industry": "manufacturing", "province": "gd",
                                              "rank": 7})
    assert response.status_code == 201
    assert response.json()["owner_unit"]["id"] == org.hq_key_account.pk
    assert_problem(rep_api.get(f"/api/accounts/{response.json()['id']}"), 404)


def test_create_rejects_a_bad_credit_code(org, rep_api):
    body = assert_problem(rep_api.post("/api/accounts", {
        "name": "校验失败有限公司", "industry": "manufacturing", "province": "gd",
        "credit_code": BAD_CHECK_DIGIT}), 422, "invalid_credit_code")
    assert list(body["errors"]) == ["credit_code"]
    assert not Account.objects.filter(name="校验失败有限公司").exists()


def test_create_rejects_a_duplicate_credit_code(org, rep_api):
    AccountFactory(owner_unit=org.zj_sales, credit_code=VALID_CREDIT_CODE)
    body = assert_problem(rep_api.post("/api/accounts", {
        "name": "重复有限公司", "industry": "manufacturing", "province": "gd",
        "credit_code": VALID_CREDIT_CODE}), 422, "duplicate_credit_code")
    assert "credit_code" in body["errors"]


@pytest.mark.parametrize(("field", "value"), [("industry", "no-such-industry"),
                                              ("province", "gd-sales"), ("province", 999999)])
def test_create_rejects_unknown_references(org, rep_api, field, value):
    payload = {"name": "引用有限公司", "industry": "manufacturing", "province": "gd",
               field: value}
    body = assert_problem(rep_api.post("/api/accounts", payload), 422)
    assert list(body["errors"]) == [field]


def test_parent_the_caller_cannot_see_is_unknown(org, rep_api):
    hidden = AccountFactory(owner_unit=org.zj_sales)
    payload = {"name": "子公司有限公司", "industry": "manufacturing", "province": "gd"}
    hidden_body = assert_problem(rep_api.post("/api/accounts", {**payload,
                                                                "parent_id": hidden.pk}), 422)
    missing_body = assert_problem(rep_api.post("/api/accounts", {**payload,
                                                                 "parent_id": 10**9}), 422)
    assert hidden_body["errors"] == missing_body["errors"] == {"parent_id": ["No such account."]}


def test_create_needs_the_create_permission(org, make_user):
    trainer = ApiClient(make_user(org.gd_sales, Role.TRAINER))
    assert_problem(trainer.post("/api/accounts", {"name": "无权有限公司",
                                                  "industry": "manufacturing",
                                                  "province": "gd"}), 403, "not_allowed")


def test_patch_changes_only_what_is_sent(org, gd_rep, rep_api):
    account = AccountFactory(owner_unit=org.gd_sales, owner=gd_rep, revenue_band="medium",
                             industry_rank=700)
    response = rep_api.patch(f"/api/accounts/{account.pk}",
                             {"name": "新名字有限公司", "credit_code": VALID_CREDIT_CODE})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "新名字有限公司" and body["credit_code"] == VALID_CREDIT_CODE
    assert body["revenue_band"] == "medium" and body["rank"] == 700
    account.refresh_from_db()
    assert account.name == "新名字有限公司" and account.name_grams


def test_patch_of_rank_queues_a_reroute(org, gd_rep, rep_api):
    account = AccountFactory(owner_unit=org.gd_sales, owner=gd_rep, industry_rank=700)
    response = rep_api.patch(f"/api/accounts/{account.pk}",
                             {"rank": 120, "industry": "finance", "reason": "new ranking"})
    assert response.status_code == 200, response.content
    assert response.json()["rank"] == 120 and response.json()["industry"]["code"] == "finance"
    run = RerouteRun.objects.get()
    assert run.account_ids == [account.pk] and "industry_rank" in run.cause


@pytest.mark.parametrize("payload", [{"tier": "hq_strategic"}, {"owner_unit": 1},
                                     {"name": None}, {"credit_code": BAD_CHECK_DIGIT},
                                     {"industry": None}, {"rank": 0}])
def test_patch_rejects_what_cannot_be_set(org, gd_rep, rep_api, payload):
    account = AccountFactory(owner_unit=org.gd_sales, owner=gd_rep, name="不变有限公司")
    body = assert_problem(rep_api.patch(f"/api/accounts/{account.pk}", payload), 422)
    assert set(body["errors"]) == set(payload)
    account.refresh_from_db()
    assert account.name == "不变有限公司" and account.tier == Tier.ORDINARY


def test_patch_needs_the_edit_permission_and_sight(org, make_user):
    visible = AccountFactory(owner_unit=org.gd_sales)
    hidden = AccountFactory(owner_unit=org.zj_sales)
    supervisor = ApiClient(make_user(org.gd_sales, Role.SUPERVISOR))
    assert_problem(supervisor.patch(f"/api/accounts/{visible.pk}", {"name": "x"}), 403)
    # Invisible is 404 whatever the role: a 403 would tell that the record exists.
    assert_problem(supervisor.patch(f"/api/accounts/{hidden.pk}", {"name": "x"}), 404)
    manager = ApiClient(make_user(org.gd_sales, Role.MANAGER))
    assert_problem(manager.patch(f"/api/accounts/{hidden.pk}", {"name": "x"}), 404)
    hidden.refresh_from_db()
    assert hidden.name != "x"


def test_a_page_costs_the_same_few_queries_however_many_rows(org, make_user,
                                                           django_assert_max_num_queries):
    api = ApiClient(make_user(org.gd, Role.MANAGER))
    for unit, partner in ((org.gd_sales, None), (org.gd_partner, org.gd_partner)):
        owner = make_user(unit, Role.SALES_REP)
        for _ in range(10):
            AccountFactory(owner_unit=unit, owner=owner, partner=partner)
    api.get("/api/accounts")
    with django_assert_max_num_queries(6):
        body = api.get("/api/accounts", {"limit": 200}).json()
    assert len(body["items"]) == 20
