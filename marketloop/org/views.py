"""Pages of the organisation: the unit tree and the user's own API tokens."""

from __future__ import annotations

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from marketloop.org import notifications, selectors, services
from marketloop.org.errors import NotFound


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=80,
        help_text=_("What the token is for, e.g. “BI nightly sync”."),
        widget=forms.TextInput(attrs={"class": "form-control", "autocomplete": "off"}),
    )


@require_GET
def unit_list(request: HttpRequest) -> HttpResponse:
    rows = [(unit, unit.path.strip("/").count("/")) for unit in selectors.units_tree()]
    return render(request, "org/unit_list.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    raw_key = None
    if request.method == "POST" and form.is_valid():
        _token, raw_key = services.issue_api_token(user=request.user,
                                                  name=form.cleaned_data["name"])
        form = TokenForm()
    response = render(request, "org/tokens.html", {
        "form": form,
        "raw_key": raw_key,
        "tokens": selectors.api_tokens(request.user),
    }, status=422 if form.errors else 200)
    response["Cache-Control"] = "no-store"  # the raw key is in this page once
    return response


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    services.revoke_api_token(user=request.user, token_id=pk)
    return redirect("org:tokens")


# ---- notifications: always the caller's own ------------------------------------------------


@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    unread_only = request.GET.get("unread") == "1"
    return render(request, "org/notifications.html", {
        "notifications": notifications.inbox(request.user, unread_only=unread_only),
        "unread_only": unread_only,
        "unread": notifications.unread_count(request.user),
    })


def _own(request: HttpRequest, pk: int) -> notifications.Notification:
    try:
        return notifications.mark_read(user=request.user, notification_id=pk)
    except NotFound as exc:
        raise Http404(exc.message) from exc


@require_POST
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark it read and go where it points."""
    notification = _own(request, pk)
    return redirect(notifications.safe_target(notification) or "org:notification_list")


@require_POST
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    _own(request, pk)
    return redirect("org:notification_list")


@require_POST
def notification_read_all(request: HttpRequest) -> HttpResponse:
    notifications.mark_all_read(user=request.user)
    return redirect("org:notification_list")
