"""Which identifiers an event carries, normalised, and which one anchors its touchpoint."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from django.conf import settings

Identifier = tuple[str, str]  # (kind, normalised value)

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The anchor of a touchpoint: the first of these kinds the event carries.
ANCHOR_ORDER = ("user", "anonymous", "contact", "email", "mobile")
FREE_MAIL_DOMAINS = frozenset({
    "qq.com", "163.com", "126.com", "yeah.net", "sina.com", "sina.cn", "sohu.com",
    "aliyun.com", "139.com", "189.cn", "foxmail.com", "gmail.com", "outlook.com",
    "hotmail.com", "live.com", "yahoo.com", "icloud.com", "me.com", "msn.com",
})


def normalise_email(raw: Any) -> str:
    if not isinstance(raw, str):
        return ""
    email = raw.strip().lower()
    return email if len(email) <= 200 and EMAIL_RE.match(email) else ""


@lru_cache(maxsize=65536)
def normalise_phone(raw: str) -> str:
    """Any valid phone number (mobile or landline: callers ring from office phones too) as
    E.164, Chinese numbers without a country code understood."""
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_of(raw: Any) -> str:
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 40:
        return ""
    return normalise_phone(raw.strip())


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1] if "@" in email else ""


def is_business_domain(domain: str) -> bool:
    return bool(domain) and domain not in FREE_MAIL_DOMAINS


@dataclass(slots=True)
class Sighting:
    """The identifiers one event carries. Carried together, they are evidence of one person
    (the anchor's touchpoint belongs to whatever profile the anchor ends up in)."""

    anchor: Identifier
    identifiers: tuple[Identifier, ...]
    evidence: str = ""
    message_id: str = ""


def _str_id(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    text = str(value).strip()
    return text[:200]


def sighting_of(event: dict, kind: str) -> Sighting:
    """The sighting of one (valid) Segment event; `kind` is its touchpoint kind."""
    found: list[Identifier] = []
    user = _str_id(event.get("userId"))
    if user:
        found.append(("user", user))
    anonymous = _str_id(event.get("anonymousId"))
    if anonymous:
        found.append(("anonymous", anonymous))
    event_type = event.get("type")
    if event_type == "alias":
        # previousId is usually the anonymous id the visitor had before signing up.
        previous = _str_id(event.get("previousId"))
        if previous and previous != anonymous:
            found.append(("anonymous", previous))
    context = event.get("context")
    trait_sources = [event.get("traits"), context.get("traits") if context else None]
    if kind == "form" or event_type == "identify":
        trait_sources.append(event.get("properties"))
    contributing = 0
    for traits in trait_sources:
        if not traits or not isinstance(traits, dict):
            continue
        contributing += 1
        for identifier in (("contact", _contact_id(traits)),  # in ANCHOR_ORDER
                           ("email", normalise_email(traits.get("email"))),
                           ("mobile", phone_of(traits.get("mobile") or traits.get("phone")))):
            if identifier[1] and identifier not in found:
                found.append(identifier)
    if contributing > 1:  # otherwise `found` is in ANCHOR_ORDER already
        found.sort(key=lambda ident: ANCHOR_RANK[ident[0]])
    identifiers = tuple(found)
    return Sighting(anchor=identifiers[0], identifiers=identifiers,
                    evidence=kind, message_id=_str_id(event.get("messageId"))[:100])


ANCHOR_RANK = {kind: rank for rank, kind in enumerate(ANCHOR_ORDER)}


def _contact_id(traits: dict) -> str:
    contact = _str_id(traits.get("contactId") or traits.get("contact_id"))
    return contact if contact.isdigit() else ""


def is_blocked(identifier: Identifier) -> bool:
    """Values configured as never identifying anyone (test addresses, switchboard numbers)."""
    kind, value = identifier
    blocked = settings.TRACKING_BLOCKED_IDENTIFIERS
    if value in blocked.get(kind, ()):
        return True
    if kind == "email":
        return email_domain(value) in blocked.get("email_domain", ())
    return False
