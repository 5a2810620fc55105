"""The JSON API: token authentication, RFC 9457 problem details, one router per context."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer

from marketloop.org.errors import DomainError
from marketloop.org.services import authenticate_token

PROBLEM_BASE = "https://marketloop.dev/problems/"


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = authenticate_token(token)
        if user is not None:
            request.user = user
        return user


api = NinjaAPI(
    title="marketloop API",
    version="1",
    description="Accounts, contacts and the organisation. Authenticate with "
    "`Authorization: Bearer <token>`; errors are RFC 9457 problem details.",
    auth=TokenAuth(),
    urls_namespace="api",
)


def problem(request: HttpRequest, *, status: int, code: str, title: str, detail: str = "",
            **extra: Any) -> HttpResponse:
    body = {"type": PROBLEM_BASE + code, "title": title, "status": status, "code": code,
            "instance": request.path}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = api.create_response(request, body, status=status)
    response["Content-Type"] = "application/problem+json"
    return response


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    extra = {"errors": exc.errors} if exc.errors else {}
    return problem(request, status=exc.status, code=str(exc.code), title=exc.message, **extra)


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return problem(request, status=422, code="validation_error",
                   title="The request is not valid.", errors=exc.errors)


@api.exception_handler(AuthenticationError)
def on_auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    response = problem(request, status=401, code="unauthenticated",
                       title="A valid API token is required.")
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem(request, status=404, code="not_found", title="Not found.")


@api.exception_handler(PermissionDenied)
def on_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return problem(request, status=403, code="not_allowed", title="Not allowed.")


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return problem(request, status=exc.status_code, code="http_error", title=str(exc))


def _register_routers() -> None:
    from marketloop.crm.api import router as crm_router
    from marketloop.org.api import router as org_router

    api.add_router("/org", org_router)
    api.add_router("/", crm_router)


_register_routers()
