"""The open pixel (/t/o/<token>.gif) and the click redirect (/t/c/<token>) of marketing emails.
Public: the token is the only credential, and nothing else in the request (the query string
least of all) decides where a click goes."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from marketloop.tracking import email_links, ingest
from marketloop.tracking.segment import RequestError

# A 1x1 transparent GIF.
PIXEL = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00"
         b"\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def _uncached(response: HttpResponse) -> HttpResponse:
    # Every fetch must reach us to be counted, and no proxy may keep a redirect for others.
    add_never_cache_headers(response)
    response["Pragma"] = "no-cache"
    return response


def _refused(exc: RequestError) -> HttpResponse:
    # Read by people who clicked a link in a mail: a sentence in their language, no JSON.
    message = _("This link is not valid: it is incomplete or has been altered.")
    return _uncached(HttpResponse(message, status=exc.status,
                                  content_type="text/plain; charset=utf-8"))


@require_safe
def email_open(request: HttpRequest, token: str) -> HttpResponse:
    try:
        email_links.open_email(token=token, user_agent=request.META.get("HTTP_USER_AGENT", ""),
                               ip=ingest.client_ip(request.META),
                               record=request.method == "GET")
    except RequestError as exc:
        return _refused(exc)
    return _uncached(HttpResponse(PIXEL, content_type="image/gif"))


@require_safe
def email_click(request: HttpRequest, token: str) -> HttpResponse:
    try:
        url = email_links.follow_click(
            token=token, user_agent=request.META.get("HTTP_USER_AGENT", ""),
            ip=ingest.client_ip(request.META), record=request.method == "GET")
    except RequestError as exc:
        return _refused(exc)
    return _uncached(HttpResponseRedirect(url))
