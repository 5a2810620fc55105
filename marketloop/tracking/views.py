"""Pages of the tracking context: the touchpoints card on contacts and accounts (loaded with
HTMX), profiles, and the sources administrators manage. Thin: parse input, call one selector
or service, render. An invisible contact, account or profile is a 404 like a missing one."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketloop.crm.forms import StyledForm, submit
from marketloop.crm.models import Account, Contact
from marketloop.crm.selectors import InvalidCursor
from marketloop.org.errors import NotAllowed, NotFound
from marketloop.org.permissions import Action, can
from marketloop.tracking import selectors, services
from marketloop.tracking.models import (
    IdentityKind,
    ProfileChange,
    SourceKind,
    Touchpoint,
    TouchpointKind,
)

# Tabler colour names: the badge (bg-<name>-lt) and the chart series share them.
KIND_COLOURS = {
    "page": ("blue", "#066fd1"), "screen": ("azure", "#4299e1"), "track": ("indigo", "#4263eb"),
    "identify": ("purple", "#ae3ec9"), "group": ("pink", "#d6336c"),
    "alias": ("secondary", "#868e96"), "form": ("green", "#2fb344"),
    "download": ("teal", "#0ca678"), "email_open": ("yellow", "#f59f00"),
    "email_click": ("orange", "#f76707"), "call": ("red", "#d63939"),
    "event": ("lime", "#74b816"), "visit": ("cyan", "#17a2b8"),
}


def _domain_errors_to_http(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """NotFound -> 404, NotAllowed -> 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except NotAllowed as exc:
            raise PermissionDenied(exc.message) from exc

    return wrapper


def _require(request: HttpRequest, action: Action) -> None:
    if not can(request.user, action):
        raise PermissionDenied


# ---- the touchpoints card -------------------------------------------------------------------

def _kind_label(kind: str) -> str:
    return str(TouchpointKind(kind).label) if kind in TouchpointKind.values else kind


def _link(url: str) -> str:
    """A URL safe to put in href: only http(s) (a page may report javascript: URLs)."""
    return url if url.lower().startswith(("http://", "https://")) else ""


def _rows(items: list[Touchpoint]) -> list[dict[str, Any]]:
    return [{"touchpoint": tp, "label": _kind_label(tp.kind),
             "colour": KIND_COLOURS.get(tp.kind, ("secondary", ""))[0],
             "headline": tp.title or tp.event or tp.url, "href": _link(tp.url)}
            for tp in items]


def _chart(activity: selectors.Activity) -> dict[str, Any]:
    return {"weeks": activity.labels, "total": activity.total,
            "series": [{"name": _kind_label(kind), "data": counts,
                        "color": KIND_COLOURS.get(kind, ("", "#868e96"))[1]}
                       for kind, counts in activity.counts.items()]}


def _touchpoints(request: HttpRequest, *, key: str, url: str,
                 read: Callable[..., selectors.Timeline],
                 activity: Callable[[], selectors.Activity],
                 extra: Callable[[], dict[str, Any]] | None = None,
                 contact: Callable[[Any], Contact | None] | None = None) -> HttpResponse:
    kinds = selectors.clean_kinds(request.GET.getlist("kind"))
    before = request.GET.get("before") or None
    try:
        timeline = read(kinds=kinds, before=before)
    except InvalidCursor:  # a stale or edited link: start again from the newest
        timeline, before = read(kinds=kinds, before=None), None
    query = [("kind", kind) for kind in kinds]
    subject_contact = contact(timeline.subject) if contact else None
    response = render(request, "tracking/_touchpoints.html", {
        "key": key,
        "url": url,
        "subject_name": _name_of(timeline.subject, subject_contact),
        "rows": _rows(timeline.items),
        "chosen": kinds[0] if len(kinds) == 1 else "",
        "kinds": TouchpointKind.choices,
        "older_query": urlencode([*query, ("before", timeline.next_cursor)])
        if timeline.next_cursor else None,
        "newest_query": urlencode(query),
        "paged": bool(before),
        "chart": _chart(activity()),
        "chart_id": f"activity-{key}",
        **(extra() if extra else {}),
    })
    response["Vary"] = "HX-Request, Cookie, Accept-Language"
    return response


@require_GET
@_domain_errors_to_http
def contact_touchpoints(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    return _touchpoints(
        request, key=f"contact-{pk}", url=reverse("tracking:contact_touchpoints", args=[pk]),
        read=lambda **kw: selectors.contact_timeline(user, pk, **kw),
        activity=lambda: selectors.activity_by_week(user, contact_id=pk),
        extra=lambda: {"profiles": selectors.profiles_of_contact(user, pk)})


@require_GET
@_domain_errors_to_http
def account_touchpoints(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    return _touchpoints(
        request, key=f"account-{pk}", url=reverse("tracking:account_touchpoints", args=[pk]),
        read=lambda **kw: selectors.account_timeline(user, pk, **kw),
        activity=lambda: selectors.activity_by_week(user, account_id=pk))


@require_GET
@_domain_errors_to_http
def profile_touchpoints(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    return _touchpoints(
        request, key=f"profile-{pk}", url=reverse("tracking:profile_touchpoints", args=[pk]),
        read=lambda **kw: selectors.profile_timeline(user, pk, **kw),
        activity=lambda: selectors.activity_by_week(user, profile_id=pk),
        contact=lambda profile: selectors.contact_of(user, profile))


# ---- profiles -------------------------------------------------------------------------------

def _name_of(subject: Any, contact: Contact | None = None) -> str:
    if isinstance(subject, Contact | Account):
        return subject.name
    if contact is not None:
        return contact.name
    return _("Profile %(id)s") % {"id": subject.pk}


def _identifier(label: str) -> str:
    """'email:a@b.com' -> 'Email a@b.com'."""
    kind, _sep, value = label.partition(":")
    name = str(IdentityKind(kind).label) if kind in IdentityKind.values else kind
    return f"{name} {value}"


def _explain(change: ProfileChange) -> list[str]:
    """The evidence of a merge or split, as sentences."""
    evidence = change.evidence or {}
    at = timezone.localtime(change.at).strftime("%Y-%m-%d %H:%M")
    sentences = []
    if change.kind == ProfileChange.Kind.MERGE:
        for link in evidence.get("links") or []:
            identifiers = [_identifier(str(x)) for x in link.get("identifiers", [])][:2]
            if len(identifiers) != 2:
                continue
            values = {"other": change.other_id, "survivor": change.survivor_id,
                      "a": identifiers[0], "b": identifiers[1], "at": at,
                      "evidence": link.get("evidence") or "", "message": link.get("message_id")}
            if link.get("evidence") == "crm":
                sentences.append(_(
                    "Merged profile %(other)s into %(survivor)s because the CRM contact record "
                    "links %(a)s and %(b)s (at %(at)s).") % values)
            elif values["message"]:
                sentences.append(_(
                    "Merged profile %(other)s into %(survivor)s because %(a)s and %(b)s were "
                    "seen together in %(evidence)s message %(message)s at %(at)s.") % values)
            else:
                sentences.append(_(
                    "Merged profile %(other)s into %(survivor)s because %(a)s and %(b)s were "
                    "seen together in a %(evidence)s event at %(at)s.") % values)
        if not sentences:
            sentences.append(_("Merged profile %(other)s into %(survivor)s at %(at)s.") % {
                "other": change.other_id, "survivor": change.survivor_id, "at": at})
    else:
        values = {"other": change.other_id, "survivor": change.survivor_id, "at": at,
                  "moved": ", ".join(_identifier(str(x)) for x in evidence.get("moved", [])),
                  "shared": ", ".join(_identifier(str(x)) for x in evidence.get("shared", []))
                  or _("an identifier")}
        sentences.append(_(
            "Split profile %(survivor)s from profile %(other)s at %(at)s because %(shared)s "
            "became shared and stopped linking; moved: %(moved)s.") % values)
    return sentences


@require_GET
@_domain_errors_to_http
def profile_detail(request: HttpRequest, pk: int) -> HttpResponse:
    detail = selectors.profile_detail(request.user, pk)
    if detail.profile.pk != pk:  # an absorbed profile: show the one it was merged into
        return redirect("tracking:profile_detail", pk=detail.profile.pk)
    changes = [{"change": change, "sentences": _explain(change),
                "evidence": json.dumps(change.evidence, ensure_ascii=False, indent=2)}
               for change in detail.changes]
    return render(request, "tracking/profile_detail.html", {
        "detail": detail,
        "profile": detail.profile,
        "name": _name_of(detail.profile, detail.contact),
        "changes": changes,
        "traits": sorted((str(k), v) for k, v in (detail.profile.traits or {}).items()),
        "touchpoints_url": reverse("tracking:profile_touchpoints", args=[detail.profile.pk]),
    })


# ---- sources --------------------------------------------------------------------------------

class SourceForm(StyledForm):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=[
        (value, label) for value, label in SourceKind.choices if value != SourceKind.INTERNAL])
    require_consent = forms.BooleanField(
        label=gettext_lazy("Track only after consent"), required=False,
        help_text=gettext_lazy("tracker.js records nothing until the visitor has consented."))


class SourceEditForm(StyledForm):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    active = forms.BooleanField(
        label=gettext_lazy("Active"), required=False,
        help_text=gettext_lazy("An inactive source's requests are refused (403)."))
    require_consent = forms.BooleanField(
        label=gettext_lazy("Track only after consent"), required=False,
        help_text=gettext_lazy("tracker.js records nothing until the visitor has consented."))


def _origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}"


@require_GET
def source_list(request: HttpRequest) -> HttpResponse:
    _require(request, Action.ADMINISTER)
    return render(request, "tracking/source_list.html", {
        "overviews": selectors.sources_overview()})


@require_http_methods(["GET", "POST"])
@_domain_errors_to_http
def source_create(request: HttpRequest) -> HttpResponse:
    _require(request, Action.ADMINISTER)
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        source = submit(form, lambda: services.create_source(actor=request.user,
                                                              **form.cleaned_data))
        if source is not None:
            return redirect("tracking:source_detail", pk=source.pk)
    return render(request, "tracking/source_form.html", {"form": form, "source": None},
                  status=422 if form.errors else 200)


def _source_page(request: HttpRequest, pk: int, status: int = 200,
                 rotate_error: str = "") -> HttpResponse:
    overview = selectors.source_overview(pk)
    origin = _origin(request)
    source = overview.source
    return render(request, "tracking/source_detail.html", {
        "overview": overview,
        "source": source,
        "origin": origin,
        "batch_url": f"{origin}{reverse('tracking:v1_batch')}",
        "recent": selectors.recent_source_errors(source),
        "rotate_error": rotate_error,
    }, status=status)


@require_GET
@_domain_errors_to_http
def source_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Action.ADMINISTER)
    return _source_page(request, pk)


@require_http_methods(["GET", "POST"])
@_domain_errors_to_http
def source_edit(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Action.ADMINISTER)
    source = selectors.source_overview(pk).source
    form = SourceEditForm(request.POST or None, initial={
        "name": source.name, "active": source.active, "require_consent": source.require_consent})
    if request.method == "POST" and form.is_valid():
        if submit(form, lambda: services.update_source(actor=request.user, source=source,
                                                       **form.cleaned_data)):
            messages.success(request, _("Source saved."))
            return redirect("tracking:source_detail", pk=source.pk)
    return render(request, "tracking/source_form.html", {"form": form, "source": source},
                  status=422 if form.errors else 200)


@require_POST
@_domain_errors_to_http
def source_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    _require(request, Action.ADMINISTER)
    source = selectors.source_overview(pk).source
    if request.POST.get("confirm") != "yes":
        return _source_page(request, pk, status=422, rotate_error=_(
            "Tick the box to confirm: every client still sending the old key will be refused."))
    services.rotate_write_key(actor=request.user, source=source)
    messages.success(request, _("A new write key was issued; the old one no longer works."))
    return redirect("tracking:source_detail", pk=source.pk)
