"""The campaign dashboard, its Excel export and an activity's results slot. Thin: parse the
query, call campaigns.reports (every read through the visibility scope), shape the figures for
the templates and the ECharts charts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from marketloop.campaigns import exporting, reports
from marketloop.campaigns.errors import CampaignError
from marketloop.campaigns.models import AttributionModel
from marketloop.org.permissions import Action, can
from marketloop.web import domain_errors_to_http, is_partial, require_action

RESULTS = "dashboard-results"  # the element HTMX swaps when a filter or the model changes
TABLE_SIZE = 100  # activities in the page's table; the export has them all


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _query(request: HttpRequest) -> tuple[reports.ReportQuery, str | None]:
    try:
        return reports.ReportQuery.from_params(request.GET), None
    except CampaignError as exc:  # a bad filter: say so, and show the default instead
        return reports.ReportQuery(period=reports.default_period()), exc.message


def _charts(report: reports.Report, burn: reports.Burn,
            comparison: reports.Comparison) -> dict[str, Any]:
    """What the ECharts charts draw (embedded with json_script): plain numbers."""
    groups = report.groups
    cost_labels = {"lead": _("Cost per lead"), "mql": _("Cost per MQL"),
                   "sal": _("Cost per SAL"), "won": _("Cost per won deal")}
    return {
        "roi": {"labels": [g.label for g in groups],
                "values": [_number(g.figures.roi) for g in groups]},
        "cost": {"labels": [g.label for g in groups],
                 "series": [{"name": label,
                             "data": [_number(g.figures.cost_per(stage)) for g in groups]}
                            for stage, label in cost_labels.items()]},
        "burn": {"labels": [row.label for row in burn.units],
                 "series": [{"name": name, "data": [float(getattr(row, attr))
                                                    for row in burn.units]}
                            for attr, name in (("budget", _("Budget")),
                                               ("approved", _("Approved")),
                                               ("spent", _("Spent")))]},
        "sankey": reports.sankey(report),
        "comparison": {
            "activities": [a.name for a in comparison.activities],
            "chosen": reports.model_label(report.query.model),
            "series": [{"name": reports.model_label(model),
                        "data": [float(v) for v in comparison.revenue[model]]}
                       for model in comparison.models]},
    }


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """ROI and cost per stage by kind, level, region or unit under the chosen model; budget
    burn; the sankey; the models side by side; every activity's figures."""
    query, error = _query(request)
    user = request.user
    report = reports.dashboard(user, query)
    burn = reports.budget_burn(user, query.period)
    comparison = reports.model_comparison(user, query.period)
    params = query.params()
    context = {
        "query": query,
        "error": error,
        "report": report,
        "burn": burn,
        "rows": report.activities[:TABLE_SIZE],
        "more_rows": max(len(report.activities) - TABLE_SIZE, 0),
        "charts": _charts(report, burn, comparison),
        "has_comparison": bool(comparison.activities),
        "has_attribution": reports.has_attribution(),
        "last_run": reports.last_run(),
        "models": [(value, label) for value, label in AttributionModel.choices],
        "groupings": list(reports.GROUPINGS.items()),
        "grouping_label": reports.GROUPINGS[query.group],
        "model_label": reports.model_label(query.model),
        "sorts": [(key, label, urlencode(query.params(sort=key)))
                  for key, label in reports.SORTS.items()],
        "export_query": urlencode(params),
        "can_export": can(user, Action.EXPORT),
    }
    partial = is_partial(request, RESULTS)
    context["partial"] = partial
    template = "campaigns/dashboard_results.html" if partial else "campaigns/dashboard.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request, HX-Target, Cookie, Accept-Language"
    return response


@require_GET
def dashboard_export(request: HttpRequest) -> HttpResponse:
    """The dashboard as an .xlsx workbook (the user's activities only)."""
    require_action(request, Action.EXPORT)
    try:
        query = reports.ReportQuery.from_params(request.GET)
    except CampaignError as exc:
        return HttpResponse(exc.message, status=422, content_type="text/plain; charset=utf-8")
    report = reports.dashboard(request.user, query)
    return exporting.xlsx_response(report, reports.budget_burn(request.user, query.period))


@require_GET
@domain_errors_to_http
def activity_results(request: HttpRequest, pk: int) -> HttpResponse:
    """The results card of an activity's page (a slot): sourced, influenced and credited
    conversions under the chosen model, ROI, cost per stage, a monthly chart, and the leads
    and deals it touched. 404 for an activity the user cannot see."""
    error = None
    try:
        model = reports.parse_model(request.GET.get("model"))
    except CampaignError as exc:
        model, error = reports.DEFAULT_MODEL, exc.message
    results = reports.activity_results(request.user, pk, model)
    stage_labels = {"lead": _("Leads"), "mql": _("MQLs"), "sal": _("SALs"),
                    "pipeline": _("Opportunities"), "won": _("Won deals")}
    stages = [{"stage": stage, "label": label,
               "sourced": results.sourced.count(stage),
               "influenced": results.influenced[stage][0],
               "credited": results.credited.count(stage),
               "amount": stage in ("pipeline", "won"),
               "sourced_amount": results.sourced.amount[stage],
               "influenced_amount": results.influenced[stage][1],
               "credited_amount": results.credited.amount[stage],
               "cost": results.credited.cost_per(stage) if stage in reports.COUNTED else None}
              for stage, label in stage_labels.items()]
    chart = {
        "months": [m.month.strftime("%Y-%m") for m in results.months],
        "series": [{"name": str(stage_labels[stage]),
                    "data": [_number(m.figures.count(stage)) for m in results.months]}
                   for stage in reports.COUNTED],
        "revenue": {"name": _("Won revenue"),
                    "data": [_number(m.figures.revenue) for m in results.months]},
    }
    return render(request, "campaigns/activity_results.html", {
        "activity": results.activity,
        "results": results,
        "stages": stages,
        "chart": chart,
        "model": model,
        "model_label": reports.model_label(model),
        "models": AttributionModel.choices,
        "error": error,
        "has_attribution": reports.has_attribution(),
    })
