"""The leads context's API routes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from marketloop.crm import selectors as crm_selectors
from marketloop.crm.api import AccountRef, InputSchema, PersonRef, UnitRef
from marketloop.crm.models import Tier
from marketloop.crm.selectors import InvalidCursor
from marketloop.leads import funnel, selectors, services
from marketloop.leads.errors import LeadError, LeadErrorCode
from marketloop.leads.models import (
    Assignment,
    Channel,
    CustomerNeed,
    LeadKind,
    RejectReason,
    Stage,
    StageChange,
)
from marketloop.org.errors import NotFound

router = Router(tags=["leads"])


# ---- the funnel report (leads.funnel) ------------------------------------------------------


class FunnelParams(Schema):
    period: str = Field(
        funnel.DEFAULT_PRESET,
        description="this_quarter, last_quarter, this_year, last_year, or days "
        "YYYY-MM-DD..YYYY-MM-DD (both included). The cohort: leads whose lead_at falls in it.")
    dimension: Literal["", "tier", "province", "channel", "owner", "owner_unit"] = Field(
        "", description="Group by this (owner: the owning user); empty for the total only")
    tier: Tier | None = None
    province: int | None = Field(None, description="Province unit id")
    channel: Channel | None = Field(None, description="Channel of the first touch")


class StageCounts(Schema):
    lead: int
    mql: int
    sal: int
    sql: int
    won: int
    recycled: int
    rejected: int = Field(..., description="Recycled with a sales rejection reason")
    disqualified: int


class StepFigures(Schema):
    lead_mql: float | None
    mql_sal: float | None
    sal_sql: float | None
    sql_won: float | None
    lead_won: float | None


class FunnelRowOut(Schema):
    value: str = Field(..., description="The group as the drill-down's `value` (an id or a "
                       "code; 'none' for leads without one); empty for the total")
    label: str
    counts: StageCounts = Field(..., description="Leads of the cohort that reached each stage")
    rates: StepFigures = Field(..., description="Share of each step's first stage that "
                               "reached its second (null when none did reach the first)")
    median_days: StepFigures = Field(..., description="Median days between the two stages, "
                                     "over the leads that reached both")


class LeakageOut(Schema):
    reason: str = Field(..., description="A reject reason, or 'none'")
    label: str
    recycled: int
    disqualified: int


class TrendSeries(Schema):
    lead: list[int]
    mql: list[int]
    sal: list[int]
    sql: list[int]
    won: list[int]


class TrendOut(Schema):
    months: list[str] = Field(..., description="YYYY-MM, oldest first")
    series: TrendSeries = Field(..., description="Leads reaching each stage in each month")


class PeriodOut(Schema):
    first: date
    last: date
    label: str
    token: str = Field(..., description="The period as a `period` parameter")


class FunnelOut(Schema):
    period: PeriodOut
    dimension: str
    total: FunnelRowOut
    groups: list[FunnelRowOut]
    leakage: list[LeakageOut]
    trend: TrendOut


def _funnel_row(row: funnel.FunnelRow) -> dict[str, Any]:
    return {"value": row.value, "label": row.label, "counts": row.counts, "rates": row.rates,
            "median_days": row.median_days}


@router.get("/funnel", response=FunnelOut, summary="The funnel: counts, conversion, median "
            "days, leakage and trend of the leads the caller may see", tags=["funnel"])
def get_funnel(request: HttpRequest, params: Query[FunnelParams]) -> Any:
    query = funnel.FunnelQuery.from_params(params.model_dump(exclude_none=True))
    report = funnel.funnel_report(request.auth, query)  # type: ignore[attr-defined]
    period = query.period
    return {
        "period": {"first": period.first, "last": period.last, "label": period.label,
                   "token": period.token},
        "dimension": query.dimension,
        "total": _funnel_row(report.total),
        "groups": [_funnel_row(row) for row in report.groups],
        "leakage": report.leakage,
        "trend": {"months": [m.strftime("%Y-%m") for m in report.trend.months],
                  "series": report.trend.series},
    }


# ---- leads: the lifecycle and the hand-off (leads.services) ---------------------------------

MAX_LIMIT = 200


def _user(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


class ContactRef(Schema):
    id: int
    name: str


class StageChangeOut(Schema):
    from_stage: Stage | Literal[""] = Field(..., description="Empty when the lead was created")
    to_stage: Stage
    at: datetime
    cause: StageChange.Cause
    rule: dict[str, Any] = Field(..., description="A rule's numbers (cause `rule`)")
    by: PersonRef | None
    reason: str


class AssignmentOut(Schema):
    how: Assignment.How
    owner_unit: UnitRef
    owner: PersonRef | None
    at: datetime
    by: PersonRef | None
    detail: dict[str, Any] = Field(..., description="The rule, the candidates and their open "
                                   "loads, or why the lead went to triage")


class LeadOut(Schema):
    id: int
    name: str
    kind: LeadKind
    need: CustomerNeed | Literal[""]
    note: str
    stage: Stage
    channel: Channel = Field(..., description="Channel of the first touch")
    tier: Tier | Literal[""]
    province: UnitRef | None
    account: AccountRef | None
    contact: ContactRef | None
    profile_id: int | None
    owner_unit: UnitRef
    owner: PersonRef | None
    partner: UnitRef | None
    in_triage: bool
    fit: int
    engagement: float
    created_at: datetime
    lead_at: datetime | None
    mql_at: datetime | None
    sal_at: datetime | None
    sql_at: datetime | None
    won_at: datetime | None
    recycled_at: datetime | None
    disqualified_at: datetime | None
    assigned_at: datetime | None
    accept_due_at: datetime | None = Field(
        ..., description="The owner accepts or rejects by then (working hours by tier)")
    reject_reason: RejectReason | Literal[""]
    reject_note: str
    times_recycled: int
    updated_at: datetime


class LeadDetailOut(LeadOut):
    stage_changes: list[StageChangeOut]
    assignments: list[AssignmentOut]

    @staticmethod
    def resolve_stage_changes(obj: Any) -> list[StageChange]:
        return list(selectors.stage_changes(obj))

    @staticmethod
    def resolve_assignments(obj: Any) -> list[Assignment]:
        return list(selectors.assignments(obj))


class LeadPage(Schema):
    items: list[LeadOut]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page.")


class LeadQuery(Schema):
    q: str = Field("", max_length=100, description="Fragment of the person's or company's name")
    stage: Stage | None = None
    awaiting: bool = Field(False, description="Only leads waiting for the caller's acceptance")
    mine: bool = Field(False, description="Only leads the caller owns")
    tier: Tier | None = None
    province: int | None = Field(None, description="Province unit id")
    cursor: str | None = None
    limit: int = Field(selectors.PAGE_SIZE, ge=1, le=MAX_LIMIT)


class RejectIn(InputSchema):
    reason: RejectReason
    note: str = Field("", max_length=2000, description="Required when the reason is `other`")


class QualifyIn(InputSchema):
    reason: str = Field("", max_length=500)


class HandoffIn(InputSchema):
    contact: int = Field(..., description="Contact id: the customer's person with the need")
    need: CustomerNeed
    note: str = Field("", max_length=2000, description="What sales should know; required for "
                      "`other`")


def _lead(request: HttpRequest, id: int) -> Any:
    return selectors.lead_detail(_user(request), id)


@router.get("/leads", response=LeadPage, summary="Leads the caller may see, newest change "
            "first", tags=["leads"])
def list_leads(request: HttpRequest, filters: Query[LeadQuery]) -> Any:
    params = filters.model_dump(exclude_none=True)
    flt = selectors.LeadFilter.from_params({**params, "awaiting": "1" if filters.awaiting else "",
                                            "mine": "1" if filters.mine else ""})
    try:
        page = selectors.lead_page(_user(request), flt, filters.cursor, filters.limit)
    except (InvalidCursor, ValueError, TypeError) as exc:
        message = "This cursor is not valid."
        raise LeadError(LeadErrorCode.INVALID, message, errors={"cursor": [message]}) from exc
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/leads/{id}", response=LeadDetailOut, summary="One lead, with its stage history "
            "and assignments", tags=["leads"])
def get_lead(request: HttpRequest, id: int) -> Any:
    return _lead(request, id)


@router.post("/leads/{id}/accept", response=LeadDetailOut,
             summary="Accept a lead assigned to the caller (it becomes an SAL)", tags=["leads"])
def accept_lead(request: HttpRequest, id: int) -> Any:
    return services.accept(actor=_user(request), lead=_lead(request, id))


@router.post("/leads/{id}/reject", response=LeadOut,
             summary="Send a lead assigned to the caller back to marketing, with a reason",
             tags=["leads"])
def reject_lead(request: HttpRequest, id: int, payload: RejectIn) -> Any:
    # The lead returns to marketing and out of the caller's sight: it is shown this once.
    return services.reject(actor=_user(request), lead=_lead(request, id),
                           reason=payload.reason, note=payload.note)


@router.post("/leads/{id}/qualify", response=LeadDetailOut,
             summary="Qualify a lead by hand (it becomes an MQL and is routed)", tags=["leads"])
def qualify_lead(request: HttpRequest, id: int, payload: QualifyIn) -> Any:
    return services.qualify(actor=_user(request), lead=_lead(request, id),
                            reason=payload.reason)


@router.post("/leads", response={201: LeadDetailOut},
             summary="Hand an existing customer's new need to sales (an MQL, routed at once)",
             tags=["leads"])
def hand_off_need(request: HttpRequest, payload: HandoffIn) -> Any:
    user = _user(request)
    try:
        contact = crm_selectors.contact_detail(user, payload.contact)
    except NotFound as exc:
        message = "No such contact."
        raise LeadError(LeadErrorCode.UNKNOWN_CONTACT, message,
                        errors={"contact": [message]}) from exc
    lead = services.hand_off_need(actor=user, contact=contact, need=payload.need,
                                  note=payload.note)
    return Status(201, lead)

