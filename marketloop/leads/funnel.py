"""The funnel report: how a cohort of leads went lead -> MQL -> SAL -> SQL -> won, where it
leaked (recycled, rejected, disqualified, by reason), how each stage moved month by month, and
the leads behind every number (the drill-down). Reads only, each through the visibility scope
first.

The cohort of a period is the leads whose `lead_at` falls in it; a stage counts a lead that
reached it (its timestamp is set), wherever the lead stands now. The trend is not a cohort: it
counts, per month, the leads that reached each stage in that month (by the stage's own time).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db.models import (
    Aggregate,
    Count,
    DateTimeField,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Value,
)
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from marketloop.crm.models import Tier
from marketloop.crm.selectors import paginate
from marketloop.leads.errors import LeadError, LeadErrorCode
from marketloop.leads.models import Channel, Lead, RejectReason
from marketloop.org.models import OrgUnit, User
from marketloop.org.scope import visible

# ---- stages, steps, dimensions ---------------------------------------------------------------

STAGES = ("lead", "mql", "sal", "sql", "won")  # the main line, in order
LEAKS = ("recycled", "rejected", "disqualified")
STAGE_FIELDS = {"lead": "lead_at", "mql": "mql_at", "sal": "sal_at", "sql": "sql_at",
                "won": "won_at", "recycled": "recycled_at", "disqualified": "disqualified_at"}
STAGE_LABELS = {"lead": gettext_lazy("Lead"), "mql": gettext_lazy("MQL"),
                "sal": gettext_lazy("SAL"), "sql": gettext_lazy("SQL"),
                "won": gettext_lazy("Won"), "recycled": gettext_lazy("Recycled"),
                "rejected": gettext_lazy("Rejected"),
                "disqualified": gettext_lazy("Disqualified")}
# Consecutive stages: (key, from, to); the conversion and the median days of each step.
STEPS = tuple((f"{a}_{b}", a, b) for a, b in zip(STAGES, STAGES[1:], strict=False))
OVERALL = "lead_won"

DIMENSIONS = {"tier": "tier", "province": "province_id", "channel": "channel",
              "owner": "owner_id", "owner_unit": "owner_unit_id"}
DIMENSION_LABELS = {"": gettext_lazy("No grouping"), "tier": gettext_lazy("Tier"),
                    "province": gettext_lazy("Province"),
                    "channel": gettext_lazy("Channel of first touch"),
                    "owner": gettext_lazy("Owner"), "owner_unit": gettext_lazy("Owner unit")}
NONE = "none"  # the group (or reason) of leads with no value

PRESETS = {"this_quarter": gettext_lazy("This quarter"),
           "last_quarter": gettext_lazy("Last quarter"),
           "this_year": gettext_lazy("This year"), "last_year": gettext_lazy("Last year")}
DEFAULT_PRESET = "this_quarter"
TREND_MONTHS, MAX_TREND_MONTHS = 12, 36
FIRST_YEAR, LAST_YEAR = 1970, 2100


def reached(stage: str) -> Q:
    """The leads that reached `stage`. Rejected: recycled with a sales rejection reason (a
    rule recycles without one)."""
    if stage == "rejected":
        return Q(recycled_at__isnull=False) & ~Q(reject_reason="")
    return Q(**{f"{STAGE_FIELDS[stage]}__isnull": False})


def _invalid(name: str, message: str) -> LeadError:
    return LeadError(LeadErrorCode.INVALID, message, errors={name: [message]})


# ---- the period ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """Whole days, `first` to `last` inclusive, in the local time zone: [start, end)."""

    first: date
    last: date
    preset: str = ""  # a key of PRESETS, or "" for a custom range

    @property
    def start(self) -> datetime:
        return _midnight(self.first)

    @property
    def end(self) -> datetime:
        return _midnight(self.last + timedelta(days=1))

    @property
    def token(self) -> str:
        """The period as a query parameter that keeps its meaning next quarter too."""
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    @property
    def label(self) -> str:
        if self.first.month == 1 and self.first.day == 1 and self.last == date(
                self.first.year, 12, 31):
            return str(self.first.year)
        if self.first.day == 1 and (self.first.month - 1) % 3 == 0 \
                and self.last == _add_months(self.first, 3) - timedelta(days=1):
            return f"{self.first.year} Q{(self.first.month - 1) // 3 + 1}"
        return f"{self.first.isoformat()} – {self.last.isoformat()}"


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _add_months(day: date, months: int) -> date:
    """The first of the month `months` after `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def preset_period(preset: str, today: date | None = None) -> Period:
    today = today or timezone.localdate()
    quarter = _add_months(date(today.year, 1, 1), (today.month - 1) // 3 * 3)
    if preset == "this_quarter":
        first = quarter
    elif preset == "last_quarter":
        first = _add_months(quarter, -3)
    elif preset in ("this_year", "last_year"):
        first = date(today.year - (preset == "last_year"), 1, 1)
    else:
        raise _invalid("period", _("Unknown period."))
    months = 12 if preset.endswith("year") else 3
    return Period(first, _add_months(first, months) - timedelta(days=1), preset)


RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


def custom_period(first: str, last: str) -> Period:
    try:
        days = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
    except ValueError as exc:
        raise _invalid("period", _("Dates are written YYYY-MM-DD.")) from exc
    if days[0] > days[1]:
        raise _invalid("period", _("The period ends before it starts."))
    if days[0].year < FIRST_YEAR or days[1].year > LAST_YEAR:
        raise _invalid("period", _("The period must lie between %(first)s and %(last)s.")
                       % {"first": FIRST_YEAR, "last": LAST_YEAR})
    return Period(*days)


def parse_period(value: str, first: str = "", last: str = "",
                 today: date | None = None) -> Period:
    """A preset name, "custom" with `first` and `last`, or "YYYY-MM-DD..YYYY-MM-DD"."""
    value = (value or DEFAULT_PRESET).strip()
    if value == "custom":
        if not (first and last):
            raise _invalid("period", _("A custom period needs a first and a last day."))
        return custom_period(first, last)
    match = RANGE.match(value)
    if match:
        return custom_period(*match.groups())
    return preset_period(value, today)


# ---- what is asked ---------------------------------------------------------------------------

@dataclass(frozen=True)
class FunnelQuery:
    period: Period
    dimension: str = ""  # a key of DIMENSIONS, or "" for the total only
    tier: str = ""
    province: int | None = None
    channel: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, Any], today: date | None = None) -> FunnelQuery:
        """From query parameters (page, drill-down links and API share them). An unknown value
        is an error (LeadError, on its field), never silently ignored: a report that ignored a
        filter would show the wrong numbers under the right heading."""
        period = parse_period(str(params.get("period") or ""), str(params.get("from") or ""),
                              str(params.get("to") or ""), today)
        dimension = str(params.get("dimension") or "")
        if dimension and dimension not in DIMENSIONS:
            raise _invalid("dimension", _("Unknown grouping."))
        tier = str(params.get("tier") or "")
        if tier and tier not in Tier.values:
            raise _invalid("tier", _("Unknown tier."))
        channel = str(params.get("channel") or "")
        if channel and channel not in Channel.values:
            raise _invalid("channel", _("Unknown channel."))
        province = params.get("province")
        if province in (None, ""):
            province_id = None
        elif str(province).isdigit():
            province_id = int(province)
        else:
            raise _invalid("province", _("Unknown province."))
        return cls(period=period, dimension=dimension, tier=tier, province=province_id,
                   channel=channel)

    def params(self) -> dict[str, str]:
        """As query parameters, the period as its date range."""
        values = {"period": self.period.token, "dimension": self.dimension, "tier": self.tier,
                  "province": str(self.province or ""), "channel": self.channel}
        return {key: value for key, value in values.items() if value}


def _filtered(qs: QuerySet[Lead], query: FunnelQuery) -> QuerySet[Lead]:
    if query.tier:
        qs = qs.filter(tier=query.tier)
    if query.province:
        qs = qs.filter(province_id=query.province)
    if query.channel:
        qs = qs.filter(channel=query.channel)
    return qs


def cohort(user: User, query: FunnelQuery) -> QuerySet[Lead]:
    """The leads of the period (by `lead_at`) the user may see, filtered."""
    qs = visible(user, Lead.objects.all())
    qs = qs.filter(lead_at__gte=query.period.start, lead_at__lt=query.period.end)
    return _filtered(qs, query)


# ---- the report ------------------------------------------------------------------------------

class Median(Aggregate):
    """PostgreSQL's percentile_cont(0.5): the median, interpolated; NULLs are left out."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _days_between(earlier: str, later: str) -> Func:
    """Days from one stage to the next; NULL unless both are set."""
    return Func(F(later), F(earlier), arg_joiner=" - ", output_field=FloatField(),
                template="(EXTRACT(EPOCH FROM %(expressions)s) / 86400.0)::double precision")


def _aggregates() -> dict[str, Aggregate]:
    counts: dict[str, Aggregate] = {
        stage: Count("pk", filter=reached(stage)) for stage in STAGES + LEAKS}
    medians: dict[str, Aggregate] = {
        f"days_{key}": Median(_days_between(STAGE_FIELDS[a], STAGE_FIELDS[b]))
        for key, a, b in (*STEPS, (OVERALL, "lead", "won"))}
    return counts | medians


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class FunnelRow:
    """One group (or the total): leads that reached each stage, the leaks, median days."""

    value: str  # the group's value as a query parameter; "" for the total
    label: str
    counts: dict[str, int]
    median_days: dict[str, float | None]

    @classmethod
    def from_aggregate(cls, value: str, label: str, row: Mapping[str, Any]) -> FunnelRow:
        return cls(value=value, label=label,
                   counts={stage: row[stage] or 0 for stage in STAGES + LEAKS},
                   median_days={key: row[f"days_{key}"]
                                for key, *_ in (*STEPS, (OVERALL,))})

    @property
    def rates(self) -> dict[str, float | None]:
        """Conversion of each step, and overall (lead to won)."""
        rates = {key: _rate(self.counts[b], self.counts[a]) for key, a, b in STEPS}
        rates[OVERALL] = _rate(self.counts["won"], self.counts["lead"])
        return rates


@dataclass
class ReasonRow:
    reason: str  # a RejectReason value, or NONE
    label: str
    recycled: int
    disqualified: int


@dataclass
class Trend:
    months: list[date]  # the first of each month
    series: dict[str, list[int]]  # stage -> count per month


@dataclass
class FunnelReport:
    query: FunnelQuery
    total: FunnelRow
    groups: list[FunnelRow]
    leakage: list[ReasonRow]
    trend: Trend


def funnel_report(user: User, query: FunnelQuery, today: date | None = None) -> FunnelReport:
    return FunnelReport(query=query, total=funnel_total(user, query),
                        groups=funnel_groups(user, query), leakage=leakage(user, query),
                        trend=trend(user, query, today))


def funnel_total(user: User, query: FunnelQuery) -> FunnelRow:
    row = cohort(user, query).aggregate(**_aggregates())
    return FunnelRow.from_aggregate("", _("Total"), row)


def funnel_groups(user: User, query: FunnelQuery) -> list[FunnelRow]:
    """One row per value of the query's dimension (none without one)."""
    if not query.dimension:
        return []
    column = DIMENSIONS[query.dimension]
    rows = list(cohort(user, query).order_by().values(column).annotate(**_aggregates()))
    labels = _labels(query.dimension, [row[column] for row in rows])
    groups = [FunnelRow.from_aggregate(_token(row[column]), labels[row[column]], row)
              for row in rows]
    if query.dimension in ("tier", "channel"):  # their own order: the choices'
        order = {value: i for i, value in enumerate(
            (Tier if query.dimension == "tier" else Channel).values)}
        groups.sort(key=lambda g: (order.get(g.value, len(order)), g.value))
    else:
        groups.sort(key=lambda g: (-g.counts["lead"], g.label))
    return groups


def _token(value: Any) -> str:
    return NONE if value in (None, "") else str(value)


def _labels(dimension: str, values: list[Any]) -> dict[Any, str]:
    ids = [v for v in values if v not in (None, "")]
    if dimension in ("province", "owner_unit"):
        found = {u.pk: u.display_name for u in OrgUnit.objects.filter(pk__in=ids)}
    elif dimension == "owner":
        found = {u.pk: str(u) for u in User.objects.filter(pk__in=ids)}
    else:
        choices = dict((Tier if dimension == "tier" else Channel).choices)
        found = {v: str(choices.get(v, v)) for v in ids}
    empty = {"owner": _("Unassigned"), "province": _("No province"),
             "tier": _("No tier")}.get(dimension, "—")
    return {v: found.get(v, str(v)) if v not in (None, "") else empty for v in values}


def group_label(dimension: str, token: str) -> str:
    """The label of a group named by its query parameter (a drill-down's heading)."""
    if token == NONE:
        value: Any = None
    elif DIMENSIONS[dimension].endswith("_id"):
        value = int(token)
    else:
        value = token
    return _labels(dimension, [value])[value]


def _reason_labels() -> dict[str, str]:
    return {NONE: _("No reason (recycled by a rule)"),
            **{value: str(label) for value, label in RejectReason.choices}}


def reason_label(reason: str) -> str:
    return _reason_labels().get(reason, reason)


def leakage(user: User, query: FunnelQuery) -> list[ReasonRow]:
    """Recycled and disqualified leads of the cohort by reason (NONE: recycled by a rule, or
    disqualified without one), in the order of RejectReason."""
    rows = (cohort(user, query).filter(reached("recycled") | reached("disqualified"))
            .order_by().values("reject_reason")
            .annotate(recycled=Count("pk", filter=reached("recycled")),
                      disqualified=Count("pk", filter=reached("disqualified"))))
    by_reason = {_token(row["reject_reason"]): row for row in rows}
    labels = _reason_labels()
    order = [*RejectReason.values, NONE]
    reasons = [r for r in order if r in by_reason] + sorted(set(by_reason) - set(order))
    return [ReasonRow(reason=r, label=labels.get(r, r), recycled=by_reason[r]["recycled"],
                      disqualified=by_reason[r]["disqualified"]) for r in reasons]


# ---- the trend -------------------------------------------------------------------------------

def trend_months(period: Period, today: date | None = None) -> list[date]:
    """The months up to the period's last (or this month, if sooner): at least TREND_MONTHS,
    the whole period if longer, at most MAX_TREND_MONTHS."""
    today = today or timezone.localdate()
    last = _add_months(min(period.last, today), 0)
    first = min(_add_months(period.first, 0), _add_months(last, 1 - TREND_MONTHS))
    first = max(first, _add_months(last, 1 - MAX_TREND_MONTHS))
    months = [first]
    while months[-1] < last:
        months.append(_add_months(months[-1], 1))
    return months


class MonthIndex(Func):
    """Which of `bounds` (the starts of the months, then the end of the last) a time falls
    between: 1 for the first month, 0 before it, len(bounds) after it, NULL for NULL. A binary
    search per value, far cheaper than taking every time to the local zone to truncate it."""

    function = "WIDTH_BUCKET"
    output_field = IntegerField()

    def __init__(self, name: str, bounds: list[datetime]) -> None:
        super().__init__(F(name), Value(bounds, output_field=ArrayField(DateTimeField())))


def trend(user: User, query: FunnelQuery, today: date | None = None) -> Trend:
    """Per month, the leads (in scope, filtered) that reached each stage in that month.

    One scan, grouped by the month index of every stage at once (a few hundred groups);
    counting each stage in a query of its own would scan five times."""
    months = trend_months(query.period, today)
    bounds = [_midnight(month) for month in months] + [_midnight(_add_months(months[-1], 1))]
    start, end = bounds[0], bounds[-1]
    in_range = Q()
    for stage in STAGES:
        name = STAGE_FIELDS[stage]
        in_range |= Q(**{f"{name}__gte": start, f"{name}__lt": end})
    # A lead is a lead before it reaches any later stage (lifecycle.move sets lead_at first),
    # so `lead_at < end` holds for every lead counted, and lets the scan use its index.
    leads = _filtered(visible(user, Lead.objects.all()), query).filter(in_range,
                                                                       lead_at__lt=end)
    index = {f"month_{stage}": MonthIndex(STAGE_FIELDS[stage], bounds) for stage in STAGES}
    rows = leads.order_by().annotate(**index).values(*index).annotate(n=Count("pk"))
    series = {stage: [0] * len(months) for stage in STAGES}
    for row in rows:
        for stage in STAGES:
            month = row[f"month_{stage}"]
            if month and month <= len(months):
                series[stage][month - 1] += row["n"]
    return Trend(months=months, series=series)


# ---- the drill-down --------------------------------------------------------------------------

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
DRILL_STAGES = STAGES + LEAKS


@dataclass(frozen=True)
class Drill:
    """The leads behind one number of the report: `stage` of the cohort, or of one group
    (`value` of the query's dimension), or of one leakage `reason`; with `month`, the leads
    that reached `stage` in that month (a point of the trend) instead of the cohort."""

    query: FunnelQuery
    stage: str = "lead"
    value: str = ""
    reason: str = ""
    month: date | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any], today: date | None = None) -> Drill:
        query = FunnelQuery.from_params(params, today)
        stage = str(params.get("stage") or "lead")
        if stage not in DRILL_STAGES:
            raise _invalid("stage", _("Unknown stage."))
        value = str(params.get("value") or "")
        if value and not query.dimension:
            raise _invalid("value", _("A group value needs a grouping."))
        if value and value != NONE and DIMENSIONS[query.dimension].endswith("_id") \
                and not value.isdigit():
            raise _invalid("value", _("Unknown group."))
        reason = str(params.get("reason") or "")
        if reason and reason != NONE and reason not in RejectReason.values:
            raise _invalid("reason", _("Unknown reason."))
        month = None
        if params.get("month"):
            match = MONTH.match(str(params["month"]))
            if not match or not 1 <= int(match.group(2)) <= 12 \
                    or not FIRST_YEAR <= int(match.group(1)) <= LAST_YEAR:
                raise _invalid("month", _("A month is written YYYY-MM."))
            month = date(int(match.group(1)), int(match.group(2)), 1)
            if stage not in STAGES:
                raise _invalid("month", _("The trend has only the main stages."))
        return cls(query=query, stage=stage, value=value, reason=reason, month=month)

    def params(self) -> dict[str, str]:
        values = {**self.query.params(), "stage": self.stage, "value": self.value,
                  "reason": self.reason, "month": self.month.strftime("%Y-%m")
                  if self.month else ""}
        return {key: value for key, value in values.items() if value}

    def with_(self, **changes: Any) -> Drill:
        return replace(self, **changes)


def drill_leads(user: User, drill: Drill) -> QuerySet[Lead]:
    """Exactly the leads counted in the drilled number."""
    if drill.month is None:
        qs = cohort(user, drill.query)
    else:
        name = STAGE_FIELDS[drill.stage]
        start = _midnight(drill.month)
        qs = _filtered(visible(user, Lead.objects.all()), drill.query).filter(
            **{f"{name}__gte": start, f"{name}__lt": _midnight(_add_months(drill.month, 1))})
    qs = qs.filter(reached(drill.stage))
    if drill.value:
        column = DIMENSIONS[drill.query.dimension]
        if drill.value != NONE:
            qs = qs.filter(**{column: drill.value})
        elif column.endswith("_id"):
            qs = qs.filter(**{f"{column}__isnull": True})
        else:
            qs = qs.filter(**{column: ""})
    if drill.reason:
        qs = qs.filter(reject_reason="" if drill.reason == NONE else drill.reason)
    return qs


DRILL_SORT = ("lead_at", "id")
DRILL_PAGE_SIZE = 50


@dataclass
class LeadPage:
    items: list[Lead]
    next_cursor: str | None
    total: int


def drill_page(user: User, drill: Drill, cursor: str | None = None,
               size: int = DRILL_PAGE_SIZE) -> LeadPage:
    """A page of the drilled leads by (lead_at, id), after `cursor` (crm.selectors.InvalidCursor
    if it does not decode), with the count of them all."""
    qs = drill_leads(user, drill)
    items, next_cursor = paginate(
        qs.select_related("owner", "owner_unit", "province", "partner"), DRILL_SORT, cursor,
        size)
    return LeadPage(items=items, next_cursor=next_cursor, total=qs.count())

