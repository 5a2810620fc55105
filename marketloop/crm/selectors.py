"""Every read of accounts and contacts, through the visibility scope first."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db.models import BooleanField, Model, Q, QuerySet
from django.db.models.expressions import RawSQL

from marketloop.crm.models import Account, Consent, Contact, Industry, RerouteRun, TierRule
from marketloop.crm.validation import name_bigrams
from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import User
from marketloop.org.scope import visible, visible_parts

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
    return visible(user, _filtered_accounts(flt))


def _filtered_accounts(flt: AccountFilter) -> QuerySet[Account]:
    qs = Account.objects.all()
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


class InvalidCursor(ValueError):
    """A cursor that does not decode to values of the sort columns."""


def cursor_values(model: type[Model], sort_fields: tuple[str, ...], cursor: str) -> list[Any]:
    values = decode_cursor(cursor)
    if values is None or len(values) != len(sort_fields):
        raise InvalidCursor(cursor)
    try:
        return [None if value is None else model._meta.get_field(spec.lstrip("-")).to_python(value)
                for spec, value in zip(sort_fields, values, strict=True)]
    except (ValidationError, TypeError) as exc:
        raise InvalidCursor(cursor) from exc


def _after(model: type[Model], fields: tuple[str, ...], values: list[Any]) -> Q:
    """Rows strictly after `values` in the order `fields` (all ascending or all descending,
    ending on the primary key).

    Written as a row comparison, `(name, id) > (%s, %s)`, which PostgreSQL answers with a
    range scan of the matching index; an OR-expanded form makes it read every row before the
    cursor. Nulls sort last ascending and first descending (PostgreSQL's default), so a
    nullable leading column needs its null zone handled apart."""
    descending = fields[0].startswith("-")
    names = [spec.lstrip("-") for spec in fields]
    table = model._meta.db_table
    columns = [f'"{table}"."{model._meta.get_field(name).column}"' for name in names]
    first, first_value = names[0], values[0]
    nullable = model._meta.get_field(first).null
    op = "<" if descending else ">"
    if first_value is None:
        # Within the nulls: compare the rest; descending, every non-null row follows them.
        rest = RawSQL(f"({', '.join(columns[1:])}) {op} ({', '.join(['%s'] * (len(columns) - 1))})",
                      values[1:], output_field=BooleanField())
        within = Q(**{f"{first}__isnull": True}) & Q(rest)
        return within | Q(**{f"{first}__isnull": False}) if descending else within
    row = RawSQL(f"({', '.join(columns)}) {op} ({', '.join(['%s'] * len(columns))})", values,
                 output_field=BooleanField())
    condition = Q(row)
    if nullable and not descending:
        condition |= Q(**{f"{first}__isnull": True})
    return condition


def paginate(qs: QuerySet[M], sort_fields: tuple[str, ...], cursor: str | None,
             size: int = PAGE_SIZE, *, parts: list[Q] | None = None) -> tuple[list[M], str | None]:
    """One page in the order `sort_fields`, after `cursor`.

    With `parts` (the visibility scope split by visible_parts), each part is paged on its own
    index and the parts are merged: one `LIMIT size+1` per part instead of a scan filtered by
    a long OR, which is what keeps a province's first page fast at a million rows."""
    qs = qs.order_by(*sort_fields)
    if cursor:
        qs = qs.filter(_after(qs.model, sort_fields, cursor_values(qs.model, sort_fields, cursor)))
    if parts:
        rows = _merged_parts(qs, sort_fields, parts, size + 1)
    else:
        rows = list(qs[: size + 1])
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, spec.lstrip("-")) for spec in sort_fields])
    return rows, next_cursor


def _merged_parts(qs: QuerySet[M], sort_fields: tuple[str, ...], parts: list[Q],
                  limit: int) -> list[M]:
    names = [spec.lstrip("-") for spec in sort_fields]
    keys = [qs.filter(part).values_list(*names)[:limit] for part in parts]
    if len(keys) == 1:  # already in order (qs is ordered); a sliced query cannot be reordered
        ids = [row[-1] for row in keys[0]]
    else:
        ids = [row[-1] for row in keys[0].union(*keys[1:]).order_by(*sort_fields)[:limit]]
    by_id = {obj.pk: obj for obj in qs.order_by().filter(pk__in=ids)}
    return [by_id[pk] for pk in ids if pk in by_id]


def _scoped_page(user: User, qs: QuerySet[M], sort_fields: tuple[str, ...], cursor: str | None,
                 size: int) -> tuple[list[M], str | None]:
    """A page of `qs` within the user's scope, the scope applied part by part."""
    parts = visible_parts(user, qs.model)
    if parts is None:
        return paginate(qs, sort_fields, cursor, size)
    if not parts:
        return [], None
    return paginate(qs, sort_fields, cursor, size, parts=parts)


def account_page(user: User, flt: AccountFilter, cursor: str | None = None,
                 size: int = PAGE_SIZE) -> Page[Account]:
    sort = flt.sort if flt.sort in ACCOUNT_SORTS else "name"
    qs = _filtered_accounts(flt).select_related("industry", "province", "owner", "owner_unit",
                                                "partner")
    items, next_cursor = _scoped_page(user, qs, ACCOUNT_SORTS[sort], cursor, size)
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
    return visible(user, _filtered_contacts(flt))


def _filtered_contacts(flt: ContactFilter) -> QuerySet[Contact]:
    qs = Contact.objects.all()
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
    items, next_cursor = _scoped_page(user, _filtered_contacts(flt).select_related(
        "account", "owner_unit", "owner", "partner"), CONTACT_SORTS[sort], cursor, size)
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
