"""Every write to accounts, contacts, consent and tier rules. One transaction each, audited."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from marketloop import bus
from marketloop.audit import services as audit
from marketloop.crm.errors import CrmErrorCode
from marketloop.crm.events import AccountsRerouted, ContactsChanged
from marketloop.crm.models import (
    Account,
    Consent,
    Contact,
    Industry,
    RerouteRun,
    TierRule,
)
from marketloop.crm.routing import Router
from marketloop.crm.validation import (
    name_bigrams,
    normalise_credit_code,
    normalise_email,
    normalise_mobile,
)
from marketloop.org.errors import DomainError, NotAllowed, OrgErrorCode
from marketloop.org.models import OrgUnit, UnitKind, User
from marketloop.org.permissions import Action, require
from marketloop.org.scope import is_visible

ACCOUNT_AUDIT_FIELDS = ("name", "credit_code", "industry", "industry_rank", "province",
                        "revenue_band", "parent", "tier", "owner_unit", "owner", "partner")
CONTACT_AUDIT_FIELDS = ("name", "title", "is_management", "email", "mobile", "account")
ROUTING_FIELDS = ("tier", "owner_unit", "owner", "partner")


def _invalid(field: str, code: CrmErrorCode, message: str) -> DomainError:
    return DomainError(code, message, errors={field: [message]}, status=422)


def _require_visible(user: User, obj: Any) -> None:
    if not is_visible(user, obj):
        raise NotAllowed(OrgErrorCode.NOT_FOUND, _("No such record."), status=404)


def _clean_credit_code(raw: str, *, exclude_id: int | None = None) -> str:
    try:
        code = normalise_credit_code(raw)
    except ValueError as exc:
        raise _invalid("credit_code", CrmErrorCode.INVALID_CREDIT_CODE, str(exc)) from exc
    if code and Account.objects.filter(credit_code=code).exclude(pk=exclude_id).exists():
        raise _invalid("credit_code", CrmErrorCode.DUPLICATE_CREDIT_CODE,
                       _("An account with this credit code already exists."))
    return code


def _apply_routing(account: Account, router: Router, *, industry_name: str) -> str | None:
    """Set tier, owner unit, partner and owner from the rules. Returns the reason, or None if
    no rule matched (the account keeps what it had)."""
    decision = router.route(rank=account.industry_rank, revenue_band=account.revenue_band,
                            province_id=account.province_id, industry_name=industry_name)
    if decision is None:
        return None
    account.tier = decision.tier
    account.tier_rule_id = decision.rule_id
    account.tier_reason = decision.reason
    account.partner_id = decision.partner_id
    if account.owner_unit_id != decision.owner_unit_id or account.owner_id is None:
        router.release(account.owner_id)
        account.owner_unit_id = decision.owner_unit_id
        account.owner_id = router.pick_owner(decision.owner_unit_id)
    return decision.reason


@transaction.atomic
def create_account(
    *,
    actor: User,
    name: str,
    industry: Industry,
    province: OrgUnit,
    credit_code: str = "",
    industry_rank: int | None = None,
    revenue_band: str = "",
    parent: Account | None = None,
) -> Account:
    require(actor, Action.CREATE)
    name = (name or "").strip()
    if not name:
        raise _invalid("name", CrmErrorCode.INVALID, _("An account needs a name."))
    if province.kind != UnitKind.PROVINCE:
        raise _invalid("province", CrmErrorCode.UNKNOWN_PROVINCE, _("Choose a province."))
    account = Account(
        name=name, credit_code=_clean_credit_code(credit_code), industry=industry,
        industry_rank=industry_rank, province=province, revenue_band=revenue_band or "",
        parent=parent, name_grams=name_bigrams(name),
    )
    reason = _apply_routing(account, Router(), industry_name=industry.name)
    if reason is None:
        raise DomainError(CrmErrorCode.NO_OWNER_UNIT,
                          _("No tier rule matches this account; ask an administrator."))
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:
        raise _invalid("credit_code", CrmErrorCode.DUPLICATE_CREDIT_CODE,
                       _("An account with this credit code already exists.")) from exc
    audit.record(actor=actor, obj=account, action="created",
                 changes=audit.diff({}, audit.snapshot(account, ACCOUNT_AUDIT_FIELDS)),
                 reason=reason)
    return account


@transaction.atomic
def update_account(*, actor: User, account: Account, reason: str = "", **changes: Any) -> Account:
    """Change an account's fields. A change of rank, revenue band or province re-routes it in
    a background job, which records why."""
    require(actor, Action.EDIT)
    _require_visible(actor, account)
    account = Account.objects.select_for_update().get(pk=account.pk)
    before = audit.snapshot(account, ACCOUNT_AUDIT_FIELDS)
    allowed = {"name", "credit_code", "industry", "industry_rank", "province", "revenue_band",
               "parent"}
    unknown = set(changes) - allowed
    if unknown:
        raise _invalid(sorted(unknown)[0], CrmErrorCode.INVALID, _("This field cannot be set."))
    if "credit_code" in changes:
        changes["credit_code"] = _clean_credit_code(changes["credit_code"],
                                                    exclude_id=account.pk)
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise _invalid("name", CrmErrorCode.INVALID, _("An account needs a name."))
        account.name_grams = name_bigrams(changes["name"])
    if changes.get("parent") is not None and changes["parent"].pk == account.pk:
        raise _invalid("parent", CrmErrorCode.INVALID, _("An account cannot be its own parent."))
    for field, value in changes.items():
        setattr(account, field, value)
    account.updated_at = timezone.now()
    account.save()
    delta = audit.diff(before, audit.snapshot(account, ACCOUNT_AUDIT_FIELDS))
    if delta:
        audit.record(actor=actor, obj=account, action="updated", changes=delta, reason=reason)
    routing_inputs = {"industry_rank", "revenue_band", "province"}
    if routing_inputs & set(delta):
        what = ", ".join(f"{f} {delta[f][0]} → {delta[f][1]}"
                         for f in sorted(routing_inputs & set(delta)))
        request_reroute(actor=actor, cause=_("Account changed: %(what)s") % {"what": what},
                        account_ids=[account.pk])
    return account


def request_reroute(*, actor: User | None, cause: str,
                    account_ids: Iterable[int] | None = None) -> RerouteRun:
    """Queue a re-routing run; it starts once the current transaction commits."""
    from marketloop.crm.tasks import reroute_accounts

    run = RerouteRun.objects.create(
        cause=cause, requested_by=actor,
        account_ids=list(account_ids) if account_ids is not None else None,
    )
    transaction.on_commit(lambda: reroute_accounts.defer(run_id=run.pk))
    return run


REROUTE_CHUNK = 2000


def run_reroute(*, run_id: int) -> RerouteRun:
    """Apply the current rules to the run's accounts, in chunks, recording progress and, for
    every account whose tier or owner changes, an audit entry with the rule and the cause."""
    run = RerouteRun.objects.get(pk=run_id)
    if run.status == RerouteRun.Status.DONE:
        return run
    accounts = Account.objects.order_by("id")
    if run.account_ids is not None:
        accounts = accounts.filter(id__in=run.account_ids)
    run.status, run.total, run.processed, run.changed = RerouteRun.Status.RUNNING, \
        accounts.count(), 0, 0
    run.save(update_fields=["status", "total", "processed", "changed"])
    router = Router()
    industries = dict(Industry.objects.values_list("id", "name"))
    last_id = 0
    try:
        while True:
            chunk = list(accounts.filter(id__gt=last_id).select_related(
                "owner_unit", "owner", "partner")[:REROUTE_CHUNK])
            if not chunk:
                break
            last_id = chunk[-1].id
            run.changed += _reroute_chunk(chunk, router, industries, run)
            run.processed += len(chunk)
            RerouteRun.objects.filter(pk=run.pk).update(processed=run.processed,
                                                        changed=run.changed)
    except Exception as exc:
        RerouteRun.objects.filter(pk=run.pk).update(status=RerouteRun.Status.FAILED,
                                                    error=str(exc)[:2000])
        raise
    RerouteRun.objects.filter(pk=run.pk).update(status=RerouteRun.Status.DONE,
                                                finished_at=timezone.now())
    run.refresh_from_db()
    return run


@transaction.atomic
def _reroute_chunk(chunk: list[Account], router: Router, industries: dict[int, str],
                   run: RerouteRun) -> int:
    changed: list[Account] = []
    entries = []
    for account in chunk:
        before = router.describe(account)
        old_reason = account.tier_reason
        reason = _apply_routing(account, router,
                                industry_name=industries.get(account.industry_id, ""))
        if reason is None:
            continue
        delta = audit.diff(before, router.describe(account))
        if delta or account.tier_reason != old_reason:
            account.updated_at = timezone.now()
            changed.append(account)
        if delta:
            entries.append(audit.entry(actor=run.requested_by, obj=account, action="rerouted",
                                       changes=delta, reason=f"{run.cause} — {reason}"))
    Account.objects.bulk_update(changed, ["tier", "tier_rule", "tier_reason", "owner_unit",
                                          "owner", "partner", "updated_at"], batch_size=1000)
    sync_contact_scope([a.id for a in changed])
    audit.record_many(entries)
    return len(entries)


def sync_contact_scope(account_ids: list[int]) -> None:
    """Copy owner unit, owner and partner from accounts to their contacts."""
    if not account_ids:
        return
    source = Account.objects.filter(pk=OuterRef("account_id"))
    Contact.objects.filter(account_id__in=account_ids).update(
        owner_unit_id=Subquery(source.values("owner_unit_id")),
        owner_id=Subquery(source.values("owner_id")),
        partner_id=Subquery(source.values("partner_id")),
    )
    bus.publish(AccountsRerouted(tuple(account_ids)))


def _clean_contact_fields(fields: dict[str, Any], *, exclude_id: int | None = None) -> None:
    if "email" in fields:
        try:
            fields["email"] = normalise_email(fields["email"])
        except ValueError as exc:
            raise _invalid("email", CrmErrorCode.INVALID_EMAIL, str(exc)) from exc
        if fields["email"] and Contact.objects.filter(email__iexact=fields["email"]).exclude(
                pk=exclude_id).exists():
            raise _invalid("email", CrmErrorCode.DUPLICATE_EMAIL,
                           _("A contact with this email already exists."))
    if "mobile" in fields:
        try:
            fields["mobile"] = normalise_mobile(fields["mobile"])
        except ValueError as exc:
            raise _invalid("mobile", CrmErrorCode.INVALID_MOBILE, str(exc)) from exc
    if "name" in fields:
        fields["name"] = (fields["name"] or "").strip()
        if not fields["name"]:
            raise _invalid("name", CrmErrorCode.INVALID, _("A contact needs a name."))


@transaction.atomic
def create_contact(*, actor: User, account: Account, name: str, title: str = "",
                   is_management: bool = False, email: str = "", mobile: str = "") -> Contact:
    require(actor, Action.CREATE)
    _require_visible(actor, account)
    fields: dict[str, Any] = {"name": name, "email": email, "mobile": mobile}
    _clean_contact_fields(fields)
    contact = Contact(account=account, title=(title or "").strip(), is_management=is_management,
                      owner_unit_id=account.owner_unit_id, owner_id=account.owner_id,
                      partner_id=account.partner_id, **fields)
    contact.save()
    audit.record(actor=actor, obj=contact, action="created",
                 changes=audit.diff({}, audit.snapshot(contact, CONTACT_AUDIT_FIELDS)))
    bus.publish(ContactsChanged((contact.pk,)))
    return contact


@transaction.atomic
def update_contact(*, actor: User, contact: Contact, **changes: Any) -> Contact:
    require(actor, Action.EDIT)
    _require_visible(actor, contact)
    allowed = {"name", "title", "is_management", "email", "mobile", "account"}
    unknown = set(changes) - allowed
    if unknown:
        raise _invalid(sorted(unknown)[0], CrmErrorCode.INVALID, _("This field cannot be set."))
    _clean_contact_fields(changes, exclude_id=contact.pk)
    if "account" in changes:
        _require_visible(actor, changes["account"])
    contact = Contact.objects.select_for_update().get(pk=contact.pk)
    before = audit.snapshot(contact, CONTACT_AUDIT_FIELDS)
    for field, value in changes.items():
        setattr(contact, field, value)
    if "account" in changes:
        account = changes["account"]
        contact.owner_unit_id, contact.owner_id, contact.partner_id = (
            account.owner_unit_id, account.owner_id, account.partner_id)
    contact.updated_at = timezone.now()
    contact.save()
    delta = audit.diff(before, audit.snapshot(contact, CONTACT_AUDIT_FIELDS))
    if delta:
        audit.record(actor=actor, obj=contact, action="updated", changes=delta)
    if {"email", "mobile", "account", "title", "is_management"} & set(delta):
        bus.publish(ContactsChanged((contact.pk,)))
    return contact


@transaction.atomic
def record_consent(*, actor: User, contact: Contact, purpose: str, granted: bool, method: str,
                   evidence: str = "", recorded_at: Any = None) -> Consent:
    require(actor, Action.EDIT)
    _require_visible(actor, contact)
    purpose = (purpose or "").strip()
    if not purpose:
        raise _invalid("purpose", CrmErrorCode.INVALID, _("Say what the consent is for."))
    consent = Consent.objects.create(
        contact=contact, purpose=purpose, granted=granted, method=method, evidence=evidence,
        recorded_at=recorded_at or timezone.now(), recorded_by=actor,
    )
    audit.record(actor=actor, obj=contact, action="consent",
                 changes={f"consent:{purpose}": [None, "granted" if granted else "withdrawn"]},
                 reason=f"{method}: {evidence}".strip(": "))
    return consent


RULE_FIELDS = ("name", "priority", "rank_min", "rank_max", "revenue_bands", "tier",
               "owner_kind", "active")


@transaction.atomic
def save_tier_rule(*, actor: User, rule: TierRule | None = None, **fields: Any) -> TierRule:
    """Create or change a tier rule, then re-route every account in the background."""
    require(actor, Action.ADMINISTER)
    if fields.get("rank_min") is not None and fields.get("rank_max") is not None \
            and fields["rank_min"] > fields["rank_max"]:
        raise _invalid("rank_min", CrmErrorCode.INVALID,
                       _("The lowest rank must not be above the highest."))
    before = audit.snapshot(rule, RULE_FIELDS) if rule else {}
    rule = rule or TierRule()
    for field, value in fields.items():
        setattr(rule, field, value)
    rule.save()
    delta = audit.diff(before, audit.snapshot(rule, RULE_FIELDS))
    audit.record(actor=actor, obj=rule, action="updated" if before else "created", changes=delta)
    if delta:
        what = "; ".join(f"{k}: {v[0]} → {v[1]}" for k, v in delta.items())
        request_reroute(actor=actor, cause=_("Tier rule “%(rule)s” changed (%(what)s)")
                        % {"rule": rule.name, "what": what})
    return rule


@transaction.atomic
def delete_tier_rule(*, actor: User, rule: TierRule) -> None:
    require(actor, Action.ADMINISTER)
    audit.record(actor=actor, obj=rule, action="deleted",
                 changes=audit.diff(audit.snapshot(rule, RULE_FIELDS), {}))
    name = rule.name
    rule.delete()
    request_reroute(actor=actor, cause=_("Tier rule “%(rule)s” deleted") % {"rule": name})
