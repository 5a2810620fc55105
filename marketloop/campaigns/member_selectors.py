"""Reads of an activity's tracking links, members and attached touchpoints. They are seen
through their activity: every read starts from the activities the user may see (the
visibility scope first), and a hidden activity is as missing as one that does not exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from marketloop.campaigns.models import (
    Activity,
    ActivityStatus,
    ActivityTouch,
    CampaignMember,
    MemberStatus,
    TrackingLink,
)
from marketloop.crm.models import Contact
from marketloop.crm.selectors import paginate
from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import User
from marketloop.org.scope import visible
from marketloop.tracking.models import Identity, Profile

PAGE_SIZE = 50
TOUCHES_SHOWN = 50
MEMBER_SORT = ("-updated_at", "-id")
OPEN_STATUSES = (ActivityStatus.PLANNED, ActivityStatus.RUNNING)


def activities_visible(user: User) -> QuerySet[Activity]:
    return visible(user, Activity.objects.all())


def activity_of(user: User, activity_id: int) -> Activity:
    """The activity, if the user may see it."""
    activity = activities_visible(user).select_related("plan").filter(pk=activity_id).first()
    if activity is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such activity."))
    return activity


def open_activity_by_code(code: str) -> Activity:
    """The activity a public registration page is for: planned or running only."""
    activity = (Activity.objects.filter(code__iexact=(code or "").strip(),
                                        status__in=OPEN_STATUSES).first()
                if code else None)
    if activity is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such activity is open for registration."))
    return activity


# ---- tracking links ------------------------------------------------------------------------

def links_of(user: User, activity_id: int) -> list[TrackingLink]:
    activity = activity_of(user, activity_id)
    return list(TrackingLink.objects.filter(activity=activity).select_related("activity"))


def link_of(user: User, link_id: int) -> TrackingLink:
    """A link, through the activities the user may see."""
    link = TrackingLink.objects.filter(
        pk=link_id, activity__in=activities_visible(user)).select_related("activity").first()
    if link is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such tracking link."))
    return link


# ---- members -------------------------------------------------------------------------------

def member_counts(user: User, activity_id: int) -> dict[str, int]:
    """Members per status, every status present (in MemberStatus order)."""
    activity = activity_of(user, activity_id)
    counts = dict(CampaignMember.objects.filter(activity=activity).values_list("status")
                  .annotate(n=Count("id")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in MemberStatus.values}


@dataclass
class MemberRow:
    member: CampaignMember
    who: str  # what the viewer may know of the person
    contact_id: int | None  # the contact, when the viewer may see it
    profile_id: int | None  # the profile, when the viewer may see it


@dataclass
class MemberPage:
    rows: list[MemberRow]
    next_cursor: str | None


def member_page(user: User, activity_id: int, *, cursor: str | None = None,
                status: str = "", size: int = PAGE_SIZE) -> MemberPage:
    """A page of an activity's members, most recently changed first. A cursor that does not
    decode raises crm.selectors.InvalidCursor."""
    activity = activity_of(user, activity_id)
    qs = CampaignMember.objects.filter(activity=activity)
    if status in MemberStatus.values:
        qs = qs.filter(status=status)
    items, next_cursor = paginate(qs, MEMBER_SORT, cursor, size)
    return MemberPage(rows=member_rows(user, items), next_cursor=next_cursor)


def member_rows(user: User, members: list[CampaignMember]) -> list[MemberRow]:
    contacts = _visible_contacts(user, {m.contact_id for m in members if m.contact_id})
    profiles = _visible_profiles(user, {m.profile_id for m in members if m.profile_id})
    rows = []
    for member in members:
        contact = contacts.get(member.contact_id) if member.contact_id else None
        profile_id = member.profile_id if member.profile_id in profiles else None
        who = (contact.name if contact else "") or member.name or member.email or member.mobile
        if not who:
            who = (_("Profile %(id)s") % {"id": profile_id} if profile_id
                   else _("Someone outside your scope") if member.contact_id
                   else _("Anonymous visitor"))
        rows.append(MemberRow(member=member, who=who,
                              contact_id=contact.pk if contact else None,
                              profile_id=profile_id))
    return rows


def _visible_contacts(user: User, ids: set[int]) -> dict[int, Contact]:
    if not ids:
        return {}
    return {c.pk: c for c in visible(user, Contact.objects.filter(pk__in=ids))}


def _visible_profiles(user: User, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return set(visible(user, Profile.objects.filter(pk__in=ids)).values_list("pk", flat=True))


# ---- attached touchpoints ------------------------------------------------------------------

@dataclass
class TouchRow:
    touch: ActivityTouch
    who: str
    contact_id: int | None
    profile_id: int | None


def touch_counts(user: User, activity_id: int) -> dict[str, int]:
    """Attached touchpoints per kind, the most frequent first."""
    activity = activity_of(user, activity_id)
    return dict(ActivityTouch.objects.filter(activity=activity).values_list("kind")
                .annotate(n=Count("id")).order_by("-n", "kind").values_list("kind", "n"))


def latest_touches(user: User, activity_id: int, limit: int = TOUCHES_SHOWN) -> list[TouchRow]:
    """The activity's latest attached touchpoints, each with who it was, as far as the viewer
    may know: a contact they can see, else a profile they can see, else nobody in particular."""
    activity = activity_of(user, activity_id)
    touches = list(ActivityTouch.objects.filter(activity=activity)
                   .order_by("-occurred_at", "-id")[:limit])
    identities: dict[int, Any] = dict(Identity.objects.filter(
        pk__in={t.identity_id for t in touches}).values_list("pk", "profile_id"))
    profile_contact = dict(Profile.objects.filter(
        pk__in={p for p in identities.values() if p}).values_list("pk", "contact_id"))
    contacts = _visible_contacts(user, {c for c in profile_contact.values() if c})
    profiles = _visible_profiles(user, set(profile_contact))
    rows = []
    for touch in touches:
        profile_id = identities.get(touch.identity_id)
        contact = contacts.get(profile_contact.get(profile_id) or 0)
        shown_profile = profile_id if profile_id in profiles else None
        who = contact.name if contact else (
            _("Profile %(id)s") % {"id": shown_profile} if shown_profile else "—")
        rows.append(TouchRow(touch=touch, who=who, contact_id=contact.pk if contact else None,
                             profile_id=shown_profile))
    return rows
