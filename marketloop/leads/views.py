"""Pages for leads: the list, one lead with its history and the hand-off, marketing's triage
queue, the hand-off of a customer's new need, and the hand-off policies. Thin: parse input,
call one selector or service, render. A lead the user may not see is a 404."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketloop.crm import selectors as crm_selectors
from marketloop.crm.forms import submit
from marketloop.crm.models import Tier
from marketloop.crm.selectors import InvalidCursor
from marketloop.leads import selectors, services
from marketloop.leads.forms import (
    AcceptForm,
    DisqualifyForm,
    HandoffForm,
    LinkAccountForm,
    PolicyForm,
    QualifyForm,
    ReassignForm,
    RejectForm,
    TriageAssignForm,
)
from marketloop.leads.models import Lead, Stage, StageChange
from marketloop.leads.workhours import ZONE, working_hours_between
from marketloop.org import selectors as org_selectors
from marketloop.org.errors import NotFound
from marketloop.org.models import User
from marketloop.org.permissions import Action, can
from marketloop.web import domain_errors_to_http, is_partial, query_string, require_action

LIST_TARGET = "lead-results"


# ---- the list -----------------------------------------------------------------------------


@require_GET
def lead_list(request: HttpRequest) -> HttpResponse:
    flt = selectors.LeadFilter.from_params(request.GET)
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.lead_page(request.user, flt, cursor=cursor)
    except InvalidCursor:  # a stale or edited link: start again from the top
        page = selectors.lead_page(request.user, flt)
    params = request.GET
    context = {
        "page": page, "flt": flt, "is_first_page": not params.get("cursor"),
        "next_query": query_string(params, cursor=page.next_cursor) if page.next_cursor else None,
        "first_query": query_string(params, cursor=None),
        "stages": Stage.choices, "tiers": Tier.choices, "provinces": org_selectors.provinces(),
        "can_administer": can(request.user, Action.ADMINISTER),
    }
    template = "leads/_lead_results.html" if is_partial(request, LIST_TARGET) \
        else "leads/lead_list.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request, HX-Target, Cookie, Accept-Language"
    return response


@require_GET
def triage(request: HttpRequest) -> HttpResponse:
    """Marketing's queue: MQLs no team could take, with why."""
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.triage_page(request.user, cursor=cursor)
    except InvalidCursor:
        page = selectors.triage_page(request.user)
    reasons = {a.lead_id: a for a in selectors.latest_triage(page.items)}
    return render(request, "leads/triage.html", {
        "page": page, "rows": [(lead, reasons.get(lead.pk)) for lead in page.items],
        "is_first_page": not cursor,
        "next_query": (query_string(request.GET, cursor=page.next_cursor)
                       if page.next_cursor else None),
    })


# ---- one lead -----------------------------------------------------------------------------


def explain(change: StageChange) -> str:
    """Why a stage changed, as people read it: the rule's numbers, or the person's reason."""
    rule = change.rule or {}
    if change.cause != StageChange.Cause.RULE:
        return change.reason
    if rule.get("rule") == "known_person":
        return (_("A known person (a CRM contact) was scored.")
                if rule.get("identified_by") == "contact"
                else _("A known person (an email address) was scored."))
    numbers = {key: rule.get(key) for key in ("model", "fit", "engagement", "lead_engagement",
                                              "mql_fit", "mql_engagement", "requalify_at",
                                              "engagement_at_recycle")}
    if change.to_stage == Stage.LEAD:
        text = _("Engagement %(engagement)s ≥ %(lead_engagement)s") % numbers
    elif change.from_stage == Stage.RECYCLED:
        text = _("Fit %(fit)s ≥ %(mql_fit)s, engagement %(engagement)s ≥ %(mql_engagement)s "
                 "and ≥ %(requalify_at)s (%(engagement_at_recycle)s when recycled + "
                 "%(lead_engagement)s)") % numbers
    elif change.to_stage == Stage.MQL:
        text = _("Fit %(fit)s ≥ %(mql_fit)s and engagement %(engagement)s ≥ "
                 "%(mql_engagement)s") % numbers
    else:
        text = change.reason
    return _("%(numbers)s (scoring model “%(model)s”)") % {"numbers": text,
                                                         "model": numbers["model"]}


def _detail(request: HttpRequest, lead: Lead, *, status: int = 200, **forms: Any
            ) -> HttpResponse:
    user = request.user
    mine = lead.owner_id == user.pk
    marketing_mql = lead.stage == Stage.MQL and (lead.in_triage or lead.owner_id is None)
    can_edit = can(user, Action.EDIT)
    context: dict[str, Any] = {
        "lead": lead,
        "changes": [(change, explain(change)) for change in selectors.stage_changes(lead)],
        "assignments": selectors.assignments(lead),
        "score": selectors.current_score(lead),
        "can_accept": can_edit and mine and lead.stage == Stage.MQL,
        "can_reject": can_edit and mine and lead.stage in (Stage.MQL, Stage.SAL),
        "can_qualify": can_edit and lead.stage in services.MARKETING_STAGES,
        "can_disqualify": can_edit and (lead.stage in services.MARKETING_STAGES
                                        or marketing_mql),
        "can_reassign": can(user, Action.APPROVE) and lead.stage in (Stage.MQL, Stage.SAL)
        and lead.owner_id is not None and not lead.in_triage,
        "can_triage": can_edit and lead.in_triage,
        "can_open_opportunity": lead.stage == Stage.SAL and can(user, Action.CREATE),
        "hours_left": (working_hours_between(timezone.now(), lead.accept_due_at)
                       if lead.stage == Stage.MQL and lead.accept_due_at else None),
        "zone": ZONE,
    }
    context["failed_form"] = next(iter(forms.values()), None)
    context["reject_form"] = forms.get("reject_form") or RejectForm()
    context["qualify_form"] = forms.get("qualify_form") or QualifyForm()
    context["disqualify_form"] = forms.get("disqualify_form") or DisqualifyForm()
    if context["can_reassign"]:
        context["reassign_form"] = forms.get("reassign_form") or ReassignForm(
            people=selectors.people_to_assign(user))
    if context["can_triage"]:
        context["link_form"] = forms.get("link_form") or LinkAccountForm(
            accounts=crm_selectors.accounts_visible(user))
        context["assign_form"] = forms.get("assign_form") or TriageAssignForm(
            teams=selectors.teams(), people=selectors.people_to_assign(user))
    return render(request, "leads/lead_detail.html", context, status=status)


@require_GET
@domain_errors_to_http
def lead_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, selectors.lead_detail(request.user, pk))


def _after_write(request: HttpRequest, lead: Lead, done: str) -> HttpResponse:
    """Back to the lead, or to the list when the change took it out of the user's sight."""
    messages.success(request, done)
    try:
        selectors.lead_detail(request.user, lead.pk)
    except NotFound:
        return redirect("leads:lead_list")
    return redirect("leads:lead_detail", pk=lead.pk)


def _action(form_name: str, form_class: Callable[..., Any], action: Action,
            write: Callable[[HttpRequest, Lead, Any], Lead], done: Callable[[], str],
            **form_kwargs: Callable[[HttpRequest], Any]) -> Callable[..., HttpResponse]:
    """A POST on one lead: read it (404 if hidden), check the role (403), validate the form,
    run the service; errors are shown on the lead's page (422)."""

    @require_POST
    @domain_errors_to_http
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        lead = selectors.lead_detail(request.user, pk)
        require_action(request, action)
        form = form_class(request.POST, **{k: f(request) for k, f in form_kwargs.items()})
        if form.is_valid():
            result = submit(form, lambda: write(request, lead, form.cleaned_data))
            if result is not None:
                return _after_write(request, result, done())
        return _detail(request, lead, status=422, **{form_name: form})

    return view


lead_accept = _action(
    "accept_form", AcceptForm, Action.EDIT,
    lambda request, lead, data: services.accept(actor=request.user, lead=lead),
    lambda: _("Accepted: the lead is yours (SAL)."))
lead_reject = _action(
    "reject_form", RejectForm, Action.EDIT,
    lambda request, lead, data: services.reject(actor=request.user, lead=lead, **data),
    lambda: _("Rejected: the lead went back to marketing."))
lead_qualify = _action(
    "qualify_form", QualifyForm, Action.EDIT,
    lambda request, lead, data: services.qualify(actor=request.user, lead=lead, **data),
    lambda: _("Qualified and routed."))
lead_disqualify = _action(
    "disqualify_form", DisqualifyForm, Action.EDIT,
    lambda request, lead, data: services.disqualify(actor=request.user, lead=lead, **data),
    lambda: _("Disqualified."))
lead_reassign = _action(
    "reassign_form", ReassignForm, Action.APPROVE,
    lambda request, lead, data: services.reassign(actor=request.user, lead=lead, **data),
    lambda: _("Reassigned."), people=lambda request: selectors.people_to_assign(request.user))
triage_link = _action(
    "link_form", LinkAccountForm, Action.EDIT,
    lambda request, lead, data: services.link_account(actor=request.user, lead=lead, **data),
    lambda: _("Account linked; the lead was routed again."),
    accounts=lambda request: crm_selectors.accounts_visible(request.user))
triage_assign = _action(
    "assign_form", TriageAssignForm, Action.EDIT,
    lambda request, lead, data: services.assign_by_hand(actor=request.user, lead=lead, **data),
    lambda: _("Assigned."), teams=lambda request: selectors.teams(),
    people=lambda request: selectors.people_to_assign(request.user))


# ---- a customer's new need ----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def handoff(request: HttpRequest) -> HttpResponse:
    """Hand an existing customer's new need to sales: from a contact (?contact=), from an
    account (?account=, then one of its contacts), or by contact number."""
    require_action(request, Action.CREATE)
    user: User = request.user  # type: ignore[assignment]
    contact = account = None
    if request.method == "GET":
        contact_id, account_id = request.GET.get("contact", ""), request.GET.get("account", "")
        if contact_id.isdigit():
            contact = crm_selectors.contact_detail(user, int(contact_id))
            account = contact.account
        elif account_id.isdigit():
            account = crm_selectors.account_detail(user, int(account_id))
    choose_from = crm_selectors.contacts_of(user, account) if account is not None else None
    form = HandoffForm(request.POST or None, contacts=crm_selectors.contacts_visible(user),
                       choose_from=choose_from, fixed_contact=contact is not None,
                       initial={"contact": contact.pk if contact else None})
    if request.method == "POST" and form.is_valid():
        contact = form.cleaned_data["contact"]
        lead = submit(form, lambda: services.hand_off_need(
            actor=user, contact=contact, need=form.cleaned_data["need"],
            note=form.cleaned_data["note"]))
        if lead is not None:
            return _after_write(request, lead, _("Handed to sales."))
    return render(request, "leads/handoff.html", {
        "form": form, "contact": contact,
        "account": account or (contact.account if contact else None)},
        status=422 if form.errors else 200)


# ---- policies -------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def policies(request: HttpRequest) -> HttpResponse:
    require_action(request, Action.ADMINISTER)
    form = PolicyForm(request.POST or None, policies=selectors.policies())
    if request.method == "POST" and form.is_valid():
        saved = True
        for tier, (accept_within, remind_before) in form.values().items():
            saved = submit(form, lambda tier=tier, a=accept_within, r=remind_before:
                           services.save_policy(actor=request.user, tier=tier,
                                                accept_within_hours=a,
                                                remind_before_hours=r)) is not None and saved
        if saved:
            messages.success(request, _("Hand-off policies saved. They apply to new "
                                        "hand-offs."))
            return redirect("leads:policies")
    return render(request, "leads/policies.html", {"form": form},
                  status=422 if form.errors else 200)


# ---- the slot on a tracking profile's page ------------------------------------------------


@require_GET
@domain_errors_to_http
def profile_lead(request: HttpRequest, pk: int) -> HttpResponse:
    profile, contact, lead = selectors.profile_lead(request.user, pk)
    return render(request, "leads/_profile_lead.html",
                  {"profile": profile, "contact": contact, "lead": lead})
