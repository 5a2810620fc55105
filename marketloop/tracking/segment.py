"""The Segment HTTP tracking spec: what a valid request looks like, and how an event becomes
the fields of a touchpoint. Pure functions; no database.

Spec: https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

EVENT_LIMIT = 32 * 1024
BATCH_LIMIT = 500 * 1024
TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})


class RequestError(ValueError):
    """A request the API refuses: `code` is stable, `status` the HTTP answer, `errors` lists
    the bad events of a batch ("batch[3]" -> reasons)."""

    def __init__(self, code: str, message: str, status: int = 400,
                 errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.errors = errors or {}


def decode_body(raw: bytes, encoding: str, limit: int) -> bytes:
    """The request body, gunzipped when the client says so (RudderStack does by default),
    refused beyond `limit` bytes once decompressed."""
    encoding = (encoding or "").strip().lower()
    if encoding in {"", "identity"}:
        data = raw
    elif encoding == "gzip":
        try:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = inflater.decompress(raw, limit + 1)
        except zlib.error as exc:
            raise RequestError("bad_content_encoding", "The body is not valid gzip.") from exc
    else:
        raise RequestError("bad_content_encoding",
                           f"Content-Encoding {encoding!r} is not supported; use gzip or none.",
                           status=415)
    if len(data) > limit:
        raise RequestError("payload_too_large",
                           f"The body is larger than {limit // 1024} KB.", status=413)
    return data


def parse_json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RequestError("not_json", f"The body is not valid JSON: {exc}.") from exc


def event_problems(event: Any, expected_type: str | None = None) -> list[str]:
    """What makes one event invalid under the spec (empty when it is valid)."""
    if not isinstance(event, dict):
        return ["An event must be a JSON object."]
    problems = []
    kind = event.get("type", expected_type)
    if expected_type and kind != expected_type:
        kind = expected_type
    if kind not in TYPES:
        problems.append(f"type must be one of {', '.join(sorted(TYPES))}.")
    if kind == "alias":
        if not _id(event.get("userId")) or not _id(event.get("previousId")):
            problems.append("An alias needs userId and previousId.")
    elif not _id(event.get("userId")) and not _id(event.get("anonymousId")):
        problems.append("userId or anonymousId is required.")
    if kind == "track" and not (isinstance(event.get("event"), str) and event["event"].strip()):
        problems.append("A track call needs an event name.")
    if kind == "group" and not _id(event.get("groupId")):
        problems.append("A group call needs a groupId.")
    for name in ("properties", "traits", "context"):
        if name in event and event[name] is not None and not isinstance(event[name], dict):
            problems.append(f"{name} must be an object.")
    for name in ("timestamp", "sentAt", "originalTimestamp"):
        value = event.get(name)
        if value is not None and parse_time(value) is None:
            problems.append(f"{name} is not an ISO-8601 date-time.")
    message_id = event.get("messageId")
    if message_id is not None and (not _id(message_id) or len(str(message_id)) > 100):
        problems.append("messageId must be a string of at most 100 characters.")
    return problems


def _id(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) != ""


def validate_batch(body: Any, *, whole_size: int) -> list[dict]:
    """The events of a /v1/batch body, or RequestError naming every bad one."""
    if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
        raise RequestError("invalid_event", "A batch body is an object with a 'batch' array.")
    events = body["batch"]
    errors: dict[str, list[str]] = {}
    check_sizes = whole_size > EVENT_LIMIT  # no event can exceed the limit otherwise
    for index, event in enumerate(events):
        problems = event_problems(event)
        if check_sizes and not problems and len(orjson.dumps(event)) > EVENT_LIMIT:
            problems = [f"The event is larger than {EVENT_LIMIT // 1024} KB."]
        if problems:
            errors[f"batch[{index}]"] = problems
    if errors:
        too_large = all("KB" in p[0] for p in errors.values())
        code = "event_too_large" if too_large else "invalid_event"
        raise RequestError(code, f"{len(errors)} of {len(events)} events are not valid; "
                           "nothing was stored.", status=413 if too_large else 400,
                           errors=errors)
    return events


def validate_single(body: Any, kind: str) -> dict:
    problems = event_problems(body, expected_type=kind)
    if problems:
        raise RequestError("invalid_event", "The event is not valid.", errors={"event": problems})
    return body


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


MAX_AGE = timedelta(days=3650)
MAX_AHEAD = timedelta(days=1)


def corrected_time(event: dict, received_at: datetime, batch_sent_at: Any = None) -> datetime:
    """When the event happened, on the server's clock: the client's timestamp moved by the
    difference between the server's receipt and the client's sentAt (clock-skew correction,
    as the spec describes). Absent or absurd timestamps fall back to the time of receipt."""
    timestamp = parse_time(event.get("timestamp")) or parse_time(event.get("originalTimestamp"))
    if timestamp is None:
        return received_at
    sent_at = parse_time(event.get("sentAt")) or parse_time(batch_sent_at)
    if sent_at is not None:
        timestamp = timestamp + (received_at - sent_at)
    if timestamp > received_at + MAX_AHEAD or timestamp < received_at - MAX_AGE:
        return received_at
    return timestamp


SEARCH_ENGINES = {
    # host fragment -> query parameter carrying the keyword
    "baidu.": ("wd", "word", "kw"),
    "google.": ("q",),
    "bing.": ("q",),
    "so.com": ("q",),
    "sogou.": ("query", "keyword"),
    "sm.cn": ("q",),
    "yandex.": ("text",),
    "duckduckgo.": ("q",),
    "yahoo.": ("p",),
}


_ENGINE_HOST = re.compile(
    r"^https?://[^/?#]*(" + "|".join(re.escape(f) for f in SEARCH_ENGINES) + ")", re.I)


@lru_cache(maxsize=16384)  # referrers and landing URLs repeat: parse each once
def search_keyword(referrer: str) -> str:
    """The search keyword when the referrer is a search engine's results page."""
    if not referrer:
        return ""
    match = _ENGINE_HOST.match(referrer)
    if match is None:
        return ""
    try:
        query = parse_qs(urlsplit(referrer).query)
    except ValueError:
        return ""
    for param in SEARCH_ENGINES[match.group(1).lower()]:
        if query.get(param):
            return query[param][0].strip()[:200]
    return ""


def utm_from_url(url: str) -> dict[str, str]:
    if not url or "utm_" not in url:
        return {}
    return dict(_utm_pairs(url))


@lru_cache(maxsize=16384)
def _utm_pairs(url: str) -> tuple[tuple[str, str], ...]:
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:
        return ()
    return tuple((key[4:], values[0][:200]) for key, values in query.items()
                 if key.startswith("utm_") and values)


@dataclass(slots=True)
class Fields:
    """What a touchpoint keeps of an event besides its identity."""

    kind: str
    event: str = ""
    url: str = ""
    title: str = ""
    referrer: str = ""
    keyword: str = ""
    utm: dict[str, str] = field(default_factory=dict)


# Kinds a track call may declare in properties.touchpoint_kind (what marketloop's own
# services record: email opens and clicks, calls, event attendance, visits, downloads, forms).
DECLARABLE_KINDS = frozenset({"form", "download", "email_open", "email_click", "call", "event",
                              "visit"})
FORM_EVENTS = frozenset({"form submitted", "form_submitted", "form submit"})
DOWNLOAD_EVENTS = frozenset({"file downloaded", "download", "downloaded",
                             "case study downloaded", "content downloaded"})


def fields_of(event: dict) -> Fields:
    kind = event.get("type") or "track"
    properties = event.get("properties") or {}
    context = event.get("context") or {}
    page = context.get("page") or {}
    name = event.get("event") if kind == "track" else event.get("name")
    name = str(name or "")[:200]
    declared = properties.get("touchpoint_kind")
    if kind == "track" and isinstance(declared, str) and declared in DECLARABLE_KINDS:
        kind = declared
    elif kind == "track":
        lowered = name.lower()
        if lowered in FORM_EVENTS:
            kind = "form"
        elif lowered in DOWNLOAD_EVENTS:
            kind = "download"
    url = str(properties.get("url") or page.get("url") or "")
    referrer = str(properties.get("referrer") or page.get("referrer") or "")
    title = str(properties.get("title") or page.get("title") or "")[:300]
    campaign = context.get("campaign")
    utm = utm_from_url(url)
    if campaign and isinstance(campaign, dict):
        # analytics.js names utm_campaign "name" in context.campaign
        utm.update({("campaign" if k == "name" else k): str(v)[:200]
                    for k, v in campaign.items() if isinstance(v, (str, int))})
    keyword = str(properties.get("keyword") or "") or search_keyword(referrer)
    if not keyword and utm.get("term"):
        keyword = utm["term"]
    return Fields(kind=kind, event=name, url=url, title=title, referrer=referrer,
                  keyword=keyword[:200], utm=utm)


def now() -> datetime:
    return datetime.now(UTC)

