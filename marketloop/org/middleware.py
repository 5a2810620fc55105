from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse

# /v1/ is the tracking API (write keys); /t/ the email pixel, click redirect and tracker.js;
# /r/ the public registration pages of activities.
PUBLIC_PREFIXES = ("/login/", "/static/", "/api/", "/i18n/", "/healthz", "/v1/", "/t/", "/r/")


class LoginRequiredMiddleware:
    """Every page needs a signed-in user, except login, static files, health and the API
    (which authenticates with tokens)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated and not request.path.startswith(PUBLIC_PREFIXES):
            return redirect(f"{reverse(settings.LOGIN_URL)}?next={request.get_full_path()}")
        return self.get_response(request)
