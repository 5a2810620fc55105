"""The real Segment and RudderStack Python SDKs deliver to marketloop over real HTTP: every
call they send is accepted, processed into the right touchpoints, stitched onto the CRM
contact's profile, and an SDK retry (the same messageId again) is stored once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from marketloop.tracking.models import InboxBatch, Profile, Source, SourceKind, Touchpoint
from marketloop.tracking.processing import process_inbox
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db(transaction=True)

USER_ID = "crm-user-8848"
EMAIL = "Li.Lei@huawei-partner.cn"  # mixed case on purpose: stitching normalises it


@pytest.fixture
def source(org) -> Source:
    return Source.objects.create(name="Backend", kind=SourceKind.SERVER)


@pytest.fixture
def contact(org):
    account = AccountFactory(owner_unit=org.gd_sales)
    return ContactFactory(account=account, email=EMAIL.lower())


class Wire:
    """What went over the wire: every response an SDK's requests session received."""

    def __init__(self) -> None:
        self.responses: list = []

    def hook(self, response, *args, **kwargs):
        self.responses.append(response)
        return response

    @property
    def statuses(self) -> list[int]:
        return [r.status_code for r in self.responses]

    @property
    def encodings(self) -> set[str | None]:
        return {r.request.headers.get("Content-Encoding") for r in self.responses}


@pytest.fixture
def wire() -> Callable:
    sessions = []

    def watch(session) -> Wire:
        seen = Wire()
        session.hooks["response"].append(seen.hook)
        sessions.append((session, seen.hook))
        return seen

    yield watch
    for session, hook in sessions:
        session.hooks["response"].remove(hook)


def drain() -> None:
    while process_inbox():
        pass


def send_calls(client, message_id: str) -> None:
    """identify, track, a download, a page, and one event sent twice (an SDK retry)."""
    client.identify(user_id=USER_ID, traits={"email": EMAIL, "name": "李雷",
                                             "title": "CIO"})
    client.track(user_id=USER_ID, event="Pricing Viewed", properties={"plan": "enterprise"})
    client.track(user_id=USER_ID, event="Case Study Downloaded",
                 properties={"asset": "erp-case-study.pdf"})
    client.page(user_id=USER_ID, name="Pricing", properties={
        "url": "https://www.example.cn/pricing?utm_source=baidu&utm_medium=cpc"
               "&utm_campaign=erp",
        "title": "Pricing", "referrer": "https://www.baidu.com/s?wd=ERP"})
    client.flush()  # the retry arrives in a request of its own, as a real retry does
    retried = datetime.now(UTC).replace(microsecond=0)
    for _ in range(2):
        client.track(user_id=USER_ID, event="Webinar Registered", message_id=message_id,
                     timestamp=retried, properties={"webinar": "erp-2026"})
        client.flush()
    client.shutdown()


def check_delivery(source: Source, contact, message_id: str) -> None:
    assert InboxBatch.objects.filter(source=source).exists()
    assert sum(InboxBatch.objects.filter(source=source)
               .values_list("event_count", flat=True)) == 6
    drain()
    assert not InboxBatch.objects.exists()
    touchpoints = list(Touchpoint.objects.filter(source_id=source.id)
                       .select_related("identity__profile"))
    assert sorted((t.kind, t.event) for t in touchpoints) == [
        ("download", "Case Study Downloaded"),
        ("identify", ""),
        ("page", "Pricing"),
        ("track", "Pricing Viewed"),
        ("track", "Webinar Registered"),
    ]
    assert [t.message_id for t in touchpoints].count(message_id) == 1
    page = next(t for t in touchpoints if t.kind == "page")
    assert (page.utm_source, page.utm_medium, page.utm_campaign) == ("baidu", "cpc", "erp")
    profiles = {t.identity.profile_id for t in touchpoints}
    assert len(profiles) == 1, profiles
    profile = Profile.objects.get(pk=profiles.pop())
    assert profile.merged_into_id is None
    assert profile.contact_id == contact.id
    assert profile.owner_unit_id == contact.owner_unit_id
    assert profile.traits.get("email") == EMAIL
    source.refresh_from_db()
    assert source.events_received == 5


def test_segment_sdk_delivers(live_server, source, contact, wire):
    from segment.analytics import request as segment_request
    from segment.analytics.client import Client

    seen = wire(segment_request._session)
    errors: list = []
    client = Client(write_key=source.write_key, host=live_server.url,
                    on_error=lambda error, batch: errors.append((error, batch)),
                    max_retries=1, upload_interval=0.1)
    send_calls(client, message_id="segment-retry-1")
    assert errors == []
    assert seen.statuses and set(seen.statuses) == {200}, seen.statuses
    check_delivery(source, contact, "segment-retry-1")


def test_rudderstack_sdk_delivers_gzipped(live_server, source, contact, wire):
    from rudderstack.analytics import request as rudder_request
    from rudderstack.analytics.client import Client

    seen = wire(rudder_request._session)
    errors: list = []
    client = Client(write_key=source.write_key, host=live_server.url,
                    on_error=lambda error, batch: errors.append((error, batch)),
                    max_retries=1, upload_interval=0.1)
    assert client.gzip  # the SDK's default, and the point of this test
    send_calls(client, message_id="rudder-retry-1")
    assert errors == []
    assert seen.statuses and set(seen.statuses) == {200}, seen.statuses
    assert seen.encodings == {"gzip"}
    check_delivery(source, contact, "rudder-retry-1")


def sdk_client(sdk: str, write_key: str, url: str, errors: list, wire: Callable):
    if sdk == "segment":
        from segment.analytics import request
        from segment.analytics.client import Client
    else:
        from rudderstack.analytics import request  # type: ignore[no-redef]
        from rudderstack.analytics.client import Client  # type: ignore[no-redef,assignment]
    seen = wire(request._session)
    client = Client(write_key=write_key, host=url,
                    on_error=lambda error, batch: errors.append((error, batch)),
                    max_retries=1, upload_interval=0.1)
    return client, seen


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_sdk_errors_reach_on_error(live_server, org, wire, sdk):
    """The on_error hook the tests above rely on does fire: a refused write key reaches it."""
    errors: list = []
    client, seen = sdk_client(sdk, "wk_not-a-real-key", live_server.url, errors, wire)
    client.track(user_id=USER_ID, event="Pricing Viewed")
    client.shutdown()
    assert seen.statuses and set(seen.statuses) == {401}
    assert len(errors) == 1 and len(errors[0][1]) == 1
    assert not InboxBatch.objects.exists()


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
def test_sdk_understands_the_refusal(live_server, org, wire, sdk):
    """A 4xx is final (sent once, not retried) and the SDK reports the API's error code."""
    errors: list = []
    client, seen = sdk_client(sdk, "wk_not-a-real-key", live_server.url, errors, wire)
    client.track(user_id=USER_ID, event="Pricing Viewed")
    client.shutdown()
    assert len(errors) == 1
    error = errors[0][0]
    assert getattr(error, "code", None) == "unknown_write_key", repr(error)
    assert seen.statuses == [401]
