"""Sources management: administrators list sources with their last event and error counts,
create and edit them, rotate write keys (the old key stops working) and copy the snippets that
connect a client; nobody else gets in."""

from __future__ import annotations

import json
import re
from html import unescape

import orjson
import pytest
from django.test import Client
from django.urls import reverse

from marketloop.org.models import Role
from marketloop.tracking.models import Source, SourceError, SourceKind
from marketloop.tracking.processing import process_inbox
from tests.tracking.conftest import basic, event, post_batch

pytestmark = pytest.mark.django_db


def drain() -> None:
    while process_inbox():
        pass


@pytest.fixture
def admin(client, admin_user) -> Client:
    client.force_login(admin_user)
    return client


SOURCE_PAGES = ["tracking:source_list", "tracking:source_create"]
SOURCE_ROW_PAGES = ["tracking:source_detail", "tracking:source_edit"]


@pytest.mark.parametrize("role", [Role.MARKETER, Role.MANAGER, Role.SALES_REP,
                                  Role.SUPERVISOR, Role.PARTNER_STAFF])
def test_only_administrators_manage_sources(org, make_user, source, role):
    unit = org.gd_partner if role == Role.PARTNER_STAFF else org.hq_marketing
    client = Client()
    client.force_login(make_user(unit, role))
    for name in SOURCE_PAGES:
        assert client.get(reverse(name)).status_code == 403, name
    for name in SOURCE_ROW_PAGES:
        assert client.get(reverse(name, args=[source.pk])).status_code == 403, name
    assert client.post(reverse("tracking:source_create"),
                       {"name": "Sneaky", "kind": "website"}).status_code == 403
    assert client.post(reverse("tracking:source_edit", args=[source.pk]),
                       {"name": "Renamed"}).status_code == 403
    old_key = source.write_key
    assert client.post(reverse("tracking:source_rotate", args=[source.pk]),
                       {"confirm": "yes"}).status_code == 403
    source.refresh_from_db()
    assert source.write_key == old_key and source.name == "Website"
    assert Source.objects.count() == 1
    page = client.get(reverse("crm:account_list")).content.decode()
    assert reverse("tracking:source_list") not in page


def test_navigation_shows_sources_to_administrators(admin):
    page = admin.get(reverse("crm:account_list")).content.decode()
    assert f'href="{reverse("tracking:source_list")}"' in page


def test_list_shows_last_event_events_and_errors_of_the_last_7_days(admin, client, source):
    assert post_batch(client, source, [event("track"), event("page")]).status_code == 200
    drain()
    bad = post_batch(client, source, [{"type": "track", "event": "x"}])  # no user or anon id
    assert bad.status_code == 400
    assert post_batch(client, source, [{"type": "launch", "anonymousId": "a"}]).status_code == 400
    too_big = post_batch(client, source, [event("track", properties={"b": "x" * 40_000})])
    assert too_big.status_code == 413
    old = SourceError.objects.create(source=source, day="2020-01-01", code="not_json", count=7,
                                     last_message="Ancient history")
    quiet = Source.objects.create(name="Quiet app", kind=SourceKind.SERVER)

    response = admin.get(reverse("tracking:source_list"))
    assert response.status_code == 200
    text = unescape(response.content.decode())
    row = re.search(rf'<tr data-source="{source.pk}">(.*?)</tr>', text, re.S).group(1)
    source.refresh_from_db()
    assert source.last_event_at is not None
    assert source.last_event_at.astimezone().strftime("%Y-%m-%d %H:%M") in row
    assert re.search(r">\s*2\s*<", row), "events received"
    assert "invalid_event × 2" in row and "event_too_large × 1" in row
    assert "not_json" not in row, "errors older than 7 days are not on the list"
    quiet_row = re.search(rf'<tr data-source="{quiet.pk}">(.*?)</tr>', text, re.S).group(1)
    assert "Never" in quiet_row

    detail = unescape(admin.get(reverse("tracking:source_detail", args=[source.pk]))
                      .content.decode())
    assert "invalid_event" in detail and "not_json" in detail and old.last_message in detail


def test_sources_overview_counts_by_code_for_7_days_and_in_total(admin, client, source):
    from marketloop.tracking import selectors

    SourceError.objects.create(source=source, day="2020-01-01", code="invalid_event", count=5,
                               last_message="old")
    post_batch(client, source, [{"type": "track", "event": "x"}])
    (overview,) = selectors.sources_overview()
    (error,) = overview.errors
    assert (error.code, error.last_7_days, error.total) == ("invalid_event", 1, 6)
    assert "not valid" in error.last_message, "the latest message, not the older one"
    assert overview.errors_last_7_days == 1 and overview.errors_total == 6


def test_create_a_source_and_copy_its_snippets(admin, client):
    response = admin.post(reverse("tracking:source_create"),
                          {"name": "Corporate website", "kind": "website",
                           "require_consent": "on"})
    source = Source.objects.get(name="Corporate website")
    assert response.status_code == 302
    assert response.url == reverse("tracking:source_detail", args=[source.pk])
    assert source.kind == "website" and source.require_consent and source.active

    text = unescape(admin.get(response.url).content.decode())
    key, origin = source.write_key, "http://testserver"
    assert key in text
    assert (f'<script src="{origin}/static/tracking/tracker.js" data-write-key="{key}" '
            f'data-endpoint="{origin}" async></script>') in text
    assert f'dataPlaneUrl: "{origin}"' in text and f'host:     "{origin}"' in text
    curl = re.search(r"curl (\S+) \\\s+-u '([^']+):' .*?-d '([^']+)'", text, re.S)
    assert curl and curl.group(1) == f"{origin}/v1/batch" and curl.group(2) == key
    # the curl example works as printed
    sent = client.post("/v1/batch", data=curl.group(3), content_type="application/json",
                       HTTP_AUTHORIZATION=basic(key))
    assert sent.status_code == 200, sent.content
    assert json.loads(curl.group(3))["batch"][0]["type"] == "track"


def test_create_refuses_a_source_without_a_name(admin):
    response = admin.post(reverse("tracking:source_create"), {"name": "  ", "kind": "server"})
    assert response.status_code == 422
    assert not Source.objects.exists()


def test_edit_switches_a_source_off_and_its_requests_are_refused(admin, client, source):
    response = admin.post(reverse("tracking:source_edit", args=[source.pk]),
                          {"name": "Website (old)", "require_consent": "on"})
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.name == "Website (old)" and not source.active and source.require_consent
    refused = post_batch(client, source, [event("track")])
    assert refused.status_code == 403 and refused.json()["code"] == "source_inactive"


def test_rotating_the_key_needs_confirmation_and_makes_the_old_key_fail(admin, client, source):
    old_key = source.write_key
    unconfirmed = admin.post(reverse("tracking:source_rotate", args=[source.pk]))
    assert unconfirmed.status_code == 422
    source.refresh_from_db()
    assert source.write_key == old_key
    assert post_batch(client, source, [event("track")]).status_code == 200

    assert admin.get(reverse("tracking:source_rotate", args=[source.pk])).status_code == 405
    response = admin.post(reverse("tracking:source_rotate", args=[source.pk]), {"confirm": "yes"})
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.write_key != old_key
    refused = client.post("/v1/batch", data=orjson.dumps({"batch": [event("track")]}),
                          content_type="application/json", HTTP_AUTHORIZATION=basic(old_key))
    assert refused.status_code == 401 and refused.json()["code"] == "unknown_write_key"
    assert post_batch(client, source, [event("track")]).status_code == 200
    page = admin.get(response.url).content.decode()
    assert source.write_key in page and old_key not in page


def test_a_missing_source_is_404_for_administrators(admin):
    for name in SOURCE_ROW_PAGES:
        assert admin.get(reverse(name, args=[10**9])).status_code == 404
    assert admin.post(reverse("tracking:source_rotate", args=[10**9]),
                      {"confirm": "yes"}).status_code == 404


def test_sources_pages_speak_chinese(admin, source):
    from django.conf import settings
    from django.utils import translation

    admin.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    try:
        listing = admin.get(reverse("tracking:source_list")).content.decode()
        detail = admin.get(reverse("tracking:source_detail", args=[source.pk])).content.decode()
    finally:
        translation.deactivate()  # the request left Chinese active for later tests
    assert "数据源" in listing and "最近 7 天错误" in listing
    assert "写入密钥" in detail and "轮换写入密钥" in detail
