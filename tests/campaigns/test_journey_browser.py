"""A won deal's page in a real browser (Debian's Chromium through Playwright, against the live
server): the journey panel arrives by HTMX from the campaigns context, with every model's
credit adding up and the comparison chart drawn."""

from __future__ import annotations

import os
import re

import pytest

from marketloop.campaigns.models import AttributionModel
from tests.campaigns.test_attribution_runs import run, world  # noqa: F401 (fixture)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_DIR = os.environ.get("MARKETLOOP_SCREENSHOTS", "/tmp")


def test_a_won_deal_shows_the_journey_and_each_models_credit(world, live_server,  # noqa: F811
                                                              browser):
    run()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "hq-marketer")
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(re.compile(r"/accounts/$"))
    page.goto(f"{live_server.url}/opportunities/{world.o1.pk}/")
    page.wait_for_selector("#journey-credit")
    forum = page.locator(f"#journey-credit tr[data-activity='{world.forum.pk}']")
    first = forum.locator(f"td[data-model='{AttributionModel.FIRST_TOUCH}']")
    assert first.get_attribute("data-share") == "1000000"
    totals = page.locator("#journey-credit tfoot td[data-total]")
    assert totals.count() == len(AttributionModel.values)
    assert {totals.nth(i).get_attribute("data-total") for i in range(totals.count())} == {
        "1000000"}
    page.wait_for_selector(".ml-journey-chart canvas")
    page.screenshot(path=f"{SCREENSHOT_DIR}/marketloop-journey.png", full_page=True)
    assert errors == []
