"""What can go wrong in the sales context: a stable code for clients, a message for people."""

from __future__ import annotations

from enum import StrEnum

from marketloop.org.errors import DomainError, NotAllowed


class SalesErrorCode(StrEnum):
    INVALID = "invalid"
    UNKNOWN_ACCOUNT = "unknown_account"
    UNKNOWN_LEAD = "unknown_lead"
    LEAD_NOT_ACCEPTED = "lead_not_accepted"
    ACCOUNT_NOT_THE_LEADS = "account_not_the_leads"
    UNKNOWN_PRODUCT = "unknown_product"
    UNKNOWN_COMPETITOR = "unknown_competitor"
    NO_RATE = "no_exchange_rate"
    UNKNOWN_USER = "unknown_user"
    UNKNOWN_MEMBER = "unknown_team_member"
    ACCOUNT_MANAGER_REQUIRED = "account_manager_required"
    ALREADY_ON_TEAM = "already_on_team"
    SAME_STAGE = "same_stage"
    REASON_REQUIRED = "reason_required"
    NOT_DEAL_EDITOR = "not_deal_editor"


class SalesError(DomainError):
    """A request the sales rules refuse as it stands (422), usually about one field."""

    status = 422

    def __init__(self, code: SalesErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(code, message, errors={field: [message]} if field else None)


class NotDealEditor(NotAllowed):
    """Only the deal team, the owner and managers above may change a deal."""
