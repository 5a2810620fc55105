"""What can go wrong in the scoring context: stable codes for clients."""

from __future__ import annotations

from enum import StrEnum

from marketloop.org.errors import DomainError


class ScoringErrorCode(StrEnum):
    INVALID = "invalid"
    UNKNOWN_VALUE = "unknown_value"
    ZERO_POINTS = "zero_points"
    BAD_CAP = "bad_cap"
    NOT_MODEL_EDITOR = "not_model_editor"


class ScoringError(DomainError):
    status = 422
