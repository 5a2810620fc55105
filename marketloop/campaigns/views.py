"""Pages of marketing plans, activities and their budgets: thin views over services and
selectors. A plan or activity the user may not see is a 404, exactly like a missing one; a
refused write shows its (translated) message on the form it came from."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketloop.campaigns import budget, selectors, services
from marketloop.campaigns.forms import (
    ActivityForm,
    BudgetRequestForm,
    DecisionForm,
    PlanForm,
    SpendForm,
    StatusForm,
)
from marketloop.campaigns.models import (
    Activity,
    ActivityKind,
    ActivityLevel,
    ActivityStatus,
    MarketingPlan,
)
from marketloop.crm.forms import submit
from marketloop.crm.selectors import InvalidCursor
from marketloop.org.models import UnitKind
from marketloop.org.permissions import Action, can
from marketloop.web import domain_errors_to_http, is_partial, query_string, require_action

VARY = "HX-Request, HX-Target, Cookie, Accept-Language"
GOALS = ("goal_leads", "goal_mqls", "goal_pipeline", "goal_revenue")


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _list_context(request: HttpRequest, page: Any) -> dict[str, Any]:
    params = request.GET
    return {"page": page, "is_first_page": not params.get("cursor"),
            "next_query": query_string(params, cursor=page.next_cursor) if page.next_cursor
            else None,
            "first_query": query_string(params, cursor=None)}


def _owner_id(form: Any, field: str = "owner") -> int | None:
    """The user named by a username field, or a form error (None either way when empty)."""
    username = (form.cleaned_data.get(field) or "").strip()
    if not username:
        return None
    person = selectors.active_user(username)
    if person is None:
        form.add_error(field, _("No active user with this username."))
        return None
    return person.pk


# ---- plans -----------------------------------------------------------------------------------

@require_GET
def plan_list(request: HttpRequest) -> HttpResponse:
    flt = selectors.PlanFilter.from_params(request.GET)
    try:
        page = selectors.plan_page(request.user, flt, cursor=request.GET.get("cursor") or None)
    except InvalidCursor:  # a stale or edited link: start again from the top
        page = selectors.plan_page(request.user, flt)
    this_year = timezone.localdate().year
    context = {**_list_context(request, page), "flt": flt,
               "units": selectors.units_in_reach(request.user),
               "years": range(this_year + 1, this_year - 4, -1), "quarters": range(1, 5),
               "can_create": can(request.user, Action.CREATE)}
    template = ("campaigns/plan_list_results.html" if is_partial(request, "plan-results")
                else "campaigns/plan_list.html")
    response = render(request, template, context)
    response["Vary"] = VARY
    return response


def _plan_arguments(form: PlanForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {"name": data["name"], "year": data["year"], "quarter": data["quarter"],
            "budget": data["budget"], **{goal: data[goal] for goal in GOALS}}


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def plan_create(request: HttpRequest) -> HttpResponse:
    require_action(request, Action.CREATE)
    user = request.user
    today = timezone.localdate()
    form = PlanForm(request.POST or None, units=selectors.units_in_reach(user), initial={
        "year": today.year, "quarter": (today.month - 1) // 3 + 1, "owner": user.username,
        "owner_unit": user.unit_id})
    if request.method == "POST" and form.is_valid():
        owner_id = _owner_id(form)
        if not form.errors:
            plan = submit(form, lambda: services.create_plan(
                user=user, owner_unit_id=form.cleaned_data["owner_unit"].pk, owner_id=owner_id,
                **_plan_arguments(form)))
            if plan is not None:
                messages.success(request, _("Marketing plan created."))
                return redirect("campaigns:plan_detail", pk=plan.pk)
    return render(request, "campaigns/plan_form.html", {"form": form, "plan": None},
                  status=422 if form.errors else 200)


def _burn_chart(plan_burn: selectors.PlanBurn) -> dict[str, Any]:
    """The plan page's bar chart: per activity its budget line, approved budget and spend."""
    rows = plan_burn.activities
    return {
        "activities": [activity.code for activity, _burn in rows],
        "names": [activity.name for activity, _burn in rows],
        "series": [
            {"name": _("Budget line"), "data": [float(burn.budget) for _a, burn in rows]},
            {"name": _("Approved"), "data": [float(burn.approved) for _a, burn in rows]},
            {"name": _("Spent"), "data": [float(burn.spent) for _a, burn in rows]},
        ],
    }


@require_GET
@domain_errors_to_http
def plan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    plan_burn = selectors.plan_burn(request.user, pk)
    return render(request, "campaigns/plan_detail.html", {
        "plan": plan_burn.plan, "plan_burn": plan_burn, "chart": _burn_chart(plan_burn),
        "can_edit": can(request.user, Action.EDIT),
        "can_create": can(request.user, Action.CREATE)})


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def plan_edit(request: HttpRequest, pk: int) -> HttpResponse:
    plan = selectors.plan_detail(request.user, pk)
    require_action(request, Action.EDIT)
    initial = {"name": plan.name, "year": plan.year, "quarter": plan.quarter,
               "owner": plan.owner.username, "budget": plan.budget,
               **{goal: getattr(plan, goal) for goal in GOALS}}
    form = PlanForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        owner_id = _owner_id(form)
        if not form.errors:
            arguments = _plan_arguments(form)
            if owner_id is not None and owner_id != plan.owner_id:
                arguments["owner_id"] = owner_id
            if submit(form, lambda: services.update_plan(
                    user=request.user, plan_id=plan.pk, reason=form.cleaned_data["reason"],
                    **arguments)):
                messages.success(request, _("Marketing plan saved."))
                return redirect("campaigns:plan_detail", pk=plan.pk)
    return render(request, "campaigns/plan_form.html", {"form": form, "plan": plan},
                  status=422 if form.errors else 200)


# ---- activities --------------------------------------------------------------------------------

@require_GET
def activity_list(request: HttpRequest) -> HttpResponse:
    flt = selectors.ActivityFilter.from_params(request.GET)
    try:
        page = selectors.activity_page(request.user, flt,
                                       cursor=request.GET.get("cursor") or None)
    except InvalidCursor:
        page = selectors.activity_page(request.user, flt)
    context = {**_list_context(request, page), "flt": flt,
               "kinds": ActivityKind.choices, "levels": ActivityLevel.choices,
               "statuses": ActivityStatus.choices,
               "units": selectors.units_in_reach(request.user),
               "plans": selectors.plan_choices(request.user),
               "can_create": can(request.user, Action.CREATE)}
    template = ("campaigns/activity_list_results.html"
                if is_partial(request, "activity-results") else "campaigns/activity_list.html")
    response = render(request, template, context)
    response["Vary"] = VARY
    return response


def _activity_form(request: HttpRequest, **kwargs: Any) -> ActivityForm:
    units = selectors.units_in_reach(request.user)
    return ActivityForm(request.POST or None, units=units,
                        partners=units.filter(kind=UnitKind.PARTNER), **kwargs)


def _activity_arguments(form: ActivityForm, owner_id: int | None) -> dict[str, Any]:
    data = form.cleaned_data
    partner = data.get("partner")
    return {"name": data["name"], "code": data["code"], "kind": data["kind"],
            "level": data["level"], "owner_unit_id": data["owner_unit"].pk,
            "partner_id": partner.pk if partner else None, "owner_id": owner_id,
            "starts_on": data["starts_on"], "ends_on": data["ends_on"],
            "audience": data["audience"], "budget": data["budget"],
            **{goal: data[goal] for goal in GOALS}}


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def activity_create(request: HttpRequest) -> HttpResponse:
    """A new activity; `?plan=<id>` adds it to that plan."""
    require_action(request, Action.CREATE)
    user = request.user
    plan: MarketingPlan | None = None
    plan_id = _int(request.GET.get("plan"))
    if plan_id is not None:
        plan = selectors.plan_detail(user, plan_id)
    initial: dict[str, Any] = {"owner_unit": plan.owner_unit_id if plan else user.unit_id}
    if plan is not None:
        first, _last = services.quarter_bounds(plan.year, plan.quarter)
        initial.update({"plan": plan.pk, "starts_on": first, "ends_on": first})
    form = _activity_form(request, plans=selectors.plans_visible(user), initial=initial,
                          fixed_plan=plan is not None)
    if request.method == "POST" and form.is_valid():
        owner_id = _owner_id(form)
        if not form.errors:
            activity = submit(form, lambda: services.create_activity(
                user=user, plan_id=form.cleaned_data["plan"].pk,
                **_activity_arguments(form, owner_id)))
            if activity is not None:
                messages.success(request, _("Activity created with the code %(code)s.")
                                 % {"code": activity.code})
                return redirect("campaigns:activity_detail", pk=activity.pk)
    return render(request, "campaigns/activity_form.html",
                  {"form": form, "activity": None, "plan": plan, "plan_visible": True},
                  status=422 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def activity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    activity = selectors.activity_detail(request.user, pk)
    require_action(request, Action.EDIT)
    initial = {name: getattr(activity, name)
               for name in ("name", "code", "kind", "level", "starts_on", "ends_on", "audience",
                            "budget", *GOALS)}
    initial.update({"owner_unit": activity.owner_unit_id, "partner": activity.partner_id,
                    "owner": activity.owner.username if activity.owner else ""})
    form = _activity_form(request, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        owner_id = _owner_id(form)
        if not form.errors:
            if submit(form, lambda: services.update_activity(
                    user=request.user, activity_id=activity.pk,
                    reason=form.cleaned_data["reason"], **_activity_arguments(form, owner_id))):
                messages.success(request, _("Activity saved."))
                return redirect("campaigns:activity_detail", pk=activity.pk)
    return render(request, "campaigns/activity_form.html",
                  {"form": form, "activity": activity, "plan": activity.plan,
                   "plan_visible": selectors.can_see_plan(request.user, activity.plan)},
                  status=422 if form.errors else 200)


def _detail_page(request: HttpRequest, activity: Activity, *,
                 status_form: StatusForm | None = None,
                 request_form: BudgetRequestForm | None = None,
                 spend_form: SpendForm | None = None, decision_error: str = "",
                 status: int = 200) -> HttpResponse:
    user = request.user
    return render(request, "campaigns/activity_detail.html", {
        "activity": activity,
        "plan": activity.plan,
        "plan_visible": selectors.can_see_plan(user, activity.plan),
        "requests": selectors.budget_requests(activity),
        "spend": selectors.spend_of(activity),
        "can_edit": can(user, Action.EDIT),
        "can_decide": budget.can_decide(user, activity.plan),
        "status_form": status_form or StatusForm(initial={"status": activity.status}),
        "request_form": request_form or BudgetRequestForm(),
        "spend_form": spend_form or SpendForm(),
        "decision_error": decision_error,
    }, status=status)


@require_GET
@domain_errors_to_http
def activity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, selectors.activity_detail(request.user, pk))


@require_POST
@domain_errors_to_http
def activity_status(request: HttpRequest, pk: int) -> HttpResponse:
    activity = selectors.activity_detail(request.user, pk)
    require_action(request, Action.EDIT)
    form = StatusForm(request.POST)
    if form.is_valid() and submit(form, lambda: services.set_status(
            user=request.user, activity_id=activity.pk, status=form.cleaned_data["status"])):
        messages.success(request, _("Status changed."))
        return redirect("campaigns:activity_detail", pk=activity.pk)
    return _detail_page(request, activity, status_form=form, status=422)


# ---- budget ------------------------------------------------------------------------------------

@require_POST
@domain_errors_to_http
def budget_request(request: HttpRequest, pk: int) -> HttpResponse:
    activity = selectors.activity_detail(request.user, pk)
    require_action(request, Action.EDIT)
    form = BudgetRequestForm(request.POST)
    if form.is_valid() and submit(form, lambda: budget.request_budget(
            user=request.user, activity_id=activity.pk, **form.cleaned_data)):
        messages.success(request, _("Budget requested; the plan's owner has been told."))
        return redirect("campaigns:activity_detail", pk=activity.pk)
    return _detail_page(request, activity, request_form=form, status=422)


@require_POST
@domain_errors_to_http
def budget_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """The plan's owner approves or rejects one of the activity's pending requests."""
    activity = selectors.activity_detail(request.user, pk)
    form = DecisionForm(request.POST, requests=selectors.budget_requests(activity))
    if form.is_valid():
        approve = form.cleaned_data["decision"] == "approve"
        decided = submit(form, lambda: budget.decide_budget_request(
            user=request.user, request_id=form.cleaned_data["request"].pk, approve=approve,
            note=form.cleaned_data["note"]))
        if decided is not None:
            messages.success(request, _("Budget request approved.") if approve
                             else _("Budget request rejected."))
            return redirect("campaigns:activity_detail", pk=activity.pk)
    error = " ".join(str(e) for errors in form.errors.values() for e in errors)
    return _detail_page(request, activity, decision_error=error, status=422)


@require_POST
@domain_errors_to_http
def spend_create(request: HttpRequest, pk: int) -> HttpResponse:
    activity = selectors.activity_detail(request.user, pk)
    require_action(request, Action.EDIT)
    form = SpendForm(request.POST, request.FILES)
    if form.is_valid() and submit(form, lambda: budget.record_spend(
            user=request.user, activity_id=activity.pk, **form.cleaned_data)):
        messages.success(request, _("Spend recorded."))
        return redirect("campaigns:activity_detail", pk=activity.pk)
    return _detail_page(request, activity, spend_form=form, status=422)


@require_GET
@domain_errors_to_http
def spend_attachment(request: HttpRequest, pk: int, attachment_id: int) -> HttpResponse:
    """Download a file behind a spend record, through an activity the user may see."""
    attachment = selectors.spend_attachment(request.user, pk, attachment_id)
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404(_("The file is no longer stored.")) from None
    return FileResponse(handle, as_attachment=True, filename=attachment.name,
                        content_type=attachment.content_type or "application/octet-stream")
