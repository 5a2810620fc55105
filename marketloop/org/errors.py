"""Domain errors: a stable code for clients, a translated message for people."""

from __future__ import annotations

from enum import StrEnum


class DomainError(Exception):
    """Raised by services. `code` is stable; `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, code: StrEnum, message: str, *, status: int | None = None,
                 errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or {}
        if status is not None:
            self.status = status


class OrgErrorCode(StrEnum):
    NOT_ALLOWED = "not_allowed"
    NOT_FOUND = "not_found"
    PARTNER_TERRITORY_TAKEN = "partner_territory_taken"


class NotAllowed(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404
