"""Email open pixel and click redirect: signed tokens record opens and clicks on the
recipient's profile, and nothing but a token marketloop signed can record or redirect."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import signing
from django.utils import timezone

from marketloop.org.errors import DomainError
from marketloop.tracking import email_links, services
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

pytestmark = pytest.mark.django_db


def drain() -> None:
    while process_inbox():
        pass


@pytest.fixture
def contact(org):
    return ContactFactory(account__owner_unit=org.gd_sales, email="li.ming@huaxin-tech.cn")


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1].removesuffix(".gif")


def touchpoints_of(contact) -> list[Touchpoint]:
    profile = Profile.objects.get(contact=contact, merged_into=None)
    return list(Touchpoint.objects.filter(identity__profile=profile).order_by("occurred_at"))


def assert_nothing_stored() -> None:
    drain()
    assert not InboxBatch.objects.exists()
    assert not Touchpoint.objects.exists()


def tampered(token: str) -> str:
    index = len(token) // 3
    return token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1:]


def test_a_contact_opens_and_clicks_and_both_land_on_their_profile(client, contact):
    pixel = email_links.open_pixel_url(contact_id=contact.id, email=contact.email,
                                       mailing="edm-2026-11")
    link = email_links.click_url(
        url="https://www.example.cn/erp?utm_source=edm&utm_campaign=erp-launch",
        contact_id=contact.id, email=contact.email, mailing="edm-2026-11", link="hero button")
    assert pixel.startswith("/t/o/") and pixel.endswith(".gif")
    assert link.startswith("/t/c/")

    opened = client.get(pixel)
    assert opened.status_code == 200
    assert opened["Content-Type"] == "image/gif"
    assert opened.content.startswith(b"GIF89a") and len(opened.content) == 43
    assert "no-cache" in opened["Cache-Control"] and "no-store" in opened["Cache-Control"]

    clicked = client.get(link)
    assert clicked.status_code == 302
    assert clicked["Location"] == ("https://www.example.cn/erp?utm_source=edm"
                                   "&utm_campaign=erp-launch")
    assert "no-store" in clicked["Cache-Control"]

    drain()
    open_, click = touchpoints_of(contact)
    assert open_.kind == "email_open" and open_.event == "Email Opened"
    assert open_.properties["mailing"] == "edm-2026-11"
    assert click.kind == "email_click"
    assert click.properties == {"mailing": "edm-2026-11", "link": "hero button",
                                "url": "https://www.example.cn/erp?utm_source=edm"
                                       "&utm_campaign=erp-launch",
                                "touchpoint_kind": "email_click"}
    assert click.url.startswith("https://www.example.cn/erp")
    assert click.utm_campaign == "erp-launch"
    source = Source.objects.get(pk=open_.source_id)
    assert source.kind == SourceKind.EMAIL and source.name == "Email"
    assert source.events_received == 2 and source.last_event_at is not None


def test_an_email_address_alone_finds_the_contact_with_that_address(client, contact):
    client.get(email_links.open_pixel_url(email="Li.Ming@Huaxin-Tech.cn", mailing="m"))
    drain()
    assert [t.kind for t in touchpoints_of(contact)] == ["email_open"]


def test_links_can_be_absolute(contact):
    url = email_links.open_pixel_url(contact_id=contact.id, base_url="https://ml.example.cn/")
    assert url.startswith("https://ml.example.cn/t/o/")


def test_a_pixel_fetched_twice_in_a_row_is_one_open(client, contact):
    pixel = email_links.open_pixel_url(contact_id=contact.id, mailing="edm-1")
    assert client.get(pixel).status_code == 200
    assert client.get(pixel).status_code == 200
    drain()
    assert [t.kind for t in touchpoints_of(contact)] == ["email_open"]


def test_opens_in_different_windows_are_separate_opens(contact):
    token = token_of(email_links.open_pixel_url(contact_id=contact.id, mailing="edm-1"))
    first = timezone.now()
    email_links.open_email(token=token, at=first)
    email_links.open_email(token=token, at=first + timedelta(seconds=1))
    email_links.open_email(token=token,
                           at=first + timedelta(seconds=email_links.REPEAT_WINDOW_SECONDS + 1))
    drain()
    assert len(touchpoints_of(contact)) == 2


def test_a_head_request_records_nothing(client, contact):
    response = client.head(email_links.open_pixel_url(contact_id=contact.id))
    assert response.status_code == 200
    assert_nothing_stored()


def test_the_query_string_cannot_change_where_a_click_goes(client, contact):
    link = email_links.click_url(url="https://www.example.cn/", contact_id=contact.id)
    response = client.get(link + "?url=https://evil.example.net/&next=https://evil.example.net/")
    assert response.status_code == 302
    assert response["Location"] == "https://www.example.cn/"


def _refused(client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400, path
    assert "Location" not in response
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("kind", ["open", "click"])
def test_a_token_with_one_character_changed_is_refused(client, contact, kind):
    if kind == "open":
        path = email_links.open_pixel_url(contact_id=contact.id, mailing="edm-1")
        _refused(client, f"/t/o/{tampered(token_of(path))}.gif")
    else:
        path = email_links.click_url(url="https://www.example.cn/", contact_id=contact.id)
        _refused(client, f"/t/c/{tampered(token_of(path))}")
    assert_nothing_stored()
    source = email_links.email_source()
    assert SourceError.objects.get(source=source, code="bad_token").count == 1


def test_a_truncated_token_is_refused(client, contact):
    token = token_of(email_links.click_url(url="https://www.example.cn/", contact_id=contact.id))
    _refused(client, f"/t/c/{token[:-5]}")
    _refused(client, f"/t/c/{token.rpartition(':')[0]}")
    assert_nothing_stored()


def test_an_unsigned_token_is_refused(client, contact):
    payload = {"c": contact.id, "u": "https://evil.example.net/"}
    unsigned = signing.b64_encode(signing.JSONSerializer().dumps(payload)).decode()
    _refused(client, f"/t/c/{unsigned}")
    _refused(client, f"/t/c/{unsigned}:")
    _refused(client, "/t/o/nothing-here.gif")
    assert_nothing_stored()


def test_a_token_signed_with_another_salt_is_refused(client, contact):
    payload = {"c": contact.id, "u": "https://evil.example.net/"}
    other = signing.Signer(salt="marketloop.something.else").sign_object(payload)
    _refused(client, f"/t/c/{other}")
    # An open token is no click token, and the other way round.
    pixel = token_of(email_links.open_pixel_url(contact_id=contact.id))
    _refused(client, f"/t/c/{pixel}")
    click = token_of(email_links.click_url(url="https://www.example.cn/",
                                           contact_id=contact.id))
    _refused(client, f"/t/o/{click}.gif")
    assert_nothing_stored()


@pytest.mark.parametrize("url", [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "ftp://files.example.cn/a.pdf",
    "//evil.example.net/",
    "https:\\\\evil.example.net",
    "https:///evil.example.net",
    "/relative/path",
])
def test_only_http_urls_can_be_linked_or_followed(client, contact, url):
    with pytest.raises(DomainError):
        email_links.click_url(url=url, contact_id=contact.id)
    # Signed with the right key and salt (as a link made before the rule would be): still
    # refused when followed.
    forged = signing.Signer(salt=email_links.CLICK_SALT).sign_object(
        {"c": contact.id, "u": url}, compress=True)
    _refused(client, f"/t/c/{forged}")
    assert_nothing_stored()


def test_a_link_needs_a_recipient(contact):
    with pytest.raises(DomainError):
        email_links.open_pixel_url(mailing="edm-1")
    with pytest.raises(DomainError):
        email_links.click_url(url="https://www.example.cn/", email="not an address")


def test_a_switched_off_email_source_records_nothing_but_still_redirects(client, contact):
    source = email_links.email_source()
    source.active = False
    source.save()
    assert client.get(email_links.open_pixel_url(contact_id=contact.id)).status_code == 200
    response = client.get(email_links.click_url(url="https://www.example.cn/",
                                                contact_id=contact.id))
    assert response.status_code == 302 and response["Location"] == "https://www.example.cn/"
    assert_nothing_stored()


def test_event_attendance_recorded_by_another_context_lands_on_the_contact(contact):
    # How events, visits and content record touchpoints: services.record_touchpoint.
    services.record_touchpoint(kind="event", contact_id=contact.id, event="Salon Attended",
                               properties={"event_name": "深圳制造业数字化沙龙"})
    drain()
    (attended,) = touchpoints_of(contact)
    assert attended.kind == "event" and attended.event == "Salon Attended"
    assert attended.properties["event_name"] == "深圳制造业数字化沙龙"
    assert Source.objects.get(pk=attended.source_id).kind == SourceKind.INTERNAL
    profile = Profile.objects.get(contact=contact)
    assert profile.owner_unit_id == contact.owner_unit_id
