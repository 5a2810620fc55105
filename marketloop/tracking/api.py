"""Touchpoint timelines and profiles, as JSON.

Each route calls one selector (through the visibility scope) and returns a schema. A contact,
account or profile the caller cannot see answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from marketloop.crm.selectors import InvalidCursor
from marketloop.org.errors import DomainError
from marketloop.org.models import User
from marketloop.tracking import selectors
from marketloop.tracking.errors import TrackingErrorCode
from marketloop.tracking.models import IdentityKind, ProfileChange, TouchpointKind

router = Router(tags=["tracking"])


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined, return-value]


# ---------------------------------------------------------------------------- timelines


class SourceRef(Schema):
    id: int
    name: str


class TouchpointOut(Schema):
    id: int
    occurred_at: datetime
    kind: TouchpointKind
    event: str
    title: str
    url: str
    referrer: str
    keyword: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    source: SourceRef
    identity_id: int
    profile_id: int | None = Field(None, description="The profile the touchpoint belongs to now")
    properties: dict[str, Any]

    @staticmethod
    def resolve_profile_id(obj: Any) -> int | None:
        return obj.identity.profile_id


class TouchpointPage(Schema):
    items: list[TouchpointOut]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next (older) page; null on the last page.")


class TimelineQuery(Schema):
    kind: list[TouchpointKind] = Field(
        default_factory=list, description="Only these kinds (repeat the parameter for more)")
    cursor: str | None = None
    limit: int = Field(selectors.TIMELINE_LIMIT, ge=1, le=selectors.MAX_LIMIT)


def _page(params: TimelineQuery, read: Callable[..., selectors.Timeline]) -> dict[str, Any]:
    """A page, newest first. A cursor that is not one of this list's is the client's error
    (422), never a silent restart from the newest."""
    try:
        timeline = read(kinds=[str(kind) for kind in params.kind], before=params.cursor,
                        limit=params.limit)
    except InvalidCursor as exc:
        message = _("This cursor is not valid for this list.")
        raise DomainError(TrackingErrorCode.INVALID, message, errors={"cursor": [message]},
                          status=422) from exc
    return {"items": timeline.items, "next_cursor": timeline.next_cursor}


@router.get("/contacts/{id}/touchpoints", response=TouchpointPage,
            summary="Touchpoints of a contact, newest first", tags=["contacts"])
def contact_touchpoints(request: HttpRequest, id: int, params: Query[TimelineQuery]) -> Any:
    user = _user(request)
    return _page(params, lambda **kw: selectors.contact_timeline(user, id, **kw))


@router.get("/accounts/{id}/touchpoints", response=TouchpointPage,
            summary="Touchpoints of an account's contacts, newest first", tags=["accounts"])
def account_touchpoints(request: HttpRequest, id: int, params: Query[TimelineQuery]) -> Any:
    user = _user(request)
    return _page(params, lambda **kw: selectors.account_timeline(user, id, **kw))


# ---------------------------------------------------------------------------- profiles


class Ref(Schema):
    id: int
    name: str


class IdentityOut(Schema):
    id: int
    kind: IdentityKind
    value: str
    shared: bool = Field(..., description="A shared identifier (an office phone, a test "
                                          "address) links nothing")
    shared_reason: str
    first_seen: datetime
    last_seen: datetime


class ProfileChangeOut(Schema):
    id: int
    kind: ProfileChange.Kind
    survivor_id: int
    other_id: int
    evidence: dict[str, Any] = Field(..., description="The identifiers and the message that "
                                                      "proved a merge, or why a split happened")
    at: datetime


class ProfileOut(Schema):
    id: int
    contact: Ref | None
    account: Ref | None
    traits: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    merged_from: list[int] = Field(..., description="Profiles merged into this one")
    identities: list[IdentityOut]
    changes: list[ProfileChangeOut] = Field(..., description="Merges and splits, newest first")


@router.get("/profiles/{id}", response=ProfileOut,
            summary="A profile: identifiers, merges and splits (an absorbed profile's id "
                    "answers with the profile it was merged into)", tags=["profiles"])
def get_profile(request: HttpRequest, id: int) -> Any:
    detail = selectors.profile_detail(_user(request), id)
    profile = detail.profile
    return {
        "id": profile.pk, "contact": detail.contact, "account": detail.account,
        "traits": profile.traits or {}, "first_seen": profile.first_seen,
        "last_seen": profile.last_seen, "merged_from": detail.absorbed_ids,
        "identities": detail.identities, "changes": detail.changes,
    }
