"""The campaigns API: marketing plans, activities and their budgets (requests, decisions,
spend) as JSON. Members, reports and attribution have routers of their own (member_api,
report_api, attribution/api). An id the caller cannot see answers 404, exactly like one that
does not exist; budget rows are reached through their activity."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import BeforeValidator, ConfigDict

from marketloop.campaigns import budget, selectors, services
from marketloop.campaigns.errors import CampaignError, CampaignErrorCode
from marketloop.campaigns.models import (
    Activity,
    ActivityKind,
    ActivityLevel,
    ActivityStatus,
    BudgetRequest,
    MarketingPlan,
    RequestStatus,
)
from marketloop.crm.selectors import InvalidCursor, decode_cursor
from marketloop.org.models import User

router = Router(tags=["campaigns"])

MAX_LIMIT = 200
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    """Only what the document promises (YYYY-MM-DD), not pydantic's lax timestamps."""
    if isinstance(value, date) or (isinstance(value, str) and ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("Use a date as YYYY-MM-DD.")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Money = Annotated[Decimal, Field(ge=0, lt=Decimal("1e14"), max_digits=16, decimal_places=2)]
Count = Annotated[int, Field(ge=0, le=2_147_483_647)]


class InputSchema(Schema):
    """Request bodies: an unknown field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined, return-value]


def _invalid(field: str, message: str) -> CampaignError:
    return CampaignError(CampaignErrorCode.INVALID, message, field=field)


def _cursor_checked(cursor: str | None) -> None:
    if cursor and decode_cursor(cursor) is None:
        raise _invalid("cursor", _("This cursor is not valid."))


# ---------------------------------------------------------------------------- schemas


class CampaignUnitRef(Schema):
    id: int
    name: str


class CampaignPersonRef(Schema):
    id: int
    name: str

    @staticmethod
    def resolve_name(obj: User) -> str:
        return str(obj)


class PlanRef(Schema):
    id: int
    name: str
    year: int
    quarter: int


class PlanOut(Schema):
    id: int
    name: str
    year: int
    quarter: int
    owner_unit: CampaignUnitRef
    owner: CampaignPersonRef = Field(..., description="The plan's owner: approves its "
                                     "activities' budget requests")
    goal_leads: int
    goal_mqls: int
    goal_pipeline: Decimal
    goal_revenue: Decimal
    budget: Decimal = Field(..., description="CNY")
    approved: Decimal = Field(..., description="Budget approved across the plan's activities")
    spent: Decimal = Field(..., description="Spend recorded across the plan's activities")
    burnt_percent: Decimal | None = Field(..., description="Spent as a percentage of the "
                                          "budget; null without a budget")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_approved(obj: MarketingPlan) -> Decimal:
        return obj.burn.approved  # type: ignore[attr-defined]

    @staticmethod
    def resolve_spent(obj: MarketingPlan) -> Decimal:
        return obj.burn.spent  # type: ignore[attr-defined]

    @staticmethod
    def resolve_burnt_percent(obj: MarketingPlan) -> Decimal | None:
        return obj.burn.burnt_percent  # type: ignore[attr-defined]


class ActivityBurnOut(Schema):
    id: int
    code: str
    name: str
    budget: Decimal = Field(..., description="The budget line")
    approved_budget: Decimal
    spent: Decimal


class PlanDetailOut(PlanOut):
    budget_lines: Decimal = Field(..., description="Σ the activities' budget lines")
    activities: list[ActivityBurnOut] = Field(..., description="The activities the caller "
                                              "may see")

    @staticmethod
    def resolve_activities(obj: MarketingPlan) -> list[Activity]:
        return obj.visible_activities  # type: ignore[attr-defined]


class PlanPage(Schema):
    items: list[PlanOut]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page.")


class PlanQuery(Schema):
    year: int | None = Field(None, ge=2000, le=2100)
    quarter: int | None = Field(None, ge=1, le=4)
    unit: int | None = Field(None, description="Unit id: its plans and those of the units "
                             "under it")
    cursor: str | None = None
    limit: int = Field(selectors.PAGE_SIZE, ge=1, le=MAX_LIMIT)


class PlanIn(InputSchema):
    name: str = Field(..., max_length=200)
    year: int = Field(..., ge=2000, le=2100)
    quarter: int = Field(..., ge=1, le=4)
    owner_unit: int = Field(..., description="Unit id (within the caller's reach)")
    owner: int = Field(..., description="User id: someone in the unit or above it")
    budget: Money = Decimal(0)
    goal_leads: Count = 0
    goal_mqls: Count = 0
    goal_pipeline: Money = Decimal(0)
    goal_revenue: Money = Decimal(0)


class PlanPatch(InputSchema):
    """Only the fields sent are changed."""

    name: str | None = Field(None, max_length=200)
    year: int | None = Field(None, ge=2000, le=2100)
    quarter: int | None = Field(None, ge=1, le=4)
    owner: int | None = Field(None, description="User id")
    budget: Money | None = None
    goal_leads: Count | None = None
    goal_mqls: Count | None = None
    goal_pipeline: Money | None = None
    goal_revenue: Money | None = None
    reason: str = Field("", max_length=500, description="Why, for the audit trail")


class BudgetRequestOut(Schema):
    id: int
    activity_id: int
    amount: Decimal
    reason: str
    status: RequestStatus
    requested_by: CampaignPersonRef | None
    requested_at: datetime
    decided_by: CampaignPersonRef | None
    decided_at: datetime | None
    decision_note: str


class ActivityOut(Schema):
    id: int
    code: str = Field(..., description="Its utm_campaign and activity code")
    name: str
    kind: ActivityKind
    level: ActivityLevel
    status: ActivityStatus
    plan: PlanRef
    owner_unit: CampaignUnitRef
    partner: CampaignUnitRef | None
    owner: CampaignPersonRef | None
    starts_on: date
    ends_on: date
    audience: str
    goal_leads: int
    goal_mqls: int
    goal_pipeline: Decimal
    goal_revenue: Decimal
    budget: Decimal = Field(..., description="The budget line the plan sets aside (CNY)")
    approved_budget: Decimal
    spent: Decimal
    available: Decimal = Field(..., description="Approved and not yet spent")
    created_at: datetime
    updated_at: datetime


class ActivityDetailOut(ActivityOut):
    budget_requests: list[BudgetRequestOut]

    @staticmethod
    def resolve_budget_requests(obj: Activity) -> list[BudgetRequest]:
        return list(selectors.budget_requests(obj))


class ActivityPage(Schema):
    items: list[ActivityOut]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page.")


class ActivityQuery(Schema):
    q: str = Field("", max_length=100, description="Fragment of the name or the code")
    kind: ActivityKind | None = None
    level: ActivityLevel | None = None
    status: ActivityStatus | None = None
    unit: int | None = Field(None, description="Unit id: owned by it or a unit under it")
    plan: int | None = Field(None, description="Plan id")
    period: str | None = Field(None, pattern=r"^\d{4}([qQ][1-4])?$",
                               description="Starting in a year (2026) or a quarter (2026q3)")
    cursor: str | None = None
    limit: int = Field(selectors.PAGE_SIZE, ge=1, le=MAX_LIMIT)


class ActivityIn(InputSchema):
    plan: int = Field(..., description="Plan id")
    name: str = Field(..., max_length=200)
    code: str = Field("", max_length=60, description="Empty: one is made, such as "
                      "2026q3-gd-salon-001")
    kind: ActivityKind
    level: ActivityLevel
    owner_unit: int = Field(..., description="Unit id: the plan's unit or one under it")
    partner: int | None = Field(None, description="Partner unit id")
    owner: int | None = Field(None, description="User id")
    starts_on: IsoDate = Field(..., description="Within the plan's quarter")
    ends_on: IsoDate
    audience: str = Field("", max_length=5000)
    budget: Money = Decimal(0)
    goal_leads: Count = 0
    goal_mqls: Count = 0
    goal_pipeline: Money = Decimal(0)
    goal_revenue: Money = Decimal(0)


class ActivityPatch(InputSchema):
    """Only the fields sent are changed; `partner` and `owner` may be null (none)."""

    name: str | None = Field(None, max_length=200)
    code: str | None = Field(None, max_length=60)
    kind: ActivityKind | None = None
    level: ActivityLevel | None = None
    status: ActivityStatus | None = None
    owner_unit: int | None = None
    partner: int | None = None
    owner: int | None = None
    starts_on: IsoDate | None = None
    ends_on: IsoDate | None = None
    audience: str | None = Field(None, max_length=5000)
    budget: Money | None = None
    goal_leads: Count | None = None
    goal_mqls: Count | None = None
    goal_pipeline: Money | None = None
    goal_revenue: Money | None = None
    reason: str = Field("", max_length=500, description="Why, for the audit trail")


class BudgetRequestIn(InputSchema):
    amount: Decimal = Field(..., gt=0, lt=Decimal("1e14"), max_digits=16, decimal_places=2)
    reason: str = Field(..., max_length=2000)


class DecisionIn(InputSchema):
    approve: bool
    note: str = Field("", max_length=2000)


class AttachmentOut(Schema):
    id: int
    name: str
    size: int
    content_type: str


class SpendOut(Schema):
    id: int
    activity_id: int
    amount: Decimal
    spent_on: date
    description: str
    vendor: str
    recorded_by: CampaignPersonRef | None
    recorded_at: datetime
    attachments: list[AttachmentOut] = Field(..., description="Files are uploaded on the "
                                             "activity's page")

    @staticmethod
    def resolve_attachments(obj: Any) -> list[Any]:
        return list(obj.attachments.all())


class SpendIn(InputSchema):
    amount: Decimal = Field(..., gt=0, lt=Decimal("1e14"), max_digits=16, decimal_places=2)
    spent_on: IsoDate
    description: str = Field(..., max_length=300)
    vendor: str = Field("", max_length=200)


# ---------------------------------------------------------------------------- plans


def _plan(user: User, plan_id: int) -> MarketingPlan:
    """The plan with its burn, its budget lines and the activities the caller may see."""
    burn = selectors.plan_burn(user, plan_id)
    plan = burn.plan
    plan.budget_lines = burn.budget_lines  # type: ignore[attr-defined]
    plan.visible_activities = [activity for activity, _burn in burn.activities]  # type: ignore
    return plan


@router.get("/plans", response=PlanPage, summary="Marketing plans the caller may see, newest "
            "quarter first, each with its budget burn")
def list_plans(request: HttpRequest, filters: Query[PlanQuery]) -> Any:
    _cursor_checked(filters.cursor)
    flt = selectors.PlanFilter(year=filters.year, quarter=filters.quarter, unit=filters.unit)
    try:
        page = selectors.plan_page(_user(request), flt, filters.cursor, filters.limit)
    except InvalidCursor:
        raise _invalid("cursor", _("This cursor is not valid.")) from None
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/plans/{id}", response=PlanDetailOut, summary="One marketing plan, with its budget "
            "burn and its activities")
def get_plan(request: HttpRequest, id: int) -> Any:
    return _plan(_user(request), id)


@router.post("/plans", response={201: PlanDetailOut},
             summary="Create a unit's marketing plan for a quarter")
def create_plan(request: HttpRequest, payload: PlanIn) -> Any:
    user = _user(request)
    data = payload.model_dump()
    plan = services.create_plan(user=user, owner_unit_id=data.pop("owner_unit"),
                                owner_id=data.pop("owner"), **data)
    return Status(201, _plan(user, plan.pk))


@router.patch("/plans/{id}", response=PlanDetailOut, summary="Change a marketing plan")
def update_plan(request: HttpRequest, id: int, payload: PlanPatch) -> Any:
    user = _user(request)
    sent = payload.model_dump(exclude_unset=True)
    reason = sent.pop("reason", "")
    for field, value in sent.items():
        if value is None:
            raise _invalid(field, _("This field cannot be empty."))
    if "owner" in sent:
        sent["owner_id"] = sent.pop("owner")
    services.update_plan(user=user, plan_id=id, reason=reason, **sent)
    return _plan(user, id)


# ---------------------------------------------------------------------------- activities


@router.get("/activities", response=ActivityPage, summary="Activities the caller may see, "
            "latest start first")
def list_activities(request: HttpRequest, filters: Query[ActivityQuery]) -> Any:
    _cursor_checked(filters.cursor)
    params = filters.model_dump(exclude={"cursor", "limit"})
    flt = selectors.ActivityFilter.from_params({k: v for k, v in params.items() if v is not None})
    try:
        page = selectors.activity_page(_user(request), flt, filters.cursor, filters.limit)
    except InvalidCursor:
        raise _invalid("cursor", _("This cursor is not valid.")) from None
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/activities/{id}", response=ActivityDetailOut,
            summary="One activity, with its budget and budget requests")
def get_activity(request: HttpRequest, id: int) -> Any:
    return selectors.activity_detail(_user(request), id)


@router.post("/activities", response={201: ActivityDetailOut},
             summary="Create an activity in a plan (touchpoints with its code are attached)")
def create_activity(request: HttpRequest, payload: ActivityIn) -> Any:
    user = _user(request)
    data = payload.model_dump()
    activity = services.create_activity(
        user=user, plan_id=data.pop("plan"), owner_unit_id=data.pop("owner_unit"),
        partner_id=data.pop("partner"), owner_id=data.pop("owner"), **data)
    return Status(201, selectors.activity_detail(user, activity.pk))


@router.patch("/activities/{id}", response=ActivityDetailOut,
              summary="Change an activity, its code or its status")
def update_activity(request: HttpRequest, id: int, payload: ActivityPatch) -> Any:
    user = _user(request)
    sent = payload.model_dump(exclude_unset=True)
    reason = sent.pop("reason", "")
    status = sent.pop("status", None)
    for field, value in sent.items():
        if value is None and field not in {"partner", "owner"}:
            raise _invalid(field, _("This field cannot be empty."))
    for field in ("owner_unit", "partner", "owner"):
        if field in sent:
            sent[f"{field}_id"] = sent.pop(field)
    with transaction.atomic():
        activity = services.update_activity(user=user, activity_id=id, reason=reason, **sent)
        if status is not None and status != activity.status:
            services.set_status(user=user, activity_id=id, status=status, reason=reason)
    return selectors.activity_detail(user, id)


# ---------------------------------------------------------------------------- budget


@router.post("/activities/{id}/budget-requests", response={201: BudgetRequestOut},
             summary="Ask the plan's owner for budget for an activity")
def request_budget(request: HttpRequest, id: int, payload: BudgetRequestIn) -> Any:
    return Status(201, budget.request_budget(user=_user(request), activity_id=id,
                                             amount=payload.amount, reason=payload.reason))


@router.post("/budget-requests/{id}/decision", response=BudgetRequestOut,
             summary="Approve or reject a budget request (the plan's owner)")
def decide_budget_request(request: HttpRequest, id: int, payload: DecisionIn) -> Any:
    return budget.decide_budget_request(user=_user(request), request_id=id,
                                        approve=payload.approve, note=payload.note)


@router.get("/activities/{id}/spend", response=list[SpendOut],
            summary="An activity's spend records, latest first")
def list_spend(request: HttpRequest, id: int) -> Any:
    return list(selectors.spend_of(selectors.activity_detail(_user(request), id)))


@router.post("/activities/{id}/spend", response={201: SpendOut},
             summary="Record spend for an activity (within its approved budget)")
def record_spend(request: HttpRequest, id: int, payload: SpendIn) -> Any:
    spend = budget.record_spend(user=_user(request), activity_id=id, amount=payload.amount,
                                spent_on=payload.spent_on, description=payload.description,
                                vendor=payload.vendor)
    return Status(201, spend)
