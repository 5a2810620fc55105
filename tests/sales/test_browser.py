"""The kanban and the account page's opportunities card in a real browser (Debian's Chromium
through Playwright, against the live server): HTMX moves a card, the browser's prompt asks why
a deal was lost, and the account page loads its deals from the sales context."""

from __future__ import annotations

import os
import re
from decimal import Decimal

import pytest

from marketloop.leads.models import Lead, Stage
from marketloop.sales.models import DealRole, Opportunity
from tests.conftest import PASSWORD
from tests.factories import AccountFactory
from tests.sales.factories import OpportunityFactory, accepted_lead, seat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_DIR = os.environ.get("MARKETLOOP_SCREENSHOTS", "/tmp")


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(re.compile(r"/accounts/$"))


def test_move_a_card_forward_then_lose_it_with_a_reason(org, gd_rep, live_server, browser):
    account = AccountFactory(name="东莞精密制造有限公司", owner_unit=org.gd_sales)
    lead = accepted_lead(gd_rep, account, stage=Stage.SQL)
    deal = OpportunityFactory(account=account, lead=lead, name="东莞MES项目", owner=gd_rep,
                              amount=Decimal("2600000"), amount_cny=Decimal("2600000"),
                              big_deal=True)
    seat(deal, gd_rep, DealRole.ACCOUNT_MANAGER)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    sign_in(page, live_server, "gd-rep")
    page.goto(f"{live_server.url}/opportunities/kanban/")
    card = f"#card-{deal.pk}"
    assert page.locator(f"#column-qualification {card}").count() == 1
    assert page.locator(f"{card} .ml-big-deal").is_visible()

    page.click(f"{card} button[value=solution]")
    page.wait_for_selector(f"#column-solution {card}")
    assert Opportunity.objects.get(pk=deal.pk).stage == "solution"
    page.screenshot(path=f"{SCREENSHOT_DIR}/marketloop-kanban.png", full_page=True)

    page.once("dialog", lambda dialog: dialog.accept("客户预算冻结"))
    page.click(f"{card} button[value=lost]")
    page.wait_for_function(f"!document.querySelector('{card}')")
    deal.refresh_from_db()
    assert (deal.stage, deal.close_reason) == ("lost", "客户预算冻结")
    assert Lead.objects.get(pk=lead.pk).stage == Stage.RECYCLED
    page.goto(f"{live_server.url}/opportunities/{deal.pk}/")
    assert "客户预算冻结" in page.locator("#close-reason").inner_text()
    page.screenshot(path=f"{SCREENSHOT_DIR}/marketloop-opportunity.png", full_page=True)


def test_the_account_page_loads_its_opportunities(org, gd_rep, live_server, browser):
    account = AccountFactory(name="珠海航空配件有限公司", owner_unit=org.gd_sales)
    OpportunityFactory(account=account, name="珠海财务共享")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, "gd-rep")
    page.goto(f"{live_server.url}/accounts/{account.pk}/")
    page.wait_for_selector("#opportunities-body a.ml-name")
    assert page.locator("#opportunities-body a.ml-name").inner_text() == "珠海财务共享"
