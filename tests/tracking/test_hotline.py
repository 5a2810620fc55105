"""The hotline call webhook: calls become `call` touchpoints of the caller's profile, once
each, and only a hotline source's write key may send them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from marketloop.tracking.models import (
    InboxBatch,
    Profile,
    Source,
    SourceError,
    SourceKind,
    Touchpoint,
)
from marketloop.tracking.processing import process_inbox
from tests.factories import ContactFactory
from tests.tracking.conftest import basic

pytestmark = pytest.mark.django_db

URL = "/v1/hotline/calls"


def drain() -> None:
    while process_inbox():
        pass


@pytest.fixture
def hotline(org) -> Source:
    return Source.objects.create(name="400 hotline", kind=SourceKind.HOTLINE)


@pytest.fixture
def contact(org):
    return ContactFactory(account__owner_unit=org.gd_sales, mobile="+8613912345678")


def call(**fields: Any) -> dict[str, Any]:
    body = {"callId": "c-20261120-0001", "caller": "13912345678", "agent": "王工",
            "queue": "presales", "waitSeconds": 12, "talkSeconds": 340,
            "outcome": "answered", "startedAt": "2026-11-20T09:30:00+08:00"}
    body.update(fields)
    return body


def post(client, body: Any, write_key: str | None):
    extra = {"HTTP_AUTHORIZATION": basic(write_key)} if write_key is not None else {}
    return client.post(URL, data=orjson.dumps(body), content_type="application/json", **extra)


def test_a_call_becomes_a_call_touchpoint_of_the_contact_with_that_mobile(
        client, hotline, contact):
    response = post(client, call(), hotline.write_key)
    assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "calls": 1}
    assert InboxBatch.objects.get().event_count == 1  # stored before the answer
    drain()
    profile = Profile.objects.get(contact=contact)
    touchpoint = Touchpoint.objects.get(identity__profile=profile)
    assert touchpoint.kind == "call"
    assert touchpoint.occurred_at == datetime(2026, 11, 20, 1, 30, tzinfo=ZoneInfo("UTC"))
    assert touchpoint.properties == {"call_id": "c-20261120-0001", "agent": "王工",
                                     "queue": "presales", "wait_seconds": 12,
                                     "talk_seconds": 340, "outcome": "answered",
                                     "touchpoint_kind": "call"}
    hotline.refresh_from_db()
    assert hotline.events_received == 1 and hotline.last_event_at is not None


@pytest.mark.parametrize("caller", ["+86 139 1234 5678", "139-1234-5678", "8613912345678"])
def test_the_callers_number_is_normalised(client, hotline, contact, caller):
    assert post(client, call(caller=caller), hotline.write_key).status_code == 200
    drain()
    assert Touchpoint.objects.filter(identity__profile__contact=contact).count() == 1


def test_a_landline_caller_is_accepted(client, hotline):
    assert post(client, call(caller="0755-86001234"), hotline.write_key).status_code == 200
    drain()
    assert Touchpoint.objects.get().identity.value == "+8675586001234"


def test_a_resent_call_is_stored_once(client, hotline, contact):
    assert post(client, call(), hotline.write_key).status_code == 200
    assert post(client, call(), hotline.write_key).status_code == 200
    assert post(client, [call(), call(callId="c-2")], hotline.write_key).status_code == 200
    drain()
    assert sorted(Touchpoint.objects.values_list("properties__call_id", flat=True)) == [
        "c-2", "c-20261120-0001"]


def test_a_batch_of_calls_and_numeric_call_ids(client, hotline, contact):
    calls = [call(callId=1001), call(callId=1002, outcome="abandoned", agent="",
                                     talkSeconds=0)]
    response = post(client, calls, hotline.write_key)
    assert response.status_code == 200 and response.json()["calls"] == 2
    drain()
    assert sorted(Touchpoint.objects.values_list("message_id", flat=True)) == [
        "call-1001", "call-1002"]


def test_a_naive_start_time_is_china_time(client, hotline):
    post(client, call(startedAt="2026-11-20 09:30:00"), hotline.write_key)
    drain()
    assert Touchpoint.objects.get().occurred_at == datetime(2026, 11, 20, 1, 30,
                                                            tzinfo=ZoneInfo("UTC"))


def test_bad_fields_are_named(client, hotline):
    body = call(caller="not a number", outcome="hung up", waitSeconds=-3,
                startedAt="yesterday")
    del body["callId"]
    response = post(client, body, hotline.write_key)
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert set(problem["errors"]) == {"callId", "caller", "outcome", "waitSeconds",
                                      "startedAt"}
    assert "phone number" in problem["errors"]["caller"][0]
    assert not InboxBatch.objects.exists()
    assert SourceError.objects.get(source=hotline, code="invalid").count == 1


def test_one_bad_call_refuses_the_batch_naming_it(client, hotline):
    response = post(client, [call(), call(caller=""), "nope"], hotline.write_key)
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"[1].caller", "[2]"}
    assert not InboxBatch.objects.exists()


def test_not_json_is_refused(client, hotline):
    response = client.post(URL, data=b"{nope", content_type="application/json",
                           HTTP_AUTHORIZATION=basic(hotline.write_key))
    assert response.status_code == 400
    assert response.json()["code"] == "not_json"


@pytest.mark.parametrize("write_key", [None, "wk_nobody"])
def test_an_absent_or_unknown_write_key_is_refused(client, hotline, write_key):
    response = post(client, call(), write_key)
    assert response.status_code == 401
    assert response.json()["code"] == "unknown_write_key"
    assert "WWW-Authenticate" in response
    assert not InboxBatch.objects.exists()


def test_a_source_that_is_not_a_hotline_is_refused(client, org):
    website = Source.objects.create(name="Website", kind=SourceKind.WEBSITE)
    response = post(client, call(), website.write_key)
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_source_kind"
    assert not InboxBatch.objects.exists()
    assert SourceError.objects.get(source=website).code == "wrong_source_kind"


def test_a_switched_off_hotline_is_refused(client, hotline):
    hotline.active = False
    hotline.save()
    assert post(client, call(), hotline.write_key).status_code == 403


def test_only_post(client, hotline):
    response = client.get(URL, HTTP_AUTHORIZATION=basic(hotline.write_key))
    assert response.status_code == 405
