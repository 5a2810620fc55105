from __future__ import annotations

from enum import StrEnum

from marketloop.org.errors import DomainError


class LeadErrorCode(StrEnum):
    INVALID = "invalid"
    BACKWARD_WITHOUT_CAUSE = "backward_without_cause"
    WRONG_STAGE = "wrong_stage"
    ALREADY_OPEN = "lead_already_open"
    REASON_REQUIRED = "reason_required"
    NOTE_REQUIRED = "note_required"
    NOT_OWNER = "not_lead_owner"
    NO_TEAM = "no_team_member"
    NOT_ELIGIBLE = "not_eligible_owner"
    NOT_IN_TRIAGE = "not_in_triage"
    UNKNOWN_CONTACT = "unknown_contact"
    UNKNOWN_ACCOUNT = "unknown_account"
    UNKNOWN_UNIT = "unknown_unit"
    UNKNOWN_USER = "unknown_user"


class LeadError(DomainError):
    status = 422
