"""Attribution pages: the settings with the runs (progress polled by HTMX), and the journey
and credit panel of an opportunity or a lead (an HTMX fragment on their pages)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketloop.campaigns.attribution import selectors, services
from marketloop.campaigns.errors import CampaignError
from marketloop.campaigns.models import AttributionRun, AttributionSettings
from marketloop.org.permissions import Action, can
from marketloop.web import domain_errors_to_http, require_action

ACTIVE = {AttributionRun.Status.QUEUED, AttributionRun.Status.RUNNING}


class SettingsForm(forms.ModelForm):
    class Meta:
        model = AttributionSettings
        fields = ["lookback_days", "half_life_days"]
        help_texts = {
            "lookback_days": gettext_lazy("Touchpoints this many days before a conversion "
                                          "make up its journey."),
            "half_life_days": gettext_lazy("Time decay: a touch this many days older than "
                                           "the latest counts half as much."),
        }


def _runs_context() -> dict[str, Any]:
    runs = selectors.latest_runs()
    return {"runs": runs, "polling": any(run.status in ACTIVE for run in runs)}


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def settings_page(request: HttpRequest) -> HttpResponse:
    current = selectors.current_settings()
    can_edit = can(request.user, Action.ADMINISTER)
    form = SettingsForm(request.POST or None, instance=AttributionSettings(
        lookback_days=current.lookback_days, half_life_days=current.half_life_days))
    if request.method == "POST":
        require_action(request, Action.ADMINISTER)
        if form.is_valid():
            try:
                services.update_settings(user=request.user, **form.cleaned_data)
            except CampaignError as exc:
                for field, problems in (exc.errors or {}).items():
                    for problem in problems:
                        form.add_error(field if field in form.fields else None, problem)
            else:
                messages.success(request, _("Attribution settings saved; credit is being "
                                            "computed again."))
                return redirect("campaigns:attribution_settings")
    return render(request, "campaigns/attribution_settings.html", {
        "form": form, "settings": current, "can_edit": can_edit,
        "last_run": selectors.last_finished_run(), **_runs_context()},
        status=422 if form.errors else 200)


@require_POST
@domain_errors_to_http
def run_now(request: HttpRequest) -> HttpResponse:
    services.request_run(user=request.user)
    messages.success(request, _("An attribution run is queued."))
    return redirect("campaigns:attribution_settings")


@require_GET
def runs(request: HttpRequest) -> HttpResponse:
    """The run list alone; the settings page polls it while a run is queued or running."""
    return render(request, "campaigns/_attribution_runs.html", _runs_context())


@require_GET
@domain_errors_to_http
def opportunity_journey(request: HttpRequest, pk: int) -> HttpResponse:
    journey = selectors.opportunity_journey(request.user, pk)
    return render(request, "campaigns/_journey.html", {
        "journey": journey, "chart_id": f"journey-chart-opportunity-{pk}",
        "last_run": selectors.last_finished_run()})


@require_GET
@domain_errors_to_http
def lead_journey(request: HttpRequest, pk: int) -> HttpResponse:
    journey = selectors.lead_journey(request.user, pk, request.GET.get("stage") or None)
    return render(request, "campaigns/_journey.html", {
        "journey": journey, "chart_id": f"journey-chart-lead-{pk}",
        "lead_id": pk, "stages": selectors.lead_stages_of(request.user, pk),
        "last_run": selectors.last_finished_run()})
