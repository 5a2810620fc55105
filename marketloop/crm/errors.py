from __future__ import annotations

from enum import StrEnum


class CrmErrorCode(StrEnum):
    INVALID = "invalid"
    INVALID_CREDIT_CODE = "invalid_credit_code"
    DUPLICATE_CREDIT_CODE = "duplicate_credit_code"
    INVALID_MOBILE = "invalid_mobile"
    INVALID_EMAIL = "invalid_email"
    DUPLICATE_EMAIL = "duplicate_email"
    UNKNOWN_INDUSTRY = "unknown_industry"
    UNKNOWN_PROVINCE = "unknown_province"
    UNKNOWN_ACCOUNT = "unknown_account"
    NO_OWNER_UNIT = "no_owner_unit"
    BAD_FILE = "bad_file"
