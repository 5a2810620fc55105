"""Pages of the scoring context: the model in force (Settings → Scoring; editable by
`services.can_edit_model`, read-only for everyone else), its re-score runs, and the score
fragments the profile, contact and account pages load with HTMX. Thin: parse input, call one
selector or service, render. An invisible profile, contact or account is a 404."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketloop.crm.forms import submit
from marketloop.scoring import display, selectors, services
from marketloop.scoring.forms import EngagementRuleForm, FitRuleForm, ModelForm
from marketloop.scoring.models import RescoreRun
from marketloop.web import domain_errors_to_http

ACTIVE_RUN_STATES = {RescoreRun.Status.QUEUED, RescoreRun.Status.RUNNING}


def _require_editor(request: HttpRequest) -> None:
    if not services.can_edit_model(request.user):
        raise PermissionDenied


# ---- the model ------------------------------------------------------------------------------

def _runs_context() -> dict[str, Any]:
    runs = list(selectors.rescore_runs())
    return {"runs": runs, "polling": any(run.status in ACTIVE_RUN_STATES for run in runs)}


@require_GET
def model(request: HttpRequest) -> HttpResponse:
    view = selectors.model_view()
    names = display.Names()
    return render(request, "scoring/model.html", {
        "model": view.model,
        "fit_rules": [(rule, display.fit_rule_text(rule, names)) for rule in view.fit_rules],
        "engagement_rules": [(rule, display.engagement_rule_text(rule))
                             for rule in view.engagement_rules],
        "can_edit": services.can_edit_model(request.user),
        **_runs_context(),
    })


@require_GET
def rescore_runs(request: HttpRequest) -> HttpResponse:
    """The run list alone; the model page polls it while a run is queued or running."""
    return render(request, "scoring/_runs.html", _runs_context())


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def model_edit(request: HttpRequest) -> HttpResponse:
    _require_editor(request)
    current = selectors.model_view().model
    if current.pk is None:
        current = services.model_in_force()
    form = ModelForm(request.POST or None,
                     initial={name: getattr(current, name) for name in services.MODEL_FIELDS})
    if request.method == "POST" and form.is_valid():
        if submit(form, lambda: services.update_model(actor=request.user, model=current,
                                                      **form.cleaned_data)):
            messages.success(request, _("Scoring model saved."))
            return redirect("scoring:model")
    return render(request, "scoring/model_form.html", {"form": form, "model": current},
                  status=422 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def fit_rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    _require_editor(request)
    rule = selectors.fit_rule(pk) if pk is not None else None
    initial = {name: getattr(rule, name) for name in services.FIT_FIELDS} if rule else None
    form = FitRuleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        model = services.model_in_force()
        if submit(form, lambda: services.save_fit_rule(actor=request.user, model=model,
                                                       rule=rule, **form.cleaned_data)):
            messages.success(request, _("Rule saved; everyone is being re-scored."))
            return redirect("scoring:model")
    return render(request, "scoring/fit_rule_form.html",
                  {"form": form, "rule": rule, "values": selectors.fit_value_suggestions()},
                  status=422 if form.errors else 200)


@require_POST
@domain_errors_to_http
def fit_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require_editor(request)
    services.delete_fit_rule(actor=request.user, rule=selectors.fit_rule(pk))
    messages.success(request, _("Rule deleted; everyone is being re-scored."))
    return redirect("scoring:model")


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def engagement_rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    _require_editor(request)
    rule = selectors.engagement_rule(pk) if pk is not None else None
    initial = ({name: getattr(rule, name) for name in services.ENGAGEMENT_FIELDS}
               if rule else None)
    form = EngagementRuleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        model = services.model_in_force()
        if submit(form, lambda: services.save_engagement_rule(
                actor=request.user, model=model, rule=rule, **form.cleaned_data)):
            messages.success(request, _("Rule saved; everyone is being re-scored."))
            return redirect("scoring:model")
    return render(request, "scoring/engagement_rule_form.html", {"form": form, "rule": rule},
                  status=422 if form.errors else 200)


@require_POST
@domain_errors_to_http
def engagement_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _require_editor(request)
    services.delete_engagement_rule(actor=request.user, rule=selectors.engagement_rule(pk))
    messages.success(request, _("Rule deleted; everyone is being re-scored."))
    return redirect("scoring:model")


@require_POST
@domain_errors_to_http
def rescore(request: HttpRequest) -> HttpResponse:
    _require_editor(request)
    services.rescore_now(actor=request.user)
    messages.success(request, _("A full re-score is queued."))
    return redirect("scoring:model")


# ---- score fragments (HTMX) -----------------------------------------------------------------

def _profile_context(entry: selectors.ProfileScore, names: display.Names) -> dict[str, Any]:
    explanation = entry.explanation
    lines = display.lines_of(explanation, names)
    score, model = entry.score, explanation.model
    fit = score.fit if score else explanation.fit
    engagement = score.engagement if score else explanation.engagement
    return {
        "entry": entry,
        "name": entry.contact.name if entry.contact else _("Profile %(id)s") % {
            "id": entry.profile.pk},
        "fit": fit, "engagement": engagement, "total": fit + engagement,
        "is_lead": model.pk is not None and engagement >= model.lead_engagement,
        "is_mql": model.pk is not None and fit >= model.mql_fit
        and engagement >= model.mql_engagement,
        "lines": lines,
        "details": explanation.engagement_lines,
        "chart": display.waterfall(lines, explanation.total) if lines else None,
        "chart_id": f"score-chart-{entry.profile.pk}",
    }


@require_GET
@domain_errors_to_http
def profile_score(request: HttpRequest, pk: int) -> HttpResponse:
    entry = selectors.profile_score(request.user, pk)
    return render(request, "scoring/_profile_score.html",
                  {"subject": _profile_context(entry, display.Names())})


@require_GET
@domain_errors_to_http
def contact_score(request: HttpRequest, pk: int) -> HttpResponse:
    scores = selectors.contact_scores(request.user, pk)
    names = display.Names()
    return render(request, "scoring/_contact_score.html", {
        "contact": scores.contact,
        "subjects": [_profile_context(entry, names) for entry in scores.profiles]})


@require_GET
@domain_errors_to_http
def account_score(request: HttpRequest, pk: int) -> HttpResponse:
    view = selectors.account_score(request.user, pk)
    lines = display.fit_lines_of(view.fit_lines)
    return render(request, "scoring/_account_score.html",
                  {"view": view, "account": view.account, "roll_up": view.roll_up,
                   "lines": lines})
