"""Pages for accounts, contacts and tier rules. Thin: parse input, call one selector or
service, render. Reads go through crm.selectors (the visibility scope), writes through
crm.services; a DomainError is shown on the form, an invisible record is a 404."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketloop.audit.selectors import trail_of
from marketloop.crm import selectors, services
from marketloop.crm.forms import (
    AccountEditForm,
    AccountForm,
    ConsentForm,
    ContactForm,
    NewContactForm,
    TierRuleForm,
    submit,
)
from marketloop.crm.models import RerouteRun, RevenueBand, Tier
from marketloop.org import selectors as org_selectors
from marketloop.org.errors import NotFound
from marketloop.org.permissions import Action, can
from marketloop.web import domain_errors_to_http, is_partial, query_string, require_action

TRAIL_LIMIT = 50
CONTACTS_ON_ACCOUNT = 100  # and subsidiaries: a page shows at most this many


def _render_list(request: HttpRequest, page_template: str, partial_template: str, target: str,
                 context: dict[str, Any]) -> HttpResponse:
    template = partial_template if is_partial(request, target) else page_template
    response = render(request, template, context)
    response["Vary"] = "HX-Request, HX-Target, Cookie, Accept-Language"
    return response


def _export_url(params: QueryDict, fmt: str) -> str | None:
    try:
        base = reverse("data:account_export")
    except NoReverseMatch:
        return None
    return f"{base}?{query_string(params, cursor=None, format=fmt)}"


# ---- presentation of the audit trail ------------------------------------------------------

FIELD_LABELS = {
    "name": gettext_lazy("Name"),
    "credit_code": gettext_lazy("Credit code"),
    "industry": gettext_lazy("Industry"),
    "industry_rank": gettext_lazy("Rank within industry"),
    "province": gettext_lazy("Province"),
    "revenue_band": gettext_lazy("Revenue band"),
    "revenue_bands": gettext_lazy("Revenue bands"),
    "parent": gettext_lazy("Parent account"),
    "tier": gettext_lazy("Tier"),
    "owner_unit": gettext_lazy("Owner unit"),
    "owner": gettext_lazy("Owner"),
    "owner_kind": gettext_lazy("Owned by"),
    "partner": gettext_lazy("Partner"),
    "title": gettext_lazy("Job title"),
    "is_management": gettext_lazy("Management level"),
    "email": gettext_lazy("Email"),
    "mobile": gettext_lazy("Mobile"),
    "account": gettext_lazy("Account"),
    "priority": gettext_lazy("Priority"),
    "rank_min": gettext_lazy("Lowest rank"),
    "rank_max": gettext_lazy("Highest rank"),
    "active": gettext_lazy("Active"),
}

ACTION_LABELS = {
    "created": gettext_lazy("Created"),
    "updated": gettext_lazy("Updated"),
    "rerouted": gettext_lazy("Re-routed"),
    "consent": gettext_lazy("Consent recorded"),
    "deleted": gettext_lazy("Deleted"),
    "imported": gettext_lazy("Imported"),
}


def _shown(field: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if value is True:
        return _("Yes")
    if value is False:
        return _("No")
    if field == "tier" and value in Tier.values:
        return str(Tier(value).label)
    if field == "revenue_band" and value in RevenueBand.values:
        return str(RevenueBand(value).label)
    if field.startswith("consent:"):
        return {"granted": _("Granted"), "withdrawn": _("Withdrawn")}.get(value, str(value))
    return str(value)


def _field_label(field: str) -> str:
    if field.startswith("consent:"):
        return _("Consent: %(purpose)s") % {"purpose": field.split(":", 1)[1]}
    return str(FIELD_LABELS.get(field, field))


def _trail(obj: Any) -> list[dict[str, Any]]:
    rows = []
    for entry in trail_of(obj)[:TRAIL_LIMIT]:
        changes = [
            {"field": _field_label(field), "before": _shown(field, pair[0]),
             "after": _shown(field, pair[1])}
            for field, pair in (entry.changes or {}).items()
            if isinstance(pair, list | tuple) and len(pair) == 2
        ]
        rows.append({"at": entry.at, "actor": entry.actor,
                     "action": str(ACTION_LABELS.get(entry.action, entry.action)),
                     "changes": changes, "reason": entry.reason})
    return rows


# ---- accounts -----------------------------------------------------------------------------

def home(request: HttpRequest) -> HttpResponse:
    return redirect("crm:account_list")


def _account_filter(request: HttpRequest) -> selectors.AccountFilter:
    flt = selectors.AccountFilter.from_params(request.GET)
    if request.GET.get("mine"):
        flt.owner = request.user.pk
    return flt


@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    flt = _account_filter(request)
    try:
        page = selectors.account_page(request.user, flt, cursor=request.GET.get("cursor") or None)
    except selectors.InvalidCursor:  # a stale or edited link: start again from the top
        page = selectors.account_page(request.user, flt)
    params = request.GET
    context = {
        "page": page,
        "flt": flt,
        "mine": bool(params.get("mine")),
        "is_first_page": not params.get("cursor"),
        "next_query": query_string(params, cursor=page.next_cursor) if page.next_cursor else None,
        "first_query": query_string(params, cursor=None),
        "tiers": Tier.choices,
        "industries": selectors.industries(),
        "provinces": org_selectors.provinces(),
        "sorts": [("name", _("Name A–Z")), ("-name", _("Name Z–A")),
                  ("rank", _("Industry rank")), ("-updated", _("Recently updated"))],
        "can_create": can(request.user, Action.CREATE),
        "export_csv": None,
        "export_xlsx": None,
    }
    if can(request.user, Action.EXPORT):
        context["export_csv"] = _export_url(params, "csv")
        context["export_xlsx"] = _export_url(params, "xlsx")
    return _render_list(request, "crm/account_list.html", "crm/_account_results.html",
                        "account-results", context)


@require_GET
@domain_errors_to_http
def account_detail(request: HttpRequest, pk: int) -> HttpResponse:
    account = selectors.account_detail(request.user, pk)
    return render(request, "crm/account_detail.html", {
        "account": account,
        "parent": selectors.parent_of(request.user, account),
        "subsidiaries": selectors.subsidiaries(request.user, account)[:CONTACTS_ON_ACCOUNT],
        "contacts": selectors.contacts_of(request.user, account)[:CONTACTS_ON_ACCOUNT],
        "contacts_limit": CONTACTS_ON_ACCOUNT,
        "trail": _trail(account),
        "can_edit": can(request.user, Action.EDIT),
        "can_create": can(request.user, Action.CREATE),
    })


def _account_form(request: HttpRequest, form_class: type[AccountForm], **kwargs: Any
                  ) -> AccountForm:
    return form_class(request.POST or None, industries=selectors.industries(),
                      provinces=org_selectors.provinces(),
                      accounts=selectors.accounts_visible(request.user), **kwargs)


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def account_create(request: HttpRequest) -> HttpResponse:
    require_action(request, Action.CREATE)
    form = _account_form(request, AccountForm)
    if request.method == "POST" and form.is_valid():
        account = submit(form, lambda: services.create_account(actor=request.user,
                                                                **form.cleaned_data))
        if account is not None:
            return _after_create(request, account)
    return render(request, "crm/account_form.html", {"form": form, "account": None},
                  status=422 if form.errors else 200)


def _after_create(request: HttpRequest, account: Any) -> HttpResponse:
    """Open the new account, unless the rules routed it to a unit the creator cannot see."""
    try:
        selectors.account_detail(request.user, account.pk)
    except NotFound:
        messages.info(request, _("“%(name)s” was created and routed to %(unit)s, so it is not "
                                 "in your list.") % {"name": account.name,
                                                     "unit": account.owner_unit.display_name})
        return redirect("crm:account_list")
    return redirect("crm:account_detail", pk=account.pk)


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def account_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_action(request, Action.EDIT)
    account = selectors.account_detail(request.user, pk)
    initial = {"name": account.name, "credit_code": account.credit_code,
               "industry": account.industry_id, "industry_rank": account.industry_rank,
               "province": account.province_id, "revenue_band": account.revenue_band,
               "parent": account.parent_id}
    form = _account_form(request, AccountEditForm, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        reason = changes.pop("reason", "")
        changes["revenue_band"] = changes.get("revenue_band") or ""
        if submit(form, lambda: services.update_account(
                actor=request.user, account=account, reason=reason, **changes)):
            return redirect("crm:account_detail", pk=account.pk)
    return render(request, "crm/account_form.html", {"form": form, "account": account},
                  status=422 if form.errors else 200)


# ---- contacts -----------------------------------------------------------------------------

@require_GET
@domain_errors_to_http
def contact_list(request: HttpRequest) -> HttpResponse:
    flt = selectors.ContactFilter.from_params(request.GET)
    try:
        page = selectors.contact_page(request.user, flt, cursor=request.GET.get("cursor") or None)
    except selectors.InvalidCursor:  # a stale or edited link: start again from the top
        page = selectors.contact_page(request.user, flt)
    account = None
    if flt.account:
        try:
            account = selectors.account_detail(request.user, flt.account)
        except NotFound:
            account = None
    params = request.GET
    context = {
        "page": page,
        "flt": flt,
        "account": account,
        "is_first_page": not params.get("cursor"),
        "next_query": query_string(params, cursor=page.next_cursor) if page.next_cursor else None,
        "first_query": query_string(params, cursor=None),
        "sorts": [("name", _("Name A–Z")), ("-updated", _("Recently updated"))],
        "can_create": can(request.user, Action.CREATE),
    }
    return _render_list(request, "crm/contact_list.html", "crm/_contact_results.html",
                        "contact-results", context)


def _contact_page(request: HttpRequest, contact: Any, consent_form: ConsentForm,
                  status: int = 200) -> HttpResponse:
    return render(request, "crm/contact_detail.html", {
        "contact": contact,
        "consents": selectors.consents_of(contact),
        "consent_form": consent_form,
        "trail": _trail(contact),
        "can_edit": can(request.user, Action.EDIT),
        "can_create": can(request.user, Action.CREATE),
    }, status=status)


@require_GET
@domain_errors_to_http
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contact = selectors.contact_detail(request.user, pk)
    return _contact_page(request, contact, ConsentForm())


@require_POST
@domain_errors_to_http
def contact_consent(request: HttpRequest, pk: int) -> HttpResponse:
    require_action(request, Action.EDIT)
    contact = selectors.contact_detail(request.user, pk)
    form = ConsentForm(request.POST)
    if form.is_valid():
        if submit(form, lambda: services.record_consent(actor=request.user, contact=contact,
                                                        **form.cleaned_data)):
            return redirect("crm:contact_detail", pk=contact.pk)
    return _contact_page(request, contact, form, status=422)


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def contact_create(request: HttpRequest) -> HttpResponse:
    require_action(request, Action.CREATE)
    account = None
    account_id = request.GET.get("account")
    if account_id and account_id.isdigit():
        account = selectors.account_detail(request.user, int(account_id))
    form = NewContactForm(request.POST or None, accounts=selectors.accounts_visible(request.user),
                          fixed_account=account is not None,
                          initial={"account": account.pk if account else None})
    if request.method == "POST" and form.is_valid():
        contact = submit(form, lambda: services.create_contact(actor=request.user,
                                                                **form.cleaned_data))
        if contact is not None:
            return redirect("crm:contact_detail", pk=contact.pk)
    return render(request, "crm/contact_form.html",
                  {"form": form, "contact": None, "account": account},
                  status=422 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def contact_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_action(request, Action.EDIT)
    contact = selectors.contact_detail(request.user, pk)
    initial = {"name": contact.name, "title": contact.title,
               "is_management": contact.is_management, "email": contact.email,
               "mobile": contact.mobile}
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        if submit(form, lambda: services.update_contact(actor=request.user, contact=contact,
                                                        **form.cleaned_data)):
            return redirect("crm:contact_detail", pk=contact.pk)
    return render(request, "crm/contact_form.html",
                  {"form": form, "contact": contact, "account": contact.account},
                  status=422 if form.errors else 200)


# ---- tier rules ---------------------------------------------------------------------------

ACTIVE_RUN_STATES = {RerouteRun.Status.QUEUED, RerouteRun.Status.RUNNING}


def _runs_context() -> dict[str, Any]:
    runs = list(selectors.reroute_runs())
    return {"runs": runs, "polling": any(run.status in ACTIVE_RUN_STATES for run in runs)}


@require_GET
def tier_rules(request: HttpRequest) -> HttpResponse:
    require_action(request, Action.ADMINISTER)
    rules = [(rule, [str(RevenueBand(band).label) for band in rule.revenue_bands
                     if band in RevenueBand.values])
             for rule in selectors.tier_rules()]
    return render(request, "crm/tier_rules.html", {"rules": rules, **_runs_context()})


@require_GET
def reroute_runs(request: HttpRequest) -> HttpResponse:
    """The run list alone; the tier rules page polls it while a run is queued or running."""
    require_action(request, Action.ADMINISTER)
    return render(request, "crm/_reroute_runs.html", _runs_context())


def _rule_initial(rule: Any) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in services.RULE_FIELDS}


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def tier_rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    require_action(request, Action.ADMINISTER)
    rule = selectors.tier_rule(pk) if pk is not None else None
    form = TierRuleForm(request.POST or None, initial=_rule_initial(rule) if rule else None)
    if request.method == "POST" and form.is_valid():
        if submit(form, lambda: services.save_tier_rule(actor=request.user, rule=rule,
                                                        **form.cleaned_data)):
            return redirect("crm:tier_rules")
    return render(request, "crm/tier_rule_form.html", {"form": form, "rule": rule},
                  status=422 if form.errors else 200)


@require_POST
@domain_errors_to_http
def tier_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_action(request, Action.ADMINISTER)
    services.delete_tier_rule(actor=request.user, rule=selectors.tier_rule(pk))
    return redirect("crm:tier_rules")
