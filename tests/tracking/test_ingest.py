"""The Segment HTTP tracking API: authentication, the spec's fields and limits, idempotence."""

from __future__ import annotations

import gzip

import orjson
import pytest

from marketloop.tracking.models import InboxBatch, SourceError, Touchpoint
from marketloop.tracking.processing import process_inbox
from tests.tracking.conftest import basic, event, post_batch

pytestmark = pytest.mark.django_db


def drain() -> None:
    while process_inbox():
        pass


def test_batch_is_stored_before_the_answer_and_processed_into_touchpoints(client, source):
    response = post_batch(client, source, [
        event("page", name="Pricing", properties={
            "url": "https://www.example.cn/pricing?utm_source=baidu&utm_medium=cpc&utm_campaign=erp",
            "referrer": "https://www.baidu.com/s?wd=ERP%E8%BD%AF%E4%BB%B6", "title": "Pricing"}),
        event("track", event="Case Study Downloaded"),
    ])
    assert response.status_code == 200, response.content
    assert response.json() == {"success": True}
    assert InboxBatch.objects.get().event_count == 2
    drain()
    assert not InboxBatch.objects.exists()
    page = Touchpoint.objects.get(kind="page")
    assert page.utm_source == "baidu" and page.utm_campaign == "erp"
    assert page.keyword == "ERP软件"
    assert page.title == "Pricing"
    assert Touchpoint.objects.get(kind="download").event == "Case Study Downloaded"
    source.refresh_from_db()
    assert source.events_received == 2 and source.last_event_at is not None


def test_same_message_id_twice_is_stored_once(client, source):
    one = event("track")
    assert post_batch(client, source, [one, one]).status_code == 200
    assert post_batch(client, source, [one]).status_code == 200
    drain()
    assert Touchpoint.objects.filter(message_id=one["messageId"]).count() == 1


@pytest.mark.parametrize("kind", ["identify", "track", "page", "screen", "group", "alias"])
def test_single_event_endpoints(client, source, kind):
    body = event(kind)
    body.pop("type")
    if kind == "group":
        body["groupId"] = "company-1"
    if kind == "alias":
        body.update(userId="u-1", previousId="anon-1")
    response = client.post(f"/v1/{kind}", data=orjson.dumps(body),
                           content_type="application/json",
                           HTTP_AUTHORIZATION=basic(source.write_key))
    assert response.status_code == 200, response.content
    drain()
    assert Touchpoint.objects.get().kind == kind


def test_unknown_write_key_is_refused(client, source):
    response = client.post("/v1/batch", data=orjson.dumps({"batch": [event()]}),
                           content_type="application/json", HTTP_AUTHORIZATION=basic("nope"))
    assert response.status_code == 401
    assert response.json()["code"] == "unknown_write_key"
    assert not InboxBatch.objects.exists()


def test_write_key_in_the_body_is_accepted(client, source):
    response = client.post("/v1/batch", content_type="application/json",
                           data=orjson.dumps({"batch": [event()], "writeKey": source.write_key}))
    assert response.status_code == 200


def test_gzipped_body_is_accepted(client, source):
    response = client.post("/v1/batch", content_type="application/json",
                           data=gzip.compress(orjson.dumps({"batch": [event()]})),
                           HTTP_CONTENT_ENCODING="gzip",
                           HTTP_AUTHORIZATION=basic(source.write_key))
    assert response.status_code == 200
    assert InboxBatch.objects.get().event_count == 1


def test_an_event_over_32_kb_is_refused_with_its_index(client, source):
    big = event("track", properties={"blob": "x" * (33 * 1024)})
    response = post_batch(client, source, [event(), big])
    assert response.status_code == 413
    body = response.json()
    assert body["code"] == "event_too_large"
    assert list(body["errors"]) == ["batch[1]"]
    assert not InboxBatch.objects.exists()
    assert SourceError.objects.get(source=source, code="event_too_large").count == 1


def test_a_batch_over_500_kb_is_refused(client, source):
    events = [event("track", properties={"blob": "y" * 20_000}) for _ in range(30)]
    response = post_batch(client, source, events)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


def test_invalid_events_are_named(client, source):
    response = post_batch(client, source, [
        {"type": "track", "event": "x"},  # no id
        {"type": "launch", "anonymousId": "a"},
        {"type": "track", "anonymousId": "a"},  # no event name
        event("page", timestamp="yesterday"),
    ])
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"batch[0]", "batch[1]", "batch[2]", "batch[3]"}
    assert "userId or anonymousId" in errors["batch[0]"][0]


def test_not_json_is_a_clear_400(client, source):
    response = client.post("/v1/batch", data=b"{nope", content_type="application/json",
                           HTTP_AUTHORIZATION=basic(source.write_key))
    assert response.status_code == 400
    assert response.json()["code"] == "not_json"


def test_clock_skew_is_corrected_from_sent_at(client, source):
    # The client's clock runs one hour fast: its event is one minute before it sent.
    post_batch(client, source, [event("track", timestamp="2026-11-20T09:59:00Z")],
               sentAt="2026-11-20T10:00:00Z")
    received = InboxBatch.objects.get().received_at
    drain()
    occurred = Touchpoint.objects.get().occurred_at
    assert abs((received - occurred).total_seconds() - 60) < 1


def test_inactive_source_is_refused(client, source):
    source.active = False
    source.save()
    response = post_batch(client, source, [event()])
    assert response.status_code == 403


def test_awkward_text_is_stored_as_sent(client, source):
    odd = "tab\there, new\nline, back\\slash, 引号\"，nul\x00end"
    post_batch(client, source, [event("track", event="Odd", properties={"note": odd},
                                      context={"page": {"title": odd}})])
    drain()
    touchpoint = Touchpoint.objects.get()
    assert touchpoint.properties["note"] == odd.replace("\x00", "")
    assert touchpoint.title == odd.replace("\x00", "")


def test_a_request_that_cannot_be_processed_is_set_aside_not_blocking(client, source):
    from marketloop.tracking.processing import drain as drain_inbox

    post_batch(client, source, [event("track", event="Good 1")])
    # A request stored in the inbox that is not what it should be (e.g. from an older
    # version): it must not hold up the requests after it.
    InboxBatch.objects.create(source=source, endpoint="batch", body=b'{"batch": 7}',
                              event_count=1)
    post_batch(client, source, [event("track", event="Good 2")])
    drain_inbox(linger=0)
    assert set(Touchpoint.objects.values_list("event", flat=True)) == {"Good 1", "Good 2"}
    assert InboxBatch.objects.get().error
    assert SourceError.objects.filter(source=source, code="processing_failed").exists()
