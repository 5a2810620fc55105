"""In a browser: the score card loads into the contact page with its waterfall chart (beside
the touchpoints chart), and a marketer's new rule re-scores everyone while the run list
follows the progress by itself."""

from __future__ import annotations

import re

import pytest

from marketloop.crm.models import Industry, Tier
from marketloop.org.models import Role
from tests.conftest import PASSWORD
from tests.factories import AccountFactory, ContactFactory
from tests.scoring.conftest import event, local_noon, record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, base: str, user) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(re.compile(r"/accounts/$"))


def test_the_contact_page_shows_the_score_and_its_waterfall(org, make_user, scoring_model,
                                                            source, run_scoring_jobs,
                                                            live_server, browser):
    user = make_user(org.gd_sales, Role.SALES_REP)
    account = AccountFactory(name="广州评分测试有限公司", owner_unit=org.gd_sales, province=org.gd,
                             tier=Tier.HQ_STRATEGIC,
                             industry=Industry.objects.get(code="finance"))
    contact = ContactFactory(name="周评分", account=account, title="CIO")
    person = f"anon-{contact.pk}"
    record(source, [event("page", person=person, at=local_noon(0), contact_id=contact.pk,
                          url="https://www.example.cn/pricing"),
                    event("form", person=person, at=local_noon(10))])
    run_scoring_jobs()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _sign_in(page, live_server.url, user)
    page.goto(f"{live_server.url}/contacts/{contact.pk}/")
    page.wait_for_selector("#contact-score [data-score-chart] canvas")
    # fit: tier 30, "cio" 15, Guangdong 7, not management -3; engagement: today's pricing
    # page 1 + 10, the form ten days ago 20 / 2. Eight lines: five fit, three engagement
    # (page view, pricing, form) and the decay.
    assert page.locator("#contact-score .ml-score-total").inner_text() == "70.0"
    assert page.locator("#contact-score .ml-contributions li").count() == 8
    page.wait_for_selector("[data-activity-chart] canvas")  # the touchpoints chart still draws
    assert errors == []
    page.screenshot(path="/tmp/marketloop-score.png", full_page=True)


def test_a_new_rule_rescores_everyone_while_the_page_follows(org, make_user, run_scoring_jobs,
                                                             live_server, browser):
    from marketloop.scoring.services import model_in_force

    model_in_force()
    marketer = make_user(org.hq_marketing, Role.MARKETER)
    page = browser.new_page()
    _sign_in(page, live_server.url, marketer)
    page.goto(f"{live_server.url}/settings/scoring/")
    page.click("#new-engagement-rule")
    page.fill("#id_label", "Webinar attended")
    page.select_option("#id_kind", "event")
    page.fill("#id_points", "12")
    page.fill("#id_daily_cap", "12")
    page.click("#engagement-rule-form button[type=submit]")
    page.wait_for_url(re.compile(r"/settings/scoring/$"))
    assert page.locator("#engagement-rules").inner_text().count("Webinar attended") == 1
    assert page.get_attribute("#rescore-runs", "data-polling") == "true"

    run_scoring_jobs()
    page.wait_for_selector("#rescore-runs[data-polling=false] .ml-run[data-status=done]",
                           timeout=15_000)
    page.screenshot(path="/tmp/marketloop-scoring-model.png", full_page=True)
