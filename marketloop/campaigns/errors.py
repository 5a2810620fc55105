"""What can go wrong in the campaigns context: a stable code for clients, a message for people."""

from __future__ import annotations

from enum import StrEnum

from marketloop.org.errors import DomainError


class CampaignErrorCode(StrEnum):
    INVALID = "invalid"
    UNKNOWN_UNIT = "unknown_unit"
    UNKNOWN_USER = "unknown_user"
    UNKNOWN_PLAN = "unknown_plan"
    PLAN_EXISTS = "plan_exists"
    CODE_TAKEN = "activity_code_taken"
    OUTSIDE_PLAN = "outside_plan_quarter"
    NOT_PLAN_OWNER = "not_plan_owner"
    ALREADY_DECIDED = "request_already_decided"
    OVER_PLAN_BUDGET = "over_plan_budget"
    OVER_APPROVED_BUDGET = "over_approved_budget"
    ATTACHMENT_TOO_LARGE = "attachment_too_large"
    UNKNOWN_CONTACT = "unknown_contact"
    IMPORT_INVALID = "import_invalid"
    ACTIVITY_CLOSED = "activity_closed"
    UNKNOWN_LINK = "unknown_link"


class CampaignError(DomainError):
    """A request the campaign rules refuse as it stands (422), usually about one field."""

    status = 422

    def __init__(self, code: CampaignErrorCode, message: str, *,
                 field: str | None = None) -> None:
        super().__init__(code, message, errors={field: [message]} if field else None)
