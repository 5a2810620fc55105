"""Every read of accounts and contacts, through the visibility scope first."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.db.models import Model, Q, QuerySet

from marketloop.crm.models import Account, Consent, Contact, Industry, RerouteRun, TierRule
from marketloop.crm.validation import name_bigrams
from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import User
from marketloop.org.scope import visible

M = TypeVar("M", bound=Model)

PAGE_SIZE = 50


@dataclass
class AccountFilter:
    q: str = ""
    tier: str = ""
    industry: int | None = None
    province: int | None = None
    owner: int | None = None
    owner_unit: int | None = None
    sort: str = "name"  # name, -name, rank, -updated

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AccountFilter:
        """From query parameters (UI, export and API share them); bad values are ignored."""
        return cls(q=str(params.get("q") or "")[:100], tier=str(params.get("tier") or ""),
                   industry=_int(params.get("industry")), province=_int(params.get("province")),
                   owner=_int(params.get("owner")), owner_unit=_int(params.get("owner_unit")),
                   sort=str(params.get("sort") or "name"))


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# sort key -> (fields in order); every sort ends on id so the order is total.
ACCOUNT_SORTS: dict[str, tuple[str, ...]] = {
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "rank": ("industry_rank", "id"),
    "-updated": ("-updated_at", "-id"),
}


@dataclass
class Page(Generic[M]):
    items: list[M]
    next_cursor: str | None
    sort: str
    filters: dict[str, Any] = field(default_factory=dict)


def _search(qs: QuerySet[M], q: str, *fields: str, grams_field: str | None = None,
            exact: tuple[str, ...] = ()) -> QuerySet[M]:
    """Fragment search over `fields`; the first field may have a bigram GIN index
    (`grams_field`) that narrows the rows before the fragment is confirmed. `exact` fields
    match the whole query (identifiers such as the credit code)."""
    q = q.strip()
    if not q:
        return qs
    grams = name_bigrams(q)
    first, rest = fields[0], fields[1:]
    if grams_field and grams:
        text = Q(**{f"{grams_field}__contains": grams, f"{first}__icontains": q})
    else:
        text = Q(**{f"{first}__icontains": q})
    for name in rest:
        text |= Q(**{f"{name}__icontains": q})
    for name in exact:
        text |= Q(**{name: q.upper()})
    return qs.filter(text)


def accounts_visible(user: User) -> QuerySet[Account]:
    return visible(user, Account.objects.all())


def account_queryset(user: User, flt: AccountFilter) -> QuerySet[Account]:
    qs = accounts_visible(user)
    if flt.q:
        qs = _search(qs, flt.q, "name", grams_field="name_grams", exact=("credit_code",))
    if flt.tier:
        qs = qs.filter(tier=flt.tier)
    if flt.industry:
        qs = qs.filter(industry_id=flt.industry)
    if flt.province:
        qs = qs.filter(province_id=flt.province)
    if flt.owner:
        qs = qs.filter(owner_id=flt.owner)
    if flt.owner_unit:
        qs = qs.filter(owner_unit_id=flt.owner_unit)
    return qs


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode()


def decode_cursor(cursor: str) -> list[Any] | None:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        return None
    return values if isinstance(values, list) else None


def _after(fields: tuple[str, ...], values: list[Any]) -> Q:
    """Rows strictly after `values` in the order `fields` (each may be descending).
    Nulls sort last in ascending order (PostgreSQL's default), first in descending."""
    condition = Q()
    for i, spec in enumerate(fields):
        name = spec.lstrip("-")
        descending = spec.startswith("-")
        value = values[i]
        equal_before = Q(**{f.lstrip("-"): v for f, v in zip(fields[:i], values[:i], strict=True)})
        if value is None:
            # Ascending: nulls are last, nothing non-null is after them.
            step = Q(pk__in=[]) if not descending else Q(**{f"{name}__isnull": False})
        else:
            op = "lt" if descending else "gt"
            step = Q(**{f"{name}__{op}": value})
            if not descending:
                step |= Q(**{f"{name}__isnull": True})
        condition |= equal_before & step
    return condition


def paginate(qs: QuerySet[M], sort_fields: tuple[str, ...], cursor: str | None,
             size: int = PAGE_SIZE) -> tuple[list[M], str | None]:
    qs = qs.order_by(*sort_fields)
    if cursor:
        values = decode_cursor(cursor)
        if values is not None and len(values) == len(sort_fields):
            qs = qs.filter(_after(sort_fields, values))
    rows = list(qs[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, spec.lstrip("-")) for spec in sort_fields])
    return rows, next_cursor


def account_page(user: User, flt: AccountFilter, cursor: str | None = None,
                 size: int = PAGE_SIZE) -> Page[Account]:
    sort = flt.sort if flt.sort in ACCOUNT_SORTS else "name"
    qs = account_queryset(user, flt).select_related("industry", "province", "owner", "owner_unit")
    items, next_cursor = paginate(qs, ACCOUNT_SORTS[sort], cursor, size)
    return Page(items=items, next_cursor=next_cursor, sort=sort)


def account_detail(user: User, account_id: int) -> Account:
    account = (
        accounts_visible(user)
        .select_related("industry", "province", "owner", "owner_unit", "partner", "parent",
                        "tier_rule")
        .filter(pk=account_id)
        .first()
    )
    if account is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such account.")
    return account


def subsidiaries(user: User, account: Account) -> QuerySet[Account]:
    return accounts_visible(user).filter(parent=account).order_by("name")


def contacts_visible(user: User) -> QuerySet[Contact]:
    return visible(user, Contact.objects.all())


@dataclass
class ContactFilter:
    q: str = ""
    account: int | None = None
    management: bool | None = None
    sort: str = "name"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ContactFilter:
        management = params.get("management")
        return cls(q=str(params.get("q") or "")[:100], account=_int(params.get("account")),
                   management={"1": True, "true": True, "0": False, "false": False}.get(
                       str(management).lower()) if management not in (None, "") else None,
                   sort=str(params.get("sort") or "name"))


CONTACT_SORTS: dict[str, tuple[str, ...]] = {
    "name": ("name", "id"),
    "-updated": ("-updated_at", "-id"),
}


def contact_queryset(user: User, flt: ContactFilter) -> QuerySet[Contact]:
    qs = contacts_visible(user)
    if flt.q:
        qs = _search(qs, flt.q, "name", "email", "mobile")
    if flt.account:
        qs = qs.filter(account_id=flt.account)
    if flt.management is not None:
        qs = qs.filter(is_management=flt.management)
    return qs


def contact_page(user: User, flt: ContactFilter, cursor: str | None = None,
                 size: int = PAGE_SIZE) -> Page[Contact]:
    sort = flt.sort if flt.sort in CONTACT_SORTS else "name"
    qs = contact_queryset(user, flt).select_related("account")
    items, next_cursor = paginate(qs, CONTACT_SORTS[sort], cursor, size)
    return Page(items=items, next_cursor=next_cursor, sort=sort)


def contact_detail(user: User, contact_id: int) -> Contact:
    contact = contacts_visible(user).select_related("account", "owner", "owner_unit").filter(
        pk=contact_id).first()
    if contact is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such contact.")
    return contact


def contacts_of(user: User, account: Account) -> QuerySet[Contact]:
    return contacts_visible(user).filter(account=account).order_by("name")


def consents_of(contact: Contact) -> QuerySet[Consent]:
    """Consent of a contact the caller has already read through `contact_detail`."""
    return contact.consents.select_related("recorded_by")


def industries() -> QuerySet[Industry]:
    return Industry.objects.all()


def tier_rules() -> QuerySet[TierRule]:
    return TierRule.objects.all()


def reroute_runs() -> QuerySet[RerouteRun]:
    return RerouteRun.objects.all()[:20]


def parent_of(user: User, account: Account) -> Account | None:
    """The account's parent, if the user may see it."""
    if account.parent_id is None:
        return None
    return accounts_visible(user).filter(pk=account.parent_id).first()


def tier_rule(rule_id: int) -> TierRule:
    rule = TierRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such tier rule.")
    return rule
