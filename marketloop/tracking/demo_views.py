"""The demo customer website: a public page (under /t/) standing in for a vendor's own site."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from marketloop.tracking.demo_site import demo_website_source


@require_http_methods(["GET", "POST"])
def demo_site(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        # The customer's own form handler would keep the request; marketloop hears of it from
        # tracker.js, which sent the form's identifiers before the browser posted here.
        return redirect(reverse("tracking:demo_site") + "?submitted=1")
    return render(request, "tracking/demo_site.html", {
        "source": demo_website_source(),
        "submitted": request.GET.get("submitted") == "1",
    })
