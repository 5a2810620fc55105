"""Pages of the sales context: the opportunity list and kanban, a deal's page with its team and
stage moves, the forms, the opportunities card on an account's page (loaded with HTMX) and the
sales settings. Thin: parse input, call one selector or service, render. A deal or account the
user may not see is a 404, exactly like a missing one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import unquote

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketloop.audit.selectors import trail_of
from marketloop.crm import selectors as crm_selectors
from marketloop.crm.forms import submit
from marketloop.crm.selectors import InvalidCursor
from marketloop.org.errors import NotFound
from marketloop.org.permissions import Action, can
from marketloop.sales import selectors, services
from marketloop.sales.forms import (
    EditOpportunityForm,
    NewOpportunityForm,
    SettingsForm,
    StageForm,
    TeamMemberForm,
    TeamRemoveForm,
)
from marketloop.sales.models import OPEN_OPPORTUNITY_STAGES, Opportunity, OpportunityStage
from marketloop.sales.permissions import can_edit_deal
from marketloop.web import domain_errors_to_http, is_partial, query_string, require_action

TRAIL_LIMIT = 50
DEFAULT_CLOSE_DAYS = 90


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() else None


# ---- the audit trail --------------------------------------------------------------------------

FIELD_LABELS = {
    "name": gettext_lazy("Name"), "account": gettext_lazy("Account"),
    "amount": gettext_lazy("Amount"), "currency": gettext_lazy("Currency"),
    "amount_cny": gettext_lazy("Amount (CNY)"), "stage": gettext_lazy("Stage"),
    "probability": gettext_lazy("Probability (%)"),
    "expected_close": gettext_lazy("Expected close"), "big_deal": gettext_lazy("Big deal"),
    "close_reason": gettext_lazy("Won or lost because"), "owner_unit": gettext_lazy("Owner unit"),
    "partner": gettext_lazy("Partner"), "owner": gettext_lazy("Owner"),
    "products": gettext_lazy("Products"), "competitors": gettext_lazy("Competitors"),
    "team": gettext_lazy("Deal team"),
}
ACTION_LABELS = {
    "created": gettext_lazy("Created"), "updated": gettext_lazy("Updated"),
    "moved": gettext_lazy("Stage moved"), "won": gettext_lazy("Won"),
    "lost": gettext_lazy("Lost"), "reopened": gettext_lazy("Reopened"),
    "team_added": gettext_lazy("Joined the deal team"),
    "team_removed": gettext_lazy("Left the deal team"),
}


def _shown(field: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if value is True:
        return _("Yes")
    if value is False:
        return _("No")
    if field == "stage" and value in OpportunityStage.values:
        return str(OpportunityStage(value).label)
    return str(value)


def _trail(opportunity: Opportunity) -> list[dict[str, Any]]:
    rows = []
    for entry in trail_of(opportunity)[:TRAIL_LIMIT]:
        changes = [{"field": str(FIELD_LABELS.get(field, field)),
                    "before": _shown(field, pair[0]), "after": _shown(field, pair[1])}
                   for field, pair in (entry.changes or {}).items()
                   if isinstance(pair, list | tuple) and len(pair) == 2]
        rows.append({"at": entry.at, "actor": entry.actor,
                     "action": str(ACTION_LABELS.get(entry.action, entry.action)),
                     "changes": changes, "reason": entry.reason})
    return rows


# ---- list and kanban --------------------------------------------------------------------------

def _filter_context(request: HttpRequest, flt: selectors.OpportunityFilter) -> dict[str, Any]:
    account = None
    if flt.account:
        try:
            account = crm_selectors.account_detail(request.user, flt.account)
        except NotFound:
            account = None
    return {"flt": flt, "filter_account": account, "stages": OpportunityStage.choices,
            "can_create": can(request.user, Action.CREATE)}


@require_GET
def opportunity_list(request: HttpRequest) -> HttpResponse:
    flt = selectors.OpportunityFilter.from_params(request.GET)
    try:
        page = selectors.opportunity_page(request.user, flt,
                                          cursor=request.GET.get("cursor") or None)
    except InvalidCursor:  # a stale or edited link: start again from the top
        page = selectors.opportunity_page(request.user, flt)
    params = request.GET
    context = {
        **_filter_context(request, flt),
        "page": page,
        "totals": selectors.opportunity_totals(request.user, flt),
        "is_first_page": not params.get("cursor"),
        "next_query": query_string(params, cursor=page.next_cursor) if page.next_cursor else None,
        "first_query": query_string(params, cursor=None),
    }
    template = ("sales/_opportunity_results.html"
                if is_partial(request, "opportunity-results") else "sales/opportunity_list.html")
    response = render(request, template, context)
    response["Vary"] = "HX-Request, HX-Target, Cookie, Accept-Language"
    return response


def _kanban_context(request: HttpRequest, params: QueryDict, error: str = "") -> dict[str, Any]:
    flt = selectors.OpportunityFilter.from_params(params)
    columns = selectors.kanban(request.user, flt)
    return {**_filter_context(request, flt), "columns": columns, "error": error,
            "list_query": query_string(params, csrfmiddlewaretoken=None, stage=None, reason=None)}


@require_GET
def kanban(request: HttpRequest) -> HttpResponse:
    context = _kanban_context(request, request.GET)
    template = "sales/_kanban_board.html" if is_partial(request, "kanban") else "sales/kanban.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request, HX-Target, Cookie, Accept-Language"
    return response


# ---- one opportunity --------------------------------------------------------------------------

def _detail_page(request: HttpRequest, opportunity: Opportunity, *,
                 stage_form: StageForm | None = None, team_form: TeamMemberForm | None = None,
                 team_error: str = "", status: int = 200) -> HttpResponse:
    editable = can_edit_deal(request.user, opportunity)
    return render(request, "sales/opportunity_detail.html", {
        "opportunity": opportunity,
        "can_edit": editable,
        "stage_form": stage_form or StageForm(),
        "team_form": team_form or TeamMemberForm(),
        "team_error": team_error,
        "candidates": selectors.team_candidates(opportunity) if editable else [],
        "open_stages": [(s.value, s.label) for s in OPEN_OPPORTUNITY_STAGES],
        "trail": _trail(opportunity),
    }, status=status)


@require_GET
@domain_errors_to_http
def opportunity_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail_page(request, selectors.opportunity_detail(request.user, pk))


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def opportunity_create(request: HttpRequest) -> HttpResponse:
    """A new opportunity; `?lead=<id>` opens it from an accepted lead, `?account=<id>` at an
    account."""
    require_action(request, Action.CREATE)
    user = request.user
    lead = account = None
    lead_id = _int(request.GET.get("lead"))
    if lead_id is not None:
        lead = selectors.accepted_lead(user, lead_id)
        account = lead.account
    elif (account_id := _int(request.GET.get("account"))) is not None:
        account = crm_selectors.account_detail(user, account_id)
    name = ""
    if account is not None:
        name = _("%(account)s project") % {"account": account.name}
    form = NewOpportunityForm(
        request.POST or None, accounts=crm_selectors.accounts_visible(user),
        fixed_account=account is not None, products=selectors.products(),
        competitors=selectors.competitors(),
        initial={"account": account.pk if account else None, "name": name,
                 "expected_close": timezone.localdate() + timedelta(days=DEFAULT_CLOSE_DAYS)})
    if request.method == "POST" and form.is_valid():
        opportunity = submit(form, lambda: services.create_opportunity(
            user=user, lead_id=lead.pk if lead else None, **form.service_arguments()))
        if opportunity is not None:
            messages.success(request, _("Opportunity opened."))
            return redirect("sales:opportunity_detail", pk=opportunity.pk)
    return render(request, "sales/opportunity_form.html",
                  {"form": form, "opportunity": None, "account": account, "lead": lead},
                  status=422 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def opportunity_edit(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = selectors.opportunity_detail(request.user, pk)
    require_action(request, Action.EDIT)
    if request.method == "GET" and not can_edit_deal(request.user, opportunity):
        raise PermissionDenied
    initial = {"name": opportunity.name, "amount": opportunity.amount,
               "currency": opportunity.currency, "expected_close": opportunity.expected_close,
               "products": list(opportunity.products.all()),
               "competitors": list(opportunity.competitors.all())}
    form = EditOpportunityForm(request.POST or None, initial=initial,
                               products=selectors.products(),
                               competitors=selectors.competitors())
    if request.method == "POST" and form.is_valid():
        if submit(form, lambda: services.update_opportunity(
                user=request.user, opportunity_id=opportunity.pk, **form.service_arguments())):
            messages.success(request, _("Opportunity saved."))
            return redirect("sales:opportunity_detail", pk=opportunity.pk)
    return render(request, "sales/opportunity_form.html",
                  {"form": form, "opportunity": opportunity, "account": opportunity.account},
                  status=422 if form.errors else 200)


def _prompt_answer(request: HttpRequest) -> str:
    """The answer to hx-prompt. A header cannot carry Chinese: HTMX then sends it URI-encoded
    and says so in a second header."""
    answer = request.headers.get("HX-Prompt", "")
    if request.headers.get("HX-Prompt-URI-AutoEncoded") == "true":
        answer = unquote(answer)
    return answer


@require_POST
@domain_errors_to_http
def opportunity_stage(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a deal. From the kanban (HTMX, target #kanban) the board comes back, with the
    error on top if the move was refused; the reason may come from the browser's prompt."""
    opportunity = selectors.opportunity_detail(request.user, pk)
    require_action(request, Action.EDIT)
    data = request.POST.copy()
    if not data.get("reason") and request.headers.get("HX-Prompt"):
        data["reason"] = _prompt_answer(request)
    form = StageForm(data)
    moved = None
    if form.is_valid():
        moved = submit(form, lambda: services.move_stage(
            user=request.user, opportunity_id=opportunity.pk, **form.cleaned_data))
    if is_partial(request, "kanban"):
        error = "" if moved else " ".join(e for errors in form.errors.values() for e in errors)
        return render(request, "sales/_kanban_board.html",
                      _kanban_context(request, request.POST, error=error))
    if moved is not None:
        messages.success(request, _("Moved to %(stage)s.") % {"stage": moved.get_stage_display()})
        return redirect("sales:opportunity_detail", pk=opportunity.pk)
    return _detail_page(request, opportunity, stage_form=form, status=422)


@require_POST
@domain_errors_to_http
def team_add(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = selectors.opportunity_detail(request.user, pk)
    require_action(request, Action.EDIT)
    form = TeamMemberForm(request.POST)
    if form.is_valid():
        member = selectors.active_user(form.cleaned_data["username"])
        if member is None:
            form.add_error("username", _("No active user with this username."))
        elif submit(form, lambda: services.add_team_member(
                user=request.user, opportunity_id=opportunity.pk, member_id=member.pk,
                role=form.cleaned_data["role"])):
            messages.success(request, _("%(user)s joined the deal team.") % {"user": member})
            return redirect("sales:opportunity_detail", pk=opportunity.pk)
    return _detail_page(request, opportunity, team_form=form, status=422)


@require_POST
@domain_errors_to_http
def team_remove(request: HttpRequest, pk: int) -> HttpResponse:
    opportunity = selectors.opportunity_detail(request.user, pk)
    require_action(request, Action.EDIT)
    form = TeamRemoveForm(request.POST)
    if form.is_valid():
        if submit(form, lambda: services.remove_team_member(
                user=request.user, opportunity_id=opportunity.pk,
                member_id=form.cleaned_data["member"])):
            messages.success(request, _("Removed from the deal team."))
            return redirect("sales:opportunity_detail", pk=opportunity.pk)
    error = " ".join(e for errors in form.errors.values() for e in errors) or _(
        "Choose a member of the team.")
    return _detail_page(request, opportunity, team_error=error, status=422)


@require_GET
@domain_errors_to_http
def account_opportunities(request: HttpRequest, pk: int) -> HttpResponse:
    """The opportunities card's body on an account's page."""
    account, items, total = selectors.account_opportunities(request.user, pk)
    return render(request, "sales/_account_opportunities.html", {
        "account": account, "items": items, "total": total,
        "can_create": can(request.user, Action.CREATE)})


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def sales_settings(request: HttpRequest) -> HttpResponse:
    require_action(request, Action.ADMINISTER)
    current = selectors.sales_settings()
    form = SettingsForm(request.POST or None, initial=SettingsForm.initial_from(current))
    if request.method == "POST" and form.is_valid():
        if submit(form, lambda: services.update_settings(user=request.user,
                                                         **form.service_arguments())):
            messages.success(request, _("Sales settings saved; open opportunities follow them."))
            return redirect("sales:settings")
    return render(request, "sales/settings.html",
                  {"form": form, "settings": current},
                  status=422 if form.errors else 200)
