from __future__ import annotations

from enum import StrEnum


class TrackingErrorCode(StrEnum):
    UNAUTHENTICATED = "unknown_write_key"
    SOURCE_INACTIVE = "source_inactive"
    WRONG_SOURCE_KIND = "wrong_source_kind"
    TOO_LARGE = "payload_too_large"
    EVENT_TOO_LARGE = "event_too_large"
    NOT_JSON = "not_json"
    BAD_ENCODING = "bad_content_encoding"
    INVALID_EVENT = "invalid_event"
    BAD_TOKEN = "bad_token"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
