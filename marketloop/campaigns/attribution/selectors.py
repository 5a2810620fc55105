"""Reads of attribution: the settings and runs, and one conversion's journey with the credit
each activity gets under every model (computed on the spot by the engine the runs use, with
the removal effects of the last run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db import connection
from django.utils.translation import gettext as _

from marketloop.campaigns.attribution import credit
from marketloop.campaigns.models import (
    SHARE_UNIT,
    Activity,
    AttributionModel,
    AttributionRun,
    AttributionSettings,
    ConversionStage,
    RemovalEffect,
)
from marketloop.leads.models import Lead
from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import User
from marketloop.org.scope import visible
from marketloop.sales.models import Opportunity, OpportunityStage

MODELS = list(AttributionModel.values)
SHOWN_TOUCHES = 300


@dataclass(frozen=True)
class JourneyTouch:
    at: datetime
    activity_id: int | None  # None: an activity the viewer cannot see
    activity: str  # its name, or a neutral label
    kind: str
    how: str
    person: str


@dataclass
class ActivityCreditRow:
    activity_id: int | None
    name: str
    kind: str
    level: str
    visible: bool
    touches: int = 0
    shares: dict[str, int] = field(default_factory=dict)  # model -> millionths
    amounts: dict[str, Decimal] = field(default_factory=dict)  # model -> CNY

    def percent(self, model: str) -> float:
        return self.shares.get(model, 0) * 100 / SHARE_UNIT

    @property
    def cells(self) -> list[tuple[str, int, float, Decimal]]:
        """(model, millionths, percent, amount) in the models' order."""
        return [(model, self.shares.get(model, 0), self.percent(model),
                 self.amounts.get(model, Decimal(0))) for model in MODELS]


@dataclass
class ConversionJourney:
    stage: str
    at: datetime
    value: Decimal  # CNY for pipeline and won; 0 for counted stages
    window_start: datetime
    touches: list[JourneyTouch]
    touch_count: int
    rows: list[ActivityCreditRow]
    totals: dict[str, int]  # model -> Σ millionths (SHARE_UNIT when anything was touched)
    amount_totals: dict[str, Decimal]
    models: list[str] = field(default_factory=lambda: list(MODELS))
    subject: str = ""  # the deal's or the lead's name

    @property
    def empty(self) -> bool:
        return self.touch_count == 0

    @property
    def total_cells(self) -> list[tuple[str, int, Decimal]]:
        return [(model, self.totals.get(model, 0), self.amount_totals.get(model, Decimal(0)))
                for model in self.models]

    @property
    def model_labels(self) -> list[tuple[str, str]]:
        labels = dict(AttributionModel.choices)
        return [(model, str(labels[model])) for model in self.models]

    @property
    def stage_label(self) -> str:
        return str(dict(ConversionStage.choices)[self.stage])

    def chart(self) -> dict:
        """Grouped bars: the top activities' share (%) under every model."""
        top = self.rows[:10]
        labels = dict(AttributionModel.choices)
        return {"activities": [row.name for row in top],
                "series": [{"name": str(labels[model]),
                            "data": [round(row.percent(model), 1) for row in top]}
                           for model in self.models]}


def current_settings() -> AttributionSettings:
    """The settings in force (the defaults until an administrator saves some)."""
    return AttributionSettings.objects.order_by("pk").first() or AttributionSettings()


def latest_runs(limit: int = 10) -> list[AttributionRun]:
    return list(AttributionRun.objects.select_related("requested_by")[:limit])


def last_finished_run() -> AttributionRun | None:
    return AttributionRun.objects.filter(status=AttributionRun.Status.DONE).order_by(
        "-finished_at").first()


def get_run(run_id: int) -> AttributionRun:
    run = AttributionRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such attribution run."))
    return run


def opportunity_journey(user: User, opportunity_id: int) -> ConversionJourney:
    """A won deal's journey to its win; an open or lost deal's journey to its creation."""
    opportunity = visible(user, Opportunity.objects.select_related("lead")).filter(
        pk=opportunity_id).first()
    if opportunity is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such opportunity."))
    won = opportunity.stage == OpportunityStage.WON and opportunity.closed_at is not None
    stage = ConversionStage.WON if won else ConversionStage.PIPELINE
    at = opportunity.closed_at if won else opportunity.created_at
    lead_at = opportunity.lead.lead_at if opportunity.lead_id and opportunity.lead else None
    journey = _journey(user, stage=stage, at=at, value=opportunity.amount_cny,
                       where="p.account_id = %s", subject=opportunity.account_id,
                       lead_at=lead_at, opportunity_at=opportunity.created_at)
    journey.subject = opportunity.name
    return journey


LEAD_STAGES = {ConversionStage.LEAD: "lead_at", ConversionStage.MQL: "mql_at",
               ConversionStage.SAL: "sal_at"}


def lead_journey(user: User, lead_id: int, stage: str | None = None) -> ConversionJourney:
    """A lead's journey to the stage asked for (default: the furthest it reached)."""
    lead = visible(user, Lead.objects.all()).filter(pk=lead_id).first()
    if lead is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such lead."))
    reached = [s for s, column in LEAD_STAGES.items() if getattr(lead, column)]
    if stage not in reached:
        stage = reached[-1] if reached else None
    if stage is None or lead.profile_id is None:
        at = getattr(lead, LEAD_STAGES[stage]) if stage else lead.created_at
        journey = _empty(stage or ConversionStage.LEAD, at)
    else:
        journey = _journey(user, stage=stage, at=getattr(lead, LEAD_STAGES[stage]),
                           value=Decimal(0), where="i.profile_id = %s", subject=lead.profile_id,
                           lead_at=lead.lead_at, opportunity_at=None)
    journey.subject = lead.name
    return journey


def lead_stages_of(user: User, lead_id: int) -> list[tuple[str, str]]:
    """The stages (value, label) a visible lead has reached, for choosing a journey."""
    lead = visible(user, Lead.objects.all()).filter(pk=lead_id).first()
    if lead is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such lead."))
    labels = {ConversionStage.LEAD: _("To lead"), ConversionStage.MQL: _("To MQL"),
              ConversionStage.SAL: _("To SAL (accepted by sales)")}
    return [(s, labels[s]) for s, column in LEAD_STAGES.items() if getattr(lead, column)]


def _empty(stage: str, at: datetime) -> ConversionJourney:
    window = timedelta(days=current_settings().lookback_days)
    return ConversionJourney(stage=stage, at=at, value=Decimal(0), window_start=at - window,
                             touches=[], touch_count=0, rows=[], totals={}, amount_totals={})


def _journey(user: User, *, stage: str, at: datetime, value: Decimal, where: str,
             subject: int, lead_at: datetime | None,
             opportunity_at: datetime | None) -> ConversionJourney:
    settings = current_settings()
    window_start = at - timedelta(days=settings.lookback_days)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.occurred_at, t.activity_id, t.kind, t.how, "
            "coalesce(nullif(c.name, ''), nullif(i.value, ''), '') "
            "FROM campaigns_activitytouch t "
            "JOIN tracking_identity i ON i.id = t.identity_id "
            "JOIN tracking_profile p ON p.id = i.profile_id "
            "LEFT JOIN crm_contact c ON c.id = p.contact_id "
            f"WHERE {where} AND t.occurred_at >= %s AND t.occurred_at <= %s "
            "ORDER BY t.occurred_at, t.id", [subject, window_start, at])
        found = cursor.fetchall()
    if not found:
        return _empty(stage, at)
    activity_ids = sorted({row[1] for row in found})
    activities = Activity.objects.in_bulk(activity_ids)
    seen = set(visible(user, Activity.objects.filter(pk__in=activity_ids))
               .values_list("pk", flat=True))
    dense = {pk: index for index, pk in enumerate(activity_ids)}
    effects = np.zeros(len(activity_ids), dtype=np.float64)
    for activity_id, effect in RemovalEffect.objects.filter(
            stage=stage, activity_id__in=activity_ids).values_list("activity_id", "effect"):
        effects[dense[activity_id]] = effect
    fen = int((value * 100).to_integral_value())
    journey = credit.single(
        [dense[row[1]] for row in found], [int(row[0].timestamp()) for row in found],
        anchor=int(at.timestamp()), value=fen,
        lead_at=int(lead_at.timestamp()) if lead_at else None,
        opportunity_at=int(opportunity_at.timestamp()) if opportunity_at else None)

    rows: dict[int, ActivityCreditRow] = {}
    for pk in activity_ids:
        activity = activities.get(pk)
        shown = activity is not None and pk in seen
        rows[pk] = ActivityCreditRow(
            activity_id=pk if shown else None,
            name=activity.name if shown else _("An activity of another unit"),
            kind=activity.get_kind_display() if activity else "",
            level=activity.get_level_display() if activity else "", visible=shown)
    for row in found:
        rows[row[1]].touches += 1
    totals: dict[str, int] = {}
    amount_totals: dict[str, Decimal] = {}
    for model in MODELS:
        share, amount = credit.credit(journey, model,
                                      half_life_seconds=settings.half_life_days * 86400,
                                      removal_effects=effects)
        per_activity = np.bincount(journey.activity, weights=share, minlength=len(activity_ids))
        per_amount = credit.exact_sums(journey.activity, amount, len(activity_ids))
        for pk, index in dense.items():
            rows[pk].shares[model] = int(round(per_activity[index]))
            rows[pk].amounts[model] = Decimal(int(per_amount[index])).scaleb(-2)
        totals[model] = int(share.sum())
        amount_totals[model] = Decimal(int(amount.sum())).scaleb(-2)
    touches = [JourneyTouch(at=row[0], activity_id=rows[row[1]].activity_id,
                            activity=rows[row[1]].name,
                            kind=row[2], how=row[3], person=row[4])
               for row in found[-SHOWN_TOUCHES:]]
    ordered = sorted(rows.values(), key=lambda r: (-r.shares[AttributionModel.LINEAR], r.name))
    return ConversionJourney(stage=stage, at=at, value=value, window_start=window_start,
                             touches=touches, touch_count=len(found), rows=ordered,
                             totals=totals, amount_totals=amount_totals)
