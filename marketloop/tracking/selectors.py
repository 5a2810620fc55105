"""Every read of the tracking context, through the visibility scope first.

A touchpoint is visible exactly where its contact (or account) is: timelines start from a
contact, account or profile read through the scope, go to that subject's identities and from
each identity to its touchpoints on the (identity_id, occurred_at DESC) index, never across
the whole partitioned table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Model, Q, prefetch_related_objects
from django.utils import timezone

from marketloop.crm import selectors as crm_selectors
from marketloop.crm.models import Account, Contact
from marketloop.crm.selectors import InvalidCursor, decode_cursor, encode_cursor
from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import User
from marketloop.org.scope import visible
from marketloop.tracking.models import (
    Identity,
    Profile,
    ProfileChange,
    Source,
    SourceError,
    Touchpoint,
    TouchpointKind,
)

TIMELINE_LIMIT = 50
MAX_LIMIT = 200
MERGE_DEPTH = 20  # merged_into chains are short; the bound only guards against a cycle


@dataclass
class Timeline:
    """One page of touchpoints, newest first, and the contact, account or profile they
    belong to."""

    subject: Model
    items: list[Touchpoint]
    next_cursor: str | None
    kinds: list[str] = field(default_factory=list)


# ---- timelines -----------------------------------------------------------------------------


def contact_timeline(user: User, contact_id: int, *, kinds: Iterable[str] | None = None,
                     before: str | None = None, limit: int = TIMELINE_LIMIT) -> Timeline:
    contact = crm_selectors.contact_detail(user, contact_id)
    return _timeline(contact, _contact_identities(contact.pk), kinds, before, limit)


def account_timeline(user: User, account_id: int, *, kinds: Iterable[str] | None = None,
                     before: str | None = None, limit: int = TIMELINE_LIMIT) -> Timeline:
    account = crm_selectors.account_detail(user, account_id)
    return _timeline(account, _account_identities(user, account.pk), kinds, before, limit)


def profile_timeline(user: User, profile_id: int, *, kinds: Iterable[str] | None = None,
                     before: str | None = None, limit: int = TIMELINE_LIMIT) -> Timeline:
    profile = visible_profile(user, profile_id)
    return _timeline(profile, _profile_identities(profile.pk), kinds, before, limit)


def _contact_identities(contact_id: int) -> list[int]:
    return list(Identity.objects.filter(profile__contact_id=contact_id)
                .values_list("id", flat=True))


def _account_identities(user: User, account_id: int) -> list[int]:
    """Identities of the account's contacts that `user` may see (as on the account page: a
    contact owned elsewhere keeps its touchpoints to itself)."""
    contacts = crm_selectors.contacts_visible(user).filter(account_id=account_id).values("id")
    return list(Identity.objects.filter(profile__contact_id__in=contacts)
                .values_list("id", flat=True))


def _profile_identities(profile_id: int) -> list[int]:
    return list(Identity.objects.filter(profile_id=profile_id).values_list("id", flat=True))


def clean_kinds(kinds: Iterable[str] | None) -> list[str]:
    """The known kinds among `kinds`, in TouchpointKind order (unknown ones are dropped)."""
    wanted = set(kinds or ())
    return [kind for kind in TouchpointKind.values if kind in wanted]


def timeline_cursor(cursor: str) -> tuple[datetime, int]:
    """(occurred_at, id) of a timeline cursor; InvalidCursor if it is not one."""
    values = decode_cursor(cursor)
    if values is None or len(values) != 2:
        raise InvalidCursor(cursor)
    try:
        moment, pk = datetime.fromisoformat(str(values[0])), int(values[1])
    except (TypeError, ValueError) as exc:
        raise InvalidCursor(cursor) from exc
    if timezone.is_naive(moment):
        raise InvalidCursor(cursor)
    return moment, pk


def _timeline(subject: Model, identity_ids: list[int], kinds: Iterable[str] | None,
              before: str | None, limit: int) -> Timeline:
    limit = max(1, min(limit, MAX_LIMIT))
    chosen = clean_kinds(kinds)
    position = timeline_cursor(before) if before else None
    if not identity_ids:
        return Timeline(subject=subject, items=[], next_cursor=None, kinds=chosen)
    rows = _newest(identity_ids, chosen, position, limit + 1)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor([rows[-1].occurred_at.isoformat(), rows[-1].pk])
    prefetch_related_objects(rows, "source", "identity")
    return Timeline(subject=subject, items=rows, next_cursor=next_cursor, kinds=chosen)


def _newest(identity_ids: list[int], kinds: list[str],
            position: tuple[datetime, int] | None, limit: int) -> list[Touchpoint]:
    """The newest `limit` touchpoints of the identities, before `position`.

    Per identity, the (identity_id, occurred_at DESC) index read partition by partition from
    the newest, stopping after `limit` rows; the identities' rows are then merged. An
    `IN (...)` list, or `id` in the inner ORDER BY (the index does not hold it), makes
    PostgreSQL read every touchpoint of the identities and sort them all; WITH TIES keeps the
    rows that share the last time, so the outer (occurred_at, id) order stays exact. The plain
    `occurred_at <=` beside the row comparison is what the index and partition pruning use."""
    conditions, params = [], []
    if kinds:
        conditions.append("t.kind = ANY(%s)")
        params.append(kinds)
    if position is not None:
        conditions.append("t.occurred_at <= %s AND (t.occurred_at, t.id) < (%s, %s)")
        params += [position[0], position[0], position[1]]
    where = "".join(f" AND {condition}" for condition in conditions)
    sql = (
        "SELECT t.* FROM unnest(%s::bigint[]) AS i(id) CROSS JOIN LATERAL ("
        f" SELECT * FROM tracking_touchpoint t WHERE t.identity_id = i.id{where}"
        " ORDER BY t.occurred_at DESC FETCH FIRST %s ROWS WITH TIES) t "
        "ORDER BY t.occurred_at DESC, t.id DESC LIMIT %s")
    return list(Touchpoint.objects.raw(sql, [identity_ids, *params, limit, limit]))


# ---- activity by week -----------------------------------------------------------------------


@dataclass
class Activity:
    """Touchpoints per ISO week (oldest first, weeks without any included) and kind."""

    weeks: list[date]  # the Monday of each week
    counts: dict[str, list[int]]  # kind -> one count per week; only kinds seen at all

    @property
    def labels(self) -> list[str]:
        return [f"{week.isocalendar().year}-W{week.isocalendar().week:02d}"
                for week in self.weeks]

    @property
    def total(self) -> int:
        return sum(sum(row) for row in self.counts.values())


def activity_by_week(user: User, *, contact_id: int | None = None,
                     account_id: int | None = None, profile_id: int | None = None,
                     weeks: int = 26) -> Activity:
    """Weekly counts for one contact, account or profile (exactly one), in the local time
    zone, for the `weeks` weeks ending with the current one."""
    if sum(x is not None for x in (contact_id, account_id, profile_id)) != 1:
        raise ValueError("Name exactly one of contact_id, account_id and profile_id.")
    if contact_id is not None:
        identity_ids = _contact_identities(crm_selectors.contact_detail(user, contact_id).pk)
    elif account_id is not None:
        identity_ids = _account_identities(
            user, crm_selectors.account_detail(user, account_id).pk)
    else:
        identity_ids = _profile_identities(visible_profile(user, profile_id).pk)  # type: ignore[arg-type]
    weeks = max(1, min(weeks, 520))
    today = timezone.localdate()
    first = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    mondays = [first + timedelta(weeks=n) for n in range(weeks)]
    counts: dict[str, list[int]] = {}
    if identity_ids:
        zone = timezone.get_current_timezone()
        start = datetime.combine(first, time.min, tzinfo=zone)
        end = datetime.combine(mondays[-1] + timedelta(weeks=1), time.min, tzinfo=zone)
        index = {monday: n for n, monday in enumerate(mondays)}
        found: dict[str, list[int]] = defaultdict(lambda: [0] * weeks)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT date_trunc('week', t.occurred_at AT TIME ZONE %s)::date, t.kind, "
                "count(*) FROM unnest(%s::bigint[]) AS i(id) JOIN tracking_touchpoint t "
                "ON t.identity_id = i.id AND t.occurred_at >= %s AND t.occurred_at < %s "
                "GROUP BY 1, 2",
                [timezone.get_current_timezone_name(), identity_ids, start, end])
            for week, kind, count in cursor.fetchall():
                if week in index:
                    found[kind][index[week]] += count
        counts = {kind: found[kind] for kind in sorted(found, key=_kind_order)}
    return Activity(weeks=mondays, counts=counts)


def _kind_order(kind: str) -> tuple[int, str]:
    values = TouchpointKind.values
    return (values.index(kind) if kind in values else len(values), kind)


# ---- profiles -------------------------------------------------------------------------------


def _survivor_id(profile_id: int) -> int | None:
    """The profile that holds `profile_id` now: itself, or where its merges led."""
    current: int | None = profile_id
    for _ in range(MERGE_DEPTH):
        row = Profile.objects.filter(pk=current).values_list("merged_into_id", flat=True)
        found = list(row)
        if not found:
            return None
        if found[0] is None:
            return current
        current = found[0]
    return current


def visible_profile(user: User, profile_id: int) -> Profile:
    """The live profile behind `profile_id` (following merges), if `user` may see it."""
    survivor = _survivor_id(profile_id)
    profile = None
    if survivor is not None:
        profile = (visible(user, Profile.objects.filter(pk=survivor))
                   .select_related("owner_unit", "partner", "owner").first())
    if profile is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such profile.")
    return profile


def contact_of(user: User, profile: Profile) -> Contact | None:
    """The profile's contact, if `user` may see it too (a profile copies its contact's scope,
    but the copy can lag a re-routing by a moment)."""
    if profile.contact_id is None:
        return None
    return crm_selectors.contacts_visible(user).filter(pk=profile.contact_id).first()


def account_of(user: User, profile: Profile) -> Account | None:
    if profile.account_id is None:
        return None
    return crm_selectors.accounts_visible(user).filter(pk=profile.account_id).first()


@dataclass
class ProfileDetail:
    profile: Profile
    contact: Contact | None  # linked and visible to the reader
    account: Account | None
    requested_id: int  # the id asked for: an absorbed profile's, or the profile's own
    identities: list[Identity]
    changes: list[ProfileChange]  # merges and splits, newest first
    absorbed_ids: list[int]  # profiles merged into this one (at any depth)


def profile_detail(user: User, profile_id: int) -> ProfileDetail:
    profile = visible_profile(user, profile_id)
    absorbed = _absorbed_into(profile.pk)
    involved = [profile.pk, *absorbed]
    changes = list(ProfileChange.objects.filter(Q(survivor_id__in=involved)
                                                | Q(other_id__in=involved))
                   .select_related("by").order_by("-at", "-id")[:200])
    identities = list(Identity.objects.filter(profile=profile).order_by("kind", "value"))
    return ProfileDetail(profile=profile, contact=contact_of(user, profile),
                         account=account_of(user, profile), requested_id=profile_id,
                         identities=identities, changes=changes, absorbed_ids=absorbed)


def _absorbed_into(profile_id: int) -> list[int]:
    found: list[int] = []
    frontier = [profile_id]
    for _ in range(MERGE_DEPTH):
        frontier = list(Profile.objects.filter(merged_into_id__in=frontier)
                        .values_list("id", flat=True))
        if not frontier:
            break
        found += frontier
    return sorted(set(found))


def profiles_of_contact(user: User, contact_id: int) -> list[Profile]:
    """The live profiles linked to a contact the user may see (usually one)."""
    contact = crm_selectors.contact_detail(user, contact_id)
    return list(visible(user, Profile.objects.filter(contact=contact, merged_into__isnull=True))
                .order_by("id"))


# ---- sources (administrators; the views check ADMINISTER) -------------------------------


@dataclass
class ErrorCount:
    code: str
    last_7_days: int
    total: int
    last_message: str
    last_at: datetime


@dataclass
class SourceOverview:
    source: Source
    errors: list[ErrorCount]  # by code, the most recent first

    @property
    def errors_last_7_days(self) -> int:
        return sum(error.last_7_days for error in self.errors)

    @property
    def errors_total(self) -> int:
        return sum(error.total for error in self.errors)

    @property
    def recent_errors(self) -> list[ErrorCount]:
        return [error for error in self.errors if error.last_7_days]


def sources_overview() -> list[SourceOverview]:
    """Every source with its error counts by code (the last 7 days and all time)."""
    sources = list(Source.objects.select_related("created_by").order_by("name", "id"))
    errors = _error_counts(source.pk for source in sources)
    return [SourceOverview(source=source, errors=errors.get(source.pk, [])) for source in sources]


def source_overview(source_id: int) -> SourceOverview:
    source = Source.objects.select_related("created_by").filter(pk=source_id).first()
    if source is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such source.")
    return SourceOverview(source=source, errors=_error_counts([source.pk]).get(source.pk, []))


def _error_counts(source_ids: Iterable[int]) -> dict[int, list[ErrorCount]]:
    since = timezone.localdate() - timedelta(days=6)
    totals: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    rows = (SourceError.objects.filter(source_id__in=list(source_ids))
            .values_list("source_id", "code", "day", "count", "last_message", "last_at")
            .order_by("day", "last_at"))
    for source_id, code, day, count, message, last_at in rows:
        entry = totals[source_id].setdefault(code, {"recent": 0, "total": 0})
        entry["total"] += count
        if day >= since:
            entry["recent"] += count
        entry["message"], entry["at"] = message, last_at  # rows come oldest first
    return {
        source_id: sorted(
            (ErrorCount(code=code, last_7_days=e["recent"], total=e["total"],
                        last_message=e["message"], last_at=e["at"])
             for code, e in codes.items()),
            key=lambda error: error.last_at, reverse=True)
        for source_id, codes in totals.items()}


def recent_source_errors(source: Source, *, limit: int = 50) -> list[SourceError]:
    return list(SourceError.objects.filter(source=source).order_by("-day", "-last_at")[:limit])

