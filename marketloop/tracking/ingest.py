"""Accepting tracking requests: authenticate the write key, check the request against the
spec and its size limits, and store it in the inbox before answering. Nothing else happens
on the request path; the worker does the rest (processing.py)."""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from marketloop.tracking import segment
from marketloop.tracking.segment import RequestError

log = logging.getLogger(__name__)

SOURCE_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class SourceRef:
    id: int
    active: bool
    require_consent: bool
    kind: str


_sources: dict[str, tuple[float, SourceRef | None]] = {}


def source_for_key(write_key: str) -> SourceRef | None:
    """The source of a write key, cached for a few seconds (every request asks)."""
    now = time.monotonic()
    cached = _sources.get(write_key)
    if cached and now - cached[0] < SOURCE_CACHE_SECONDS:
        return cached[1]
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, active, require_consent, kind FROM tracking_source "
                       "WHERE write_key = %s", [write_key])
        row = cursor.fetchone()
    ref = SourceRef(*row) if row else None
    if len(_sources) > 10_000:
        _sources.clear()
    _sources[write_key] = (now, ref)
    return ref


def forget_sources() -> None:
    _sources.clear()


def write_key_from_header(authorization: str) -> str:
    """HTTP Basic with the write key as user name and an empty password (the spec's way)."""
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return ""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[0]


def accept(*, endpoint: str, authorization: str, raw: bytes, content_encoding: str,
           ip: str | None) -> int:
    """Store one tracking request; return how many events it carried. Raises RequestError
    (after counting it against the source, when the source is known)."""
    limit = segment.BATCH_LIMIT if endpoint == "batch" else segment.EVENT_LIMIT
    write_key = write_key_from_header(authorization)
    source = source_for_key(write_key) if write_key else None
    try:
        if write_key and source is None:
            raise RequestError("unknown_write_key", "Unknown write key.", status=401)
        data = segment.decode_body(raw, content_encoding, limit)
        body = segment.parse_json(data)
        if source is None:
            key = body.get("writeKey") if isinstance(body, dict) else None
            source = source_for_key(key) if isinstance(key, str) and key else None
            if source is None:
                raise RequestError("unknown_write_key", "A valid write key is required "
                                   "(HTTP Basic user name, or writeKey in the body).", 401)
        if not source.active:
            raise RequestError("source_inactive", "This source is switched off.", status=403)
        if endpoint == "batch":
            count = len(segment.validate_batch(body, whole_size=len(data)))
        else:
            segment.validate_single(body, endpoint)
            count = 1
    except RequestError as exc:
        if source is not None:
            from marketloop.tracking.services import count_source_error

            count_source_error(source_id=source.id, code=exc.code, message=exc.message)
        raise
    if count:
        # A browser's address says where the visitor is; a server's says nothing about them.
        ip = ip if source.kind == "website" else None
        store(source_id=source.id, endpoint=endpoint, body=data, count=count, ip=ip)
    return count


def store(*, source_id: int, endpoint: str, body: bytes, count: int, ip: str | None) -> None:
    """One durable insert (committed before the caller answers), then wake the processor."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tracking_inboxbatch (source_id, received_at, endpoint, body, "
            "event_count, ip) VALUES (%s, now(), %s, %s, %s, %s)",
            [source_id, endpoint, body, count, ip])
        transaction.on_commit(wake_processor)


_last_wake = 0.0
WAKE_EVERY = 0.5  # seconds; the processor lingers longer than this after the inbox empties


def wake_processor() -> None:
    """Make sure a processing job is queued. A queued job (queueing lock) or one that woke
    less than WAKE_EVERY seconds ago will see the new rows; a periodic job sweeps up after
    anything else (a crash between commit and this call)."""
    global _last_wake
    now = time.monotonic()
    if now - _last_wake < WAKE_EVERY:
        return
    _last_wake = now
    from procrastinate.exceptions import AlreadyEnqueued

    from marketloop.tracking.tasks import process_inbox

    try:
        process_inbox.configure(queueing_lock="tracking-inbox").defer()
    except AlreadyEnqueued:
        pass
    except Exception:  # the event is stored; the periodic sweep will process it
        log.exception("tracking: could not queue the processor")


def client_ip(meta: dict[str, Any]) -> str | None:
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    ip = forwarded.split(",")[0].strip() if forwarded else meta.get("REMOTE_ADDR")
    return ip or None
