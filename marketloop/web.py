"""What every context's views share: domain errors as HTTP answers, the role check, HTMX
partial requests and list query strings."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict

from marketloop.org.errors import NotAllowed, NotFound
from marketloop.org.permissions import Action, can


def domain_errors_to_http(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """NotFound -> 404, NotAllowed -> 403 (or 404 where it hides a record), for errors no form
    can show."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc
        except NotAllowed as exc:
            if exc.status == 404:
                raise Http404(exc.message) from exc
            raise PermissionDenied(exc.message) from exc

    return wrapper


def require_action(request: HttpRequest, action: Action) -> None:
    if not can(request.user, action):
        raise PermissionDenied


def is_partial(request: HttpRequest, target: str) -> bool:
    """An HTMX request that swaps only `target` (history restores want the whole page)."""
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true"
            and request.headers.get("HX-Target") == target)


def query_string(params: QueryDict, **replace: str | None) -> str:
    """The current query string without empty values, with some keys replaced or dropped."""
    pairs = [(key, value) for key, values in params.lists() for value in values
             if value != "" and key not in replace]
    pairs += [(key, value) for key, value in replace.items() if value]
    return urlencode(pairs)
