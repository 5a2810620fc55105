"""tracker.js in a real browser: the demo customer website (/t/demo/) opened in Debian's
Chromium, its events posted to the live server and processed into touchpoints and profiles.

Arrival is awaited by polling the database; the inbox is processed in the test's thread.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from marketloop.tracking.demo_site import demo_website_source
from marketloop.tracking.models import Identity, InboxBatch, Profile, Source, Touchpoint
from marketloop.tracking.processing import process_inbox
from tests.factories import AccountFactory, ContactFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

T = TypeVar("T")


def wait_until(check: Callable[[], T], what: str, timeout: float = 10.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def arrived(source: Source, kind: str, **filters: str) -> Callable[[], Touchpoint | None]:
    def check() -> Touchpoint | None:
        while process_inbox():
            pass
        return Touchpoint.objects.filter(source_id=source.pk, kind=kind, **filters).first()

    return check


def cookies(page) -> dict[str, str]:
    return {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}


def open_demo(browser, url: str, **goto) -> tuple:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    beacons: list[str] = []
    page.on("request", lambda request: beacons.append(request.url)
            if "/v1/" in request.url else None)
    page.goto(url, **goto)
    page.wait_for_function("window.marketloop && window.marketloop.version")
    return page, beacons


def test_nothing_is_tracked_before_consent_then_page_download_and_form_make_one_profile(
        org, live_server, browser):
    contact = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales),
                             email="li.wei@gz-autoparts.cn", mobile="+8613912345678")
    source = demo_website_source()
    assert source.require_consent
    page, beacons = open_demo(browser, f"{live_server.url}/t/demo/")
    assert page.locator("#consent-banner").is_visible()

    # Before consent a download is dropped, not held back until consent.
    with page.expect_download():
        page.click("#case-study-link")
    page.evaluate("window.marketloop.flush()")
    assert beacons == []
    assert "ml_anon" not in cookies(page)
    assert InboxBatch.objects.count() == 0

    page.click("#consent-accept")
    assert page.locator("#consent-banner").is_hidden()
    viewed = wait_until(arrived(source, "page"), "the page view")
    page.wait_for_timeout(100)  # lets Playwright deliver the request events it holds
    assert beacons and beacons[0] == f"{live_server.url}/v1/batch"
    assert cookies(page)["ml_consent"] == "1"
    anonymous_id = cookies(page)["ml_anon"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        anonymous_id)
    title = page.title()
    assert viewed.url == f"{live_server.url}/t/demo/" and viewed.title == title
    assert viewed.properties["path"] == "/t/demo/"
    assert viewed.context["library"]["name"] == "marketloop.js"
    assert viewed.context["page"]["title"] == title
    assert viewed.context["locale"] and "Chrome" in viewed.context["userAgent"]

    with page.expect_download() as download:
        page.click("#case-study-link")
    assert download.value.suggested_filename == "case-study.pdf"
    downloaded = wait_until(arrived(source, "download"), "the download")
    assert downloaded.event == "File Downloaded"
    assert downloaded.url == f"{live_server.url}/static/tracking/demo/case-study.pdf"
    assert downloaded.title == title
    assert downloaded.properties["file_name"] == "case-study.pdf"
    assert "Download the case study" in downloaded.properties["link_text"]

    page.fill("#demo-name", "李伟")
    page.fill("#demo-company", "广州汽车零部件集团")
    page.fill("#demo-email", "Li.Wei@gz-autoparts.cn")
    page.fill("#demo-mobile", "139 1234 5678")
    page.click("#demo-submit")
    page.wait_for_url(re.compile(r"/t/demo/\?submitted=1$"))  # the form still submits
    assert page.locator("#form-thanks").is_visible()
    submitted = wait_until(arrived(source, "form"), "the form")
    assert submitted.event == "Form Submitted"
    assert submitted.properties["email"] == "Li.Wei@gz-autoparts.cn"
    assert submitted.properties["mobile"] == "139 1234 5678"
    assert submitted.properties["form_id"] == "demo-request-form"
    assert submitted.properties["fields"] == ["name", "company", "email", "mobile"]
    wait_until(arrived(source, "page", url__endswith="?submitted=1"), "the thank-you page view")

    touchpoints = list(Touchpoint.objects.filter(source_id=source.pk))
    assert {t.kind for t in touchpoints} == {"page", "download", "form", "identify"}
    assert sum(t.kind == "download" for t in touchpoints) == 1  # the one before consent is gone
    assert "csrfmiddlewaretoken" not in str([t.properties for t in touchpoints])
    identities = Identity.objects.filter(pk__in={t.identity_id for t in touchpoints})
    assert {i.value for i in identities} == {anonymous_id}
    profile_ids = {identity.profile_id for identity in identities}
    assert len(profile_ids) == 1
    profile = Profile.objects.get(pk=profile_ids.pop())
    assert profile.contact_id == contact.pk
    assert profile.traits["company"] == "广州汽车零部件集团" and profile.traits["name"] == "李伟"
    assert set(profile.identities.values_list("kind", "value")) >= {
        ("anonymous", anonymous_id), ("email", "li.wei@gz-autoparts.cn"),
        ("mobile", "+8613912345678"), ("contact", str(contact.pk))}


def test_revoking_consent_stops_tracking_and_forgets_the_visitor(org, live_server, browser):
    source = demo_website_source()
    page, _beacons = open_demo(browser, f"{live_server.url}/t/demo/")
    page.click("#consent-accept")
    first = wait_until(arrived(source, "page"), "the page view")
    first_id = Identity.objects.get(pk=first.identity_id).value

    page.evaluate("marketloop.consent(false); marketloop.track('After Revocation'); "
                  "marketloop.flush()")
    assert "ml_anon" not in cookies(page) and cookies(page)["ml_consent"] == "0"
    page.reload()
    page.wait_for_function("window.marketloop && window.marketloop.version")
    assert page.locator("#consent-banner").is_hidden()  # the refusal is remembered

    page.evaluate("marketloop.consent(true); marketloop.track('Sentinel'); marketloop.flush()")
    sentinel = wait_until(arrived(source, "track", event="Sentinel"), "the sentinel")
    assert not Touchpoint.objects.filter(event="After Revocation").exists()
    assert Identity.objects.get(pk=sentinel.identity_id).value != first_id


def test_without_required_consent_the_page_view_is_sent_at_once_with_utm_and_keyword(
        org, live_server, browser):
    source = demo_website_source()
    Source.objects.filter(pk=source.pk).update(require_consent=False)
    url = (f"{live_server.url}/t/demo/?utm_source=baidu&utm_medium=cpc&utm_campaign=mes-2026"
           "&utm_term=mes&utm_content=banner-a")
    referrer = "https://www.baidu.com/s?wd=MES%E7%B3%BB%E7%BB%9F%E9%80%89%E5%9E%8B&ie=utf-8"
    page, _beacons = open_demo(browser, url, referer=referrer)
    assert page.locator("#consent-banner").count() == 0

    viewed = wait_until(arrived(source, "page"), "the page view")
    assert viewed.url == url
    assert (viewed.utm_source, viewed.utm_medium, viewed.utm_campaign) == (
        "baidu", "cpc", "mes-2026")
    assert viewed.context["campaign"] == {"source": "baidu", "medium": "cpc", "name": "mes-2026",
                                          "term": "mes", "content": "banner-a"}
    assert viewed.referrer == referrer
    assert viewed.keyword == "MES系统选型"
    assert viewed.properties["search"].startswith("?utm_source=baidu")
    assert "ml_anon" in cookies(page) and "ml_consent" not in cookies(page)
