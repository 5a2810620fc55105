"""The activity page's slots for tracking links, members and attached touchpoints (fragments
loaded with HTMX; 404 for an activity the user cannot see), and the public registration page
of an activity. Thin: parse, call one service or selector, render."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketloop.campaigns import links, members
from marketloop.campaigns import member_selectors as selectors
from marketloop.campaigns.models import Activity, MemberStatus
from marketloop.crm.forms import StyledForm, submit
from marketloop.crm.selectors import InvalidCursor
from marketloop.org.permissions import Action, can
from marketloop.tracking.models import TouchpointKind
from marketloop.web import domain_errors_to_http, require_action

# ---- forms -----------------------------------------------------------------------------------


class LinkForm(StyledForm):
    destination = forms.CharField(label=gettext_lazy("Landing page"), max_length=1000,
                                  widget=forms.URLInput(attrs={"placeholder": "https://"}))
    utm_source = forms.CharField(label=gettext_lazy("Source (utm_source)"), max_length=100,
                                 help_text=gettext_lazy("Where the link is placed: wechat, "
                                                        "baidu, newsletter…"))
    utm_medium = forms.CharField(label=gettext_lazy("Medium (utm_medium)"), max_length=100,
                                 help_text=gettext_lazy("email, social, cpc, qr…"))
    utm_content = forms.CharField(label=gettext_lazy("Content (utm_content)"), max_length=100,
                                  required=False,
                                  help_text=gettext_lazy("Tells links of one medium apart."))


class LinkDeleteForm(forms.Form):
    link = forms.IntegerField(min_value=1)


class MemberAddForm(StyledForm):
    contact_id = forms.IntegerField(label=gettext_lazy("Contact number"), min_value=1)
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=MemberStatus.choices,
                               initial=MemberStatus.INVITED)


class MemberImportForm(StyledForm):
    file = forms.FileField(label=gettext_lazy("Excel (.xlsx) or CSV file"),
                           help_text=gettext_lazy(
                               "Columns: name, email, mobile, status (姓名, 邮箱, 手机, 状态); "
                               "CSV in UTF-8 or GBK. Up to 10 MB and 20,000 rows."))


class RegistrationForm(StyledForm):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    email = forms.CharField(label=gettext_lazy("Email"), max_length=254, required=False,
                            widget=forms.EmailInput)
    mobile = forms.CharField(label=gettext_lazy("Mobile"), max_length=32, required=False)
    company = forms.CharField(label=gettext_lazy("Company"), max_length=200, required=False)
    consent = forms.BooleanField(label=gettext_lazy(
        "I agree that the organiser keeps these details to run this event and to contact me "
        "about it."), required=False)


# ---- helpers ---------------------------------------------------------------------------------

def _htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _activity_page(activity: Activity) -> str | None:
    try:
        return reverse("campaigns:activity_detail", args=[activity.pk])
    except NoReverseMatch:
        return None


def _after_post(request: HttpRequest, activity: Activity, fragment: HttpResponse,
                ok: bool) -> HttpResponse:
    """An HTMX form gets the fragment back; a plain form post goes back to the activity."""
    page = _activity_page(activity)
    if ok and not _htmx(request) and page:
        return redirect(page)
    return fragment


# ---- tracking links --------------------------------------------------------------------------

def _links_fragment(request: HttpRequest, activity: Activity, form: LinkForm | None = None,
                    error: str = "", status: int = 200) -> HttpResponse:
    rows = [{"link": link, "url": links.link_url(link)}
            for link in selectors.links_of(request.user, activity.pk)]
    return render(request, "campaigns/links_slot.html", {
        "activity": activity, "rows": rows, "form": form or LinkForm(), "error": error,
        "can_edit": can(request.user, Action.EDIT),
    }, status=status)


@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def activity_links(request: HttpRequest, pk: int) -> HttpResponse:
    activity = selectors.activity_of(request.user, pk)
    if request.method == "GET":
        return _links_fragment(request, activity)
    require_action(request, Action.EDIT)
    form = LinkForm(request.POST)
    created = form.is_valid() and submit(form, lambda: links.create_link(
        user=request.user, activity_id=activity.pk, **form.cleaned_data))
    fragment = _links_fragment(request, activity, form=None if created else form,
                               status=200 if created else 422)
    return _after_post(request, activity, fragment, bool(created))


@require_POST
@domain_errors_to_http
def link_delete(request: HttpRequest, pk: int) -> HttpResponse:
    activity = selectors.activity_of(request.user, pk)
    require_action(request, Action.EDIT)
    form = LinkDeleteForm(request.POST)
    deleted = form.is_valid() and submit(form, lambda: links.delete_link(
        user=request.user, link_id=form.cleaned_data["link"], activity_id=activity.pk) or True)
    error = "" if deleted else _("This activity has no such tracking link.")
    fragment = _links_fragment(request, activity, error=error, status=200 if deleted else 422)
    return _after_post(request, activity, fragment, bool(deleted))


# ---- members ---------------------------------------------------------------------------------

ERRORS_SHOWN = 200
STATUS_COLOURS = {"invited": "#868e96", "registered": "#066fd1", "attended": "#2fb344",
                  "responded": "#f76707"}


def _members_context(request: HttpRequest, activity: Activity) -> dict[str, Any]:
    status = request.GET.get("status", "")
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.member_page(request.user, activity.pk, cursor=cursor, status=status)
    except InvalidCursor:  # a stale or edited link: start again from the top
        page, cursor = selectors.member_page(request.user, activity.pk, status=status), None
    counts = selectors.member_counts(request.user, activity.pk)
    labels = dict(MemberStatus.choices)
    list_url = reverse("campaigns:activity_members", args=[activity.pk])
    query = {"status": status} if status in MemberStatus.values else {}
    return {
        "activity": activity, "page": page, "paged": bool(cursor), "list_url": list_url,
        "status": status, "statuses": MemberStatus.choices,
        "counts": [{"status": s, "label": labels[s], "count": counts[s]} for s in counts],
        "total": sum(counts.values()),
        "chart": {"labels": [str(labels[s]) for s in counts], "values": list(counts.values()),
                  "colours": [STATUS_COLOURS[s] for s in counts]},
        "chart_id": f"member-chart-{activity.pk}",
        "next_query": _query(query, cursor=page.next_cursor) if page.next_cursor else None,
        "first_query": _query(query),
        "can_edit": can(request.user, Action.EDIT),
        "can_import": can(request.user, Action.IMPORT),
    }


def _query(params: dict[str, str], **more: str) -> str:
    return urlencode({**params, **more})


def _members_fragment(request: HttpRequest, activity: Activity, *, status: int = 200,
                      **extra: Any) -> HttpResponse:
    context = _members_context(request, activity)
    context.setdefault("add_form", MemberAddForm())
    context.setdefault("import_form", MemberImportForm())
    context.update(extra)
    template = ("campaigns/members_list.html"
                if request.headers.get("HX-Target") == f"member-list-{activity.pk}"
                and request.method == "GET" else "campaigns/members_slot.html")
    return render(request, template, context, status=status)


@require_GET
@domain_errors_to_http
def activity_members(request: HttpRequest, pk: int) -> HttpResponse:
    return _members_fragment(request, selectors.activity_of(request.user, pk))


@require_POST
@domain_errors_to_http
def member_add(request: HttpRequest, pk: int) -> HttpResponse:
    activity = selectors.activity_of(request.user, pk)
    require_action(request, Action.EDIT)
    form = MemberAddForm(request.POST)
    added = form.is_valid() and submit(form, lambda: members.add_member(
        user=request.user, activity_id=activity.pk, **form.cleaned_data))
    if not added:
        return _members_fragment(request, activity, status=422, add_form=form)
    shown = {"status": added.member.get_status_display()}
    note = {members.ADDED: _("Added to the list as %(status)s.") % shown,
            members.MOVED_UP: _("Moved up to %(status)s.") % shown,
            members.UNCHANGED: _("Already on the list as %(status)s; unchanged.") % shown,
            }[added.outcome]
    fragment = _members_fragment(request, activity, note=note)
    return _after_post(request, activity, fragment, True)


@require_POST
@domain_errors_to_http
def member_import(request: HttpRequest, pk: int) -> HttpResponse:
    activity = selectors.activity_of(request.user, pk)
    require_action(request, Action.IMPORT)
    form = MemberImportForm(request.POST, request.FILES)
    result = form.is_valid() and submit(form, lambda: members.import_members(
        user=request.user, activity_id=activity.pk, upload=form.cleaned_data["file"]))
    if not result:
        return _members_fragment(request, activity, status=422, import_form=form)
    return _members_fragment(request, activity, result=result,
                             result_errors=result.errors[:ERRORS_SHOWN],
                             error_rows=len({error.row for error in result.errors}))


# ---- attached touchpoints --------------------------------------------------------------------

@require_GET
@domain_errors_to_http
def activity_touches(request: HttpRequest, pk: int) -> HttpResponse:
    activity = selectors.activity_of(request.user, pk)
    labels = dict(TouchpointKind.choices)
    counts = selectors.touch_counts(request.user, activity.pk)
    return render(request, "campaigns/touches_slot.html", {
        "activity": activity,
        "rows": [(row, labels.get(row.touch.kind, row.touch.kind))
                 for row in selectors.latest_touches(request.user, activity.pk)],
        "counts": [{"kind": kind, "label": labels.get(kind, kind), "count": n}
                   for kind, n in counts.items()],
        "total": sum(counts.values()),
    })


# ---- public registration ---------------------------------------------------------------------

@require_http_methods(["GET", "POST"])
@domain_errors_to_http
def registration(request: HttpRequest, code: str) -> HttpResponse:
    """An activity's public registration page (no sign-in; CSRF-protected like every form)."""
    activity = selectors.open_activity_by_code(code)
    if request.method == "GET" and request.GET.get("done") == "1":
        return render(request, "campaigns/registration_thanks.html", {"activity": activity})
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and submit(form, lambda: members.register(
            code=activity.code, **form.cleaned_data)):
        return redirect(reverse("campaigns:registration", args=[activity.code]) + "?done=1")
    status = 422 if request.method == "POST" else 200
    return render(request, "campaigns/registration.html", {"activity": activity, "form": form},
                  status=status)
