"""The campaign report and an activity's results, as JSON (campaigns.reports: every read
through the visibility scope; an activity the caller cannot see answers 404 like a missing
one). Counts are attributed conversions (fractions are normal); money is CNY."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from marketloop.campaigns import reports
from marketloop.campaigns.models import (
    ActivityKind,
    ActivityLevel,
    AttributionModel,
    ConversionStage,
)
from marketloop.leads.models import Stage
from marketloop.org.models import User
from marketloop.sales.models import OpportunityStage

router = Router(tags=["campaigns"])


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined, return-value]


class Ref(Schema):
    id: int
    name: str


class FiguresOut(Schema):
    leads: float = Field(..., description="Attributed leads (Σ credit; fractions are normal)")
    mqls: float
    sals: float
    opportunities: float = Field(..., description="Attributed opportunities (pipeline stage)")
    won_deals: float
    pipeline: Decimal = Field(..., description="Attributed pipeline amount (CNY)")
    won_revenue: Decimal = Field(..., description="Attributed won revenue (CNY)")
    spend: Decimal = Field(..., description="Spend dated in the period (CNY)")
    roi: float | None = Field(..., description="Won revenue ÷ spend; null without spend")
    cost_per_lead: Decimal | None = Field(..., description="Spend ÷ attributed leads; null "
                                          "when none")
    cost_per_mql: Decimal | None
    cost_per_sal: Decimal | None
    cost_per_won: Decimal | None


def _figures(figures: reports.Figures) -> dict[str, Any]:
    values = figures.as_dict()
    for key in ("leads", "mqls", "sals", "opportunities", "won_deals", "roi"):
        values[key] = None if values[key] is None else float(values[key])
    return values


class ReportParams(Schema):
    model: AttributionModel = Field(AttributionModel(reports.DEFAULT_MODEL),
                                    description="The attribution model whose credit counts")
    from_: str | None = Field(None, alias="from", description="First month, YYYY-MM "
                              "(default: the last four quarters)")
    to: str | None = Field(None, description="Last month, YYYY-MM (included)")
    group: Literal["kind", "level", "region", "unit"] = Field(
        reports.DEFAULT_GROUPING, description="Group the activities by kind, level, region "
        "(of the owner unit; HQ-owned activities form the group 'hq') or owner unit")
    sort: Literal["revenue", "roi", "spend"] = Field(
        reports.DEFAULT_SORT, description="Order of the activities, largest first")


class PeriodOut(Schema):
    first: date = Field(..., description="First day of the first month")
    last: date = Field(..., description="Last day of the last month")
    label: str


class GroupOut(Schema):
    key: str = Field(..., description="A kind or level code, a region's or unit's id, or 'hq'")
    label: str
    activities: int
    figures: FiguresOut


class ActivityFiguresOut(Schema):
    id: int
    code: str
    name: str
    kind: ActivityKind
    level: ActivityLevel
    owner_unit: Ref
    region: str = Field(..., description="The owner unit's region id, or 'hq'")
    figures: FiguresOut


class ReportOut(Schema):
    model: AttributionModel
    period: PeriodOut
    group: str
    totals: FiguresOut = Field(..., description="Σ over the activities listed")
    unattributed: FiguresOut | None = Field(
        ..., description="Conversions with no activity in their journey; only for callers who "
        "see every activity (null otherwise)")
    groups: list[GroupOut]
    activities: list[ActivityFiguresOut] = Field(
        ..., description="The caller's activities that ran in the period, or got credit or "
        "spend in it")


@router.get("/campaigns/report", response=ReportOut, summary="Attributed leads, pipeline and "
            "revenue, spend, ROI and cost per stage of the caller's activities, grouped")
def get_report(request: HttpRequest, params: Query[ReportParams]) -> Any:
    values = params.model_dump(by_alias=True, exclude_none=True)
    query = reports.ReportQuery.from_params({**values, "model": str(params.model)})
    report = reports.dashboard(_user(request), query)
    period = query.period
    return {
        "model": query.model,
        "period": {"first": period.first, "last": period.last_day, "label": period.label},
        "group": query.group,
        "totals": _figures(report.totals),
        "unattributed": None if report.unattributed is None else _figures(report.unattributed),
        "groups": [{"key": g.key, "label": g.label, "activities": g.activities,
                    "figures": _figures(g.figures)} for g in report.groups],
        "activities": [{"id": row.activity.pk, "code": row.activity.code,
                        "name": row.activity.name, "kind": row.activity.kind,
                        "level": row.activity.level,
                        "owner_unit": {"id": row.activity.owner_unit_id,
                                       "name": row.activity.owner_unit.display_name},
                        "region": row.region, "figures": _figures(row.figures)}
                       for row in report.activities],
    }


class ResultsParams(Schema):
    model: AttributionModel = Field(AttributionModel(reports.DEFAULT_MODEL),
                                    description="The attribution model whose credit counts")


class StageResultOut(Schema):
    stage: ConversionStage
    sourced: float = Field(..., description="First-touch credit")
    influenced: int = Field(..., description="Conversions with the activity anywhere in their "
                            "journey")
    credited: float = Field(..., description="The chosen model's credit")
    sourced_amount: Decimal
    influenced_amount: Decimal
    credited_amount: Decimal
    cost_per: Decimal | None = Field(..., description="Spend ÷ credited conversions (null for "
                                     "pipeline, or when none)")


class MonthOut(Schema):
    month: str = Field(..., description="YYYY-MM")
    leads: float
    mqls: float
    sals: float
    opportunities: float
    won_deals: float
    pipeline: Decimal
    won_revenue: Decimal


class LeadRef(Schema):
    id: int
    name: str
    stage: Stage
    lead_at: datetime
    sourced: bool = Field(..., description="The activity's touch was the first activity touch "
                          "in the look-back window")


class OpportunityRef(Schema):
    id: int
    name: str
    account: Ref
    stage: OpportunityStage
    amount_cny: Decimal
    created_at: datetime


class ActivityRef(Schema):
    id: int
    code: str
    name: str


class ResultsOut(Schema):
    activity: ActivityRef
    model: AttributionModel
    lookback_days: int
    spend: Decimal = Field(..., description="All the activity's spend (CNY)")
    roi: float | None = Field(..., description="Credited won revenue ÷ spend")
    stages: list[StageResultOut]
    months: list[MonthOut] = Field(..., description="The chosen model's credit per month")
    leads: list[LeadRef] = Field(..., description="The latest 50 leads it influenced")
    leads_influenced: int
    leads_sourced: int
    opportunities: list[OpportunityRef] = Field(..., description="The latest 50 opportunities "
                                                "it influenced")
    opportunities_influenced: int


@router.get("/activities/{id}/results", response=ResultsOut, summary="What an activity "
            "sourced, influenced and was credited with under a model; ROI; leads and deals")
def get_activity_results(request: HttpRequest, id: int,
                         params: Query[ResultsParams]) -> Any:
    results = reports.activity_results(_user(request), id, str(params.model))
    credited = results.credited
    activity = results.activity
    return {
        "activity": {"id": activity.pk, "code": activity.code, "name": activity.name},
        "model": results.model,
        "lookback_days": results.lookback_days,
        "spend": credited.spend,
        "roi": None if credited.roi is None else float(credited.roi),
        "stages": [{"stage": stage, "sourced": float(results.sourced.count(stage)),
                    "influenced": results.influenced[stage][0],
                    "credited": float(credited.count(stage)),
                    "sourced_amount": results.sourced.amount[stage],
                    "influenced_amount": results.influenced[stage][1],
                    "credited_amount": credited.amount[stage],
                    "cost_per": credited.cost_per(stage) if stage in reports.COUNTED else None}
                   for stage in reports.STAGES],
        "months": [{"month": m.month.strftime("%Y-%m"),
                    **{key: float(m.figures.count(stage)) for key, stage in (
                        ("leads", "lead"), ("mqls", "mql"), ("sals", "sal"),
                        ("opportunities", "pipeline"), ("won_deals", "won"))},
                    "pipeline": m.figures.pipeline, "won_revenue": m.figures.revenue}
                   for m in results.months],
        "leads": [{"id": lead.pk, "name": lead.name, "stage": lead.stage,
                   "lead_at": lead.lead_at, "sourced": lead.first_activity == activity.pk}
                  for lead in results.leads],
        "leads_influenced": results.leads_influenced,
        "leads_sourced": results.leads_sourced,
        "opportunities": [{"id": o.pk, "name": o.name,
                           "account": {"id": o.account_id, "name": o.account.name},
                           "stage": o.stage, "amount_cny": o.amount_cny,
                           "created_at": o.created_at} for o in results.opportunities],
        "opportunities_influenced": results.opportunities_influenced,
    }
