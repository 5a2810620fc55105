"""What the campaigns brought: attributed leads, MQLs, SALs, pipeline and won revenue against
spend, per activity and grouped by kind, level, region and owner unit; budget burn; the flow
from channel to won (sankey); the seven models side by side; and one activity's results with
the leads and deals it sourced and influenced. Reads only.

Every selector starts from the activities the user may see (`visible`): credits, influence and
spend are read through their activity, never on their own. The credit of conversions with no
activity in their journey (the "no activity" bucket) belongs to no one's activity, so only
users who see everything see it.

Counts are attributed conversions: Σ credit / SHARE_UNIT, so fractions of a lead are normal.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from marketloop.campaigns.attribution.selectors import current_settings
from marketloop.campaigns.errors import CampaignError, CampaignErrorCode
from marketloop.campaigns.models import (
    SHARE_UNIT,
    Activity,
    ActivityCredit,
    ActivityInfluence,
    ActivityKind,
    ActivityLevel,
    ActivityTouch,
    AttributionModel,
    AttributionRun,
    ConversionStage,
    MarketingPlan,
    Spend,
)
from marketloop.leads.models import Lead
from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import OrgUnit, UnitKind, User
from marketloop.org.scope import visible, visible_parts
from marketloop.sales.models import Opportunity
from marketloop.tracking.models import Identity, Profile

ZERO = Decimal("0")
CENT = Decimal("0.01")
RATIO = Decimal("0.0001")

STAGES: tuple[str, ...] = tuple(ConversionStage.values)  # lead, mql, sal, pipeline, won
COUNTED = ("lead", "mql", "sal", "won")  # the stages with a cost per conversion
MODELS: tuple[str, ...] = tuple(AttributionModel.values)
DEFAULT_MODEL = AttributionModel.LINEAR.value

GROUPINGS = {"kind": gettext_lazy("Kind"), "level": gettext_lazy("Level"),
             "region": gettext_lazy("Region"), "unit": gettext_lazy("Owner unit")}
DEFAULT_GROUPING = "kind"
HQ_GROUP = "hq"

SORTS = {"revenue": gettext_lazy("Won revenue"), "roi": gettext_lazy("ROI"),
         "spend": gettext_lazy("Spend")}
DEFAULT_SORT = "revenue"

COMPARISON_SIZE = 20
LIST_SIZE = 50
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _invalid(name: str, message: str) -> CampaignError:
    return CampaignError(CampaignErrorCode.INVALID, message, field=name)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def sees_everything(user: User) -> bool:
    """Whether the user sees every activity, and so the credit no activity earned."""
    return visible_parts(user, Activity) is None


# ---- the period: whole months, China time ------------------------------------------------

@dataclass(frozen=True)
class Period:
    """The months from `first` to `last` (both the first day of their month), inclusive."""

    first: date
    last: date

    @property
    def end(self) -> date:
        """The first day after the period."""
        return _month(_month_index(self.last) + 1)

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def months(self) -> list[date]:
        return [_month(i) for i in range(_month_index(self.first), _month_index(self.last) + 1)]

    @property
    def label(self) -> str:
        if self.first == self.last:
            return f"{self.first:%Y-%m}"
        return f"{self.first:%Y-%m} – {self.last:%Y-%m}"

    def params(self) -> dict[str, str]:
        return {"from": f"{self.first:%Y-%m}", "to": f"{self.last:%Y-%m}"}


def default_period(today: date | None = None) -> Period:
    """The last four quarters: this quarter and the three before it."""
    today = today or timezone.localdate()
    quarter = _month_index(date(today.year, (today.month - 1) // 3 * 3 + 1, 1))
    return Period(_month(quarter - 9), _month(quarter + 2))


MONTH = re.compile(r"^(\d{4})-(\d{2})(?:-\d{2})?$")


def _parse_month(name: str, value: str) -> date:
    match = MONTH.match(value.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise _invalid(name, _("A month is written YYYY-MM."))
    year = int(match.group(1))
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise _invalid(name, _("The period must lie between %(first)s and %(last)s.")
                       % {"first": FIRST_YEAR, "last": LAST_YEAR})
    return date(year, int(match.group(2)), 1)


def parse_period(first: str = "", last: str = "", today: date | None = None) -> Period:
    """From and to months ("YYYY-MM", both included). Neither given: the last four quarters;
    only one: the twelve months from it, or up to it."""
    default = default_period(today)
    start = _parse_month("from", first) if first else default.first
    end = _parse_month("to", last) if last else default.last
    if not first and last:
        start = _month(_month_index(end) - 11)
    elif first and not last:
        end = _month(min(_month_index(start) + 11, _month_index(date(LAST_YEAR, 12, 1))))
    if end < start:
        raise _invalid("to", _("The period ends before it starts."))
    return Period(start, end)


# ---- what is asked -----------------------------------------------------------------------

@dataclass(frozen=True)
class ReportQuery:
    period: Period
    model: str = DEFAULT_MODEL
    group: str = DEFAULT_GROUPING
    sort: str = DEFAULT_SORT

    @classmethod
    def from_params(cls, params: Mapping[str, Any], today: date | None = None) -> ReportQuery:
        """From query parameters. An unknown value is an error on its field, never ignored: a
        report that ignored a filter would show other numbers under the right heading."""
        period = parse_period(str(params.get("from") or ""), str(params.get("to") or ""), today)
        model = parse_model(params.get("model"))
        group = str(params.get("group") or DEFAULT_GROUPING)
        if group not in GROUPINGS:
            raise _invalid("group", _("Unknown grouping."))
        sort = str(params.get("sort") or DEFAULT_SORT)
        if sort not in SORTS:
            raise _invalid("sort", _("Unknown order."))
        return cls(period=period, model=model, group=group, sort=sort)

    def params(self, **replace: str) -> dict[str, str]:
        values = {**self.period.params(), "model": self.model, "group": self.group,
                  "sort": self.sort, **replace}
        return {key: value for key, value in values.items() if value}


def parse_model(value: Any) -> str:
    model = str(value or DEFAULT_MODEL)
    if model not in MODELS:
        raise _invalid("model", _("Unknown attribution model."))
    return model


def model_label(model: str) -> str:
    return str(AttributionModel(model).label)


# ---- figures -----------------------------------------------------------------------------

@dataclass
class Figures:
    """Attributed conversions (credit in millionths) and money of some activities."""

    credit: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    amount: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(STAGES, ZERO))
    spend: Decimal = ZERO

    def add(self, other: Figures) -> None:
        for stage in STAGES:
            self.credit[stage] += other.credit[stage]
            self.amount[stage] += other.amount[stage]
        self.spend += other.spend

    def count(self, stage: str) -> Decimal:
        """Attributed conversions of `stage` (fractions of a conversion are normal)."""
        return Decimal(self.credit[stage]) / SHARE_UNIT

    @property
    def leads(self) -> Decimal:
        return self.count("lead")

    @property
    def mqls(self) -> Decimal:
        return self.count("mql")

    @property
    def sals(self) -> Decimal:
        return self.count("sal")

    @property
    def opportunities(self) -> Decimal:
        return self.count("pipeline")

    @property
    def won_deals(self) -> Decimal:
        return self.count("won")

    @property
    def pipeline(self) -> Decimal:
        return self.amount["pipeline"]

    @property
    def revenue(self) -> Decimal:
        return self.amount["won"]

    @property
    def roi(self) -> Decimal | None:
        """Won revenue per yuan spent; None without spend."""
        if not self.spend:
            return None
        return (self.revenue / self.spend).quantize(RATIO, rounding=ROUND_HALF_UP)

    def cost_per(self, stage: str) -> Decimal | None:
        """Spend per attributed conversion of `stage`; None when nothing was attributed."""
        if not self.credit[stage]:
            return None
        return _money(self.spend * SHARE_UNIT / self.credit[stage])

    @property
    def cost(self) -> dict[str, Decimal | None]:
        return {stage: self.cost_per(stage) for stage in COUNTED}

    @property
    def is_empty(self) -> bool:
        return not (any(self.credit.values()) or any(self.amount.values()) or self.spend)

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain values (the API and the charts)."""
        return {"leads": self.leads, "mqls": self.mqls, "sals": self.sals,
                "opportunities": self.opportunities, "won_deals": self.won_deals,
                "pipeline": self.pipeline, "won_revenue": self.revenue, "spend": self.spend,
                "roi": self.roi, "cost_per_lead": self.cost_per("lead"),
                "cost_per_mql": self.cost_per("mql"), "cost_per_sal": self.cost_per("sal"),
                "cost_per_won": self.cost_per("won")}


@dataclass
class ActivityRow:
    activity: Activity
    region: str  # the region's group key ("hq" for HQ-owned)
    region_label: str
    figures: Figures


@dataclass
class GroupRow:
    key: str
    label: str
    figures: Figures
    activities: int


@dataclass
class Report:
    query: ReportQuery
    totals: Figures  # Σ of the activities'
    unattributed: Figures | None  # conversions with no activity; None unless seen
    activities: list[ActivityRow]
    groups: list[GroupRow]

    @property
    def all_conversions(self) -> Figures:
        """The activities' credit and the no-activity bucket (all conversions, for HQ)."""
        total = Figures()
        total.add(self.totals)
        if self.unattributed is not None:
            total.add(self.unattributed)
        return total


def _visible_activities(user: User) -> QuerySet[Activity]:
    return visible(user, Activity.objects.all())


def _credit_rows(user: User, query: ReportQuery) -> dict[int | None, Figures]:
    """Σ credit and amount per activity (None: no activity) and stage, under the model."""
    credits = ActivityCredit.objects.filter(model=query.model, stage__in=STAGES,
                                            month__gte=query.period.first,
                                            month__lte=query.period.last)
    if not sees_everything(user):
        credits = credits.filter(activity_id__in=_visible_activities(user).values("pk"))
    rows = credits.order_by().values("activity_id", "stage").annotate(
        credit=Sum("credit"), amount=Sum("amount"))
    figures: dict[int | None, Figures] = defaultdict(Figures)
    for row in rows:
        found = figures[row["activity_id"]]
        found.credit[row["stage"]] += row["credit"] or 0
        found.amount[row["stage"]] += row["amount"] or ZERO
    return figures


def _spend_rows(user: User, period: Period,
                activity_ids: Iterable[int] | None = None) -> dict[int, Decimal]:
    spend = Spend.objects.filter(spent_on__gte=period.first, spent_on__lt=period.end,
                                 activity_id__in=_visible_activities(user).values("pk"))
    if activity_ids is not None:
        spend = spend.filter(activity_id__in=list(activity_ids))
    return {row["activity_id"]: row["total"] or ZERO for row in
            spend.order_by().values("activity_id").annotate(total=Sum("amount"))}


class Regions:
    """The region an owner unit lies in (by its materialised path); HQ and its departments,
    and anything outside a region, form the "HQ" group."""

    def __init__(self) -> None:
        self.units = {u.pk: u for u in OrgUnit.objects.filter(kind=UnitKind.REGION)}

    def of(self, unit: OrgUnit) -> tuple[str, str]:
        for part in unit.path.strip("/").split("/"):
            if part.isdigit() and int(part) in self.units:
                region = self.units[int(part)]
                return str(region.pk), region.display_name
        return HQ_GROUP, _("HQ")


def dashboard(user: User, query: ReportQuery) -> Report:
    """The activities of the period the user may see (those that ran in it, or got credit or
    spend in it) with their figures, grouped by the query's grouping."""
    credits = _credit_rows(user, query)
    unattributed = credits.pop(None, None)
    if unattributed is None and sees_everything(user):
        unattributed = Figures()
    spend = _spend_rows(user, query.period)
    period = query.period
    ran = Q(starts_on__lt=period.end, ends_on__gte=period.first)
    counted = set(credits) | set(spend)
    activities = _visible_activities(user).filter(ran | Q(pk__in=counted)).select_related(
        "owner_unit", "plan").order_by("name", "pk")
    regions = Regions()
    rows: list[ActivityRow] = []
    totals = Figures()
    for activity in activities:
        figures = credits.get(activity.pk) or Figures()
        figures.spend = spend.get(activity.pk, ZERO)
        key, label = regions.of(activity.owner_unit)
        rows.append(ActivityRow(activity=activity, region=key, region_label=label,
                                figures=figures))
        totals.add(figures)
    sort_rows(rows, query.sort)
    return Report(query=query, totals=totals, unattributed=unattributed, activities=rows,
                  groups=group_rows(rows, query.group))


def sort_rows(rows: list[ActivityRow], sort: str) -> None:
    """Largest first; activities without an ROI (no spend) after those with one."""
    def key(row: ActivityRow) -> tuple[Any, ...]:
        f = row.figures
        if sort == "roi":
            return (f.roi is None, -(f.roi or ZERO), -f.revenue, row.activity.name)
        if sort == "spend":
            return (-f.spend, -f.revenue, row.activity.name)
        return (-f.revenue, -f.pipeline, row.activity.name)

    rows.sort(key=key)


def _group_of(row: ActivityRow, grouping: str) -> tuple[str, str]:
    activity = row.activity
    if grouping == "kind":
        return activity.kind, str(ActivityKind(activity.kind).label) \
            if activity.kind in ActivityKind.values else activity.kind
    if grouping == "level":
        return activity.level, str(ActivityLevel(activity.level).label) \
            if activity.level in ActivityLevel.values else activity.level
    if grouping == "region":
        return row.region, row.region_label
    return str(activity.owner_unit_id), activity.owner_unit.display_name


def group_rows(rows: list[ActivityRow], grouping: str) -> list[GroupRow]:
    """The activities' figures summed per group; kinds and levels in their own order, regions
    and units by won revenue."""
    groups: dict[str, GroupRow] = {}
    for row in rows:
        key, label = _group_of(row, grouping)
        group = groups.setdefault(key, GroupRow(key=key, label=label, figures=Figures(),
                                                activities=0))
        group.figures.add(row.figures)
        group.activities += 1
    result = list(groups.values())
    if grouping in ("kind", "level"):
        order = {v: i for i, v in enumerate(
            (ActivityKind if grouping == "kind" else ActivityLevel).values)}
        result.sort(key=lambda g: (order.get(g.key, len(order)), g.key))
    else:
        result.sort(key=lambda g: (g.key != HQ_GROUP, -g.figures.revenue, g.label))
    return result


# ---- budget burn -------------------------------------------------------------------------

@dataclass
class BurnRow:
    key: str
    label: str
    budget: Decimal
    approved: Decimal
    spent: Decimal
    plan: MarketingPlan | None = None

    @property
    def burnt(self) -> Decimal | None:
        """Spent as a percentage of the budget; None without a budget."""
        if not self.budget:
            return None
        return (self.spent * 100 / self.budget).quantize(Decimal("0.1"),
                                                         rounding=ROUND_HALF_UP)


@dataclass
class Burn:
    plans: list[BurnRow]
    units: list[BurnRow]


def budget_burn(user: User, period: Period) -> Burn:
    """The plans of the quarters the period touches that the user may see: their budget, and
    the approved budget and spend of their activities the user may see; summed per unit."""
    quarter_start = ExpressionWrapper(F("year") * 12 + (F("quarter") - 1) * 3,
                                      output_field=IntegerField())
    plans = visible(user, MarketingPlan.objects.all()).annotate(start=quarter_start).filter(
        start__lte=_month_index(period.last), start__gte=_month_index(period.first) - 2,
    ).select_related("owner_unit").order_by("owner_unit__path", "year", "quarter", "pk")
    plans = list(plans)
    sums = {row["plan_id"]: row for row in _visible_activities(user).filter(
        plan_id__in=[p.pk for p in plans]).order_by().values("plan_id").annotate(
        approved=Sum("approved_budget"), spent=Sum("spent"))}
    by_plan = [BurnRow(key=str(plan.pk), label=str(plan), budget=plan.budget,
                       approved=sums.get(plan.pk, {}).get("approved") or ZERO,
                       spent=sums.get(plan.pk, {}).get("spent") or ZERO, plan=plan)
               for plan in plans]
    units: dict[int, BurnRow] = {}
    for row, plan in zip(by_plan, plans, strict=True):
        unit = units.setdefault(plan.owner_unit_id, BurnRow(
            key=str(plan.owner_unit_id), label=plan.owner_unit.display_name, budget=ZERO,
            approved=ZERO, spent=ZERO))
        unit.budget += row.budget
        unit.approved += row.approved
        unit.spent += row.spent
    return Burn(plans=by_plan, units=list(units.values()))


# ---- the sankey: channel -> lead -> MQL -> SAL -> opportunity -> won --------------------

STEP_NODES = [("lead", gettext_lazy("Lead")), ("mql", gettext_lazy("MQL")),
              ("sal", gettext_lazy("SAL")), ("pipeline", gettext_lazy("Opportunity")),
              ("won", gettext_lazy("Won"))]
DROP_NODES = {"lead": gettext_lazy("Not qualified"), "mql": gettext_lazy("Not accepted"),
              "sal": gettext_lazy("No opportunity"), "pipeline": gettext_lazy("Not won")}
NO_ACTIVITY = gettext_lazy("No activity")


def _one_decimal(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def sankey(report: Report) -> dict[str, Any]:
    """Nodes and links for ECharts: the model's lead credit by activity kind (and "no
    activity", for those who see it) flows into Lead, then on down the stages, with what
    stopped at each step; the stage flows are the period's conversion counts (not a cohort:
    a step that grew is clamped at 0 for its drop-off)."""
    by_kind: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in report.activities:
        by_kind[row.activity.kind] += row.figures.leads
    sources = [(str(ActivityKind(kind).label) if kind in ActivityKind.values else kind,
                by_kind[kind]) for kind in ActivityKind.values if by_kind.get(kind)]
    totals = report.all_conversions
    if report.unattributed is not None and report.unattributed.credit["lead"]:
        sources.append((str(NO_ACTIVITY), report.unattributed.leads))
    links: list[dict[str, Any]] = []
    names = {stage: str(label) for stage, label in STEP_NODES}
    for label, value in sources:
        links.append({"source": label, "target": names["lead"], "value": _one_decimal(value)})
    for (stage, _label), (following, _next) in zip(STEP_NODES, STEP_NODES[1:], strict=False):
        here, there = totals.count(stage), totals.count(following)
        links.append({"source": names[stage], "target": names[following],
                      "value": _one_decimal(there)})
        links.append({"source": names[stage], "target": str(DROP_NODES[stage]),
                      "value": _one_decimal(max(here - there, ZERO))})
    links = [link for link in links if link["value"] > 0]
    used = {link["source"] for link in links} | {link["target"] for link in links}
    order = [label for label, _value in sources] + list(names.values()) + \
        [str(label) for label in DROP_NODES.values()]
    return {"nodes": [{"name": name} for name in order if name in used], "links": links}


# ---- the models side by side ---------------------------------------------------------------

@dataclass
class Comparison:
    activities: list[Activity]
    models: list[str]
    revenue: dict[str, list[Decimal]]  # model -> won revenue per activity, in that order


def model_comparison(user: User, period: Period, size: int = COMPARISON_SIZE) -> Comparison:
    """Won revenue of the top activities under each model; the top by the mean over the
    models, so the chart's activities stay put when the chosen model changes."""
    rows = ActivityCredit.objects.filter(
        stage=ConversionStage.WON, month__gte=period.first, month__lte=period.last,
        activity_id__in=_visible_activities(user).values("pk"),
    ).order_by().values("activity_id", "model").annotate(amount=Sum("amount"))
    revenue: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        revenue[row["activity_id"]][row["model"]] = row["amount"] or ZERO
    ranked = sorted((pk for pk, by_model in revenue.items() if any(by_model.values())),
                    key=lambda pk: (-sum(revenue[pk].values()), pk))[:size]
    found = Activity.objects.in_bulk(ranked)
    activities = [found[pk] for pk in ranked if pk in found]
    return Comparison(activities=activities, models=list(MODELS), revenue={
        model: [revenue[a.pk].get(model, ZERO) for a in activities] for model in MODELS})


# ---- the attribution run behind the numbers ---------------------------------------------

def last_run() -> AttributionRun | None:
    """The last finished attribution run (company-wide bookkeeping, no business rows)."""
    return AttributionRun.objects.filter(status=AttributionRun.Status.DONE).order_by(
        "-finished_at", "-pk").first()


def has_attribution() -> bool:
    return last_run() is not None or ActivityCredit.objects.exists()


# ---- one activity's results ----------------------------------------------------------------

def activity_for(user: User, activity_id: int) -> Activity:
    activity = _visible_activities(user).select_related("plan", "owner_unit").filter(
        pk=activity_id).first()
    if activity is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such activity."))
    return activity


@dataclass
class MonthFigures:
    month: date
    figures: Figures


@dataclass
class ActivityResults:
    activity: Activity
    model: str
    sourced: Figures  # first-touch credit
    influenced: dict[str, tuple[int, Decimal]]  # stage -> (conversions, amount)
    credited: Figures  # the chosen model's credit, with the activity's spend
    months: list[MonthFigures]
    leads: list[Lead]
    leads_influenced: int
    leads_sourced: int
    opportunities: list[Opportunity]
    opportunities_influenced: int
    lookback_days: int


def activity_results(user: User, activity_id: int, model: str) -> ActivityResults:
    """What one activity brought under `model`, beside what it sourced (first touch) and
    influenced (anywhere in the journey), over all months; its spend is all its spend."""
    activity = activity_for(user, activity_id)
    rows = ActivityCredit.objects.filter(
        activity_id=activity.pk, model__in={model, AttributionModel.FIRST_TOUCH.value},
    ).order_by().values("model", "stage", "month").annotate(credit=Sum("credit"),
                                                            amount=Sum("amount"))
    sourced, credited = Figures(), Figures()
    monthly: dict[date, Figures] = defaultdict(Figures)
    for row in rows:
        targets = []
        if row["model"] == AttributionModel.FIRST_TOUCH:
            targets.append(sourced)
        if row["model"] == model:
            targets += [credited, monthly[row["month"]]]
        for figures in targets:
            figures.credit[row["stage"]] += row["credit"] or 0
            figures.amount[row["stage"]] += row["amount"] or ZERO
    spend = Spend.objects.filter(activity_id=activity.pk).aggregate(total=Sum("amount"))
    credited.spend = sourced.spend = spend["total"] or ZERO
    influence = {row["stage"]: (row["conversions"] or 0, row["amount"] or ZERO) for row in
                 ActivityInfluence.objects.filter(activity_id=activity.pk).order_by()
                 .values("stage").annotate(conversions=Sum("conversions"),
                                           amount=Sum("amount"))}
    days = current_settings().lookback_days
    leads = touched_leads(user, activity.pk, days)
    opportunities = touched_opportunities(user, activity.pk, days)
    months = []
    if monthly:
        first, last = min(monthly), max(monthly)
        months = [MonthFigures(month=_month(i), figures=monthly.get(_month(i)) or Figures())
                  for i in range(_month_index(first), _month_index(last) + 1)]
    return ActivityResults(
        activity=activity, model=model, sourced=sourced,
        influenced={stage: influence.get(stage, (0, ZERO)) for stage in STAGES},
        credited=credited, months=months,
        leads=list(leads.select_related("owner", "owner_unit").order_by("-lead_at", "-pk")
                   [:LIST_SIZE]),
        leads_influenced=leads.count(),
        leads_sourced=leads.filter(first_activity=activity.pk).count(),
        opportunities=list(opportunities.select_related("account", "owner_unit")
                           .order_by("-created_at", "-pk")[:LIST_SIZE]),
        opportunities_influenced=opportunities.count(), lookback_days=days)


def _window_start(column: str, days: int) -> ExpressionWrapper:
    return ExpressionWrapper(F(column) - timedelta(days=days), output_field=DateTimeField())


def _touches_in_window(identities: QuerySet[Identity], at: str) -> QuerySet[ActivityTouch]:
    """Activity touches of `identities` in the window before the outer row's `at` (the
    outer row is annotated with `window_start`); on the (identity_id, occurred_at) index."""
    return ActivityTouch.objects.filter(identity_id__in=identities.values("pk"),
                                        occurred_at__lte=OuterRef(at),
                                        occurred_at__gte=OuterRef("window_start"))


def touched_leads(user: User, activity_id: int, days: int) -> QuerySet[Lead]:
    """The leads (the user may see) influenced by the activity: one of their profile's
    identities touched it within `days` before the lead's lead_at. Each is annotated with
    `first_activity`, the activity of the earliest activity touch in that window: the lead
    was sourced by the activity when it is this one.

    The candidates come from the activity's own touches (the (activity, -occurred_at)
    index) through their identities to the leads of those profiles; the window is then
    checked per candidate on the (identity_id, occurred_at) index."""
    profiles = Identity.objects.filter(
        pk__in=ActivityTouch.objects.filter(activity_id=activity_id).values("identity_id"),
        profile_id__isnull=False).values("profile_id")
    identities = Identity.objects.filter(profile_id=OuterRef(OuterRef("profile_id")))
    in_window = _touches_in_window(identities, "lead_at")
    leads = visible(user, Lead.objects.filter(profile_id__in=profiles, lead_at__isnull=False))
    return leads.annotate(window_start=_window_start("lead_at", days)).filter(
        Exists(in_window.filter(activity_id=activity_id))).annotate(
        first_activity=Subquery(in_window.order_by("occurred_at", "pk")
                                .values("activity_id")[:1]))


def touched_opportunities(user: User, activity_id: int, days: int) -> QuerySet[Opportunity]:
    """The opportunities (the user may see) at accounts whose profiles touched the activity
    within `days` before the opportunity was created."""
    accounts = Profile.objects.filter(
        pk__in=Identity.objects.filter(
            pk__in=ActivityTouch.objects.filter(activity_id=activity_id).values("identity_id"),
            profile_id__isnull=False).values("profile_id"),
        account_id__isnull=False).values("account_id")
    identities = Identity.objects.filter(profile__account_id=OuterRef(OuterRef("account_id")))
    in_window = _touches_in_window(identities, "created_at").filter(activity_id=activity_id)
    deals = visible(user, Opportunity.objects.filter(account_id__in=accounts))
    return deals.annotate(window_start=_window_start("created_at", days)).filter(
        Exists(in_window))

