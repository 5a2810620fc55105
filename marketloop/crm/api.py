"""Accounts, contacts, consent and the reference data, as JSON.

Each route parses its input, calls one selector (reads, always through the visibility scope)
or one service (writes), and returns a schema. An id the caller cannot see answers 404, exactly
like an id that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import prefetch_related_objects
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from marketloop.crm import selectors, services
from marketloop.crm.errors import CrmErrorCode
from marketloop.crm.models import (
    Account,
    Consent,
    ConsentMethod,
    Industry,
    OwnerKind,
    RevenueBand,
    Tier,
)
from marketloop.org.errors import DomainError, NotFound
from marketloop.org.models import OrgUnit, User
from marketloop.org.selectors import provinces

router = Router(tags=["crm"])

MAX_LIMIT = 200


# ---------------------------------------------------------------------------- shared schemas


class InputSchema(Schema):
    """Request bodies: an unknown field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class UnitRef(Schema):
    id: int
    name: str


class PersonRef(Schema):
    id: int
    name: str

    @staticmethod
    def resolve_name(obj: User) -> str:
        return str(obj)


class CodedRef(Schema):
    id: int
    code: str
    name: str


# A reference by numeric id or by code ("manufacturing", "gd").
IdOrCode = int | str


def _is_id(ref: IdOrCode) -> bool:
    text = str(ref).strip()
    return text.isascii() and text.isdigit()


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined, return-value]


def _invalid(field: str, code: CrmErrorCode, message: str) -> DomainError:
    return DomainError(code, message, errors={field: [message]}, status=422)


def _industry(ref: IdOrCode, field: str = "industry") -> Industry:
    text = str(ref).strip()
    qs = selectors.industries()
    found = (qs.filter(pk=int(text)) if _is_id(text) else qs.filter(code=text)).first()
    if found is None:
        raise _invalid(field, CrmErrorCode.UNKNOWN_INDUSTRY, _("No such industry."))
    return found


def _province(ref: IdOrCode, field: str = "province") -> OrgUnit:
    text = str(ref).strip()
    qs = provinces()
    found = (qs.filter(pk=int(text)) if _is_id(text) else qs.filter(code=text)).first()
    if found is None:
        raise _invalid(field, CrmErrorCode.UNKNOWN_PROVINCE, _("No such province."))
    return found


def _referenced_account(user: User, account_id: int, field: str) -> Account:
    """An account named in a request body: one the caller cannot see is as unknown as one that
    does not exist (422 on the field, never a hint that it exists)."""
    try:
        return selectors.account_detail(user, account_id)
    except NotFound as exc:
        raise _invalid(field, CrmErrorCode.UNKNOWN_ACCOUNT, _("No such account.")) from exc


def _bad_cursor() -> DomainError:
    return _invalid("cursor", CrmErrorCode.INVALID,
                    _("This cursor is not valid for this sort order."))


def _page(cursor: str | None, sort_fields: tuple[str, ...], fetch: Any) -> Any:
    """Run a page query. A cursor that does not decode to values for the sort columns is the
    client's error (422), never a silent restart from the first page."""
    if not cursor:
        return fetch(None)
    values = selectors.decode_cursor(cursor)
    if values is None or len(values) != len(sort_fields):
        raise _bad_cursor()
    try:
        return fetch(cursor)
    except (ValueError, TypeError, DjangoValidationError) as exc:
        raise _bad_cursor() from exc


# ---------------------------------------------------------------------------- reference data


class IndustryOut(Schema):
    id: int
    code: str
    name: str
    name_en: str


class TierRuleOut(Schema):
    id: int
    name: str
    priority: int
    rank_min: int | None
    rank_max: int | None
    revenue_bands: list[RevenueBand]
    tier: Tier
    owner_kind: OwnerKind
    active: bool
    updated_at: datetime


@router.get("/industries", response=list[IndustryOut], summary="Industries",
            tags=["reference"])
def list_industries(request: HttpRequest) -> Any:
    return selectors.industries()


@router.get("/tier-rules", response=list[TierRuleOut], summary="Tier rules, in the order tried",
            tags=["reference"])
def list_tier_rules(request: HttpRequest) -> Any:
    return selectors.tier_rules()


# ---------------------------------------------------------------------------- accounts


class AccountOut(Schema):
    id: int
    name: str
    credit_code: str
    tier: Tier
    tier_reason: str
    owner_unit: UnitRef
    owner: PersonRef | None
    partner: UnitRef | None
    province: CodedRef
    industry: CodedRef
    rank: int | None = Field(None, alias="industry_rank")
    revenue_band: RevenueBand | Literal[""]
    parent_id: int | None
    created_at: datetime
    updated_at: datetime


class AccountPage(Schema):
    items: list[AccountOut]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page.")


class AccountQuery(Schema):
    q: str = Field("", max_length=100, description="Name fragment (2+ characters) or credit code")
    tier: Tier | None = None
    industry: IdOrCode | None = Field(None, description="Industry id or code")
    province: IdOrCode | None = Field(None, description="Province unit id or code")
    owner: int | None = Field(None, description="Owning user id")
    owner_unit: int | None = Field(None, description="Owning unit id")
    sort: Literal["name", "-name", "rank", "-updated"] = "name"
    cursor: str | None = None
    limit: int = Field(selectors.PAGE_SIZE, ge=1, le=MAX_LIMIT)


class AccountIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=200)
    industry: IdOrCode = Field(..., description="Industry id or code")
    province: IdOrCode = Field(..., description="Province unit id or code")
    credit_code: str = Field("", max_length=40,
                             description="Unified social credit code (18 characters)")
    rank: int | None = Field(None, ge=1, description="Rank within the industry")
    revenue_band: RevenueBand | Literal[""] = ""
    parent_id: int | None = None


class AccountPatch(InputSchema):
    """Only the fields sent are changed. Tier and owner follow from the rules, never set here."""

    name: str | None = Field(None, max_length=200)
    industry: IdOrCode | None = None
    province: IdOrCode | None = None
    credit_code: str | None = Field(None, max_length=40)
    rank: int | None = Field(None, ge=1)
    revenue_band: RevenueBand | Literal[""] | None = None
    parent_id: int | None = None
    reason: str = Field("", max_length=500, description="Why, for the audit trail")


@router.get("/accounts", response=AccountPage, summary="Accounts the caller may see",
            tags=["accounts"])
def list_accounts(request: HttpRequest, filters: Query[AccountQuery]) -> Any:
    params = filters.model_dump()
    # A code is looked up (an unknown one is an error); an id filters as it is.
    if filters.industry is not None and not _is_id(filters.industry):
        params["industry"] = _industry(filters.industry).pk
    if filters.province is not None and not _is_id(filters.province):
        params["province"] = _province(filters.province).pk
    flt = selectors.AccountFilter.from_params(params)
    page = _page(filters.cursor, selectors.ACCOUNT_SORTS[flt.sort],
                 lambda cursor: selectors.account_page(_user(request), flt, cursor, filters.limit))
    prefetch_related_objects(page.items, "partner")  # one query, not one per row
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/accounts/{id}", response=AccountOut, summary="One account", tags=["accounts"])
def get_account(request: HttpRequest, id: int) -> Any:
    return selectors.account_detail(_user(request), id)


@router.post("/accounts", response={201: AccountOut}, summary="Create an account (routed to "
             "its tier and owner by the rules)", tags=["accounts"])
def create_account(request: HttpRequest, payload: AccountIn) -> Any:
    user = _user(request)
    parent = (_referenced_account(user, payload.parent_id, "parent_id")
              if payload.parent_id is not None else None)
    account = services.create_account(
        actor=user, name=payload.name, industry=_industry(payload.industry),
        province=_province(payload.province), credit_code=payload.credit_code,
        industry_rank=payload.rank, revenue_band=payload.revenue_band, parent=parent,
    )
    # The rules may route the account outside the caller's scope; it is shown this once.
    return Status(201, account)


@router.patch("/accounts/{id}", response=AccountOut, summary="Change an account",
              tags=["accounts"])
def update_account(request: HttpRequest, id: int, payload: AccountPatch) -> Any:
    user = _user(request)
    account = selectors.account_detail(user, id)
    sent = payload.model_dump(exclude_unset=True)
    reason = sent.pop("reason", "")
    changes: dict[str, Any] = {}
    for field, value in sent.items():
        if field == "industry":
            if value is None:
                raise _invalid("industry", CrmErrorCode.UNKNOWN_INDUSTRY,
                               _("An account needs an industry."))
            changes["industry"] = _industry(value)
        elif field == "province":
            if value is None:
                raise _invalid("province", CrmErrorCode.UNKNOWN_PROVINCE,
                               _("An account needs a province."))
            changes["province"] = _province(value)
        elif field == "parent_id":
            changes["parent"] = (_referenced_account(user, value, "parent_id")
                                 if value is not None else None)
        elif field == "rank":
            changes["industry_rank"] = value
        elif field in {"credit_code", "revenue_band"}:
            changes[field] = value or ""
        else:
            changes[field] = value
    return services.update_account(actor=user, account=account, reason=reason, **changes)


# ---------------------------------------------------------------------------- contacts


class AccountRef(Schema):
    id: int
    name: str


class ContactOut(Schema):
    id: int
    name: str
    title: str
    is_management: bool
    email: str
    mobile: str = Field(..., description="E.164, e.g. +8613812345678")
    account: AccountRef
    owner_unit: UnitRef
    owner: PersonRef | None
    partner: UnitRef | None
    created_at: datetime
    updated_at: datetime


class ContactPage(Schema):
    items: list[ContactOut]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page.")


class ContactQuery(Schema):
    q: str = Field("", max_length=100, description="Fragment of name, email or mobile")
    account: int | None = Field(None, description="Account id")
    management: bool | None = Field(None, description="Management level only (or not)")
    sort: Literal["name", "-updated"] = "name"
    cursor: str | None = None
    limit: int = Field(selectors.PAGE_SIZE, ge=1, le=MAX_LIMIT)


class ContactIn(InputSchema):
    account: int = Field(..., description="Account id")
    name: str = Field(..., min_length=1, max_length=80)
    title: str = Field("", max_length=120)
    is_management: bool = False
    email: str = Field("", max_length=254)
    mobile: str = Field("", max_length=40, description="Normalised to E.164")


class ContactPatch(InputSchema):
    account: int | None = None
    name: str | None = Field(None, max_length=80)
    title: str | None = Field(None, max_length=120)
    is_management: bool | None = None
    email: str | None = Field(None, max_length=254)
    mobile: str | None = Field(None, max_length=40)


class ConsentOut(Schema):
    id: int
    purpose: str
    granted: bool
    method: ConsentMethod
    recorded_at: datetime
    evidence: str
    recorded_by: PersonRef | None


class ConsentIn(InputSchema):
    purpose: str = Field(..., min_length=1, max_length=60)
    granted: bool = True
    method: ConsentMethod
    evidence: str = Field("", max_length=2000)
    recorded_at: datetime | None = Field(None, description="Defaults to now")


@router.get("/contacts", response=ContactPage, summary="Contacts the caller may see",
            tags=["contacts"])
def list_contacts(request: HttpRequest, filters: Query[ContactQuery]) -> Any:
    params = filters.model_dump()
    if filters.management is not None:
        params["management"] = "1" if filters.management else "0"
    flt = selectors.ContactFilter.from_params(params)
    page = _page(filters.cursor, selectors.CONTACT_SORTS[flt.sort],
                 lambda cursor: selectors.contact_page(_user(request), flt, cursor, filters.limit))
    prefetch_related_objects(page.items, "owner_unit", "owner", "partner")  # not one per row
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get("/contacts/{id}", response=ContactOut, summary="One contact", tags=["contacts"])
def get_contact(request: HttpRequest, id: int) -> Any:
    return selectors.contact_detail(_user(request), id)


@router.post("/contacts", response={201: ContactOut}, summary="Create a contact at an account",
             tags=["contacts"])
def create_contact(request: HttpRequest, payload: ContactIn) -> Any:
    user = _user(request)
    account = _referenced_account(user, payload.account, "account")
    contact = services.create_contact(
        actor=user, account=account, name=payload.name, title=payload.title,
        is_management=payload.is_management, email=payload.email, mobile=payload.mobile,
    )
    return Status(201, contact)


@router.patch("/contacts/{id}", response=ContactOut, summary="Change a contact",
              tags=["contacts"])
def update_contact(request: HttpRequest, id: int, payload: ContactPatch) -> Any:
    user = _user(request)
    contact = selectors.contact_detail(user, id)
    changes: dict[str, Any] = payload.model_dump(exclude_unset=True)
    if "account" in changes:
        if changes["account"] is None:
            raise _invalid("account", CrmErrorCode.UNKNOWN_ACCOUNT,
                           _("A contact belongs to an account."))
        changes["account"] = _referenced_account(user, changes["account"], "account")
    for field in ("title", "email", "mobile"):
        if field in changes and changes[field] is None:
            changes[field] = ""
    if "is_management" in changes and changes["is_management"] is None:
        del changes["is_management"]
    return services.update_contact(actor=user, contact=contact, **changes)


@router.get("/contacts/{id}/consents", response=list[ConsentOut],
            summary="Consent records of a contact, newest first", tags=["contacts"])
def list_consents(request: HttpRequest, id: int) -> Any:
    contact = selectors.contact_detail(_user(request), id)
    return selectors.consents_of(contact)


@router.post("/contacts/{id}/consents", response={201: ConsentOut},
             summary="Record a consent given or withdrawn", tags=["contacts"])
def record_consent(request: HttpRequest, id: int, payload: ConsentIn) -> Any:
    user = _user(request)
    contact = selectors.contact_detail(user, id)
    consent: Consent = services.record_consent(
        actor=user, contact=contact, purpose=payload.purpose, granted=payload.granted,
        method=payload.method, evidence=payload.evidence, recorded_at=payload.recorded_at,
    )
    return Status(201, consent)

