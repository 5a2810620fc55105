"""The visibility matrix: people in every kind of unit with every role, rows owned all over the
organisation, an oracle that says from DESIGN.md's rules (not from `scope.visible`) who may see
what, and ROUTES: how every route of the product is checked against it.

A new route must get a line in ROUTES (tests/org/test_visibility_matrix.py fails until it has
one): `Lists(...)` or `Shows(...)` for a route that shows scoped rows, which the matrix then
checks for every person and row, or `Exempt("why")` for a route that holds no scoped rows.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.test import Client
from django.urls import reverse

from marketloop.crm.models import Account, Contact, Industry
from marketloop.crm.reference import ensure_reference_data
from marketloop.crm.validation import name_bigrams
from marketloop.org.models import OrgUnit, Role, UnitKind, User
from marketloop.org.permissions import Action
from marketloop.org.standard import REGIONS, add_partner, ensure_standard_org
from marketloop.tracking.models import Profile
from tests.api.client import ApiClient

MISSING_ID = 10**9  # an id that exists nowhere: a hidden row must answer exactly like it

# ------------------------------------------------------------------------------------------
# How each route is checked
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lists:
    """The route lists rows of `model`: exactly the rows the person may see, none missing and
    none more. `output`: "html" (names in the page, following rel="next" links), "api" (JSON
    pages followed by next_cursor), "csv" or "xlsx" (the file's cells). `needs`: the action
    the person's roles must allow; without it the answer is 403 and lists nothing."""

    model: str
    output: str = "html"
    needs: Action | None = None
    query: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Shows:
    """The route is about one row of `model`, named by its id in the path (`via="path"`), in a
    query parameter (`via="query:account"`) or in the body (`via="body:parent_id"`).

    For a row the person may see, the route works (a GET page shows the row's name); for a row
    they may not see it answers exactly as for an id that does not exist (404, or `hidden` for
    a body field, e.g. 422), so nobody learns that the row exists. `needs`: the action the
    roles must allow, else 403 (for visible rows; hidden rows still answer as missing ones)."""

    model: str
    method: str = "GET"
    via: str = "path"
    needs: Action | None = None
    body: Callable[[World], dict[str, Any]] | None = None
    hidden: int = 404


@dataclass(frozen=True)
class Exempt:
    """The route shows no scoped rows; `reason` says why (and where else it is tested)."""

    reason: str


Check = Lists | Shows | Exempt

ADMIN_ONLY = "company-wide tier-rule settings; administrators only (ADMINISTER), no scoped rows"
IMPORTS = ("import jobs are the uploader's own (administrators see all): "
           "import_services.import_jobs; tests/crm/test_import.py")
SOURCES = ("tracking sources are company-wide settings; administrators only (ADMINISTER), "
           "no scoped rows; tests/tracking/test_sources_ui.py")
EMAIL_LINKS = ("email pixel and click redirect: a signed token records a touchpoint and "
               "shows no rows; tests/tracking/test_email_links.py")


def _new_account_form(world: World) -> dict[str, Any]:
    return {"name": "mx-new-account", "industry": world.industry.pk, "province": world.province.pk}


ROUTES: dict[str, Check | tuple[Check, ...]] = {
    # ---- pages (Django URL names)
    "crm:home": Exempt("redirects to the account list"),
    "crm:account_list": (Lists("account"), Lists("account", query=(("q", "mx-acct"),))),
    "crm:account_detail": Shows("account"),
    "crm:account_create": Shows("account", method="POST", via="body:parent",
                                needs=Action.CREATE, body=_new_account_form, hidden=422),
    "crm:account_edit": (Shows("account", needs=Action.EDIT),
                         Shows("account", method="POST", needs=Action.EDIT,
                               body=lambda w: {"name": "mx-renamed"}, hidden=404)),
    "crm:contact_list": (Lists("contact"), Lists("contact", query=(("q", "mx-pers"),))),
    "crm:contact_detail": Shows("contact"),
    "crm:contact_create": (Shows("account", via="query:account", needs=Action.CREATE),
                           Shows("account", method="POST", via="body:account",
                                 needs=Action.CREATE, body=lambda w: {"name": "mx-new-person"},
                                 hidden=422)),
    "crm:contact_edit": Shows("contact", needs=Action.EDIT),
    "crm:contact_consent": Shows("contact", method="POST", needs=Action.EDIT,
                                 body=lambda w: {"purpose": "matrix", "granted": "1",
                                                 "method": "paper"}),
    "crm:tier_rules": Exempt(ADMIN_ONLY),
    "crm:tier_rule_create": Exempt(ADMIN_ONLY),
    "crm:tier_rule_edit": Exempt(ADMIN_ONLY),
    "crm:tier_rule_delete": Exempt(ADMIN_ONLY),
    "crm:reroute_runs": Exempt(ADMIN_ONLY + "; re-routing runs are counts, not rows"),
    "data:account_export": (Lists("account", output="csv", needs=Action.EXPORT),
                            Lists("account", output="xlsx", needs=Action.EXPORT)),
    "data:contact_export": (Lists("contact", output="csv", needs=Action.EXPORT),
                            Lists("contact", output="xlsx", needs=Action.EXPORT)),
    "data:import_list": Exempt(IMPORTS),
    "data:import_upload": Exempt(IMPORTS),
    "data:import_detail": Exempt(IMPORTS),
    "data:import_progress": Exempt(IMPORTS),
    "data:import_confirm": Exempt(IMPORTS),
    "data:import_cancel": Exempt(IMPORTS),
    "data:import_sheet": Exempt(IMPORTS),
    "data:import_errors": Exempt(IMPORTS),
    "org:unit_list": Exempt("the organisation chart is public inside the company"),
    "org:tokens": Exempt("the caller's own API tokens (org.selectors.api_tokens(user))"),
    "org:token_revoke": Exempt("revokes only the caller's own token (filtered by user)"),
    **{f"tracking:v1_{kind}": Exempt(
        "Segment tracking API: a source's write key stores events and reads nothing; "
        "tests/tracking/test_ingest.py")
       for kind in ("batch", "identify", "track", "page", "screen", "group", "alias")},
    "tracking:contact_touchpoints": Shows("contact"),
    "tracking:account_touchpoints": Shows("account"),
    "tracking:profile_detail": Shows("profile"),
    "tracking:profile_touchpoints": Shows("profile"),
    "tracking:source_list": Exempt(SOURCES),
    "tracking:source_create": Exempt(SOURCES),
    "tracking:source_detail": Exempt(SOURCES),
    "tracking:source_edit": Exempt(SOURCES),
    "tracking:source_rotate": Exempt(SOURCES),
    "tracking:email_open": Exempt(EMAIL_LINKS),
    "tracking:email_click": Exempt(EMAIL_LINKS),
    "tracking:hotline_calls": Exempt("call webhook: a hotline source's write key stores calls "
                                     "and reads nothing; tests/tracking/test_hotline.py"),
    "tracking:demo_site": Exempt("public demo page of a customer website: static content and "
                                 "the demo source's write key; "
                                 "tests/tracking/test_tracker_browser.py"),
    # ---- JSON API (ninja operations, as in /api/openapi.json)
    "GET /api/accounts": (Lists("account", output="api"),
                          Lists("account", output="api", query=(("q", "mx-acct"),))),
    "GET /api/accounts/{id}": Shows("account"),
    "POST /api/accounts": Shows("account", method="POST", via="body:parent_id",
                                needs=Action.CREATE, hidden=422,
                                body=lambda w: {"name": "mx-new-account",
                                                "industry": "manufacturing", "province": "gd"}),
    "PATCH /api/accounts/{id}": Shows("account", method="PATCH", needs=Action.EDIT,
                                      body=lambda w: {}),
    "GET /api/contacts": (Lists("contact", output="api"),
                          Lists("contact", output="api", query=(("q", "mx-pers"),))),
    "GET /api/contacts/{id}": Shows("contact"),
    "POST /api/contacts": Shows("account", method="POST", via="body:account",
                                needs=Action.CREATE, hidden=422,
                                body=lambda w: {"name": "mx-new-person"}),
    "PATCH /api/contacts/{id}": Shows("contact", method="PATCH", needs=Action.EDIT,
                                      body=lambda w: {}),
    "GET /api/contacts/{id}/consents": Shows("contact"),
    "POST /api/contacts/{id}/consents": Shows("contact", method="POST", needs=Action.EDIT,
                                              body=lambda w: {"purpose": "matrix",
                                                              "method": "paper"}),
    "GET /api/contacts/{id}/touchpoints": Shows("contact"),
    "GET /api/accounts/{id}/touchpoints": Shows("account"),
    "GET /api/profiles/{id}": Shows("profile"),
    "GET /api/industries": Exempt("reference data, the same for everyone"),
    "GET /api/tier-rules": Exempt("company-wide routing rules, the same for everyone"),
    "GET /api/org/units": Exempt("the organisation chart is public inside the company"),
    "GET /api/org/me": Exempt("the caller's own user"),
}


def checks_of(key: str) -> tuple[Check, ...]:
    value = ROUTES[key]
    return value if isinstance(value, tuple) else (value,)


# ------------------------------------------------------------------------------------------
# People and rows
# ------------------------------------------------------------------------------------------

# Units the matrix places people in (by code), one or more of each kind.
UNITS = {
    "hq": "hq",                               # HQ itself
    "hq_marketing": "hq-marketing",           # HQ departments
    "hq_key_account": "hq-key-account",
    "hq_supervision": "hq-supervision",
    "hq_academy": "hq-academy",
    "region_south": "region-south",           # a region
    "gd": "gd",                               # a province itself
    "gd_key_account": "gd-key-account",       # province departments
    "gd_sales": "gd-sales",
    "gx_sales": "gx-sales",
    "gd_partner": "gd-partner",               # partners
    "zj_partner": "zj-partner",
}


@dataclass(frozen=True)
class Person:
    key: str
    unit: str
    roles: tuple[str, ...]
    superuser: bool = False


# People for the HTTP surfaces: every role at least once, every kind of unit at least once.
PEOPLE = [
    Person("hq-admin", "hq", (Role.ADMINISTRATOR,)),
    Person("hq-marketer", "hq_marketing", (Role.MARKETER,)),
    Person("hq-ka-manager", "hq_key_account", (Role.ACCOUNT_MANAGER,)),
    Person("hq-supervisor", "hq_supervision", (Role.SUPERVISOR,)),
    Person("hq-trainer", "hq_academy", (Role.TRAINER,)),
    Person("south-manager", "region_south", (Role.MANAGER,)),
    Person("south-marketer", "region_south", (Role.MARKETER,)),
    Person("gd-manager", "gd", (Role.MANAGER,)),
    Person("gd-ka-manager", "gd_key_account", (Role.ACCOUNT_MANAGER,)),
    Person("gd-ka-presales", "gd_key_account", (Role.PRESALES,)),
    Person("gd-sales-rep", "gd_sales", (Role.SALES_REP,)),
    Person("gd-sales-pm", "gd_sales", (Role.PROJECT_MANAGER,)),
    Person("gx-sales-rep", "gx_sales", (Role.SALES_REP,)),
    Person("gd-partner-staff", "gd_partner", (Role.PARTNER_STAFF,)),
    Person("gd-partner-boss", "gd_partner", (Role.PARTNER_STAFF, Role.MANAGER)),
    Person("zj-partner-staff", "zj_partner", (Role.PARTNER_STAFF,)),
    Person("gd-superuser", "gd_sales", (Role.SALES_REP,), superuser=True),
]

# Everyone for the selectors (cheap): every role in every unit above, and a superuser.
EVERYONE = [Person(f"all-{unit}-{role}", unit, (role,)) for unit in UNITS for role in Role.values]
EVERYONE.append(Person("all-superuser", "gd_partner", (Role.PARTNER_STAFF,), superuser=True))

# Rows owned around the organisation: key -> (owning unit, partner). Seen from Guangdong
# (gd_*): own unit, sibling department, the province itself, own partner, the parent region,
# a sibling province and its partner (gx), another region and its partner (zj), HQ.
ROWS: dict[str, tuple[str, str | None]] = {
    "hq": ("hq", None),
    "hq-key-account": ("hq-key-account", None),
    "hq-marketing": ("hq-marketing", None),
    "region-south": ("region-south", None),
    "region-east": ("region-east", None),
    "gd": ("gd", None),
    "gd-key-account": ("gd-key-account", None),
    "gd-sales": ("gd-sales", None),
    "gd-sales-with-partner": ("gd-sales", "gd-partner"),
    "gd-partner": ("gd-partner", "gd-partner"),
    "gx-sales": ("gx-sales", None),
    "gx-partner": ("gx-partner", "gx-partner"),
    "zj-sales": ("zj-sales", None),
    "zj-partner": ("zj-partner", "zj-partner"),
}
# And for each person a row they own themselves, in a unit far from theirs.
OWN_ROW_UNIT = "zj-sales"

# Routes about one row are tried row by row (one request each), so on fewer people and rows
# than the lists, which show all rows to all PEOPLE at once. Still: HQ, a region, a province,
# a department, partners, with and without the roles that writes need; rows owned by HQ, the
# region, a sibling department, the own partner, a sibling province, another region's partner,
# the person themselves.
# MARKETLOOP_MATRIX=full tries every person on every row (a few minutes).
FULL = os.environ.get("MARKETLOOP_MATRIX") == "full"
ROW_PEOPLE = [p.key for p in PEOPLE] if FULL else [
    "hq-trainer", "south-manager", "gd-manager", "gd-ka-presales", "gd-partner-staff",
    "zj-partner-staff"]
CORE_ROWS = list(ROWS) if FULL else [
    "hq-key-account", "region-south", "gd-key-account", "gd-sales-with-partner", "gd-partner",
    "gx-sales", "zj-partner"]


def account_name(row: str) -> str:
    return f"mx-acct-{row}-end"


def contact_name(row: str) -> str:
    return f"mx-pers-{row}-end"


@dataclass
class World:
    people: dict[str, User]
    accounts: dict[str, Account]
    contacts: dict[str, Contact]
    industry: Industry
    province: OrgUnit
    units: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)  # one per contact, its scope
    _ui: dict[str, Client] = field(default_factory=dict)
    _api: dict[str, ApiClient] = field(default_factory=dict)

    def rows(self) -> list[str]:
        return list(self.accounts)

    def rows_for(self, person: str) -> list[str]:
        """The rows tried one by one for a person: the core rows and their own (in full mode,
        every row)."""
        if FULL:
            return list(self.accounts)
        return [*CORE_ROWS, f"own-{person}"]

    def ids(self, model: str) -> dict[str, int]:
        objects = {"account": self.accounts, "contact": self.contacts,
                   "profile": self.profiles}[model]
        return {row: obj.pk for row, obj in objects.items()}

    def names(self, model: str) -> dict[str, str]:
        namer = account_name if model == "account" else contact_name  # a profile: its contact
        return {row: namer(row) for row in self.accounts}

    def forget_clients(self) -> None:
        """Sessions and tokens live in one test's transaction: new ones for each test."""
        self._ui.clear()
        self._api.clear()

    def ui(self, person: str) -> Client:
        if person not in self._ui:
            client = Client()
            client.force_login(self.people[person],
                               backend="django.contrib.auth.backends.ModelBackend")
            self._ui[person] = client
        return self._ui[person]

    def api(self, person: str) -> ApiClient:
        if person not in self._api:
            self._api[person] = ApiClient(self.people[person])
        return self._api[person]

    # ---- the oracle -----------------------------------------------------------------------

    def _ancestry(self, unit_id: int) -> list[int]:
        chain = []
        current: int | None = unit_id
        while current is not None:
            chain.append(current)
            current = self.units[current][1]
        return chain

    def expected(self, person: str) -> set[str]:
        """The rows `person` may see, from the rules in DESIGN.md, with no help from
        marketloop.org.scope: the unit tree is walked here through parent links."""
        user = self.people[person]
        if user.is_superuser:
            return set(self.accounts)
        kind = self.units[user.unit_id][0]
        seen = set()
        for row, account in self.accounts.items():
            if account.owner_id == user.pk:                       # anyone: what they own
                seen.add(row)
            elif kind in {UnitKind.HQ, UnitKind.HQ_DEPARTMENT}:   # HQ: everything
                seen.add(row)
            elif kind == UnitKind.PARTNER:                        # partner: their partner's
                if account.partner_id == user.unit_id:
                    seen.add(row)
            else:                                                 # the anchor's subtree
                anchor = user.unit_id
                if kind == UnitKind.PROVINCE_DEPARTMENT:
                    anchor = next(u for u in self._ancestry(user.unit_id)
                                  if self.units[u][0] == UnitKind.PROVINCE)
                if anchor in self._ancestry(account.owner_unit_id):
                    seen.add(row)
        return seen


def build_world(people: Iterable[Person], base: World | None = None) -> World:
    """The people, one own row per person, a contact at every account, and (unless `base`
    already has them) the shared rows. With `base`, the result holds both."""
    people = list(people)
    units = {u.code: u for u in OrgUnit.objects.all()}
    industry = Industry.objects.get(code="manufacturing")
    users = User.objects.bulk_create([
        User(username=f"mx-{p.key}", display_name=f"mx-user-{p.key}", unit=units[UNITS[p.unit]],
             roles=list(p.roles), is_superuser=p.superuser, is_staff=p.superuser,
             password="!")  # unusable: the matrix logs in with force_login
        for p in people])
    by_key = {p.key: user for p, user in zip(people, users, strict=True)}
    specs: dict[str, tuple[OrgUnit, OrgUnit | None, User | None]] = {}
    if base is None:
        specs = {row: (units[unit], units[partner] if partner else None, None)
                 for row, (unit, partner) in ROWS.items()}
    for key, user in by_key.items():
        specs[f"own-{key}"] = (units[OWN_ROW_UNIT], None, user)
    accounts = Account.objects.bulk_create([
        Account(name=account_name(row), name_grams=name_bigrams(account_name(row)),
                industry=industry, province=unit.province or units["gd"], owner_unit=unit,
                partner=partner, owner=owner)
        for row, (unit, partner, owner) in specs.items()])
    by_row = dict(zip(specs, accounts, strict=True))
    contacts = Contact.objects.bulk_create([
        Contact(name=contact_name(row), email=f"{row}@mx.example", account=account,
                owner_unit_id=account.owner_unit_id, owner_id=account.owner_id,
                partner_id=account.partner_id)
        for row, account in by_row.items()])
    by_contact = dict(zip(by_row, contacts, strict=True))
    # A tracking profile per contact, with the contact's scope (as stitching links them).
    profiles = Profile.objects.bulk_create([
        Profile(contact=contact, account_id=contact.account_id,
                owner_unit_id=contact.owner_unit_id, partner_id=contact.partner_id,
                owner_id=contact.owner_id)
        for contact in contacts])
    by_profile = dict(zip(by_row, profiles, strict=True))
    if base is not None:
        by_key, by_row = {**base.people, **by_key}, {**base.accounts, **by_row}
        by_contact = {**base.contacts, **by_contact}
        by_profile = {**base.profiles, **by_profile}
    return World(people=by_key, accounts=by_row, contacts=by_contact, industry=industry,
                 province=units["gd"], profiles=by_profile,
                 units={u.pk: (u.kind, u.parent_id) for u in units.values()})


@contextmanager
def module_transaction(django_db_blocker: Any) -> Iterator[None]:
    """A transaction around a whole test module, rolled back at its end: rows made once for
    the module (the organisation, the matrix) are there in every test, whose own writes roll
    back to a savepoint inside it. Not for modules with transactional_db tests."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def standard_org() -> None:
    """What tests.conftest's `org` fixture makes (which then finds it all there, quickly)."""
    ensure_reference_data()
    ensure_standard_org()
    for _region, _name, _en, provinces in REGIONS:
        for code, name, name_en in provinces:
            if not OrgUnit.objects.filter(code=f"{code}-partner").exists():
                add_partner(province_code=code, name=f"{name}伙伴科技有限公司",
                            name_en=f"{name_en} Partner Ltd")


# ------------------------------------------------------------------------------------------
# Reading what a surface showed
# ------------------------------------------------------------------------------------------

NEXT_LINK = re.compile(r"<a\b[^>]*\brel=\"next\"[^>]*>")
HREF = re.compile(r"\bhref=\"([^\"]+)\"")


def names_in(text: str, names: dict[str, str]) -> set[str]:
    return {row for row, name in names.items() if name in text}


def csv_cells(content: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    return "\n".join("\t".join(row) for row in csv.reader(io.StringIO(text)))


def xlsx_cells(content: bytes) -> str:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(content), read_only=True)
    return "\n".join("\t".join("" if v is None else str(v) for v in row)
                     for sheet in book.worksheets for row in sheet.iter_rows(values_only=True))


def body_of(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def html_pages(client: Client, url: str, limit: int = 50) -> tuple[int, str]:
    """GET a page and every rel="next" page after it; the first status and all the HTML."""
    from html import unescape

    response = client.get(url)
    status, text = response.status_code, body_of(response).decode()
    pages = [text]
    while status == 200 and len(pages) < limit:
        link = NEXT_LINK.search(pages[-1])
        href = HREF.search(link.group(0)) if link else None
        if not href:
            break
        following = client.get(unescape(href.group(1)))
        assert following.status_code == 200, following.status_code
        pages.append(body_of(following).decode())
    return status, "\n".join(pages)


def url_for(key: str, check: Shows | Lists, pk: int | None = None) -> tuple[str, str]:
    """(method, url) for a route key: a Django URL name or "METHOD /api/path"."""
    if " " in key:
        method, template = key.split(" ", 1)
        path = template.replace("{id}", str(pk)) if "{id}" in template else template
        return method, path
    method = check.method if isinstance(check, Shows) else "GET"
    if isinstance(check, Shows) and check.via == "path":
        return method, reverse(key, args=[pk])
    return method, reverse(key)
