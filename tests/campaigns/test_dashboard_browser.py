"""The campaign dashboard and an activity's results in a real browser (Debian's Chromium through
Playwright, live server): every chart draws, the model switcher and the sort swap the cards and
keep each other, the results slot switches model in place, and no script fails on the way
(leaving the page once broke the sankey: a resize to no size)."""

from __future__ import annotations

import os

import pytest

from tests.campaigns.report_world import (
    World,
    world_fixture,  # noqa: F401  (the fixture "world")
)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_DIR = os.environ.get("MARKETLOOP_SCREENSHOTS", "/tmp")
CHARTS = ("roi", "cost", "burn", "sankey", "comparison")


def test_the_dashboard_draws_its_charts_and_switches_models_in_place(org, world: World,
                                                                     live_server, browser):
    world.hq.set_password(PASSWORD)
    world.hq.save(update_fields=["password"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", world.hq.username)
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_load_state()

    page.goto(f"{live_server.url}/campaigns/dashboard/?from=2026-01&to=2026-03")
    for kind in CHARTS:
        page.wait_for_selector(f"[data-campaign-chart={kind}] canvas")
    page.click("label[for=model-first_touch]")
    page.wait_for_selector("#dashboard-period:has-text('First touch')")
    page.wait_for_url("**model=first_touch**")
    page.click("a[data-sort=roi]")
    page.wait_for_selector("a.active[data-sort=roi]")
    page.click("label[for=model-linear]")
    page.wait_for_selector("#dashboard-period:has-text('Linear')")
    assert "sort=roi" in page.url and "model=linear" in page.url
    for kind in CHARTS:
        assert page.locator(f"[data-campaign-chart={kind}] canvas").count() == 1, kind
    page.screenshot(path=f"{SCREENSHOT_DIR}/marketloop-campaign-dashboard.png", full_page=True)

    page.goto(f"{live_server.url}/campaigns/activities/{world.a.pk}/")
    page.wait_for_selector("#activity-results #results-chart canvas")
    page.click("#results-model-switcher button[data-model=first_touch]")
    page.wait_for_selector("#results-model-switcher button.active[data-model=first_touch]")
    page.wait_for_selector("#results-chart canvas")
    assert page.locator("#activity-results").count() == 1
    assert page.locator("tr[data-stage=lead] [data-figure=credited]").inner_text() == "3.0"
    assert not errors, errors
