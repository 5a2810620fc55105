"""The sales pages through the test client: the list with its filters, totals and keyset pages,
the kanban and moving a card with HTMX, a deal's page, the forms, the deal team, the account
page's opportunities card and the settings."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.urls import reverse

from marketloop.leads.models import Lead, Stage
from marketloop.org.models import Role
from marketloop.sales.models import (
    Competitor,
    DealRole,
    Opportunity,
    OpportunityChange,
    Product,
    SalesSettings,
)
from tests.factories import AccountFactory
from tests.sales.factories import OpportunityFactory, accepted_lead, seat

pytestmark = pytest.mark.usefixtures("organisation_once")

HTMX_KANBAN = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "kanban"}


@pytest.fixture
def rep_client(client, gd_rep):
    client.force_login(gd_rep)
    return client


def listed_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'class="ml-name" href="/opportunities/(\d+)/"',
                                         response.content.decode())]


def next_href(response) -> str | None:
    match = re.search(r'id="next-page"[^>]*href="([^"]+)"', response.content.decode())
    return html.unescape(match.group(1)) if match else None


def gd_deal(org, **fields) -> Opportunity:
    account = fields.pop("account", None) or AccountFactory(owner_unit=org.gd_sales)
    return OpportunityFactory(account=account, **fields)


# ---- list ---------------------------------------------------------------------------------

def test_the_list_shows_visible_deals_with_totals_over_all_of_them(org, rep_client):
    small = gd_deal(org, amount=Decimal("100000"), amount_cny=Decimal("100000"),
                    stage="bid", probability=50)
    big = gd_deal(org, amount=Decimal("3000000"), amount_cny=Decimal("3000000"),
                  stage="qualification", probability=10, big_deal=True)
    won = gd_deal(org, amount=Decimal("500000"), amount_cny=Decimal("500000"), stage="won",
                  probability=100)
    hidden = OpportunityFactory(account=AccountFactory(owner_unit=org.zj_sales))
    response = rep_client.get(reverse("sales:opportunity_list"))
    assert response.status_code == 200
    assert set(listed_ids(response)) == {small.pk, big.pk, won.pk}
    assert hidden.name not in response.content.decode()
    totals = response.context["totals"]
    assert totals.count == 3
    assert totals.amount_cny == Decimal("3600000")
    assert totals.pipeline_cny == Decimal("350000")  # 50% of 100k + 10% of 3M; won is not open
    assert 'class="badge bg-red-lt ml-big-deal"' in response.content.decode()


@pytest.mark.parametrize(("params", "expected"), [
    ({"stage": "bid"}, {"bid"}),
    ({"status": "open"}, {"bid", "big"}),
    ({"status": "closed"}, {"won"}),
    ({"big_deal": "1"}, {"big"}),
    ({"amount_min": "200000", "amount_max": "1000000"}, {"won"}),
    ({"close_from": "2031-02-01", "close_to": "2031-12-31"}, {"big"}),
    ({"q": "长沙"}, {"bid"}),   # by the account's name
    ({"q": "云平台"}, {"won"}),  # by the deal's name
])
def test_filters(org, rep_client, params, expected):
    deals = {
        "bid": gd_deal(org, name="ERP升级", stage="bid", amount_cny=Decimal("100000"),
                       expected_close=date(2031, 1, 15),
                       account=AccountFactory(name="长沙重工有限公司", owner_unit=org.gd_sales)),
        "big": gd_deal(org, name="集团管控", big_deal=True, amount_cny=Decimal("3000000"),
                       expected_close=date(2031, 6, 1)),
        "won": gd_deal(org, name="云平台", stage="won", amount_cny=Decimal("500000"),
                       expected_close=date(2030, 12, 1)),
    }
    response = rep_client.get(reverse("sales:opportunity_list"), params)
    assert set(listed_ids(response)) == {deals[key].pk for key in expected}


def test_mine_and_my_unit(org, rep_client, gd_rep, make_user):
    owned = gd_deal(org, owner=gd_rep)
    on_team = OpportunityFactory(account=AccountFactory(owner_unit=org.zj_sales))
    seat(on_team, gd_rep, DealRole.PRESALES)
    sibling = gd_deal(org, account=AccountFactory(owner_unit=org.gd_key_account))
    in_unit = gd_deal(org)
    mine = rep_client.get(reverse("sales:opportunity_list"), {"mine": "1"})
    assert set(listed_ids(mine)) == {owned.pk, on_team.pk}
    unit = rep_client.get(reverse("sales:opportunity_list"), {"my_team": "1"})
    assert set(listed_ids(unit)) == {owned.pk, in_unit.pk}
    assert sibling.pk not in listed_ids(unit)


def test_the_next_link_pages_through_every_deal_once(org, rep_client):
    deals = [gd_deal(org) for _ in range(53)]
    first = rep_client.get(reverse("sales:opportunity_list"))
    second = rep_client.get(next_href(first))
    assert next_href(second) is None
    seen = listed_ids(first) + listed_ids(second)
    assert sorted(seen) == sorted(d.pk for d in deals) and len(listed_ids(first)) == 50


def test_the_filter_form_swaps_only_the_results(org, rep_client):
    gd_deal(org)
    response = rep_client.get(reverse("sales:opportunity_list"),
                              HTTP_HX_REQUEST="true", HTTP_HX_TARGET="opportunity-results")
    assert "<html" not in response.content.decode()
    assert 'id="opportunity-table"' in response.content.decode()


# ---- kanban -------------------------------------------------------------------------------

def test_the_kanban_has_a_column_per_open_stage_with_totals_and_cards(org, rep_client, gd_rep,
                                                                      make_user):
    pm = make_user(org.gd_sales, Role.PROJECT_MANAGER, username="李项目")
    big = gd_deal(org, stage="solution", probability=30, amount=Decimal("2500000"),
                  amount_cny=Decimal("2500000"), big_deal=True,
                  account=AccountFactory(name="广州港务集团", owner_unit=org.gd_sales))
    seat(big, pm, DealRole.PROJECT_MANAGER)
    gd_deal(org, stage="solution", probability=30, amount_cny=Decimal("500000"))
    gd_deal(org, stage="won")
    response = rep_client.get(reverse("sales:kanban"))
    columns = {c.stage: c for c in response.context["columns"]}
    assert list(columns) == ["qualification", "solution", "bid", "negotiation"]
    solution = columns["solution"]
    assert (solution.count, solution.amount_cny, solution.weighted_cny) == (
        2, Decimal("3000000"), Decimal("900000"))
    assert [card.pk for card in solution.cards][0] == big.pk  # biggest first
    body = response.content.decode()
    card = body[body.index(f'id="card-{big.pk}"'):]
    card = card[:card.index('class="btn-list mt-2 ml-move"')]
    assert "广州港务集团" in card and "2,500,000" in card and "ml-big-deal" in card
    assert 'title="李项目 · Project manager">李</span>' in card


def test_moving_a_card_with_htmx_returns_the_board_with_the_card_moved(org, rep_client, gd_rep):
    deal = gd_deal(org, owner=gd_rep)
    response = rep_client.post(reverse("sales:opportunity_stage", args=[deal.pk]),
                               {"stage": "solution"}, **HTMX_KANBAN)
    assert response.status_code == 200
    columns = {c.stage: [card.pk for card in c.cards] for c in response.context["columns"]}
    assert columns["solution"] == [deal.pk] and columns["qualification"] == []
    assert response.content.decode().lstrip().startswith('<div id="kanban"')
    deal.refresh_from_db()
    assert (deal.stage, deal.probability) == ("solution", 30)


def test_losing_from_the_kanban_asks_for_the_reason(org, rep_client, gd_rep):
    lead = accepted_lead(gd_rep, AccountFactory(owner_unit=org.gd_sales), stage=Stage.SQL)
    deal = gd_deal(org, owner=gd_rep, lead=lead, account=lead.account)
    url = reverse("sales:opportunity_stage", args=[deal.pk])
    refused = rep_client.post(url, {"stage": "lost"}, **HTMX_KANBAN)
    assert 'id="kanban-error"' in refused.content.decode()
    assert Opportunity.objects.get(pk=deal.pk).stage == "qualification"

    # hx-prompt sends the answer in a header, URI-encoded when it is not Latin-1
    lost = rep_client.post(url, {"stage": "lost"}, HTTP_HX_PROMPT=quote("预算冻结"),
                           HTTP_HX_PROMPT_URI_AUTOENCODED="true", **HTMX_KANBAN)
    assert 'id="kanban-error"' not in lost.content.decode()
    deal.refresh_from_db()
    assert (deal.stage, deal.close_reason) == ("lost", "预算冻结")
    assert Lead.objects.get(pk=lead.pk).stage == Stage.RECYCLED


def test_a_card_the_user_may_not_change_is_refused_on_the_board(org, client, make_user):
    deal = gd_deal(org)
    colleague = make_user(org.gd_key_account, Role.PRESALES)
    client.force_login(colleague)
    response = client.post(reverse("sales:opportunity_stage", args=[deal.pk]),
                           {"stage": "bid"}, **HTMX_KANBAN)
    assert response.status_code == 403
    assert Opportunity.objects.get(pk=deal.pk).stage == "qualification"


# ---- one deal -----------------------------------------------------------------------------

def test_the_deal_page_shows_team_products_competitors_changes_and_trail(org, rep_client,
                                                                          gd_rep, make_user):
    account = AccountFactory(owner_unit=org.gd_sales)
    create = rep_client.post(reverse("sales:opportunity_create") + f"?account={account.pk}", {
        "account": account.pk, "name": "人力资源云", "amount": "750000", "currency": "CNY",
        "stage": "qualification", "expected_close": "2031-05-31",
        "products": [Product.objects.get(code="hr").pk],
        "competitors": [Competitor.objects.get(name="金蝶").pk]})
    deal = Opportunity.objects.get(name="人力资源云")
    assert create.status_code == 302 and create["Location"] == reverse(
        "sales:opportunity_detail", args=[deal.pk])
    rep_client.post(reverse("sales:opportunity_stage", args=[deal.pk]),
                    {"stage": "bid", "reason": "已提交方案"})
    page = rep_client.get(reverse("sales:opportunity_detail", args=[deal.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "人力资源" in body and "金蝶" in body and account.name in body
    assert "已提交方案" in body  # the stage history
    assert 'id="audit-trail"' in body and "Stage moved" in body
    assert page.context["can_edit"] and 'id="team-add"' in body
    assert [m.user for m in page.context["opportunity"].team.all()] == [gd_rep]


def test_a_colleague_not_on_the_deal_sees_it_without_controls(org, client, make_user):
    deal = gd_deal(org)
    client.force_login(make_user(org.gd_key_account, Role.PRESALES))
    body = client.get(reverse("sales:opportunity_detail", args=[deal.pk])).content.decode()
    assert deal.name in body
    assert 'id="team-add"' not in body and 'id="edit-opportunity"' not in body
    assert client.get(reverse("sales:opportunity_edit", args=[deal.pk])).status_code == 403


def test_a_hidden_deal_is_a_404(org, rep_client):
    hidden = OpportunityFactory(account=AccountFactory(owner_unit=org.zj_sales))
    for name in ("opportunity_detail", "opportunity_edit"):
        assert rep_client.get(reverse(f"sales:{name}", args=[hidden.pk])).status_code == 404


def test_the_form_opened_from_an_accepted_lead_makes_it_an_sql(org, rep_client, gd_rep):
    lead = accepted_lead(gd_rep, AccountFactory(name="佛山家电集团", owner_unit=org.gd_sales))
    url = reverse("sales:opportunity_create") + f"?lead={lead.pk}"
    form = rep_client.get(url)
    assert 'id="from-lead"' in form.content.decode() and "佛山家电集团" in form.content.decode()
    response = rep_client.post(url, {
        "account": lead.account_id, "name": "佛山家电供应链", "amount": "1800000",
        "currency": "CNY", "stage": "solution", "expected_close": "2031-02-28"})
    assert response.status_code == 302
    deal = Opportunity.objects.get(name="佛山家电供应链")
    assert deal.lead == lead and deal.stage == "solution" and deal.probability == 30
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SQL


def test_the_form_shows_the_services_errors(org, rep_client):
    account = AccountFactory(owner_unit=org.gd_sales)
    response = rep_client.post(reverse("sales:opportunity_create"), {
        "account": account.pk, "name": "x", "amount": "100", "currency": "CNY",
        "stage": "qualification", "expected_close": "2031-01-01",
        "products": [], "competitors": []} | {"amount": "0"})
    assert response.status_code == 422
    assert not Opportunity.objects.exists()


def test_editing_a_deal(org, rep_client, gd_rep):
    deal = gd_deal(org, owner=gd_rep)
    response = rep_client.post(reverse("sales:opportunity_edit", args=[deal.pk]), {
        "name": "新名字", "amount": "300000", "currency": "USD",
        "expected_close": "2031-09-30", "reason": "美元合同"})
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.name, deal.amount_cny, deal.big_deal) == ("新名字", Decimal("2130000.00"), True)


def test_adding_and_removing_team_members_on_the_page(org, rep_client, gd_rep, make_user):
    deal = gd_deal(org, owner=gd_rep)
    seat(deal, gd_rep)
    presales = make_user(org.hq_key_account, Role.PRESALES, username="hq-presales")
    added = rep_client.post(reverse("sales:team_add", args=[deal.pk]),
                            {"username": "hq-presales", "role": DealRole.PRESALES})
    assert added.status_code == 302
    member = deal.team.get(user=presales)
    unknown = rep_client.post(reverse("sales:team_add", args=[deal.pk]),
                              {"username": "nobody", "role": DealRole.PRESALES})
    assert unknown.status_code == 422 and "No active user" in unknown.content.decode()
    removed = rep_client.post(reverse("sales:team_remove", args=[deal.pk]),
                              {"member": member.pk})
    assert removed.status_code == 302
    assert not deal.team.filter(user=presales).exists()
    last = rep_client.post(reverse("sales:team_remove", args=[deal.pk]),
                           {"member": deal.team.get().pk})
    assert last.status_code == 422 and 'id="team-error"' in last.content.decode()


def test_the_detail_page_moves_a_closed_deal_only_with_a_reason(org, rep_client, gd_rep):
    deal = gd_deal(org, owner=gd_rep, stage="won", probability=100)
    url = reverse("sales:opportunity_stage", args=[deal.pk])
    refused = rep_client.post(url, {"stage": "negotiation"})
    assert refused.status_code == 422
    assert rep_client.post(url, {"stage": "negotiation", "reason": "重启谈判"}).status_code == 302
    assert OpportunityChange.objects.get(opportunity=deal).reason == "重启谈判"


# ---- the account page ---------------------------------------------------------------------

def test_the_account_page_loads_its_opportunities_from_sales(org, rep_client):
    account = AccountFactory(owner_unit=org.gd_sales)
    deal = gd_deal(org, account=account, name="账户下的商机")
    page = rep_client.get(reverse("crm:account_detail", args=[account.pk])).content.decode()
    slot = reverse("sales:account_opportunities", args=[account.pk])
    assert f'hx-get="{slot}"' in page
    card = rep_client.get(slot)
    assert card.status_code == 200
    assert "账户下的商机" in card.content.decode() and deal.pk in listed_ids(card)
    assert f"?account={account.pk}" in card.content.decode()  # a new one, at this account


def test_the_account_card_shows_deals_the_user_may_see_only(org, client, make_user):
    account = AccountFactory(owner_unit=org.gd_partner, partner=org.gd_partner)
    partner_deal = OpportunityFactory(account=account, name="伙伴商机")
    elsewhere = OpportunityFactory(account=account, name="总部直签", owner_unit=org.hq_key_account,
                                   partner=None)
    client.force_login(make_user(org.gd_partner, Role.PARTNER_STAFF))
    card = client.get(reverse("sales:account_opportunities", args=[account.pk]))
    assert listed_ids(card) == [partner_deal.pk]
    assert elsewhere.name not in card.content.decode()


# ---- settings -----------------------------------------------------------------------------

def test_only_administrators_see_the_sales_settings(org, rep_client, client, admin_user):
    assert rep_client.get(reverse("sales:settings")).status_code == 403
    client.force_login(admin_user)
    assert client.get(reverse("sales:settings")).status_code == 200


def test_saving_the_settings_re_marks_open_deals(org, client, admin_user):
    deal = gd_deal(org, amount=Decimal("1500000"), amount_cny=Decimal("1500000"))
    client.force_login(admin_user)
    response = client.post(reverse("sales:settings"), {
        "big_deal_band_cny": "1000000", "probability_qualification": "20",
        "probability_solution": "30", "probability_bid": "50", "probability_negotiation": "80",
        "rate_USD": "7.2", "rate_EUR": "7.8", "rate_HKD": "0.92"})
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.big_deal and deal.probability == 20
    assert SalesSettings.objects.get().cny_rates["USD"] == "7.2"


def test_pages_in_chinese(org, client, gd_rep):
    gd_deal(org, owner=gd_rep)
    client.force_login(gd_rep)
    for name in ("sales:opportunity_list", "sales:kanban", "sales:opportunity_create"):
        response = client.get(reverse(name), HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200, name
