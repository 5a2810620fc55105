"""Normalising and validating the identifiers customers give us."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError


def normalise_credit_code(raw: str) -> str:
    """Return the 18-character unified social credit code, or raise ValueError with why."""
    code = (raw or "").strip().upper().replace(" ", "").replace("-", "")
    if not code:
        return ""
    try:
        return uscc.validate(code)
    except StdnumError as exc:
        if len(code) != 18:
            raise ValueError(_("A unified social credit code has 18 characters.")) from exc
        raise ValueError(_("The check digit of the unified social credit code is wrong."
                           )) from exc


def normalise_mobile(raw: str) -> str:
    """Chinese mobile numbers (with or without +86) and any E.164 number, returned as E.164."""
    text = (raw or "").strip()
    if not text:
        return ""
    try:
        number = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException as exc:
        raise ValueError(_("'%(value)s' is not a phone number.") % {"value": text}) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError(_("'%(value)s' is not a valid phone number.") % {"value": text})
    if number.country_code == 86 and phonenumbers.number_type(number) not in {
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }:
        raise ValueError(_("'%(value)s' is not a Chinese mobile number.") % {"value": text})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    if not email:
        return ""
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValueError(_("'%(value)s' is not an email address.") % {"value": raw}) from exc
    return email


def name_bigrams(name: str) -> list[str]:
    """Character bigrams of a name, lower-cased, for two-character Chinese searches."""
    text = "".join((name or "").lower().split())
    return sorted({text[i:i + 2] for i in range(len(text) - 1)})
