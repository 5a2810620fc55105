"""From inbox to touchpoints: the worker's side of ingestion.

One transaction takes a slice of the inbox, drops messages already stored, stitches the
identifiers, COPYs the touchpoints into their monthly partitions and deletes the inbox rows.
A crash anywhere rolls all of it back, so every accepted event ends up stored exactly once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.db import connection, transaction

from marketloop import bus
from marketloop.tracking import segment
from marketloop.tracking.events import ProfilesMerged, TouchpointsRecorded
from marketloop.tracking.identifiers import Sighting, sighting_of
from marketloop.tracking.partitions import ensure_partitions, month_start
from marketloop.tracking.stitching import STITCH_LOCK, ints, stitch

log = logging.getLogger(__name__)

COPY_COLUMNS = ("occurred_at", "received_at", "source_id", "identity_id", "kind", "event",
                "message_id", "url", "title", "referrer", "keyword", "utm_source",
                "utm_medium", "utm_campaign", "properties", "context")


@dataclass(slots=True)
class Pending:
    source_id: int
    message_id: str
    occurred_at: datetime
    received_at: datetime
    sighting: Sighting
    traits: dict | None
    # The touchpoint's COPY line around its identity id, formatted before the stitch lock is
    # taken (parsing and formatting run in parallel; only stitching and storing take turns).
    head: str = ""
    tail: str = ""


# COPY's text format: backslash, tab, newline and carriage return are escaped; NUL, which no
# PostgreSQL text or jsonb value may hold, is dropped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r",
                               "\x00": None})


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r\x00]")


def _text(value: str) -> str:
    return value.translate(_COPY_ESCAPES) if _NEEDS_ESCAPE.search(value) else value


def _json_text(value: dict) -> str:
    text = orjson.dumps(value).decode()
    if "\\" not in text:  # orjson escapes control characters, so only a backslash needs work
        return text
    if "\\u0000" in text:  # rare: jsonb refuses NUL, so drop it from every string
        text = orjson.dumps(_without_nul(value)).decode()
    return text.translate(_COPY_ESCAPES)


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def message_key(source_id: int, message_id: str) -> str:
    """The de-duplication key of a message: md5(source id, messageId), as uuid text."""
    return hashlib.md5(f"{source_id}:{message_id}".encode()).hexdigest()


def _events_of(row_id: int, endpoint: str, body: bytes) -> tuple[list[dict], Any, dict]:
    data = orjson.loads(body)
    if endpoint == "batch":
        context = data.get("context") if isinstance(data.get("context"), dict) else {}
        return data["batch"], data.get("sentAt"), context
    data.setdefault("type", endpoint)
    data["type"] = endpoint
    return [data], None, {}


def pending_of(event: dict, *, source_id: int, received_at: datetime, sent_at: Any,
               batch_context: dict, ip: str | None, fallback_id: str,
               received_iso: str = "") -> Pending:
    context = dict(batch_context)
    context.update(event.get("context") or {})
    if ip and "ip" not in context:
        context["ip"] = ip
    fields = segment.fields_of(event)
    properties = event.get("properties") or {}
    traits = None
    if event.get("type") == "identify":
        traits = event.get("traits") or context.get("traits") or {}
        properties = traits
    elif event.get("type") == "group":
        traits = {"company": {"groupId": str(event.get("groupId")), **(event.get("traits") or {})}}
        properties = traits["company"]
    elif event.get("type") == "alias":
        properties = {"previousId": str(event.get("previousId"))}
    message_id = str(event.get("messageId") or fallback_id)[:100]
    occurred_at = segment.corrected_time(event, received_at, sent_at)
    f, utm = fields, fields.utm
    head = f"{occurred_at.isoformat()}\t{received_iso or received_at.isoformat()}\t{source_id}\t"
    tail = "\t".join((
        "", f.kind, _text(f.event), _text(message_id), _text(f.url), _text(f.title),
        _text(f.referrer), _text(f.keyword), _text(utm.get("source", "")),
        _text(utm.get("medium", "")), _text(utm.get("campaign", "")),
        _json_text(properties), _json_text(context))) + "\n"
    return Pending(source_id=source_id, message_id=message_id, occurred_at=occurred_at,
                   received_at=received_at, sighting=sighting_of(event, fields.kind),
                   traits=traits, head=head, tail=tail)


class SliceFailed(Exception):
    """Processing a slice failed; nothing of it was stored. `row_ids` are its requests."""

    def __init__(self, row_ids: list[int], cause: Exception) -> None:
        super().__init__(f"requests {row_ids[:5]}...: {cause!r}")
        self.row_ids = row_ids
        self.cause = cause


def process_inbox(*, max_events: int | None = None) -> int:
    """Process one slice of the inbox; return how many requests it held (0: inbox empty).
    Raises SliceFailed when the slice cannot be stored (then nothing of it was).

    Two processors may run at once: each locks its own inbox rows and parses them in
    parallel with the other; de-duplication, stitching and storing take turns."""
    max_events = max_events or settings.TRACKING_PROCESS_EVENTS
    row_ids: list[int] = []
    try:
        return _process_slice(max_events, row_ids)
    except Exception as exc:
        if not row_ids:
            raise
        raise SliceFailed(row_ids, exc) from exc


def _process_requests(ids: list[int]) -> int:
    return _process_slice(settings.TRACKING_PROCESS_EVENTS, [], only=ids)


def _process_slice(max_events: int, row_ids: list[int], only: list[int] | None = None) -> int:
    with transaction.atomic(), connection.cursor() as cursor:
        # The slice's joins look up a few thousand keys among millions: index lookups, as on
        # any SSD, not the hash joins the default page costs (spinning disks) lead to.
        cursor.execute("SET LOCAL random_page_cost = 1.1")
        if only is None:
            rows = _lock_slice(cursor, max_events)
        else:
            cursor.execute(
                "SELECT id, source_id, endpoint, body, received_at, host(ip) FROM "
                "tracking_inboxbatch WHERE id = ANY(%s::bigint[]) AND error = '' ORDER BY id "
                "FOR UPDATE SKIP LOCKED", [ints(only)])
            rows = cursor.fetchall()
        row_ids.extend(row[0] for row in rows)
        if not rows:
            return 0
        pending: dict[str, Pending] = {}
        failures: dict[int, list[str]] = defaultdict(list)
        for row_id, source_id, endpoint, body, received_at, ip in rows:
            try:
                events, sent_at, batch_context = _events_of(row_id, endpoint, bytes(body))
                received_iso = received_at.isoformat()
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                failures[source_id].append(f"request {row_id}: {exc}")
                continue
            for index, event in enumerate(events):
                try:
                    item = pending_of(event, source_id=source_id, received_at=received_at,
                                      sent_at=sent_at, batch_context=batch_context, ip=ip,
                                      fallback_id=f"ml-{row_id}-{index}",
                                      received_iso=received_iso)
                except Exception as exc:  # one bad event must not hold up the rest
                    failures[source_id].append(f"request {row_id} event {index}: {exc!r}")
                    continue
                pending.setdefault(message_key(source_id, item.message_id), item)
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [STITCH_LOCK])
        fresh = _unseen(cursor, pending)
        items = [pending[key] for key in fresh]
        items.sort(key=lambda item: item.occurred_at)
        if items:
            _store(cursor, items)
        _finish(cursor, [row[0] for row in rows], items, failures)
        return len(rows)


def _lock_slice(cursor, max_events: int) -> list[tuple]:
    """Lock the oldest inbox rows no other processor holds until they carry `max_events`
    events, one row at a time so that no row is held without being processed."""
    rows: list[tuple] = []
    total, last = 0, 0
    while total < max_events:
        cursor.execute(
            "SELECT id, source_id, endpoint, body, received_at, host(ip), event_count "
            "FROM tracking_inboxbatch WHERE id > %s AND error = '' "
            "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", [last])
        row = cursor.fetchone()
        if row is None:
            break
        rows.append(row[:6])
        total += row[6]
        last = row[0]
    return rows


def _unseen(cursor, pending: dict[str, Pending]) -> list[str]:
    """The keys not stored before, now recorded as seen. Runs under the stitch lock, so a
    lookup then a COPY is safe (and much cheaper than INSERT ... ON CONFLICT)."""
    if not pending:
        return []
    keys = "{" + ",".join(pending) + "}"  # see stitching.ints
    cursor.execute("SELECT key FROM tracking_seenmessage WHERE key = ANY(%s::uuid[])", [keys])
    seen = {row[0].hex for row in cursor.fetchall()}
    fresh = [key for key in pending if key not in seen]
    now = segment.now()
    with cursor.cursor.copy("COPY tracking_seenmessage (key, seen_at) FROM STDIN") as copy:
        stamp = now.isoformat()
        copy.write("".join(f"{key}\t{stamp}\n" for key in fresh).encode())
    return fresh


def _store(cursor, items: list[Pending]) -> None:
    now = segment.now()
    result = stitch([item.sighting for item in items], at=now)
    ids = result.identity_ids
    ensure_partitions({month_start(item.occurred_at) for item in items})
    dumps = orjson.dumps
    with cursor.cursor.copy(
            f"COPY tracking_touchpoint ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
        for start in range(0, len(items), 1000):
            copy.write("".join([f"{item.head}{ids[item.sighting.anchor]}{item.tail}"
                                for item in items[start:start + 1000]]).encode())
    seen: dict[int, list] = {}
    for item in items:
        profile = result.profile_of[ids[item.sighting.anchor]]
        first, last, traits = seen.get(profile, (item.occurred_at, item.occurred_at, {}))
        if item.traits:
            traits = {**traits, **item.traits}
        seen[profile] = [min(first, item.occurred_at), max(last, item.occurred_at), traits]
    keys = sorted(seen)
    cursor.execute(
        "UPDATE tracking_profile p SET first_seen = LEAST(p.first_seen, u.f), "
        "last_seen = GREATEST(p.last_seen, u.l), traits = p.traits || u.t "
        "FROM jsonb_to_recordset(%s::jsonb) AS u(id bigint, f timestamptz, l timestamptz, "
        "t jsonb) WHERE p.id = u.id AND (u.f < p.first_seen OR u.l > p.last_seen "
        "OR u.t <> '{}'::jsonb)",
        [dumps([{"id": k, "f": seen[k][0], "l": seen[k][1], "t": seen[k][2]}
                for k in keys]).decode()])
    bus.publish(TouchpointsRecorded(profile_ids=tuple(keys), count=len(items)))
    if result.merges:
        bus.publish(ProfilesMerged(pairs=tuple(result.merges)))


def _finish(cursor, row_ids: list[int], items: list[Pending],
            failures: dict[int, list[str]]) -> None:
    cursor.execute("DELETE FROM tracking_inboxbatch WHERE id = ANY(%s::bigint[])",
                   [ints(row_ids)])
    latest: dict[int, tuple[datetime, int]] = {}
    for item in items:
        at, count = latest.get(item.source_id, (item.received_at, 0))
        latest[item.source_id] = (max(at, item.received_at), count + 1)
    for source_id, (at, count) in latest.items():
        cursor.execute("UPDATE tracking_source SET events_received = events_received + %s, "
                       "last_event_at = GREATEST(last_event_at, %s) WHERE id = %s",
                       [count, at, source_id])
    from marketloop.tracking.services import count_source_error

    for source_id, messages in failures.items():
        log.warning("tracking: %d events of source %s failed: %s", len(messages), source_id,
                    messages[:3])
        count_source_error(source_id=source_id, code="processing_failed",
                           message=messages[-1], count=len(messages))


def _isolate(failure: SliceFailed) -> int:
    """A slice failed as a whole: process its requests one by one, and set aside (with the
    error, counted against the source) any request that fails on its own, so that one bad
    request cannot hold up the inbox. Set-aside requests stay in the inbox for inspection."""
    log.error("tracking: a slice of %d requests failed (%r); isolating",
              len(failure.row_ids), failure.cause)
    done = 0
    for row_id in failure.row_ids:
        try:
            done += _process_requests([row_id])
        except Exception as exc:
            log.exception("tracking: request %s set aside", row_id)
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("UPDATE tracking_inboxbatch SET error = %s WHERE id = %s "
                               "RETURNING source_id", [repr(exc)[:2000], row_id])
                row = cursor.fetchone()
            if row:
                from marketloop.tracking.services import count_source_error

                count_source_error(source_id=row[0], code="processing_failed",
                                   message=f"request {row_id} set aside: {exc!r}")
    return done


def drain(*, linger: float = 2.0, deadline: float | None = None) -> int:
    """Process the inbox until it has been empty for `linger` seconds (or `deadline`, a
    monotonic time, passes); return the requests processed."""
    done, idle_since = 0, None
    while deadline is None or time.monotonic() < deadline:
        try:
            count = process_inbox()
        except SliceFailed as failure:
            count = _isolate(failure)
        done += count
        if count:
            idle_since = None
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since >= linger:
            break
        time.sleep(0.1)
    return done
