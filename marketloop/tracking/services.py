"""Every write of the tracking context besides the ingestion path itself: sources, error
counts, touchpoints recorded by other parts of marketloop, CRM links."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from marketloop.audit import services as audit
from marketloop.org.errors import DomainError
from marketloop.org.models import User
from marketloop.org.permissions import Action, require
from marketloop.tracking import ingest
from marketloop.tracking.errors import TrackingErrorCode
from marketloop.tracking.identifiers import normalise_email, phone_of
from marketloop.tracking.models import Source, SourceKind, new_write_key
from marketloop.tracking.partitions import ensure_partitions, months_around
from marketloop.tracking.stitching import STITCH_LOCK, Link, refresh_profiles, stitch

SOURCE_AUDIT_FIELDS = ("name", "kind", "active", "require_consent")


def _invalid(field: str, message: str) -> DomainError:
    return DomainError(TrackingErrorCode.INVALID, message, errors={field: [message]},
                       status=422)


@transaction.atomic
def create_source(*, actor: User, name: str, kind: str, require_consent: bool = False) -> Source:
    require(actor, Action.ADMINISTER)
    name = (name or "").strip()
    if not name:
        raise _invalid("name", _("A source needs a name."))
    if kind not in SourceKind.values:
        raise _invalid("kind", _("Unknown kind of source."))
    source = Source.objects.create(name=name, kind=kind, require_consent=require_consent,
                                   created_by=actor)
    audit.record(actor=actor, obj=source, action="created",
                 changes=audit.diff({}, audit.snapshot(source, SOURCE_AUDIT_FIELDS)))
    return source


@transaction.atomic
def update_source(*, actor: User, source: Source, **changes: Any) -> Source:
    require(actor, Action.ADMINISTER)
    allowed = {"name", "active", "require_consent"}
    if set(changes) - allowed:
        raise _invalid(sorted(set(changes) - allowed)[0], _("This field cannot be set."))
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise _invalid("name", _("A source needs a name."))
    source = Source.objects.select_for_update().get(pk=source.pk)
    before = audit.snapshot(source, SOURCE_AUDIT_FIELDS)
    for field, value in changes.items():
        setattr(source, field, value)
    source.save()
    delta = audit.diff(before, audit.snapshot(source, SOURCE_AUDIT_FIELDS))
    if delta:
        audit.record(actor=actor, obj=source, action="updated", changes=delta)
    ingest.forget_sources()
    return source


@transaction.atomic
def rotate_write_key(*, actor: User, source: Source) -> Source:
    """A new write key; the old one stops working at once (within the few seconds web
    processes cache keys)."""
    require(actor, Action.ADMINISTER)
    source = Source.objects.select_for_update().get(pk=source.pk)
    source.write_key = new_write_key()
    source.save(update_fields=["write_key"])
    audit.record(actor=actor, obj=source, action="key rotated", changes={})
    ingest.forget_sources()
    return source


def count_source_error(*, source_id: int, code: str, message: str, count: int = 1) -> None:
    """Count a refused request (or event) against its source, per day and code."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tracking_sourceerror (source_id, day, code, count, last_message, "
            "last_at) VALUES (%s, (now() AT TIME ZONE %s)::date, %s, %s, %s, now()) "
            "ON CONFLICT (source_id, day, code) DO UPDATE SET "
            "count = tracking_sourceerror.count + EXCLUDED.count, "
            "last_message = EXCLUDED.last_message, last_at = EXCLUDED.last_at",
            [source_id, timezone.get_current_timezone_name(), code, count, message[:1000]])


def internal_source() -> Source:
    source, _created = Source.objects.get_or_create(
        kind=SourceKind.INTERNAL, defaults={"name": "marketloop"})
    return source


def touchpoint_event(*, kind: str, event: str, message_id: str, occurred_at: datetime,
                     properties: dict | None, traits: dict[str, str],
                     context: dict | None = None) -> dict[str, Any]:
    """A touchpoint recorded by marketloop as a Segment track event: its kind declared in
    properties, the person named in context.traits (contactId, email, mobile or phone)."""
    return {
        "type": "track",
        "event": event,
        "messageId": message_id,
        "timestamp": occurred_at.isoformat(),
        "properties": {**(properties or {}), "touchpoint_kind": str(kind)},
        "context": {**(context or {}), "traits": traits},
    }


def record_touchpoint(*, kind: str, contact_id: int | None = None, email: str = "",
                      mobile: str = "", anonymous_id: str = "", event: str = "",
                      occurred_at: datetime | None = None, properties: dict | None = None,
                      context: dict | None = None, source: Source | None = None,
                      message_id: str = "") -> None:
    """The one way the rest of marketloop (events, content, visits, email, the hotline)
    records a customer action: it goes through the same inbox, de-duplication and stitching
    as the tracking API. `kind` is a TouchpointKind; at least one identifier is required."""
    from marketloop.tracking.models import TouchpointKind

    if kind not in TouchpointKind.values:
        raise _invalid("kind", _("Unknown kind of touchpoint."))
    traits: dict[str, str] = {}
    if contact_id:
        traits["contactId"] = str(int(contact_id))
    if email:
        traits["email"] = normalise_email(email)
        if not traits["email"]:
            raise _invalid("email", _("'%(value)s' is not an email address.") % {"value": email})
    if mobile:
        traits["mobile"] = phone_of(mobile)
        if not traits["mobile"]:
            raise _invalid("mobile", _("'%(value)s' is not a phone number.") % {"value": mobile})
    if not traits and not anonymous_id:
        raise _invalid("contact", _("A touchpoint needs a contact, email, mobile or "
                                    "anonymous id."))
    source = source or internal_source()
    payload = touchpoint_event(kind=kind, event=event or kind,
                               message_id=message_id or f"ml-{uuid.uuid4()}",
                               occurred_at=occurred_at or timezone.now(),
                               properties=properties, traits=traits, context=context)
    if anonymous_id:
        payload["anonymousId"] = anonymous_id
    ingest.store(source_id=source.id, endpoint="track", body=orjson.dumps(payload), count=1,
                 ip=None)


@transaction.atomic
def link_contacts(*, contact_ids: list[int]) -> None:
    """Contacts created or changed in the CRM: their emails and mobiles link to them, which
    may merge the profiles that carried those identifiers; their profiles take the contacts'
    visibility scope."""
    from marketloop.crm.models import Contact

    links = []
    for contact_id, email, mobile in Contact.objects.filter(id__in=contact_ids).values_list(
            "id", "email", "mobile"):
        for kind, value in (("email", (email or "").lower()), ("mobile", mobile)):
            if value:
                links.append(Link((kind, value), ("contact", str(contact_id)), "crm"))
    if links:
        stitch([], at=timezone.now(), extra_links=links)
    sync_profile_scope(contact_ids=contact_ids)


def sync_profile_scope(*, contact_ids: list[int] | None = None,
                       account_ids: list[int] | None = None) -> None:
    """Profiles take their contact's owner unit, owner and partner (after a re-routing)."""
    with connection.cursor() as cursor:
        if connection.in_atomic_block:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [STITCH_LOCK])
        cursor.execute(
            "SELECT p.id FROM tracking_profile p JOIN crm_contact c ON c.id = p.contact_id "
            "WHERE (c.id = ANY(%s) OR c.account_id = ANY(%s))",
            [contact_ids or [], account_ids or []])
        refresh_profiles(cursor, [row[0] for row in cursor.fetchall()])


def ensure_upcoming_partitions() -> None:
    ensure_partitions(months_around(timezone.localdate(), before=0, after=3))
