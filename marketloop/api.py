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


PROBLEM_MEDIA_TYPE = "application/problem+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details. `code` is stable; `title` is for people.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Field name -> what is wrong with it",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "code"],
}

PROBLEM_RESPONSES = {
    400: "The request cannot be carried out as it stands (for example, a body that is not JSON)",
    401: "Missing, unknown or revoked API token",
    403: "The caller's roles do not allow this",
    404: "No such record, or one the caller may not see",
    422: "The request is not valid; `errors` says which fields and why",
}


class MarketloopAPI(NinjaAPI):
    def get_openapi_schema(self, *, path_prefix: str | None = None,
                           path_params: dict[str, Any] | None = None) -> Any:
        """Ninja's schema, plus the problem responses every operation can give."""
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        ref = {"$ref": "#/components/schemas/Problem"}
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                statuses = [422]
                if operation.get("security"):
                    statuses.append(401)
                if "{" in path:
                    statuses.append(404)
                if method != "get":
                    statuses += [400, 403]
                responses = operation.setdefault("responses", {})
                for status in sorted(statuses):
                    if status not in responses and str(status) not in responses:
                        responses[status] = {
                            "description": PROBLEM_RESPONSES[status],
                            "content": {PROBLEM_MEDIA_TYPE: {"schema": ref}},
                        }
        return schema


api = MarketloopAPI(
    title="marketloop API",
    version="1",
    description="Accounts, contacts and the organisation. Authenticate with "
    "`Authorization: Bearer <token>`; errors are RFC 9457 problem details.",
    auth=TokenAuth(),
    urls_namespace="api",
    # Ninja's docs page loads Swagger UI from a CDN unless "ninja" is an installed app; the
    # intranet cannot reach one, so there is no docs page: /api/openapi.json is the reference.
    docs_url=None,
)


def problem(request: HttpRequest, *, status: int, code: str, title: str, detail: str = "",
            **extra: Any) -> HttpResponse:
    body = {"type": PROBLEM_BASE + code, "title": title, "status": status, "code": code,
            "instance": request.path}
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = api.create_response(request, body, status=status)
    response["Content-Type"] = PROBLEM_MEDIA_TYPE
    return response


@api.exception_handler(DomainError)
def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    extra = {"errors": exc.errors} if exc.errors else {}
    return problem(request, status=exc.status, code=str(exc.code), title=exc.message, **extra)


def field_errors(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Ninja's (pydantic's) error list in the shape services use: field -> messages. The field
    is the top-level name in the body, query or path (deeper parts of pydantic's location are
    union branches or nested items, which clients do not address)."""
    result: dict[str, list[str]] = {}
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        if loc and loc[0] in {"body", "query", "path", "header", "cookie", "form", "file"}:
            source, loc = loc[0], loc[1:]
            if source == "body" and len(loc) > 1:
                loc = loc[1:]  # the view's parameter name ("payload")
        field = loc[0] if loc else "body"
        message = str(error.get("msg", "Invalid value."))
        if message not in result.setdefault(field, []):
            result[field].append(message)
    return result


@api.exception_handler(ValidationError)
def on_validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return problem(request, status=422, code="validation_error",
                   title="The request is not valid.", errors=field_errors(exc.errors))


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


HTTP_ERROR_CODES = {400: "bad_request", 405: "method_not_allowed", 429: "throttled"}


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
    return problem(request, status=exc.status_code, code=code, title=str(exc))


def _register_routers() -> None:
    from marketloop.campaigns.api import router as campaigns_router
    from marketloop.campaigns.attribution.api import router as attribution_router
    from marketloop.campaigns.member_api import router as campaign_members_router
    from marketloop.campaigns.report_api import router as campaign_reports_router
    from marketloop.crm.api import router as crm_router
    from marketloop.leads.api import router as leads_router
    from marketloop.org.api import router as org_router
    from marketloop.sales.api import router as sales_router
    from marketloop.scoring.api import router as scoring_router
    from marketloop.tracking.api import router as tracking_router

    api.add_router("/org", org_router)
    api.add_router("/", crm_router)
    api.add_router("/", tracking_router)
    api.add_router("/", scoring_router)
    api.add_router("/", leads_router)
    api.add_router("/", sales_router)
    api.add_router("/", campaigns_router)
    api.add_router("/", campaign_members_router)
    api.add_router("/", campaign_reports_router)
    api.add_router("/", attribution_router)


_register_routers()
