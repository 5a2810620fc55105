"""An activity's members and tracking links as JSON. Both are seen through the activity: an
activity the caller cannot see answers 404, exactly like one that does not exist."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from marketloop.campaigns import links, members
from marketloop.campaigns import member_selectors as selectors
from marketloop.campaigns.errors import CampaignError, CampaignErrorCode
from marketloop.campaigns.models import MemberSource, MemberStatus, TrackingLink
from marketloop.crm.selectors import InvalidCursor, decode_cursor
from marketloop.org.models import User

router = Router(tags=["campaigns"])

MAX_LIMIT = 200


class InputSchema(Schema):
    """Request bodies: an unknown field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined, return-value]


# ---------------------------------------------------------------------------- members


class MemberOut(Schema):
    id: int
    name: str = Field(..., description="The contact's name where the caller may see the "
                      "contact, else the name, email or mobile the member came with")
    contact_id: int | None = Field(..., description="The CRM contact, if the caller may see it")
    profile_id: int | None = Field(..., description="The tracking profile, if the caller may "
                                   "see it")
    email: str
    mobile: str
    status: MemberStatus
    source: MemberSource
    invited_at: datetime | None
    registered_at: datetime | None
    attended_at: datetime | None
    responded_at: datetime | None
    created_at: datetime
    updated_at: datetime


def _member_out(row: selectors.MemberRow) -> dict[str, Any]:
    m = row.member
    return {"id": m.pk, "name": row.who, "contact_id": row.contact_id,
            "profile_id": row.profile_id, "email": m.email, "mobile": m.mobile,
            "status": m.status, "source": m.source, "invited_at": m.invited_at,
            "registered_at": m.registered_at, "attended_at": m.attended_at,
            "responded_at": m.responded_at, "created_at": m.created_at,
            "updated_at": m.updated_at}


class MemberPage(Schema):
    items: list[MemberOut]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page.")
    counts: dict[str, int] | None = Field(
        None, description="Members per status (all of the activity's); on the first page only.")


class MemberQuery(Schema):
    status: MemberStatus | None = None
    cursor: str | None = None
    limit: int = Field(selectors.PAGE_SIZE, ge=1, le=MAX_LIMIT)


class MemberIn(InputSchema):
    contact_id: int = Field(..., description="A contact the caller may see")
    status: MemberStatus = MemberStatus.INVITED


class MemberAdded(MemberOut):
    outcome: str = Field(..., description="added, moved_up (a later status than before) or "
                         "unchanged (an earlier or equal one: statuses only move forward)")


def _bad_cursor() -> CampaignError:
    return CampaignError(CampaignErrorCode.INVALID, _("This cursor is not valid."),
                         field="cursor")


@router.get("/activities/{id}/members", response=MemberPage,
            summary="Members of an activity, most recently changed first")
def list_members(request: HttpRequest, id: int, filters: Query[MemberQuery]) -> Any:
    user = _user(request)
    if filters.cursor and decode_cursor(filters.cursor) is None:
        raise _bad_cursor()
    try:
        page = selectors.member_page(user, id, cursor=filters.cursor,
                                     status=filters.status or "", size=filters.limit)
    except (InvalidCursor, ValueError, TypeError):
        raise _bad_cursor() from None
    counts = None if filters.cursor else selectors.member_counts(user, id)
    return {"items": [_member_out(row) for row in page.rows], "next_cursor": page.next_cursor,
            "counts": counts}


@router.post("/activities/{id}/members", response={200: MemberAdded, 201: MemberAdded},
             summary="Put a contact on an activity's list with a status (201 when new)")
def add_member(request: HttpRequest, id: int, payload: MemberIn) -> Any:
    user = _user(request)
    added = members.add_member(user=user, activity_id=id, contact_id=payload.contact_id,
                               status=payload.status)
    (row,) = selectors.member_rows(user, [added.member])
    body = {**_member_out(row), "outcome": added.outcome}
    return Status(201 if added.outcome == members.ADDED else 200, body)


# ---------------------------------------------------------------------------- tracking links


class LinkOut(Schema):
    id: int
    url: str = Field(..., description="The landing page with the UTM parameters; "
                     "utm_campaign is the activity's code")
    destination: str
    utm_source: str
    utm_medium: str
    utm_content: str
    created_at: datetime

    @staticmethod
    def resolve_url(obj: TrackingLink) -> str:
        return links.link_url(obj)


class LinkIn(InputSchema):
    destination: str = Field(..., description="An http(s) address; its own query and fragment "
                             "are kept")
    utm_source: str
    utm_medium: str
    utm_content: str = ""


@router.get("/activities/{id}/links", response=list[LinkOut],
            summary="Tracking links of an activity")
def list_links(request: HttpRequest, id: int) -> Any:
    return selectors.links_of(_user(request), id)


@router.post("/activities/{id}/links", response={201: LinkOut},
             summary="Create a tracking link for an activity")
def create_link(request: HttpRequest, id: int, payload: LinkIn) -> Any:
    link = links.create_link(user=_user(request), activity_id=id, **payload.model_dump())
    return Status(201, link)


@router.delete("/links/{id}", response={204: None}, summary="Delete a tracking link")
def delete_link(request: HttpRequest, id: int) -> Any:
    links.delete_link(user=_user(request), link_id=id)
    return HttpResponse(status=204)
