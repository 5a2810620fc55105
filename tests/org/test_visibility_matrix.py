"""Nothing leaks across units or partners, and nothing visible is missing: for every person
(every role, every kind of unit) and every row (owned all over the organisation), each surface
shows exactly what the rules in DESIGN.md allow. The expected sets come from the oracle in
tests/org/matrix.py, never from marketloop.org.scope.

Every route of the product is in matrix.ROUTES; a route added without a line there fails
`test_every_route_is_in_the_matrix`.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from marketloop.api import api
from marketloop.crm import selectors
from marketloop.org.errors import NotFound
from marketloop.org.models import Role
from marketloop.org.permissions import can
from tests.org.matrix import (
    EVERYONE,
    MISSING_ID,
    PEOPLE,
    ROUTES,
    ROW_PEOPLE,
    Exempt,
    Lists,
    Shows,
    World,
    body_of,
    build_world,
    checks_of,
    csv_cells,
    html_pages,
    module_transaction,
    names_in,
    standard_org,
    url_for,
    xlsx_cells,
)

# ------------------------------------------------------------------------------------------
# The oracle itself, pinned by hand on a few people
# ------------------------------------------------------------------------------------------

SHARED = {"hq", "hq-key-account", "hq-marketing", "region-south", "region-east", "gd",
          "gd-key-account", "gd-sales", "gd-sales-with-partner", "gd-partner", "gx-sales",
          "gx-partner", "zj-sales", "zj-partner"}
GD = {"gd", "gd-key-account", "gd-sales", "gd-sales-with-partner", "gd-partner"}


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker):
    """The organisation, PEOPLE and the rows, built once for the module; each test runs in a
    savepoint inside the module's transaction."""
    with module_transaction(django_db_blocker):
        with django_db_blocker.unblock():
            standard_org()
            world = build_world(PEOPLE)
        yield world


@pytest.fixture
def world(shared_world, db) -> World:
    shared_world.forget_clients()
    return shared_world


def test_the_oracle_says_what_design_md_says(world):
    def shared(person: str) -> set[str]:
        return world.expected(person) & SHARED

    def own(person: str) -> set[str]:
        return {row for row in world.expected(person) if row.startswith("own-")}

    for hq in ("hq-admin", "hq-marketer", "hq-ka-manager", "hq-supervisor", "hq-trainer"):
        assert world.expected(hq) == set(world.accounts)
    assert shared("south-manager") == {"region-south"} | GD | {"gx-sales", "gx-partner"}
    for province_person in ("gd-manager", "gd-ka-manager", "gd-sales-rep", "gd-sales-pm"):
        assert shared(province_person) == GD
        assert own(province_person) == {f"own-{province_person}"}
    assert shared("gx-sales-rep") == {"gx-sales", "gx-partner"}
    assert shared("gd-partner-staff") == {"gd-sales-with-partner", "gd-partner"}
    assert shared("zj-partner-staff") == {"zj-partner"}
    assert own("zj-partner-staff") == {"own-zj-partner-staff"}
    assert world.expected("gd-superuser") == set(world.accounts)


# ------------------------------------------------------------------------------------------
# Selectors: everyone (every role in every unit)
# ------------------------------------------------------------------------------------------


def test_selectors_show_each_person_exactly_their_rows(world):
    world = build_world(EVERYONE, base=world)
    accounts, contacts = world.names("account"), world.names("contact")
    by_account = {name: row for row, name in accounts.items()}
    by_contact = {name: row for row, name in contacts.items()}
    failures = []
    for person, user in world.people.items():
        expected = world.expected(person)
        seen_accounts = [by_account.get(n, n) for n in
                         selectors.accounts_visible(user).values_list("name", flat=True)]
        seen_contacts = [by_contact.get(n, n) for n in
                         selectors.contacts_visible(user).values_list("name", flat=True)]
        for label, seen in (("accounts_visible", seen_accounts),
                            ("contacts_visible", seen_contacts)):
            if sorted(seen) != sorted(expected):
                failures.append(_diff(person, label, set(seen), expected))
    assert not failures, "\n".join(failures)


def test_detail_selectors_find_visible_rows_and_nothing_else(world):
    failures = []
    for person in ROW_PEOPLE:
        user = world.people[person]
        expected = world.expected(person)
        for row in world.rows_for(person):
            for label, read, pk in (
                ("account_detail", selectors.account_detail, world.accounts[row].pk),
                ("contact_detail", selectors.contact_detail, world.contacts[row].pk),
            ):
                try:
                    read(user, pk)
                    found = True
                except NotFound:
                    found = False
                if found != (row in expected):
                    failures.append(f"{person} {label}({row}): found={found}")
            contacts = {c.name for c in selectors.contacts_of(user, world.accounts[row])}
            if bool(contacts) != (row in expected):
                failures.append(f"{person} contacts_of({row}): {contacts}")
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------------------------------------
# Every surface in ROUTES, for every person and row
# ------------------------------------------------------------------------------------------


def _diff(person: str, where: str, seen: set[str], expected: set[str]) -> str:
    leaked, missing = sorted(seen - expected), sorted(expected - seen)
    return f"{person} {where}: leaked {leaked}, missing {missing}"


def _allowed(world: World, person: str, check: Lists | Shows) -> bool:
    return check.needs is None or can(world.people[person], check.needs)


def _listed(world: World, person: str, key: str, check: Lists) -> tuple[int, set[str], str]:
    """(status, rows shown, note) for one person on one list route."""
    names = world.names(check.model)
    method, path = url_for(key, check)
    params = dict(check.query)
    if check.output == "api":
        client = world.api(person)
        first = client.get(path, params)
        if first.status_code != 200:
            return first.status_code, set(), ""
        pages = client.pages(path, {**params, "limit": 10})
        items = [item["name"] for page in pages for item in page]
        rows = {row for row, name in names.items() if name in items}
        note = "" if len(items) == len(set(items)) == len(rows) else f"items {items}"
        return 200, rows, note
    if check.output in {"csv", "xlsx"}:
        params["format"] = check.output
        response = world.ui(person).get(f"{path}?{urlencode(params)}")
        content = body_of(response)
        if response.status_code != 200:
            return response.status_code, names_in(content.decode(errors="replace"), names), ""
        cells = csv_cells(content) if check.output == "csv" else xlsx_cells(content)
        return 200, names_in(cells, names), ""
    status, text = html_pages(world.ui(person), f"{path}?{urlencode(params)}" if params else path)
    return status, names_in(text, names), ""


def _check_lists(world: World, key: str, check: Lists) -> list[str]:
    failures = []
    for person in world.people:
        status, seen, note = _listed(world, person, key, check)
        if not _allowed(world, person, check):
            if status != 403 or seen:
                failures.append(f"{person} {key}: not allowed, got {status} showing {seen}")
            continue
        if status != 200:
            failures.append(f"{person} {key}: status {status}")
        elif seen != world.expected(person, check.model) or note:
            failures.append(_diff(person, key, seen, world.expected(person, check.model)) + note)
    return failures


def _call(world: World, person: str, key: str, check: Shows, pk: int) -> Any:
    method, url = url_for(key, check, pk)
    body = check.body(world) if check.body else {}
    if check.via.startswith("query:"):
        url = f"{url}?{urlencode({check.via.split(':', 1)[1]: pk})}"
    elif check.via.startswith("body:"):
        body[check.via.split(":", 1)[1]] = pk
    if " " in key:  # the JSON API
        client = world.api(person)
        if method == "GET":
            return client.get(url)
        return getattr(client, method.lower())(url, body)
    client = world.ui(person)
    if method == "GET":
        return client.get(url)
    return client.generic(method, url, urlencode(body),
                          content_type="application/x-www-form-urlencoded")


def _json(response: Any) -> dict | None:
    if "json" not in response.get("Content-Type", ""):
        return None
    data = json.loads(body_of(response))
    data.pop("instance", None)
    return data


def _check_shows(world: World, key: str, check: Shows) -> list[str]:
    failures = []
    ids, names = world.ids(check.model), world.names(check.model)
    for person in ROW_PEOPLE:
        allowed = _allowed(world, person, check)
        missing = _call(world, person, key, check, MISSING_ID)
        # A missing id: `hidden` (404, or 422 for a body field); 403 if the role may not.
        if missing.status_code not in ({check.hidden} if allowed else {check.hidden, 403}):
            failures.append(f"{person} {key} id {MISSING_ID}: {missing.status_code}")
            continue
        missing_json = _json(missing)
        expected = world.expected(person, check.model)
        for row in world.rows_for(person):
            response = _call(world, person, key, check, ids[row])
            text = body_of(response).decode(errors="replace")
            status = response.status_code
            if row in expected:
                if not allowed:
                    ok = status == 403
                elif check.method == "GET" and " " not in key:
                    ok = status == 200 and names[row] in text
                elif check.method == "GET":
                    ok = status == 200
                else:
                    ok = status not in {401, 403, 404} and status < 500
                if not ok:
                    failures.append(f"{person} {key} {row} (visible): {status}")
            elif status != missing.status_code or names[row] in text \
                    or _json(response) != missing_json:
                failures.append(f"{person} {key} {row} (hidden): {status}, a missing id gives "
                                f"{missing.status_code}; name shown: {names[row] in text}")
    return failures


SCOPED = [(key, i) for key in ROUTES for i, check in enumerate(checks_of(key))
          if not isinstance(check, Exempt)]


@pytest.mark.parametrize(("key", "index"), SCOPED,
                         ids=[f"{key}#{i}" if i else key for key, i in SCOPED])
def test_route_shows_each_person_exactly_their_rows(world, key, index):
    check = checks_of(key)[index]
    if isinstance(check, Lists):
        failures = _check_lists(world, key, check)
    else:
        failures = _check_shows(world, key, check)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:60])


# ------------------------------------------------------------------------------------------
# Every route is in the matrix
# ------------------------------------------------------------------------------------------

SKIPPED_NAMESPACES = {"admin", "api"}  # Django admin (superusers); ninja's routes: see below
SKIPPED_NAMES = {"login", "logout", "set_language"}
SKIPPED_PREFIXES = ("admin/", "static/", "i18n/", "healthz", "media/", "__debug__/")


def django_routes() -> set[str]:
    """Every Django URL pattern as "namespace:name" (or its route when it has no name)."""
    found: set[str] = set()

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if route.startswith(SKIPPED_PREFIXES):
                continue
            if isinstance(pattern, URLResolver):
                ns = pattern.namespace
                if ns in SKIPPED_NAMESPACES:
                    continue
                walk(pattern.url_patterns, route, f"{namespace}{ns}:" if ns else namespace)
            elif isinstance(pattern, URLPattern):
                if pattern.name in SKIPPED_NAMES:
                    continue
                found.add(f"{namespace}{pattern.name}" if pattern.name else route)

    walk(get_resolver().url_patterns, "", "")
    return found


def api_routes() -> set[str]:
    """Every ninja operation as "METHOD /api/path", from the OpenAPI document."""
    paths = api.get_openapi_schema()["paths"]
    return {f"{method.upper()} {path}" for path, methods in paths.items() for method in methods}


def test_every_route_is_in_the_matrix():
    missing = sorted((django_routes() | api_routes()) - set(ROUTES))
    assert not missing, (
        "Routes with no visibility check: add a line for each to ROUTES in "
        "tests/org/matrix.py (Lists/Shows for scoped rows, or Exempt('why not')):\n  "
        + "\n  ".join(missing))


def test_the_matrix_names_no_route_that_is_gone():
    gone = sorted(set(ROUTES) - django_routes() - api_routes())
    assert not gone, "ROUTES names routes that do not exist: " + ", ".join(gone)


def test_the_matrix_covers_every_role_and_kind_of_unit(world):
    kinds = {world.units[user.unit_id][0] for user in world.people.values()}
    assert kinds == {"hq", "hq_department", "region", "province", "province_department",
                     "partner"}
    roles = {role for user in world.people.values() for role in user.roles}
    assert roles == set(Role.values)
