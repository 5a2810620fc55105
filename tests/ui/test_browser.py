"""The pages in a real browser: Debian's Chromium driven by Playwright against the live server.

Each test makes its data first (the live server needs committed rows), then opens the browser.
"""

from __future__ import annotations

import os
import re

import pytest

from marketloop.crm.models import RerouteRun, Tier
from tests.conftest import PASSWORD
from tests.factories import AccountFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_DIR = os.environ.get("MARKETLOOP_SCREENSHOTS", "/tmp")

def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(re.compile(r"/accounts/$"))


def test_sign_in_search_and_open_an_account(org, gd_rep, live_server, browser):
    target = AccountFactory(name="深圳华为技术有限公司", owner_unit=org.gd_sales,
                            tier=Tier.REGIONAL_STRATEGIC, industry_rank=150,
                            tier_reason="排名 150 匹配规则“区域战略客户”。")
    AccountFactory(name="广州腾讯科技有限公司", owner_unit=org.gd_sales)
    AccountFactory(name="杭州阿里巴巴有限公司", owner_unit=org.zj_sales)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, "gd-rep")
    rows = page.locator("#account-table tbody tr")
    assert rows.count() == 2
    assert "杭州阿里巴巴有限公司" not in page.content()

    page.fill("#id_q", "华为")
    page.wait_for_url(re.compile(r"q=%E5%8D%8E%E4%B8%BA"))  # pushed by HTMX
    page.wait_for_function("document.querySelectorAll('#account-table tbody tr').length === 1")
    assert page.locator("#account-filters").count() == 1  # the form was not re-rendered
    page.screenshot(path=f"{SCREENSHOT_DIR}/marketloop-accounts.png", full_page=True)

    page.click(f"text={target.name}")
    page.wait_for_url(re.compile(rf"/accounts/{target.pk}/$"))
    assert page.locator("h2.page-title").inner_text().startswith(target.name)
    assert "区域战略客户" in page.locator("#tier-reason").inner_text()
    assert page.locator("#audit-trail").is_visible()
    page.screenshot(path=f"{SCREENSHOT_DIR}/marketloop-account.png", full_page=True)


def test_switch_to_chinese_and_back_then_sign_out(org, gd_rep, live_server, browser):
    AccountFactory(owner_unit=org.gd_sales, tier=Tier.REGIONAL_KEY)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, "gd-rep")
    assert page.locator("h2.page-title").inner_text() == "Accounts"
    page.click("button[name=language][value=zh-hans]")
    page.wait_for_selector("html[lang=zh-hans]")
    assert page.locator("h2.page-title").inner_text() == "客户"
    assert page.locator("label[for=id_q]").inner_text() == "搜索"
    assert "区域重点客户" in page.locator("#account-table").inner_text()
    page.screenshot(path=f"{SCREENSHOT_DIR}/marketloop-accounts-zh.png", full_page=True)
    page.click("button[name=language][value=en]")
    page.wait_for_selector("html[lang=en]")
    assert page.locator("h2.page-title").inner_text() == "Accounts"
    page.click("#user-menu")
    page.click("#logout-button")
    page.wait_for_url(re.compile(r"/login/$"))
    page.goto(f"{live_server.url}/accounts/")
    page.wait_for_url(re.compile(r"/login/\?next=/accounts/$"))


def test_phone_screen_has_no_sideways_overflow(org, gd_rep, live_server, browser):
    for i in range(12):
        AccountFactory(name=f"广东移动端样本{i:02d}科技股份有限公司", owner_unit=org.gd_sales,
                       credit_code="", industry_rank=600 + i)
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                            is_mobile=True, has_touch=True)
    sign_in(page, live_server, "gd-rep")
    page.wait_for_selector("#account-table")
    width = page.evaluate("window.innerWidth")
    assert width == 390
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    header = page.locator("#topbar").bounding_box()
    assert header["x"] >= 0 and header["x"] + header["width"] <= width
    for selector in ("#topbar .navbar-brand", "#user-menu", ".ml-language"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, selector
    # The menu is collapsed behind the toggler, and opens on a tap.
    contacts_link = page.locator("#navbar-menu a.nav-link", has_text="Contacts")
    assert not contacts_link.is_visible()
    page.click(".navbar-toggler")
    contacts_link.wait_for(state="visible")
    page.wait_for_selector("#navbar-menu.collapse.show")  # the opening animation is over
    page.click(".navbar-toggler")
    contacts_link.wait_for(state="hidden")
    # The wide table scrolls inside its card instead of widening the page.
    table = page.locator(".table-responsive").first
    assert table.evaluate("el => el.scrollWidth > el.clientWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=f"{SCREENSHOT_DIR}/marketloop-phone.png", full_page=False)


def test_reroute_progress_is_polled_until_done(org, admin_user, live_server, browser):
    run = RerouteRun.objects.create(cause="Tier rule “测试” changed", total=200, processed=50,
                                    status=RerouteRun.Status.RUNNING)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, "admin")
    page.goto(f"{live_server.url}/settings/tier-rules/")
    assert page.locator("#reroute-runs").get_attribute("data-polling") == "true"
    bar = page.locator("#reroute-runs .ml-run[data-status=running] .progress-bar")
    assert bar.get_attribute("style").replace(" ", "") == "width:25%"
    RerouteRun.objects.filter(pk=run.pk).update(processed=200, changed=3,
                                                status=RerouteRun.Status.DONE)
    page.wait_for_selector("#reroute-runs[data-polling=false] .ml-run[data-status=done]",
                           timeout=10_000)
    assert "200 of 200 accounts checked, 3 changed" in page.locator("#reroute-runs").inner_text()
