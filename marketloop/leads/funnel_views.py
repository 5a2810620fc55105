"""The funnel page and the lists behind its numbers. Thin: parse the query, call
leads.funnel (every read through the visibility scope), shape it for the templates and charts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from marketloop.crm.models import Tier
from marketloop.crm.selectors import InvalidCursor
from marketloop.leads import funnel as f
from marketloop.leads.errors import LeadError
from marketloop.leads.models import Channel
from marketloop.org.selectors import provinces
from marketloop.web import is_partial

RESULTS = "funnel-results"  # the element HTMX swaps when a filter changes


def _drill_url(drill: f.Drill) -> str:
    return f"{reverse('leads:funnel_leads')}?{urlencode(drill.params())}"


def _percent(rate: float | None) -> float | None:
    return None if rate is None else rate * 100


def _row(row: f.FunnelRow, base: f.Drill) -> dict[str, Any]:
    """A row of the conversion table: each number with the link to its leads."""
    drill = base.with_(value=row.value)
    rates = row.rates
    step_into = {b: key for key, _a, b in f.STEPS}
    return {
        "label": row.label, "value": row.value,
        "stages": [{"stage": stage, "count": row.counts[stage],
                    "url": _drill_url(drill.with_(stage=stage)),
                    "rate": _percent(rates[step_into[stage]]) if stage in step_into else None}
                   for stage in f.STAGES],
        "overall": _percent(rates[f.OVERALL]),
        "medians": [row.median_days[key] for key, *_ in f.STEPS],
        "median_overall": row.median_days[f.OVERALL],
        "leaks": [{"stage": stage, "count": row.counts[stage],
                   "url": _drill_url(drill.with_(stage=stage))} for stage in f.LEAKS],
    }


def _charts(total: f.FunnelRow, leakage: list[f.ReasonRow], base: f.Drill) -> dict[str, Any]:
    """What the ECharts charts draw (embedded with json_script); each point knows its list."""
    return {
        "funnel": [{"name": str(f.STAGE_LABELS[stage]), "value": total.counts[stage],
                    "url": _drill_url(base.with_(stage=stage))} for stage in f.STAGES],
        "leakage": {
            "reasons": [row.label for row in leakage],
            "series": [
                {"name": str(f.STAGE_LABELS[stage]),
                 "data": [{"value": getattr(row, stage),
                           "url": _drill_url(base.with_(stage=stage, reason=row.reason))}
                          for row in leakage]}
                for stage in ("recycled", "disqualified")],
        },
    }


def _funnel_query(request: HttpRequest) -> tuple[f.FunnelQuery, str | None]:
    try:
        return f.FunnelQuery.from_params(request.GET), None
    except LeadError as exc:  # a bad filter: say so, and show this quarter unfiltered
        return f.FunnelQuery(period=f.preset_period(f.DEFAULT_PRESET)), exc.message


@require_GET
def funnel(request: HttpRequest) -> HttpResponse:
    """The report; its trend card loads on its own (funnel_trend): a year of leads takes
    longer to count than the quarter's funnel, which need not wait for it."""
    query, error = _funnel_query(request)
    total = f.funnel_total(request.user, query)
    leakage = f.leakage(request.user, query)
    base = f.Drill(query=query)
    context = {
        "query": query,
        "error": error,
        "total": _row(total, base),
        "groups": [_row(row, base) for row in f.funnel_groups(request.user, query)],
        "leakage": [{"label": row.label,
                     "recycled": row.recycled,
                     "recycled_url": _drill_url(base.with_(stage="recycled", reason=row.reason)),
                     "disqualified": row.disqualified,
                     "disqualified_url": _drill_url(base.with_(stage="disqualified",
                                                               reason=row.reason))}
                    for row in leakage],
        "charts": _charts(total, leakage, base),
        "trend_query": urlencode(query.params()),
        "stage_labels": [f.STAGE_LABELS[stage] for stage in f.STAGES],
        "step_labels": [f"{f.STAGE_LABELS[a]} → {f.STAGE_LABELS[b]}" for _k, a, b in f.STEPS],
        "leak_labels": [f.STAGE_LABELS[stage] for stage in f.LEAKS],
        "period_choice": query.period.preset or "custom",
        "presets": [(key, label) for key, label in f.PRESETS.items()],
        "dimensions": list(f.DIMENSION_LABELS.items()),
        "tiers": Tier.choices,
        "channels": Channel.choices,
        "provinces": provinces(),
    }
    template = "leads/funnel_results.html" if is_partial(request, RESULTS) \
        else "leads/funnel.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request, HX-Target, Cookie, Accept-Language"
    return response


@require_GET
def funnel_trend(request: HttpRequest) -> HttpResponse:
    """The trend card's chart: leads reaching each stage per month; each point opens its list."""
    query, _error = _funnel_query(request)
    trend = f.trend(request.user, query)
    base = f.Drill(query=query)
    chart = {
        "months": [month.strftime("%Y-%m") for month in trend.months],
        "series": [
            {"name": str(f.STAGE_LABELS[stage]),
             "data": [{"value": count, "url": _drill_url(base.with_(stage=stage, month=month))}
                      for month, count in zip(trend.months, trend.series[stage], strict=True)]}
            for stage in f.STAGES],
    }
    return render(request, "leads/funnel_trend.html", {"chart": chart})


def _query(params: dict[str, str], **replace: str | None) -> str:
    merged = {**params, **replace}
    return urlencode({key: value for key, value in merged.items() if value})


@require_GET
def funnel_leads(request: HttpRequest) -> HttpResponse:
    """The leads behind one number of the funnel page, by (lead_at, id), page by page."""
    try:
        drill = f.Drill.from_params(request.GET)
    except LeadError as exc:
        return render(request, "leads/funnel_leads.html", {"error": exc.message}, status=422)
    cursor = request.GET.get("cursor") or None
    try:
        page = f.drill_page(request.user, drill, cursor)
    except InvalidCursor:  # a stale or edited link: start again from the top
        cursor, page = None, f.drill_page(request.user, drill)
    params = drill.params()
    parts = [str(f.STAGE_LABELS[drill.stage])]
    if drill.month:
        parts.append(_("reached in %(month)s") % {"month": drill.month.strftime("%Y-%m")})
    else:
        parts.append(drill.query.period.label)
    if drill.value:
        parts.append(f"{f.DIMENSION_LABELS[drill.query.dimension]}: "
                     f"{f.group_label(drill.query.dimension, drill.value)}")
    if drill.reason:
        parts.append(f.reason_label(drill.reason))
    stage_field = f.STAGE_FIELDS.get("recycled" if drill.stage == "rejected" else drill.stage)
    return render(request, "leads/funnel_leads.html", {
        "drill": drill,
        "page": page,
        "rows": [{"lead": lead, "reached_at": getattr(lead, stage_field)}
                 for lead in page.items],
        "title": " · ".join(parts),
        "filters": [label for label in (
            drill.query.tier and Tier(drill.query.tier).label,
            drill.query.channel and Channel(drill.query.channel).label,
            drill.query.province and f.group_label("province", str(drill.query.province)),
        ) if label],
        "stage_label": f.STAGE_LABELS[drill.stage],
        "back_query": urlencode(drill.query.params()),
        "is_first_page": cursor is None,
        "next_query": _query(params, cursor=page.next_cursor) if page.next_cursor else None,
        "first_query": _query(params),
    })
