"""Campaign members: the people on an activity's list, one per (activity, CRM contact), or per
(activity, tracking profile) while the person has no contact. A member's status only moves
forward (invited < registered < attended < responded) and the time each status was first
reached is kept.

Members come from touchpoints attached to the activity (matching.py calls `apply_touches`),
from imports of a spreadsheet, from the public registration page, and by hand. Every write
to members takes one advisory lock, so the set-based upserts of the tracking jobs and the
imports never race one another into duplicates."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from marketloop.audit import services as audit
from marketloop.campaigns import member_selectors as selectors
from marketloop.campaigns.errors import CampaignError
from marketloop.campaigns.errors import CampaignErrorCode as Code
from marketloop.campaigns.models import (
    MEMBER_STATUS_RANK,
    Activity,
    CampaignMember,
    MemberSource,
    MemberStatus,
)
from marketloop.crm import selectors as crm_selectors
from marketloop.crm.importing import (
    HEADER_SEARCH_ROWS,
    Column,
    Header,
    ImportFileError,
    Table,
    data_rows,
    header_key,
)
from marketloop.crm.models import Contact
from marketloop.crm.validation import normalise_email, normalise_mobile
from marketloop.org.errors import NotFound
from marketloop.org.models import User
from marketloop.org.permissions import Action, require
from marketloop.tracking.services import record_touchpoint
from marketloop.tracking.stitching import ints

MEMBER_LOCK = 7_402_611_006  # pg_advisory_xact_lock key of every write to members
STATUS_NAMES = "ARRAY['invited','registered','attended','responded']::text[]"
IMPORTED_EVENT = "Campaign Member Imported"  # matching.IMPORTED_EVENT
MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000
STATUS_TIME = {MemberStatus.INVITED: "invited_at", MemberStatus.REGISTERED: "registered_at",
               MemberStatus.ATTENDED: "attended_at", MemberStatus.RESPONDED: "responded_at"}


def lock(cursor: Any) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [MEMBER_LOCK])


def _rank(status: str) -> int:
    return MEMBER_STATUS_RANK.get(status, -1)


# ---- from attached touchpoints ---------------------------------------------------------------

@dataclass(frozen=True)
class TouchChange:
    """What new touches of one person mean for their membership of one activity."""

    activity_id: int
    contact_id: int | None
    profile_id: int
    status: str
    source: str
    invited_at: datetime | None
    registered_at: datetime | None
    attended_at: datetime | None
    responded_at: datetime | None
    name: str | None
    email: str | None
    mobile: str | None


_RECORD = ("activity_id bigint, contact_id bigint, profile_id bigint, status text, source text, "
           "invited_at timestamptz, registered_at timestamptz, attended_at timestamptz, "
           "responded_at timestamptz, name text, email text, mobile text")
_UPSERT = f"""
INSERT INTO campaigns_campaignmember AS m (activity_id, contact_id, profile_id, name, email,
  mobile, status, source, invited_at, registered_at, attended_at, responded_at, created_at,
  updated_at)
SELECT u.activity_id, u.contact_id, u.profile_id, left(COALESCE(u.name, ''), 200),
       left(COALESCE(u.email, ''), 254), left(COALESCE(u.mobile, ''), 32), u.status, u.source,
       u.invited_at, u.registered_at, u.attended_at, u.responded_at, now(), now()
FROM json_to_recordset(%s::json) AS u({_RECORD})
WHERE {{which}}
ON CONFLICT {{target}} DO UPDATE SET
  status = CASE WHEN array_position({STATUS_NAMES}, EXCLUDED.status)
                     > array_position({STATUS_NAMES}, m.status)
                THEN EXCLUDED.status ELSE m.status END,
  invited_at = LEAST(m.invited_at, EXCLUDED.invited_at),
  registered_at = LEAST(m.registered_at, EXCLUDED.registered_at),
  attended_at = LEAST(m.attended_at, EXCLUDED.attended_at),
  responded_at = LEAST(m.responded_at, EXCLUDED.responded_at),
  profile_id = COALESCE(m.profile_id, EXCLUDED.profile_id),
  name = CASE WHEN m.name = '' THEN EXCLUDED.name ELSE m.name END,
  email = CASE WHEN m.email = '' THEN EXCLUDED.email ELSE m.email END,
  mobile = CASE WHEN m.mobile = '' THEN EXCLUDED.mobile ELSE m.mobile END,
  updated_at = now()
WHERE array_position({STATUS_NAMES}, EXCLUDED.status) > array_position({STATUS_NAMES}, m.status)
   OR LEAST(m.invited_at, EXCLUDED.invited_at) IS DISTINCT FROM m.invited_at
   OR LEAST(m.registered_at, EXCLUDED.registered_at) IS DISTINCT FROM m.registered_at
   OR LEAST(m.attended_at, EXCLUDED.attended_at) IS DISTINCT FROM m.attended_at
   OR LEAST(m.responded_at, EXCLUDED.responded_at) IS DISTINCT FROM m.responded_at
   OR (m.profile_id IS NULL AND EXCLUDED.profile_id IS NOT NULL)
   OR (m.name = '' AND EXCLUDED.name <> '') OR (m.email = '' AND EXCLUDED.email <> '')
   OR (m.mobile = '' AND EXCLUDED.mobile <> '')
"""
UPSERT_BY_CONTACT = _UPSERT.format(
    which="u.contact_id IS NOT NULL",
    target="(activity_id, contact_id) WHERE contact_id IS NOT NULL")
UPSERT_BY_PROFILE = _UPSERT.format(
    which="u.contact_id IS NULL",
    target="(activity_id, profile_id) WHERE contact_id IS NULL AND profile_id IS NOT NULL")


def apply_touches(changes: list[TouchChange]) -> None:
    """Create or move up the members these changes name (in the caller's transaction, under
    the member lock), set-based."""
    if not changes:
        return
    with connection.cursor() as cursor:
        lock(cursor)
        settle(cursor, {c.profile_id for c in changes})
        payload = orjson.dumps([c.__dict__ for c in changes]).decode()
        cursor.execute(UPSERT_BY_CONTACT, [payload])
        cursor.execute(UPSERT_BY_PROFILE, [payload])


# ---- profiles that merged or found their contact ---------------------------------------------

def _live_profiles(cursor: Any, profile_ids: Iterable[int]) -> dict[int, tuple[int, int | None]]:
    """profile -> (the profile it ended up in after merges, that profile's contact)."""
    parent: dict[int, int | None] = {}
    contact: dict[int, int | None] = {}
    wanted = set(profile_ids)
    for _depth in range(50):  # merge chains are short; the bound guards against a cycle
        if not wanted:
            break
        cursor.execute("SELECT id, merged_into_id, contact_id FROM tracking_profile "
                       "WHERE id = ANY(%s::bigint[])", [ints(sorted(wanted))])
        for pid, merged_into, contact_id in cursor.fetchall():
            parent[pid], contact[pid] = merged_into, contact_id
        wanted = {p for p in parent.values() if p is not None and p not in parent}
    live = {}
    for pid in profile_ids:
        current, seen = pid, set()
        while parent.get(current) is not None and current not in seen:
            seen.add(current)
            current = parent[current]  # type: ignore[assignment]
        live[pid] = (current, contact.get(current))
    return live


def settle(cursor: Any, profile_ids: Iterable[int]) -> None:
    """Members known only by one of these profiles, where the profile has since found its
    contact or was merged into another: they become the member of that contact (or that
    profile), folding into the one that is already there."""
    ids = sorted(set(profile_ids))
    if not ids:
        return
    cursor.execute(
        "SELECT m.id, m.activity_id, m.profile_id FROM campaigns_campaignmember m "
        "JOIN tracking_profile p ON p.id = m.profile_id "
        "WHERE m.contact_id IS NULL AND m.profile_id = ANY(%s::bigint[]) "
        "AND (p.contact_id IS NOT NULL OR p.merged_into_id IS NOT NULL) ORDER BY m.id",
        [ints(ids)])
    rows = cursor.fetchall()
    if not rows:
        return
    live = _live_profiles(cursor, {profile for _id, _activity, profile in rows})
    groups: dict[tuple[str, int, int], list[tuple[int, int]]] = {}
    for member_id, activity_id, profile_id in rows:
        target, contact_id = live[profile_id]
        key = ("contact", activity_id, contact_id) if contact_id else \
            ("profile", activity_id, target)
        groups.setdefault(key, []).append((member_id, target))
    twins = _twins(cursor, list(groups),
                   {member for members in groups.values() for member, _target in members})
    moves: list[tuple[int, int, int | None]] = []  # member, profile, contact
    folds: list[tuple[int, int]] = []  # (from, into)
    for key, members in groups.items():
        kind, _activity, key_id = key
        into = twins.get(key)
        if into is None:
            (into, target), members = members[0], members[1:]
            moves.append((into, target, key_id if kind == "contact" else None))
        folds += [(member, into) for member, _target in members]
    if moves:
        cursor.execute(
            "UPDATE campaigns_campaignmember m SET contact_id = u.contact_id, "
            "profile_id = u.profile_id, updated_at = now() "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS u(id, profile_id, "
            "contact_id) WHERE m.id = u.id",
            [ints(m for m, _p, _c in moves), ints(p for _m, p, _c in moves),
             "{" + ",".join("NULL" if c is None else str(c) for _m, _p, c in moves) + "}"])
    if folds:
        fold(cursor, folds)


def _twins(cursor: Any, keys: list[tuple[str, int, int]],
           moving: set[int]) -> dict[tuple[str, int, int], int]:
    """The member already standing for each key (and not itself about to move)."""
    found: dict[tuple[str, int, int], int] = {}
    by_contact = [(a, t) for kind, a, t in keys if kind == "contact"]
    by_profile = [(a, t) for kind, a, t in keys if kind == "profile"]
    if by_contact:
        cursor.execute(
            "SELECT m.id, m.activity_id, m.contact_id FROM campaigns_campaignmember m "
            "JOIN unnest(%s::bigint[], %s::bigint[]) AS k(a, c) "
            "ON m.activity_id = k.a AND m.contact_id = k.c",
            [ints(a for a, _t in by_contact), ints(t for _a, t in by_contact)])
        for member_id, activity_id, contact_id in cursor.fetchall():
            if member_id not in moving:
                found[("contact", activity_id, contact_id)] = member_id
    if by_profile:
        cursor.execute(
            "SELECT m.id, m.activity_id, m.profile_id FROM campaigns_campaignmember m "
            "JOIN unnest(%s::bigint[], %s::bigint[]) AS k(a, p) "
            "ON m.activity_id = k.a AND m.profile_id = k.p WHERE m.contact_id IS NULL",
            [ints(a for a, _t in by_profile), ints(t for _a, t in by_profile)])
        for member_id, activity_id, profile_id in cursor.fetchall():
            if member_id not in moving:
                found[("profile", activity_id, profile_id)] = member_id
    return found


def fold(cursor: Any, pairs: list[tuple[int, int]]) -> None:
    """Fold members into others of the same activity: the furthest status, the earliest time
    of each status, the first name, email and mobile known; the folded rows go."""
    if not pairs:
        return
    cursor.execute(
        f"""WITH p AS (SELECT * FROM unnest(%s::bigint[], %s::bigint[]) AS p(src, dst)),
        agg AS (
          SELECT p.dst, max(array_position({STATUS_NAMES}, s.status)) AS rank,
                 min(s.invited_at) AS invited_at, min(s.registered_at) AS registered_at,
                 min(s.attended_at) AS attended_at, min(s.responded_at) AS responded_at,
                 min(s.created_at) AS created_at, max(s.profile_id) AS profile_id,
                 (array_agg(s.name ORDER BY s.id) FILTER (WHERE s.name <> ''))[1] AS name,
                 (array_agg(s.email ORDER BY s.id) FILTER (WHERE s.email <> ''))[1] AS email,
                 (array_agg(s.mobile ORDER BY s.id) FILTER (WHERE s.mobile <> ''))[1] AS mobile
          FROM p JOIN campaigns_campaignmember s ON s.id = p.src GROUP BY p.dst)
        UPDATE campaigns_campaignmember d SET
          status = CASE WHEN a.rank > array_position({STATUS_NAMES}, d.status)
                        THEN ({STATUS_NAMES})[a.rank] ELSE d.status END,
          invited_at = LEAST(d.invited_at, a.invited_at),
          registered_at = LEAST(d.registered_at, a.registered_at),
          attended_at = LEAST(d.attended_at, a.attended_at),
          responded_at = LEAST(d.responded_at, a.responded_at),
          name = CASE WHEN d.name = '' THEN COALESCE(a.name, '') ELSE d.name END,
          email = CASE WHEN d.email = '' THEN COALESCE(a.email, '') ELSE d.email END,
          mobile = CASE WHEN d.mobile = '' THEN COALESCE(a.mobile, '') ELSE d.mobile END,
          profile_id = COALESCE(d.profile_id, a.profile_id),
          created_at = LEAST(d.created_at, a.created_at), updated_at = now()
        FROM agg a WHERE d.id = a.dst""",
        [ints(src for src, _dst in pairs), ints(dst for _src, dst in pairs)])
    cursor.execute("DELETE FROM campaigns_campaignmember WHERE id = ANY(%s::bigint[])",
                   [ints(src for src, _dst in pairs)])


@transaction.atomic
def merge_profiles(*, pairs: Iterable[tuple[int, int]]) -> None:
    """Tracking merged profiles (survivor, absorbed): the absorbed profiles' members become
    the survivor's, keeping the furthest status and the earliest times."""
    absorbed = sorted({old for _survivor, old in pairs})
    if not absorbed:
        return
    with connection.cursor() as cursor:
        lock(cursor)
        live = _live_profiles(cursor, absorbed)
        cursor.execute(
            "UPDATE campaigns_campaignmember m SET profile_id = u.live FROM "
            "unnest(%s::bigint[], %s::bigint[]) AS u(old, live) "
            "WHERE m.profile_id = u.old AND m.contact_id IS NOT NULL",
            [ints(absorbed), ints(live[old][0] for old in absorbed)])
        settle(cursor, absorbed)


# ---- known people: imports and additions by hand ----------------------------------------------

@dataclass(frozen=True)
class Person:
    """A known contact put on the list with a status."""

    contact_id: int
    status: str
    name: str = ""
    email: str = ""
    mobile: str = ""


ADDED, MOVED_UP, UNCHANGED = "added", "moved_up", "unchanged"


def _put(activity: Activity, people: list[Person], source: str) -> dict[int, str]:
    """Put known contacts on the activity's list (under the member lock): new ones are added,
    a later status moves a member up, an earlier or equal one changes nothing. Returns each
    contact's outcome."""
    now = timezone.now()
    contact_ids = sorted({p.contact_id for p in people})
    with connection.cursor() as cursor:
        lock(cursor)
        cursor.execute("SELECT id FROM tracking_profile WHERE contact_id = ANY(%s::bigint[])",
                       [ints(contact_ids)])
        settle(cursor, [row[0] for row in cursor.fetchall()])
    existing = {m.contact_id: m for m in CampaignMember.objects.filter(
        activity=activity, contact_id__in=contact_ids)}
    outcome: dict[int, str] = {}
    new: dict[int, CampaignMember] = {}
    changed: dict[int, CampaignMember] = {}
    for person in people:
        member = existing.get(person.contact_id) or new.get(person.contact_id)
        if member is None:
            member = CampaignMember(activity=activity, contact_id=person.contact_id,
                                    name=person.name[:200], email=person.email[:254],
                                    mobile=person.mobile[:32], status=person.status,
                                    source=source, created_at=now, updated_at=now)
            setattr(member, STATUS_TIME[person.status], now)
            new[person.contact_id] = member
            outcome[person.contact_id] = ADDED
        elif _rank(person.status) > _rank(member.status):
            member.status = person.status
            setattr(member, STATUS_TIME[person.status],
                    getattr(member, STATUS_TIME[person.status]) or now)
            member.name = member.name or person.name[:200]
            member.email = member.email or person.email[:254]
            member.mobile = member.mobile or person.mobile[:32]
            member.updated_at = now
            if person.contact_id not in new:
                changed[person.contact_id] = member
                outcome[person.contact_id] = MOVED_UP
        else:
            outcome.setdefault(person.contact_id, UNCHANGED)
    CampaignMember.objects.bulk_create(new.values())
    CampaignMember.objects.bulk_update(
        changed.values(), ["status", *STATUS_TIME.values(), "name", "email", "mobile",
                           "updated_at"])
    return outcome


def _clean_status(status: str) -> str:
    if status not in MemberStatus.values:
        raise CampaignError(Code.INVALID, _("Choose a status: invited, registered, attended "
                                            "or responded."), field="status")
    return status


@dataclass(frozen=True)
class Added:
    member: CampaignMember
    outcome: str  # added, moved_up or unchanged


@transaction.atomic
def add_member(*, user: User, activity_id: int, contact_id: int,
               status: str = MemberStatus.INVITED) -> Added:
    """Put a contact the user may see on the list of an activity the user may edit."""
    activity = selectors.activity_of(user, activity_id)
    require(user, Action.EDIT)
    status = _clean_status(status)
    try:
        contact = crm_selectors.contact_detail(user, contact_id)
    except NotFound:
        raise CampaignError(Code.UNKNOWN_CONTACT, _("No contact with this number is visible "
                                                    "to you."), field="contact_id") from None
    before = CampaignMember.objects.filter(activity=activity, contact=contact).values_list(
        "status", flat=True).first()
    outcome = _put(activity, [Person(contact_id=contact.pk, status=status)],
                   MemberSource.MANUAL)[contact.pk]
    member = CampaignMember.objects.get(activity=activity, contact=contact)
    if outcome != UNCHANGED:
        audit.record(actor=user, obj=member, action="added" if outcome == ADDED else "moved up",
                     changes={"status": [before, member.status]})
    return Added(member=member, outcome=outcome)


# ---- imports ---------------------------------------------------------------------------------

MEMBER_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "full name", "contact", "姓名", "名字", "联系人", "联系人姓名"),
    "email": ("email", "e-mail", "email address", "mail", "邮箱", "电子邮箱", "电子邮件",
              "邮件"),
    "mobile": ("mobile", "mobile phone", "phone", "cell", "手机", "手机号", "手机号码", "电话"),
    "status": ("status", "member status", "状态", "参会状态", "成员状态"),
}
_ALIASES = {header_key(alias): name for name, aliases in MEMBER_COLUMNS.items()
            for alias in aliases}
STATUS_WORDS: dict[str, str] = {
    **{s: s for s in MemberStatus.values},
    **{w: MemberStatus.INVITED for w in ("invite", "邀请", "已邀请", "受邀", "待邀请")},
    **{w: MemberStatus.REGISTERED for w in ("register", "registration", "报名", "已报名",
                                            "注册", "已注册")},
    **{w: MemberStatus.ATTENDED for w in ("attend", "attendee", "参加", "已参加", "出席",
                                          "已出席", "参会", "已参会", "签到", "已签到")},
    **{w: MemberStatus.RESPONDED for w in ("respond", "response", "响应", "已响应", "回应",
                                           "已回应")},
}


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str


@dataclass
class ImportResult:
    rows: int = 0
    added: int = 0
    moved_up: int = 0
    unchanged: int = 0
    # People not in the CRM: recorded as a touchpoint, they appear once tracking has made
    # their profile (in the background, within seconds).
    pending: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    number: int
    name: str
    email: str
    mobile: str
    status: str


def _header(table: Table) -> Header:
    for number, cells in itertools.islice(table.rows(), HEADER_SEARCH_ROWS):
        columns, taken = [], set()
        for index, cell in enumerate(cells):
            name = _ALIASES.get(header_key(cell)) if cell else None
            if name in taken:
                name = None
            if name:
                taken.add(name)
            columns.append(Column(index=index, header=cell.strip(), field=name))
        if taken & {"email", "mobile"}:
            return Header(row_number=number, columns=columns)
    raise ImportFileError(_("No header row found in the first %(n)s rows: a header names an "
                            "email (邮箱) or mobile (手机) column, and may name name (姓名) and "
                            "status (状态).") % {"n": HEADER_SEARCH_ROWS})


def _rows(table: Table, header: Header, errors: list[RowError]) -> Iterator[_Row]:
    seen: dict[tuple[str, str], int] = {}
    for count, row in enumerate(data_rows(header, table.rows()), start=1):
        if count > MAX_IMPORT_ROWS:
            raise ImportFileError(_("The file has more than %(n)s rows; split it.")
                                  % {"n": f"{MAX_IMPORT_ROWS:,}"})
        values = row.values
        problems: list[tuple[str, str]] = []
        email = mobile = ""
        try:
            email = normalise_email(values.get("email", ""))
        except ValueError as exc:
            problems.append(("email", str(exc)))
        try:
            mobile = normalise_mobile(values.get("mobile", ""))
        except ValueError as exc:
            problems.append(("mobile", str(exc)))
        if not problems and not email and not mobile:
            problems.append(("email", _("Give an email or a mobile number.")))
        word = values.get("status", "").strip().lower()
        status = STATUS_WORDS.get(word) if word else MemberStatus.INVITED
        if status is None:
            problems.append(("status", _("Unknown status '%(value)s': use invited, registered, "
                                         "attended or responded (已邀请/已报名/已参加/已响应).")
                             % {"value": values.get("status", "")}))
        if len(values.get("name", "")) > 200:
            problems.append(("name", _("Longer than %(limit)s characters.") % {"limit": 200}))
        key = ("email", email) if email else ("mobile", mobile)
        if not problems and key in seen:
            problems.append((key[0], _("Duplicate of row %(row)s.") % {"row": seen[key]}))
        if problems:
            errors.extend(RowError(row.number, name, message) for name, message in problems)
            continue
        seen[key] = row.number
        yield _Row(number=row.number, name=values.get("name", ""), email=email, mobile=mobile,
                   status=status or MemberStatus.INVITED)


def _contacts_for(rows: list[_Row]) -> dict[int, int]:
    """row number -> contact id, found by email, else by mobile (the oldest contact with it).
    People are who they are: a contact is found wherever it is owned, as tracking links
    identifiers to contacts."""
    emails = {r.email for r in rows if r.email}
    mobiles = {r.mobile for r in rows if r.mobile}
    by_email: dict[str, int] = {}
    if emails:  # unique per lower(email), which an index holds
        for contact_id, email in Contact.objects.annotate(lowered=Lower("email")).filter(
                lowered__in=emails).values_list("id", "lowered"):
            by_email[email] = contact_id
    by_mobile: dict[str, int] = {}
    for contact_id, mobile in Contact.objects.filter(mobile__in=mobiles).order_by("id") \
            .values_list("id", "mobile") if mobiles else []:
        by_mobile.setdefault(mobile, contact_id)
    found = {}
    for row in rows:
        contact_id = by_email.get(row.email) if row.email else None
        if contact_id is None and row.mobile:
            contact_id = by_mobile.get(row.mobile)
        if contact_id is not None:
            found[row.number] = contact_id
    return found


def _saved(upload: UploadedFile) -> Path:
    suffix = Path(upload.name or "").suffix.lower()
    with tempfile.NamedTemporaryFile(suffix=suffix if suffix in {".csv", ".txt", ".xlsx"}
                                     else ".dat", delete=False) as fh:
        for chunk in upload.chunks():
            fh.write(chunk)
    return Path(fh.name)


def _bad_file(message: str) -> CampaignError:
    return CampaignError(Code.IMPORT_INVALID, message, field="file")


@transaction.atomic
def import_members(*, user: User, activity_id: int, upload: UploadedFile) -> ImportResult:
    """Put the people of a spreadsheet (.xlsx or .csv in UTF-8 or GBK/GB18030; columns name,
    email, mobile, status) on an activity's list. Contacts are found by email or mobile;
    others are recorded as a touchpoint carrying the activity's code, and become members
    once tracking has made their profile. Rows with errors are skipped and reported."""
    activity = selectors.activity_of(user, activity_id)
    require(user, Action.IMPORT)
    if upload is None or not upload.size:
        raise _bad_file(_("The file is empty."))
    if upload.size > MAX_IMPORT_BYTES:
        raise _bad_file(_("The file is larger than %(mb)s MB; split it.")
                        % {"mb": MAX_IMPORT_BYTES // (1024 * 1024)})
    path = _saved(upload)
    result = ImportResult()
    try:
        table = Table(path)
        rows = list(_rows(table, _header(table), result.errors))
    except ImportFileError as exc:
        raise _bad_file(str(exc)) from exc
    finally:
        path.unlink(missing_ok=True)
    result.rows = len(rows) + len({e.row for e in result.errors})
    contacts = _contacts_for(rows)
    known = [Person(contact_id=contacts[r.number], status=r.status, name=r.name, email=r.email,
                    mobile=r.mobile) for r in rows if r.number in contacts]
    outcome = _put(activity, known, MemberSource.IMPORT) if known else {}
    for contact_id in dict.fromkeys(p.contact_id for p in known):
        if outcome[contact_id] == ADDED:
            result.added += 1
        elif outcome[contact_id] == MOVED_UP:
            result.moved_up += 1
        else:
            result.unchanged += 1
    for row in rows:
        if row.number not in contacts:
            record_touchpoint(kind="track", event=IMPORTED_EVENT, email=row.email,
                              mobile=row.mobile, properties={
                                  "activity_code": activity.code, "member_status": row.status,
                                  "name": row.name})
            result.pending += 1
    audit.record(actor=user, obj=activity, action="members imported", reason=upload.name or "",
                 changes={"added": [None, result.added], "moved_up": [None, result.moved_up],
                          "unchanged": [None, result.unchanged],
                          "pending": [None, result.pending],
                          "errors": [None, len({e.row for e in result.errors})]})
    return result


# ---- the public registration page ------------------------------------------------------------

@transaction.atomic
def register(*, code: str, name: str, email: str, mobile: str = "", company: str = "",
             consent: bool) -> Activity:
    """Someone registers on an activity's public page: a form touchpoint carrying the
    activity's code, which makes them a registered member once tracking has processed it
    (linked to the CRM contact with that email or mobile, if there is one)."""
    activity = selectors.open_activity_by_code(code)
    name = (name or "").strip()
    if not name:
        raise CampaignError(Code.INVALID, _("Please give your name."), field="name")
    if len(name) > 200:
        raise CampaignError(Code.INVALID, _("At most %(n)s characters.") % {"n": 200},
                            field="name")
    try:
        email = normalise_email(email)
    except ValueError as exc:
        raise CampaignError(Code.INVALID, str(exc), field="email") from None
    try:
        mobile = normalise_mobile(mobile)
    except ValueError as exc:
        raise CampaignError(Code.INVALID, str(exc), field="mobile") from None
    if not email and not mobile:
        raise CampaignError(Code.INVALID, _("Please give your email or mobile number."),
                            field="email")
    if not consent:
        raise CampaignError(Code.INVALID, _("Please agree to how we use your details."),
                            field="consent")
    record_touchpoint(kind="form", event="registration", email=email, mobile=mobile,
                      properties={"activity_code": activity.code, "form": "registration",
                                  "name": name, "company": (company or "").strip()[:200],
                                  "consent": True})
    return activity
