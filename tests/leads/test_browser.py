"""The hand-off in a real browser (Debian's Chromium through Playwright, live server): a rep
follows the bell to the lead just assigned to them, accepts it, and the person's profile page
loads the new stage into its lifecycle slot."""

from __future__ import annotations

import os
import re

import pytest

from tests.leads.conftest import person, score_to_mql
from tests.ui.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT_DIR = os.environ.get("MARKETLOOP_SCREENSHOTS", "/tmp")


def test_a_rep_follows_the_bell_to_a_new_lead_and_accepts_it(org, model, gd_rep, live_server,
                                                            browser):
    _contact, profile = person(org.gd_sales, "陈八")
    lead = score_to_mql(profile)
    assert lead.owner == gd_rep  # the only one in the team who takes leads
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    sign_in(page, live_server, "gd-rep")

    assert page.locator("#unread-count").inner_text() == "1"
    page.click("#notification-bell")
    page.wait_for_url(re.compile(r"/notifications/$"))
    page.click("text=New lead for you: 陈八")
    page.wait_for_url(re.compile(rf"/leads/{lead.pk}/$"))
    assert "Fit 35 ≥ 30" in page.locator("#stage-history").inner_text()
    page.click("#accept-form button[type=submit]")
    page.wait_for_url(re.compile(rf"/leads/{lead.pk}/$"))
    assert page.locator("h2.page-title [data-stage=sal]").count() == 1
    assert page.locator("#create-opportunity").is_visible()
    assert page.locator("#unread-count").count() == 0
    page.screenshot(path=f"{SCREENSHOT_DIR}/marketloop-lead.png", full_page=True)

    page.goto(f"{live_server.url}/profiles/{profile.pk}/")
    page.wait_for_selector("#profile-lead [data-stage=sal]")  # swapped in by HTMX
    assert "陈八" in page.locator("#profile-lead").inner_text()
