"""Links in marketing emails that report what the reader did: an open pixel and a click
redirect, each carrying a signed token that says who the mail went to and which mailing it was.

Tokens are signed, not encrypted: a reader can decode their own token (their address, the
link's target) but cannot change a byte of it. They do not expire, because people open and
click old mails; rotating SECRET_KEY (with the old key in SECRET_KEY_FALLBACKS) keeps them
working."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.core import signing
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from marketloop.org.errors import DomainError
from marketloop.tracking import services
from marketloop.tracking.errors import TrackingErrorCode
from marketloop.tracking.identifiers import normalise_email
from marketloop.tracking.models import Source, SourceKind, TouchpointKind
from marketloop.tracking.segment import RequestError

# One salt per kind of link: an open token is no click token, and no other signed value of
# marketloop (sessions, form tokens) is either.
OPEN_SALT = "marketloop.tracking.email.open"
CLICK_SALT = "marketloop.tracking.email.click"
# Mail clients, image proxies and link scanners fetch the same URL more than once within
# seconds; fetches of one token within one window of this length are one open (or click).
REPEAT_WINDOW_SECONDS = 300
MAX_URL = 2000
MAX_LABEL = 200
SAFE_SCHEMES = frozenset({"http", "https"})
EMAIL_SOURCE_NAME = "Email"


@dataclass(frozen=True, slots=True)
class EmailLink:
    """What a token says: the recipient (a CRM contact and/or an address), the mailing and,
    for a click, the target URL and the link's label."""

    contact_id: int | None
    email: str
    mailing: str
    url: str = ""
    link: str = ""


def _invalid(field: str, message: str) -> DomainError:
    return DomainError(TrackingErrorCode.INVALID, message, errors={field: [message]},
                       status=422)


def is_safe_target(url: Any) -> bool:
    """An absolute http(s) URL with a host and nothing a browser would reinterpret: no
    whitespace or control characters (browsers strip them, turning "java\\tscript:" into a
    scheme) and no backslashes (browsers read "https:\\\\evil" as "https://evil")."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        return False
    if any(ord(char) <= 0x20 or ord(char) == 0x7F or char == "\\" for char in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in SAFE_SCHEMES and bool(parts.hostname)


def _recipient(*, contact_id: int | None, email: str, mailing: str) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if contact_id is not None:
        if isinstance(contact_id, bool) or not isinstance(contact_id, int) or contact_id <= 0:
            raise _invalid("contact_id", _("A contact id is a positive whole number."))
        payload["c"] = contact_id
    if email:
        payload["e"] = normalise_email(email)
        if not payload["e"]:
            raise _invalid("email", _("'%(value)s' is not an email address.") % {"value": email})
    if not payload:
        raise _invalid("contact", _("An email link needs a contact or an email address."))
    if mailing:
        if len(mailing) > MAX_LABEL:
            raise _invalid("mailing", _("A mailing name has at most 200 characters."))
        payload["m"] = mailing
    return payload


def _absolute(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path if base_url else path


def open_pixel_url(*, contact_id: int | None = None, email: str = "", mailing: str = "",
                   base_url: str = "") -> str:
    """The URL of the open pixel for one recipient of one mailing (relative unless
    `base_url`, e.g. "https://ml.example.cn", is given: mails need absolute URLs)."""
    payload = _recipient(contact_id=contact_id, email=email, mailing=mailing)
    token = signing.Signer(salt=OPEN_SALT).sign_object(payload, compress=True)
    return _absolute(base_url, reverse("tracking:email_open", args=[token]))


def click_url(*, url: str, contact_id: int | None = None, email: str = "", mailing: str = "",
              link: str = "", base_url: str = "") -> str:
    """The tracked URL of one link in one mailing for one recipient; it redirects to `url`,
    which must be an absolute http(s) URL."""
    if not is_safe_target(url):
        raise _invalid("url", _("A tracked link must be an absolute http or https URL."))
    payload = _recipient(contact_id=contact_id, email=email, mailing=mailing)
    payload["u"] = url
    if link:
        if len(link) > MAX_LABEL:
            raise _invalid("link", _("A link label has at most 200 characters."))
        payload["l"] = link
    token = signing.Signer(salt=CLICK_SALT).sign_object(payload, compress=True)
    return _absolute(base_url, reverse("tracking:email_click", args=[token]))


def _bad_token() -> RequestError:
    return RequestError(TrackingErrorCode.BAD_TOKEN,
                        "This link is not valid: it is incomplete or has been altered.", 400)


def _read(token: str, salt: str) -> dict[str, Any]:
    try:
        data = signing.Signer(salt=salt).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError, zlib.error) as exc:
        raise _bad_token() from exc
    if not isinstance(data, dict):
        raise _bad_token()
    contact_id, email, mailing = data.get("c"), data.get("e", ""), data.get("m", "")
    if contact_id is not None and (isinstance(contact_id, bool)
                                   or not isinstance(contact_id, int) or contact_id <= 0):
        raise _bad_token()
    if not isinstance(email, str) or not isinstance(mailing, str):
        raise _bad_token()
    if email and normalise_email(email) != email:
        raise _bad_token()
    if contact_id is None and not email:
        raise _bad_token()
    return data


def read_open_token(token: str) -> EmailLink:
    """The recipient in an open pixel's token; RequestError (400) when the token is not one
    marketloop signed for a pixel."""
    data = _read(token, OPEN_SALT)
    return EmailLink(contact_id=data.get("c"), email=data.get("e", ""),
                     mailing=data.get("m", ""))


def read_click_token(token: str) -> EmailLink:
    """The recipient and target in a click token; RequestError (400) when the token is not
    one marketloop signed for a click, or its target is not http(s) (checked again here, so a
    link made before a rule was tightened cannot redirect anywhere unsafe)."""
    data = _read(token, CLICK_SALT)
    url, label = data.get("u"), data.get("l", "")
    if not is_safe_target(url) or not isinstance(label, str):
        raise _bad_token()
    return EmailLink(contact_id=data.get("c"), email=data.get("e", ""),
                     mailing=data.get("m", ""), url=url, link=label)


def _find_email_source() -> Source | None:
    return Source.objects.filter(kind=SourceKind.EMAIL, name=EMAIL_SOURCE_NAME) \
        .order_by("id").first()


def email_source() -> Source:
    """The source email opens and clicks are recorded under (created on first use)."""
    source = _find_email_source()
    if source is not None:
        return source
    # The first mails of a campaign are opened by many readers at once: one of them creates it.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('tracking.email_source'))")
        return _find_email_source() or Source.objects.create(kind=SourceKind.EMAIL,
                                                             name=EMAIL_SOURCE_NAME)


def _message_id(kind: str, link: EmailLink, at: datetime) -> str:
    """The same recipient, mailing and link within one repeat window give the same messageId,
    which the processor stores once per source."""
    key = "\x1f".join((kind, str(link.contact_id or ""), link.email, link.mailing, link.url,
                       link.link))
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"{kind}-{digest}-{int(at.timestamp()) // REPEAT_WINDOW_SECONDS}"


def _record(kind: str, event: str, link: EmailLink, properties: dict[str, str], *,
            user_agent: str, ip: str | None, at: datetime | None) -> bool:
    source = email_source()
    if not source.active:  # switched off: the reader still gets the image or the page
        return False
    moment = at or timezone.now()
    context: dict[str, str] = {}
    if user_agent:
        context["userAgent"] = user_agent[:500]
    if ip:
        context["ip"] = ip
    services.record_touchpoint(
        kind=kind, event=event, contact_id=link.contact_id, email=link.email,
        occurred_at=moment, properties=properties, context=context, source=source,
        message_id=_message_id(kind, link, moment))
    return True


def count_bad_token(exc: RequestError) -> None:
    """Count a refused token against the email source (a broken mail template shows here)."""
    services.count_source_error(source_id=email_source().id, code=exc.code,
                                message=exc.message)


def open_email(*, token: str, user_agent: str = "", ip: str | None = None,
               record: bool = True, at: datetime | None = None) -> EmailLink:
    """A pixel was fetched: record an email_open (unless `record` is off, e.g. for HEAD).
    RequestError (400, counted against the email source) for a token that is not valid."""
    try:
        link = read_open_token(token)
    except RequestError as exc:
        count_bad_token(exc)
        raise
    if record:
        _record(TouchpointKind.EMAIL_OPEN, "Email Opened", link,
                {"mailing": link.mailing}, user_agent=user_agent, ip=ip, at=at)
    return link


def follow_click(*, token: str, user_agent: str = "", ip: str | None = None,
                 record: bool = True, at: datetime | None = None) -> str:
    """A tracked link was clicked: record an email_click and return the URL to redirect to,
    the one inside the signed token. RequestError (400) for a token that is not valid."""
    try:
        link = read_click_token(token)
    except RequestError as exc:
        count_bad_token(exc)
        raise
    if record:
        _record(TouchpointKind.EMAIL_CLICK, "Email Link Clicked", link,
                {"mailing": link.mailing, "url": link.url, "link": link.link},
                user_agent=user_agent, ip=ip, at=at)
    return link.url
