"""The Segment-compatible tracking endpoints (/v1/...). Plain Django views, not the ninja API:
a batch carries up to 500 KB of events and the request path only stores it (ingest.accept)."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from marketloop.api import PROBLEM_BASE, PROBLEM_MEDIA_TYPE
from marketloop.tracking import ingest, segment
from marketloop.tracking.segment import RequestError

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding",
    "Access-Control-Max-Age": "86400",
}


def _json(body: dict, status: int = 200, content_type: str = "application/json") -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type=content_type)
    for header, value in CORS_HEADERS.items():
        response[header] = value
    return response


def problem(request: HttpRequest, exc: RequestError) -> HttpResponse:
    # `message` repeats the title for the Segment and RudderStack SDKs, which read it (and
    # RudderStack retries a 4xx forever when it is missing).
    body = {"type": PROBLEM_BASE + exc.code, "title": exc.message, "status": exc.status,
            "code": exc.code, "instance": request.path, "message": exc.message}
    if exc.errors:
        body["errors"] = exc.errors
    response = _json(body, exc.status, PROBLEM_MEDIA_TYPE)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Basic realm="marketloop tracking"'
    return response


def body_within(request: HttpRequest, limit: int) -> bytes:
    """The request body; one announced as far beyond `limit` is refused unread (gzip never
    grows a body this much), the rest is checked once decompressed (segment.decode_body)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit + 1024:
        raise RequestError("payload_too_large", f"The body is larger than {limit // 1024} KB.",
                           413)
    return request.body


def endpoint(kind: str) -> Callable[[HttpRequest], HttpResponse]:
    @csrf_exempt
    def view(request: HttpRequest) -> HttpResponse:
        if request.method == "OPTIONS":
            return _json({})
        if request.method != "POST":
            return problem(request, RequestError("method_not_allowed", "Use POST.", 405))
        limit = segment.BATCH_LIMIT if kind == "batch" else segment.EVENT_LIMIT
        try:
            ingest.accept(endpoint=kind, authorization=request.META.get("HTTP_AUTHORIZATION", ""),
                          raw=body_within(request, limit), content_encoding=request.META.get(
                              "HTTP_CONTENT_ENCODING", ""), ip=ingest.client_ip(request.META))
        except RequestError as exc:
            return problem(request, exc)
        return _json({"success": True})

    view.__name__ = f"track_{kind}"
    return view
