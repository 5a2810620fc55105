"""Opportunities as JSON: the caller's deals (their scope, and every deal they are on the team
of), one deal, opening and changing deals, stage moves (won and lost with the reason) and the
deal team. An id the caller cannot see answers 404, exactly like one that does not exist."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import BeforeValidator, ConfigDict

from marketloop.crm.selectors import InvalidCursor, decode_cursor
from marketloop.org.models import User
from marketloop.sales import selectors, services
from marketloop.sales.errors import SalesError, SalesErrorCode
from marketloop.sales.models import (
    Currency,
    DealRole,
    DealTeamMember,
    Opportunity,
    OpportunityStage,
)

router = Router(tags=["opportunities"])

MAX_LIMIT = 200
OpenStage = Literal["qualification", "solution", "bid", "negotiation"]
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    """Only what the document promises (YYYY-MM-DD), not pydantic's lax timestamps."""
    if isinstance(value, date) or (isinstance(value, str) and ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("Use a date as YYYY-MM-DD.")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


class InputSchema(Schema):
    """Request bodies: an unknown field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined, return-value]


# ---------------------------------------------------------------------------- schemas


class Ref(Schema):
    id: int
    name: str


class PersonRef(Schema):
    id: int
    name: str

    @staticmethod
    def resolve_name(obj: User) -> str:
        return str(obj)


class ProductOut(Schema):
    id: int
    code: str
    name: str
    name_en: str


class TeamMemberOut(Schema):
    id: int = Field(..., description="The seat's id (to remove it)")
    user: PersonRef
    role: DealRole


class ChangeOut(Schema):
    from_stage: OpportunityStage | Literal[""]
    to_stage: OpportunityStage
    at: datetime
    by: PersonRef | None
    reason: str


class OpportunityOut(Schema):
    id: int
    name: str
    account: Ref
    lead_id: int | None
    amount: Decimal
    currency: Currency
    amount_cny: Decimal = Field(..., description="The amount in CNY at the rate of the day")
    stage: OpportunityStage
    probability: int = Field(..., description="Percent, from the stage")
    expected_close: date
    big_deal: bool = Field(..., description="amount_cny at or above the big-deal band")
    close_reason: str
    closed_at: datetime | None
    owner_unit: Ref
    partner: Ref | None
    owner: PersonRef | None
    team: list[TeamMemberOut]
    products: list[ProductOut]
    competitors: list[Ref]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_team(obj: Opportunity) -> list[DealTeamMember]:
        return list(obj.team.all())

    @staticmethod
    def resolve_products(obj: Opportunity) -> list[Any]:
        return list(obj.products.all())

    @staticmethod
    def resolve_competitors(obj: Opportunity) -> list[Any]:
        return list(obj.competitors.all())


class OpportunityDetailOut(OpportunityOut):
    changes: list[ChangeOut]

    @staticmethod
    def resolve_changes(obj: Opportunity) -> list[Any]:
        return list(obj.changes.all())


class TotalsOut(Schema):
    count: int
    amount_cny: Decimal
    pipeline_cny: Decimal = Field(..., description="Open deals, each weighted by its stage's "
                                  "probability")


class OpportunityPage(Schema):
    items: list[OpportunityOut]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page.")
    totals: TotalsOut | None = Field(
        None, description="Over every deal the filters match; on the first page only.")


class OpportunityQuery(Schema):
    q: str = Field("", max_length=100, description="Fragment of the deal's or account's name")
    stage: OpportunityStage | None = None
    status: Literal["open", "closed"] | None = None
    big_deal: bool | None = None
    mine: bool = Field(False, description="Owned by the caller or with the caller on its team")
    my_team: bool = Field(False, description="Owned in the caller's unit or the units under it")
    account: int | None = Field(None, description="Account id")
    amount_min: Decimal | None = Field(None, description="Lowest amount in CNY")
    amount_max: Decimal | None = Field(None, description="Highest amount in CNY")
    close_from: IsoDate | None = Field(None, description="Expected close on or after")
    close_to: IsoDate | None = Field(None, description="Expected close on or before")
    cursor: str | None = None
    limit: int = Field(selectors.PAGE_SIZE, ge=1, le=MAX_LIMIT)


class SeatIn(InputSchema):
    user_id: int
    role: DealRole


class OpportunityIn(InputSchema):
    account: int | None = Field(None, description="Account id (from a lead: the lead's)")
    lead: int | None = Field(None, description="An accepted lead (SAL); it becomes an SQL")
    name: str = Field(..., max_length=200)
    amount: Decimal
    currency: Currency = Currency.CNY
    stage: OpenStage = "qualification"
    expected_close: IsoDate
    products: list[int] = Field(default_factory=list, description="Product ids")
    competitors: list[int] = Field(default_factory=list, description="Competitor ids")
    team: list[SeatIn] = Field(default_factory=list, description=(
        "Besides the caller, who joins as account manager unless named here"))


class OpportunityPatch(InputSchema):
    """Only the fields sent are changed."""

    name: str | None = Field(None, max_length=200)
    amount: Decimal | None = None
    currency: Currency | None = None
    expected_close: IsoDate | None = None
    products: list[int] | None = None
    competitors: list[int] | None = None
    reason: str = Field("", max_length=500, description="Why, for the audit trail")


class StageIn(InputSchema):
    stage: OpportunityStage
    reason: str = Field("", max_length=2000, description=(
        "Required for lost, and for moving a won or lost deal again"))


# ---------------------------------------------------------------------------- routes


def _detail(user: User, opportunity_id: int) -> Opportunity:
    return selectors.opportunity_detail(user, opportunity_id)


@router.get("/opportunities", response=OpportunityPage, summary="Opportunities the caller may "
            "see (their scope and the deals they are on the team of)")
def list_opportunities(request: HttpRequest, filters: Query[OpportunityQuery]) -> Any:
    user = _user(request)
    params = filters.model_dump()
    params["status"] = params["status"] or ""
    flt = selectors.OpportunityFilter.from_params(params)
    if filters.cursor and decode_cursor(filters.cursor) is None:
        raise SalesError(SalesErrorCode.INVALID, _("This cursor is not valid."), field="cursor")
    try:
        page = selectors.opportunity_page(user, flt, filters.cursor, filters.limit)
    except InvalidCursor:
        raise SalesError(SalesErrorCode.INVALID, _("This cursor is not valid."),
                         field="cursor") from None
    prefetch_related_objects(page.items, "products", "competitors")
    totals = None if filters.cursor else selectors.opportunity_totals(user, flt)
    return {"items": page.items, "next_cursor": page.next_cursor, "totals": totals}


@router.get("/opportunities/{id}", response=OpportunityDetailOut, summary="One opportunity, "
            "with its team, products, competitors and stage changes")
def get_opportunity(request: HttpRequest, id: int) -> Any:
    return _detail(_user(request), id)


@router.post("/opportunities", response={201: OpportunityDetailOut},
             summary="Open an opportunity, at an account or from an accepted lead")
def create_opportunity(request: HttpRequest, payload: OpportunityIn) -> Any:
    user = _user(request)
    opportunity = services.create_opportunity(
        user=user, account_id=payload.account, lead_id=payload.lead, name=payload.name,
        amount=payload.amount, currency=payload.currency, stage=payload.stage,
        expected_close=payload.expected_close, products=payload.products,
        competitors=payload.competitors,
        team=[services.Seat(seat.user_id, seat.role) for seat in payload.team])
    return Status(201, _detail(user, opportunity.pk))


@router.patch("/opportunities/{id}", response=OpportunityDetailOut,
              summary="Change an opportunity (deal team, owner and managers above)")
def update_opportunity(request: HttpRequest, id: int, payload: OpportunityPatch) -> Any:
    user = _user(request)
    sent = payload.model_dump(exclude_unset=True)
    reason = sent.pop("reason", "")
    for field in ("name", "amount", "currency", "expected_close"):
        if field in sent and sent[field] is None:
            raise SalesError(SalesErrorCode.INVALID, _("This field cannot be empty."),
                             field=field)
    for field in ("products", "competitors"):
        if field in sent and sent[field] is None:
            sent[field] = []
    services.update_opportunity(user=user, opportunity_id=id, reason=reason, **sent)
    return _detail(user, id)


@router.post("/opportunities/{id}/stage", response=OpportunityDetailOut,
             summary="Move an opportunity to a stage; won and lost close it (lost with a reason)")
def move_stage(request: HttpRequest, id: int, payload: StageIn) -> Any:
    user = _user(request)
    services.move_stage(user=user, opportunity_id=id, stage=payload.stage,
                        reason=payload.reason)
    return _detail(user, id)


@router.post("/opportunities/{id}/team", response={201: TeamMemberOut},
             summary="Put a user on the deal team in a role")
def add_team_member(request: HttpRequest, id: int, payload: SeatIn) -> Any:
    member = services.add_team_member(user=_user(request), opportunity_id=id,
                                      member_id=payload.user_id, role=payload.role)
    return Status(201, member)


@router.delete("/opportunities/{id}/team/{member_id}", response={204: None},
               summary="Take a seat off the deal team (it keeps an account manager)")
def remove_team_member(request: HttpRequest, id: int, member_id: int) -> Any:
    services.remove_team_member(user=_user(request), opportunity_id=id, member_id=member_id)
    return HttpResponse(status=204)
