"""Importing accounts and contacts from CSV and Excel.

start_import   store the upload, read it, and write a preview (header mapping, the first rows
               with their errors, valid/invalid counts) into an ImportJob awaiting confirmation;
confirm_import queue the background job once the transaction commits;
run_import     the work: the file in chunks, each chunk one transaction of set-based writes
               (one lookup per chunk for existing credit codes / emails, COPY for new rows,
               bulk_update, bulk audit) that also records the job's progress and counts. A
               re-run continues after the last committed chunk; dedupe makes even a run from the
               start create nothing twice;
cancel_import  stop a job that has not finished (a running one stops before its next chunk).

Every data row ends as exactly one of created / updated / unchanged / error. Empty cells leave
existing values as they are. New accounts are routed (tier, owner unit, owner, partner) by the
tier rules, never owned by the importer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from marketloop import bulk, bus
from marketloop.audit import services as audit
from marketloop.audit.models import AuditEntry
from marketloop.crm.errors import CrmErrorCode
from marketloop.crm.events import ContactsChanged
from marketloop.crm.importing import (
    HEADER_SEARCH_ROWS,
    VALIDATORS,
    AccountRecord,
    ContactRecord,
    DuplicateCheck,
    Errors,
    Header,
    ImportFileError,
    Reference,
    Row,
    Table,
    data_rows,
    find_header,
)
from marketloop.crm.models import (
    Account,
    Consent,
    ConsentMethod,
    Contact,
    ImportJob,
    ImportRowError,
)
from marketloop.crm.routing import Router
from marketloop.crm.services import _apply_routing, sync_contact_scope
from marketloop.crm.validation import name_bigrams, normalise_credit_code
from marketloop.org.errors import DomainError, NotFound, OrgErrorCode
from marketloop.org.models import User
from marketloop.org.permissions import Action, can, require
from marketloop.org.scope import visible

log = logging.getLogger(__name__)

CHUNK_SIZE = 2000
PREVIEW_ROWS = 20
FULL_VALIDATION_LIMIT = 5000  # files up to this many rows are validated whole in the preview
PARTIAL_VALIDATION_ROWS = 1000  # larger ones: this many
PREVIEW_SAMPLES = 50  # invalid rows shown beyond the first PREVIEW_ROWS
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
UPLOAD_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm"}

Status = ImportJob.Status
CREATED, UPDATED, UNCHANGED, ERROR = "created", "updated", "unchanged", "error"
ROUTING_INPUTS = {"industry_rank", "revenue_band", "province_id"}
ROUTING_FIELDS = ["tier", "tier_rule", "tier_reason", "owner_unit", "owner", "partner"]


# ---------------------------------------------------------------------------------------------
# Reads


def import_jobs(user: User) -> QuerySet[ImportJob]:
    """The imports a user may see: their own; administrators see all."""
    jobs = ImportJob.objects.select_related("created_by")
    if can(user, Action.ADMINISTER):
        return jobs
    return jobs.filter(created_by_id=user.pk)


def import_job(user: User, pk: int) -> ImportJob:
    job = import_jobs(user).filter(pk=pk).first()
    if job is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such import."))
    return job


def row_errors(job: ImportJob) -> QuerySet[ImportRowError]:
    return job.row_errors.order_by("row_number", "id")


# ---------------------------------------------------------------------------------------------
# The engine shared by the preview (dry run) and the job (writes)


@dataclass
class Outcome:
    row: Row
    status: str
    errors: Errors = field(default_factory=list)


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    error: int = 0

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.error


@dataclass
class Source:
    table: Table
    header: Header

    @classmethod
    def open(cls, path: str | Path, kind: str, sheet: str = "") -> Source:
        table = Table(path, sheet=sheet)
        header = find_header(kind, list(islice(table.rows(), HEADER_SEARCH_ROWS)))
        return cls(table=table, header=header)

    def rows(self) -> Iterator[Row]:
        return data_rows(self.header, self.table.rows())


class Importer:
    """Reads a job's file and plans (dry run) or applies (write) it chunk by chunk."""

    def __init__(self, job: ImportJob, *, actor: User, write: bool) -> None:
        self.job = job
        self.actor = actor
        self.write = write
        self.kind = job.kind
        self.source = Source.open(job.file.path, job.kind, job.summary.get("sheet", ""))
        self.ref = Reference()
        self.router = Router()
        self.validate = VALIDATORS[job.kind]
        self.file_codes: set[str] = set()
        self.pending_parents: list[list[Any]] = list(job.summary.get("pending_parents", []))
        batch_class = AccountBatch if job.kind == ImportJob.Kind.ACCOUNTS else ContactBatch
        self.batch = batch_class(self)

    def scan(self) -> int:
        """Count the data rows; for accounts that name parents, note the valid credit codes the
        file holds (a parent may come later in the file than its subsidiaries)."""
        fields = self.source.header.fields
        codes = self.kind == ImportJob.Kind.ACCOUNTS and "parent_credit_code" in fields \
            and "credit_code" in fields
        total = 0
        for row in self.source.rows():
            total += 1
            if codes and row.values.get("credit_code"):
                try:
                    self.file_codes.add(normalise_credit_code(row.values["credit_code"]))
                except ValueError:
                    pass
        return total

    def chunks(self, *, skip: int = 0, limit: int | None = None
               ) -> Iterator[list[tuple[Row, Any, Errors]]]:
        """Validated rows in chunks. The first `skip` rows are validated (so duplicates of them
        are still caught) but not yielded: a resumed job continues where it stopped."""
        dupes = DuplicateCheck(self.kind)
        chunk: list[tuple[Row, Any, Errors]] = []
        for index, row in enumerate(self.source.rows()):
            if limit is not None and index >= limit:
                break
            record, errors = self.validate(row, self.ref)
            if record is not None:
                errors = dupes.check(record)
                if errors:
                    record = None
            if index < skip:
                continue
            chunk.append((row, record, errors))
            if len(chunk) >= CHUNK_SIZE:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def reason(self, row: int) -> str:
        return _("Import #%(id)s (%(file)s), row %(row)s") % {
            "id": self.job.pk or "-", "file": self.job.file_name, "row": row}


def _error(outcomes: dict[int, Outcome], row: Row, field_name: str, message: str) -> None:
    outcomes[row.number] = Outcome(row, ERROR, [(field_name, message)])


class AccountBatch:
    def __init__(self, importer: Importer) -> None:
        self.imp = importer

    def view(self, account: Account, parent_name: str | None) -> dict[str, Any]:
        """As audit.snapshot(account, ACCOUNT_AUDIT_FIELDS) would give, without a query."""
        ref, router = self.imp.ref, self.imp.router
        return {
            "name": account.name, "credit_code": account.credit_code,
            "industry": ref.industry_names.get(account.industry_id),
            "industry_rank": account.industry_rank,
            "province": ref.province_names.get(account.province_id),
            "revenue_band": account.revenue_band, "parent": parent_name,
            **router.describe(account),
        }

    def process(self, items: list[tuple[Row, AccountRecord | None, Errors]]) -> list[Outcome]:
        imp = self.imp
        write = imp.write
        outcomes: dict[int, Outcome] = {}
        valid: list[tuple[Row, AccountRecord]] = []
        for row, record, errors in items:
            if record is None:
                outcomes[row.number] = Outcome(row, ERROR, errors)
            else:
                valid.append((row, record))

        # One lookup per chunk: existing accounts by credit code, by name + province, parents.
        codes = {r.credit_code for _row, r in valid if r.credit_code}
        name_keys = {(r.name, r.province_id) for _row, r in valid
                     if not r.credit_code and r.province_id}
        lookup = Account.objects.select_related("parent").order_by("id")
        if write:
            lookup = lookup.select_for_update(of=("self",), no_key=True)
        found: dict[int, Account] = {}
        by_code: dict[str, Account] = {}
        by_name: dict[tuple[str, int], Account] = {}
        if codes:
            for account in lookup.filter(credit_code__in=codes):
                by_code[account.credit_code] = found.setdefault(account.id, account)
        if name_keys:
            for account in lookup.filter(name__in={n for n, _p in name_keys},
                                         province_id__in={p for _n, p in name_keys}):
                by_name.setdefault((account.name, account.province_id),
                                   found.setdefault(account.id, account))
        visible_ids = set(visible(imp.actor, Account.objects.filter(id__in=list(found)))
                          .values_list("id", flat=True)) if found else set()
        parent_codes = {r.parent_credit_code for _row, r in valid if r.parent_credit_code}
        parents: dict[str, tuple[int, str]] = {
            code: (pk, name) for code, pk, name in Account.objects.filter(
                credit_code__in=parent_codes).values_list("credit_code", "id", "name")
        } if parent_codes else {}

        new: list[tuple[Row, Account, str]] = []
        changed: dict[int, tuple[Account, set[str]]] = {}
        entries: list[tuple[Row, Account, str, dict[str, Any], str]] = []  # updated ones
        waiting: list[tuple[Account, str, Row]] = []  # parent not created yet
        rerouted: list[int] = []
        new_codes = {r.credit_code for _row, r in valid if r.credit_code and r.credit_code
                     not in by_code}
        for row, rec in valid:
            account = by_code.get(rec.credit_code) if rec.credit_code \
                else by_name.get((rec.name, rec.province_id))
            if account is None and not rec.credit_code and rec.province_id is None:
                _error(outcomes, row, "province",
                       _("Give the credit code or the province, to find or create the account."))
                continue
            parent_id: int | None = None
            parent_name: str | None = None
            parent_waits = False
            if rec.parent_credit_code:
                if rec.parent_credit_code in parents:
                    parent_id, parent_name = parents[rec.parent_credit_code]
                elif rec.parent_credit_code in new_codes or rec.parent_credit_code in \
                        imp.file_codes:
                    parent_waits = True
                else:
                    _error(outcomes, row, "parent_credit_code",
                           _("No account has the parent credit code %(code)s, in the database "
                             "or in this file.") % {"code": rec.parent_credit_code})
                    continue
            if account is not None:
                if account.id not in visible_ids:
                    _error(outcomes, row, "credit_code" if rec.credit_code else "name",
                           _("This account exists but is not one you can see; ask its owner "
                             "or an administrator to change it."))
                    continue
                self._update(row, rec, account, parent_id, parent_name, parent_waits,
                             outcomes, changed, entries, waiting, rerouted)
            else:
                missing = [label for name, label in (
                    ("name", _("a name")), ("industry_id", _("an industry")),
                    ("province_id", _("a province"))) if not getattr(rec, name)]
                if missing:
                    _error(outcomes, row, "name" if not rec.name else
                           "industry" if not rec.industry_id else "province",
                           _("A new account needs %(what)s.") % {"what": ", ".join(missing)})
                    continue
                account = Account(
                    name=rec.name, credit_code=rec.credit_code, industry_id=rec.industry_id,
                    industry_rank=rec.industry_rank, province_id=rec.province_id,
                    revenue_band=rec.revenue_band, parent_id=parent_id,
                    name_grams=name_bigrams(rec.name),
                )
                reason = _apply_routing(account, imp.router,
                                        industry_name=imp.ref.industry_names[rec.industry_id])
                if reason is None:
                    _error(outcomes, row, "industry_rank",
                           _("No tier rule matches this account; ask an administrator."))
                    continue
                account._import_parent_name = parent_name  # type: ignore[attr-defined]
                new.append((row, account, reason))
                if parent_waits:
                    waiting.append((account, rec.parent_credit_code, row))
                outcomes[row.number] = Outcome(row, CREATED)

        if write:
            self._write(new, changed, entries, waiting, rerouted)
        return [outcomes[row.number] for row, _rec, _errors in items]

    def _update(self, row: Row, rec: AccountRecord, account: Account, parent_id: int | None,
                parent_name: str | None, parent_waits: bool, outcomes: dict[int, Outcome],
                changed: dict[int, tuple[Account, set[str]]], entries: list,
                waiting: list, rerouted: list[int]) -> None:
        imp = self.imp
        new_values = {name: value for name, value in (
            ("name", rec.name), ("industry_id", rec.industry_id),
            ("industry_rank", rec.industry_rank), ("province_id", rec.province_id),
            ("revenue_band", rec.revenue_band), ("parent_id", parent_id),
        ) if value not in (None, "") and getattr(account, name) != value}
        if not new_values and not parent_waits:
            outcomes[row.number] = Outcome(row, UNCHANGED)  # the common case of a re-import
            return
        current_parent = account.parent.name if account.parent_id and account.parent else None
        before = self.view(account, current_parent)
        fields = set(new_values)
        for name, value in new_values.items():
            setattr(account, name, value)
        if "name" in new_values:
            account.name_grams = name_bigrams(account.name)
            fields.add("name_grams")
        after_parent = parent_name if "parent_id" in new_values else current_parent
        if parent_waits:
            waiting.append((account, rec.parent_credit_code, row))
        reason = imp.reason(row.number)
        if fields & ROUTING_INPUTS:
            routing = _apply_routing(account, imp.router, industry_name=imp.ref.industry_names
                                     .get(account.industry_id, ""))
            if routing:
                fields.update(ROUTING_FIELDS)
                rerouted.append(account.id)
                reason = f"{reason} — {routing}"
        if not fields and not parent_waits:
            outcomes[row.number] = Outcome(row, UNCHANGED)
            return
        outcomes[row.number] = Outcome(row, UPDATED)
        if fields:
            account.updated_at = timezone.now()
            held = changed.setdefault(account.id, (account, set()))
            held[1].update(fields | {"updated_at"})
            delta = audit.diff(before, self.view(account, after_parent))
            if delta:
                entries.append((row, account, "updated", delta, reason))

    def _write(self, new: list, changed: dict, entries: list, waiting: list,
               rerouted: list[int]) -> None:
        imp = self.imp
        now = timezone.now()
        accounts = [account for _row, account, _reason in new]
        for account in accounts:
            account.created_at = account.updated_at = now
        bulk.copy_insert(accounts)
        by_fields: dict[frozenset[str], list[Account]] = {}
        for account, fields in changed.values():
            by_fields.setdefault(frozenset(fields), []).append(account)
        for fields, group in by_fields.items():
            Account.objects.bulk_update(group, sorted(f.removesuffix("_id") for f in fields),
                                        batch_size=1000)
        sync_contact_scope(rerouted)
        audit_entries: list[AuditEntry] = []
        for row, account, reason in new:
            view = self.view(account, getattr(account, "_import_parent_name", None))
            audit_entries.append(audit.entry(
                actor=imp.actor, obj=account, action="created", changes=audit.diff({}, view),
                reason=f"{reason} — {imp.reason(row.number)}"))
        for _row, account, action, delta, reason in entries:
            audit_entries.append(audit.entry(actor=imp.actor, obj=account, action=action,
                                             changes=delta, reason=reason))
        audit.record_many(audit_entries)
        # Parents created in this chunk are linked now; later ones when the job ends.
        if waiting:
            codes = {code for _account, code, _row in waiting}
            made = {code: (pk, name) for code, pk, name in Account.objects.filter(
                credit_code__in=codes).values_list("credit_code", "id", "name")}
            linked, links = [], []
            for account, code, row in waiting:
                if code not in made:
                    imp.pending_parents.append([account.id, code, row.number])
                elif account.parent_id != made[code][0]:
                    account.parent_id = made[code][0]
                    linked.append(account)
                    links.append(audit.entry(actor=imp.actor, obj=account, action="updated",
                                             changes={"parent": [None, made[code][1]]},
                                             reason=imp.reason(row.number)))
            Account.objects.bulk_update(linked, ["parent"], batch_size=1000)
            audit.record_many(links)


class ContactBatch:
    def __init__(self, importer: Importer) -> None:
        self.imp = importer

    @staticmethod
    def view(contact: Contact, account_name: str) -> dict[str, Any]:
        return {"name": contact.name, "title": contact.title,
                "is_management": contact.is_management, "email": contact.email,
                "mobile": contact.mobile, "account": account_name}

    def _accounts(self, valid: list[tuple[Row, ContactRecord]], outcomes: dict[int, Outcome]
                  ) -> dict[int, Account]:
        """The account of each valid row, by credit code or (unambiguous, visible) name."""
        imp = self.imp
        only = ("id", "name", "credit_code", "owner_unit_id", "owner_id", "partner_id")
        codes = {r.account_credit_code for _row, r in valid if r.account_credit_code}
        names = {r.account_name for _row, r in valid if not r.account_credit_code}
        by_code = {a.credit_code: a for a in
                   Account.objects.filter(credit_code__in=codes).only(*only)} if codes else {}
        seen = set(visible(imp.actor, Account.objects.filter(
            id__in=[a.id for a in by_code.values()])).values_list("id", flat=True)) \
            if by_code else set()
        by_name: dict[str, list[Account]] = {}
        if names:
            for account in visible(imp.actor, Account.objects.filter(name__in=names)).only(
                    *only).order_by("id"):
                by_name.setdefault(account.name, []).append(account)
        resolved: dict[int, Account] = {}
        for row, rec in valid:
            if rec.account_credit_code:
                account = by_code.get(rec.account_credit_code)
                if account is None:
                    _error(outcomes, row, "account_credit_code",
                           _("No account has the credit code %(code)s.")
                           % {"code": rec.account_credit_code})
                elif account.id not in seen:
                    _error(outcomes, row, "account_credit_code",
                           _("The account with this credit code is not one you can see."))
                else:
                    resolved[row.number] = account
            else:
                matches = by_name.get(rec.account_name, [])
                if not matches:
                    _error(outcomes, row, "account_name",
                           _("No account named “%(name)s” that you can see.")
                           % {"name": rec.account_name})
                elif len(matches) > 1:
                    _error(outcomes, row, "account_name",
                           _("%(n)s accounts are named “%(name)s”: give the credit code.")
                           % {"n": len(matches), "name": rec.account_name})
                else:
                    resolved[row.number] = matches[0]
        return resolved

    def process(self, items: list[tuple[Row, ContactRecord | None, Errors]]) -> list[Outcome]:
        imp = self.imp
        outcomes: dict[int, Outcome] = {}
        valid: list[tuple[Row, ContactRecord]] = []
        for row, record, errors in items:
            if record is None:
                outcomes[row.number] = Outcome(row, ERROR, errors)
            else:
                valid.append((row, record))
        accounts = self._accounts(valid, outcomes)
        valid = [(row, rec) for row, rec in valid if row.number in accounts]

        lookup = Contact.objects.select_related("account").order_by("id")
        if imp.write:
            lookup = lookup.select_for_update(of=("self",), no_key=True)
        emails = {r.email for _row, r in valid if r.email}
        mobiles = {(accounts[row.number].id, r.mobile) for row, r in valid
                   if not r.email and r.mobile}
        names = {(accounts[row.number].id, r.name) for row, r in valid
                 if not r.email and not r.mobile}
        found: dict[int, Contact] = {}
        by_email: dict[str, Contact] = {}
        by_mobile: dict[tuple[int, str], Contact] = {}
        by_name: dict[tuple[int, str], Contact] = {}
        if emails:
            for c in lookup.annotate(email_lower=Lower("email")).filter(
                    email_lower__in=emails).exclude(email=""):
                by_email.setdefault(c.email.lower(), found.setdefault(c.id, c))
        if mobiles:
            for c in lookup.filter(account_id__in={a for a, _m in mobiles},
                                   mobile__in={m for _a, m in mobiles}):
                by_mobile.setdefault((c.account_id, c.mobile), found.setdefault(c.id, c))
        if names:
            for c in lookup.filter(account_id__in={a for a, _n in names},
                                   name__in={n for _a, n in names}):
                by_name.setdefault((c.account_id, c.name), found.setdefault(c.id, c))
        visible_ids = set(visible(imp.actor, Contact.objects.filter(id__in=list(found)))
                          .values_list("id", flat=True)) if found else set()
        purposes = {r.consent_purpose for _row, r in valid if r.consent_purpose}
        granted: dict[tuple[int, str], bool] = {}
        if purposes and found:
            for contact_id, purpose, is_granted in Consent.objects.filter(
                    contact_id__in=list(found), purpose__in=purposes).order_by(
                    "contact_id", "purpose", "-recorded_at", "-id").values_list(
                    "contact_id", "purpose", "granted"):
                granted.setdefault((contact_id, purpose), is_granted)

        new: list[tuple[Row, Contact, ContactRecord]] = []
        changed: dict[int, Contact] = {}
        entries: list[AuditEntry] = []
        consents: list[tuple[Row, Contact, str]] = []
        now = timezone.now()
        for row, rec in valid:
            account = accounts[row.number]
            if rec.email:
                contact = by_email.get(rec.email)
            elif rec.mobile:
                contact = by_mobile.get((account.id, rec.mobile))
            else:
                contact = by_name.get((account.id, rec.name))
            if contact is None:
                contact = Contact(
                    name=rec.name, title=rec.title, is_management=bool(rec.is_management),
                    email=rec.email, mobile=rec.mobile, account_id=account.id,
                    owner_unit_id=account.owner_unit_id, owner_id=account.owner_id,
                    partner_id=account.partner_id, created_at=now, updated_at=now,
                )
                contact._import_account_name = account.name  # type: ignore[attr-defined]
                new.append((row, contact, rec))
                if rec.consent_purpose:
                    consents.append((row, contact, rec.consent_purpose))
                outcomes[row.number] = Outcome(row, CREATED)
                continue
            if contact.id not in visible_ids:
                _error(outcomes, row, "email",
                       _("A contact with this email exists but is not one you can see."))
                continue
            before = self.view(contact, contact.account.name)
            if rec.name != contact.name:
                contact.name = rec.name
            if rec.title and rec.title != contact.title:
                contact.title = rec.title
            if rec.is_management is not None and rec.is_management != contact.is_management:
                contact.is_management = rec.is_management
            if rec.email and rec.email != contact.email.lower():
                contact.email = rec.email
            if rec.mobile and rec.mobile != contact.mobile:
                contact.mobile = rec.mobile
            if account.id != contact.account_id:
                contact.account_id = account.id
                contact.owner_unit_id, contact.owner_id, contact.partner_id = (
                    account.owner_unit_id, account.owner_id, account.partner_id)
            delta = audit.diff(before, self.view(contact, account.name))
            consent_new = bool(rec.consent_purpose) and not granted.get(
                (contact.id, rec.consent_purpose), False)
            if consent_new:
                granted[(contact.id, rec.consent_purpose)] = True
                consents.append((row, contact, rec.consent_purpose))
            if not delta and not consent_new:
                outcomes[row.number] = Outcome(row, UNCHANGED)
                continue
            outcomes[row.number] = Outcome(row, UPDATED)
            if delta:
                contact.updated_at = now
                changed[contact.id] = contact
                entries.append(audit.entry(actor=imp.actor, obj=contact, action="updated",
                                           changes=delta, reason=imp.reason(row.number)))

        if imp.write:
            contacts = [c for _row, c, _rec in new]
            bulk.copy_insert(contacts)
            Contact.objects.bulk_update(
                list(changed.values()), ["name", "title", "is_management", "email", "mobile",
                                         "account", "owner_unit", "owner", "partner",
                                         "updated_at"], batch_size=1000)
            bus.publish(ContactsChanged(tuple(c.id for c in contacts) + tuple(changed)))
            for row, contact, _rec in new:
                entries.append(audit.entry(
                    actor=imp.actor, obj=contact, action="created",
                    changes=audit.diff({}, self.view(contact, contact._import_account_name)),
                    reason=imp.reason(row.number)))
            bulk.copy_insert([
                Consent(contact_id=contact.id, purpose=purpose, granted=True,
                        method=ConsentMethod.IMPORT, recorded_at=now, recorded_by=imp.actor,
                        evidence=imp.reason(row.number))
                for row, contact, purpose in consents])
            for row, contact, purpose in consents:
                entries.append(audit.entry(
                    actor=imp.actor, obj=contact, action="consent",
                    changes={f"consent:{purpose}": [None, "granted"]},
                    reason=f"{ConsentMethod.IMPORT}: {imp.reason(row.number)}"))
            audit.record_many(entries)
        return [outcomes[row.number] for row, _rec, _errors in items]


# ---------------------------------------------------------------------------------------------
# Preview


def _preview_row(outcome: Outcome) -> dict[str, Any]:
    return {"row": outcome.row.number, "values": outcome.row.values, "status": outcome.status,
            "errors": [list(e) for e in outcome.errors]}


def build_preview(job: ImportJob, actor: User, sheet: str = "") -> dict[str, Any]:
    """Read the file as the job would, writing nothing; raises ImportFileError."""
    job.summary = {"sheet": sheet}
    importer = Importer(job, actor=actor, write=False)
    source = importer.source
    total = importer.scan()
    limit = total if total <= FULL_VALIDATION_LIMIT else PARTIAL_VALIDATION_ROWS
    counts = Counts()
    first: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    for chunk in importer.chunks(limit=limit):
        for outcome in importer.batch.process(chunk):
            counts.add(outcome.status)
            if len(first) < PREVIEW_ROWS:
                first.append(_preview_row(outcome))
            elif outcome.status == ERROR and len(samples) < PREVIEW_SAMPLES:
                samples.append(_preview_row(outcome))
    fields = source.header.fields
    blocking, warnings = [], []
    if job.kind == ImportJob.Kind.ACCOUNTS:
        if "name" not in fields and "credit_code" not in fields:
            blocking.append(_("The file has neither a name nor a credit code column."))
        for name, label in (("name", _("name")), ("industry", _("industry")),
                            ("province", _("province"))):
            if name not in fields:
                warnings.append(_("No %(column)s column: new accounts cannot be created from "
                                  "this file, only existing ones updated.") % {"column": label})
    else:
        if "name" not in fields:
            blocking.append(_("The file has no name column."))
        if "account_credit_code" not in fields and "account_name" not in fields:
            blocking.append(_("The file has no column naming the account (its credit code or "
                              "name)."))
    if total == 0:
        blocking.append(_("The file has no data rows below the header."))
    info = source.table.info
    return {
        "format": info.format, "encoding": info.encoding, "delimiter": info.delimiter,
        "sheet": info.sheet, "sheets": info.sheets,
        "header_row": source.header.row_number,
        "columns": [{"index": c.index, "header": c.header, "field": c.field, "note": c.note}
                    for c in source.header.columns if c.header or c.field],
        "ignored": [c.header for c in source.header.ignored],
        "total_rows": total, "validated_rows": counts.total, "validated_all": limit >= total,
        "valid": counts.total - counts.error, "invalid": counts.error,
        "would_create": counts.created, "would_update": counts.updated,
        "would_keep": counts.unchanged,
        "rows": first, "samples": samples, "blocking": blocking, "warnings": warnings,
    }


def _bad_file(message: str) -> DomainError:
    return DomainError(CrmErrorCode.BAD_FILE, message, errors={"file": [message]}, status=422)


def start_import(*, actor: User, kind: str, upload: UploadedFile, sheet: str = "") -> ImportJob:
    """Store the upload and preview it. Nothing is imported until `confirm_import`."""
    require(actor, Action.IMPORT)
    if kind not in ImportJob.Kind.values:
        raise DomainError(CrmErrorCode.INVALID, _("Choose accounts or contacts."),
                          errors={"kind": [_("Choose accounts or contacts.")]}, status=422)
    if upload is None or not upload.size:
        raise _bad_file(_("The file is empty."))
    if upload.size > MAX_UPLOAD_BYTES:
        raise _bad_file(_("The file is larger than %(mb)s MB; split it.")
                        % {"mb": MAX_UPLOAD_BYTES // (1024 * 1024)})
    suffix = Path(upload.name or "").suffix.lower()
    job = ImportJob(kind=kind, file_name=(upload.name or "upload")[:255], created_by=actor)
    job.file.save(f"{uuid.uuid4().hex}{suffix if suffix in UPLOAD_SUFFIXES else '.dat'}",
                  upload, save=False)
    try:
        summary = build_preview(job, actor, sheet)
    except ImportFileError as exc:
        job.file.delete(save=False)
        raise _bad_file(str(exc)) from exc
    job.summary = summary
    job.summary["language"] = translation.get_language() or ""
    job.total_rows = summary["total_rows"]
    job.save()
    return job


def _job_for_update(actor: User, pk: int) -> ImportJob:
    job = import_job(actor, pk)
    return ImportJob.objects.select_for_update().get(pk=job.pk)


@transaction.atomic
def choose_sheet(*, actor: User, job: ImportJob, sheet: str) -> ImportJob:
    """Preview another sheet of the uploaded workbook."""
    require(actor, Action.IMPORT)
    job = _job_for_update(actor, job.pk)
    if job.status != Status.PREVIEW:
        raise DomainError(CrmErrorCode.INVALID, _("This import is no longer in preview."),
                          status=409)
    language = job.summary.get("language", "")
    try:
        job.summary = build_preview(job, actor, sheet)
    except ImportFileError as exc:
        raise _bad_file(str(exc)) from exc
    job.summary["language"] = language
    job.total_rows = job.summary["total_rows"]
    job.save(update_fields=["summary", "total_rows"])
    return job


@transaction.atomic
def confirm_import(*, actor: User, job: ImportJob) -> ImportJob:
    """Queue the import; the job starts once this transaction commits."""
    from marketloop.crm.tasks import import_file

    require(actor, Action.IMPORT)
    job = _job_for_update(actor, job.pk)
    if job.status != Status.PREVIEW:
        raise DomainError(CrmErrorCode.INVALID,
                          _("This import has already been confirmed or cancelled."), status=409)
    if job.summary.get("blocking"):
        raise _bad_file(" ".join(job.summary["blocking"]))
    job.status = Status.QUEUED
    job.save(update_fields=["status"])
    job_id = job.pk
    transaction.on_commit(
        lambda: import_file.configure(lock=f"crm-import-{job_id}").defer(job_id=job_id))
    return job


@transaction.atomic
def cancel_import(*, actor: User, job: ImportJob) -> ImportJob:
    """Cancel before or while importing; chunks already imported stay imported."""
    require(actor, Action.IMPORT)
    job = _job_for_update(actor, job.pk)
    if job.status not in {Status.PREVIEW, Status.QUEUED, Status.RUNNING}:
        raise DomainError(CrmErrorCode.INVALID, _("This import has already finished."),
                          status=409)
    job.status = Status.CANCELLED
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at"])
    return job


# ---------------------------------------------------------------------------------------------
# The background work


RUNNABLE = {Status.QUEUED, Status.RUNNING, Status.FAILED}


def run_import(*, job_id: int) -> ImportJob:
    """Import the job's file. Safe to call again after a crash: it continues after the last
    committed chunk (and dedupe means even a full re-run creates nothing twice)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().select_related("created_by").get(pk=job_id)
        if job.status not in RUNNABLE:
            return job
        job.status, job.error = Status.RUNNING, ""
        job.save(update_fields=["status", "error"])
    try:
        # Row errors and audit reasons in the language of the person who uploaded the file.
        with translation.override(job.summary.get("language") or None):
            _run(job)
    except Exception as exc:
        log.exception("import %s failed", job_id)
        ImportJob.objects.filter(pk=job_id, status=Status.RUNNING).update(
            status=Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    job.refresh_from_db()
    return job


def _run(job: ImportJob) -> None:
    importer = Importer(job, actor=job.created_by, write=True)
    total = importer.scan()
    ImportJob.objects.filter(pk=job.pk).update(total_rows=total)
    counts = Counts(job.created_count, job.updated_count, job.unchanged_count, job.error_count)
    done = job.processed_rows
    for chunk in importer.chunks(skip=done):
        with transaction.atomic():
            current = ImportJob.objects.select_for_update().get(pk=job.pk)
            if current.status != Status.RUNNING or current.processed_rows != done:
                return  # cancelled, or another run got further: leave it to that one
            errors: list[ImportRowError] = []
            for outcome in importer.batch.process(chunk):
                counts.add(outcome.status)
                errors.extend(ImportRowError(
                    job_id=job.pk, row_number=outcome.row.number, field=name,
                    message=message, values=outcome.row.raw) for name, message in outcome.errors)
            ImportRowError.objects.bulk_create(errors, batch_size=2000)
            done += len(chunk)
            current.summary["pending_parents"] = importer.pending_parents
            current.processed_rows = done
            current.created_count, current.updated_count = counts.created, counts.updated
            current.unchanged_count, current.error_count = counts.unchanged, counts.error
            current.save(update_fields=["processed_rows", "created_count", "updated_count",
                                        "unchanged_count", "error_count", "summary"])
    with transaction.atomic():
        current = ImportJob.objects.select_for_update().get(pk=job.pk)
        if current.status != Status.RUNNING:
            return
        _link_pending_parents(importer)
        current.summary["pending_parents"] = []
        current.summary["result"] = {"total": total, "counted": counts.total,
                                     "adds_up": counts.total == total}
        current.status = Status.DONE
        current.finished_at = timezone.now()
        current.save(update_fields=["status", "finished_at", "summary"])


def _link_pending_parents(importer: Importer) -> None:
    """Subsidiaries that came before their parent in the file get it now."""
    pending = importer.pending_parents
    if not pending:
        return
    parents = dict(Account.objects.filter(credit_code__in={code for _a, code, _r in pending})
                   .values_list("credit_code", "id"))
    names = dict(Account.objects.filter(id__in=parents.values()).values_list("id", "name"))
    children = Account.objects.in_bulk([account_id for account_id, _c, _r in pending])
    linked, entries, errors = [], [], []
    for account_id, code, row in pending:
        child = children.get(account_id)
        if child is None:
            continue
        if code not in parents:
            errors.append(ImportRowError(
                job=importer.job, row_number=row, field="parent_credit_code",
                message=_("The account was imported without its parent: no account has the "
                          "credit code %(code)s (its row in this file failed).") % {"code": code},
                values={}))
            continue
        if child.parent_id != parents[code]:
            child.parent_id = parents[code]
            linked.append(child)
            entries.append(audit.entry(actor=importer.actor, obj=child, action="updated",
                                       changes={"parent": [None, names[parents[code]]]},
                                       reason=importer.reason(row)))
    Account.objects.bulk_update(linked, ["parent"], batch_size=1000)
    audit.record_many(entries)
    ImportRowError.objects.bulk_create(errors)
