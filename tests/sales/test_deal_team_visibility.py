"""A deal-team member sees the deals they are on, wherever those are owned (DESIGN.md), and only
while they are on the team; the deal, never its account.

The matrix part reuses tests/org/matrix.py: its World with deal-team cases (DEAL_TEAMS) and the
same checks as test_visibility_matrix.py, on every opportunity route of ROUTES, against an
oracle that adds the team rows to DESIGN.md's unit rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from marketloop.crm import selectors as crm_selectors
from marketloop.org.errors import NotFound
from marketloop.org.models import Role
from marketloop.org.scope import is_visible
from marketloop.sales import selectors, services
from marketloop.sales.models import DealRole
from tests.api.client import ApiClient
from tests.factories import AccountFactory
from tests.org.matrix import (
    CORE_ROWS,
    PEOPLE,
    ROUTES,
    ROW_PEOPLE,
    Exempt,
    Shows,
    World,
    build_world,
    checks_of,
    module_transaction,
    standard_org,
    with_deal_teams,
)
from tests.org.test_visibility_matrix import _check_lists, _check_shows
from tests.sales.factories import OpportunityFactory, seat

pytestmark = pytest.mark.usefixtures("organisation_once")


def _seat_of(deal, user):
    return deal.team.get(user=user)


def test_a_presales_consultant_in_another_province_sees_the_deal_only_while_on_its_team(
        org, make_user, client):
    zj_owner = make_user(org.zj_sales, Role.ACCOUNT_MANAGER)
    account = AccountFactory(owner_unit=org.zj_sales, owner=zj_owner)
    deal = services.create_opportunity(user=zj_owner, account_id=account.pk, name="浙江财务云",
                                       amount=Decimal("1200000"), currency="CNY",
                                       expected_close=date(2031, 1, 1))
    presales = make_user(org.gd_key_account, Role.PRESALES)
    client.force_login(presales)
    detail = reverse("sales:opportunity_detail", args=[deal.pk])

    assert not is_visible(presales, deal)
    assert client.get(detail).status_code == 404

    services.add_team_member(user=zj_owner, opportunity_id=deal.pk, member_id=presales.pk,
                             role=DealRole.PRESALES)
    assert is_visible(presales, deal)
    assert [d.pk for d in selectors.opportunities_visible(presales)] == [deal.pk]
    assert client.get(detail).status_code == 200
    assert "浙江财务云" in client.get(reverse("sales:opportunity_list")).content.decode()
    assert [i["id"] for i in ApiClient(presales).get("/api/opportunities").json()["items"]] == [
        deal.pk]
    with pytest.raises(NotFound):  # the deal, not its account
        crm_selectors.account_detail(presales, account.pk)

    services.remove_team_member(user=zj_owner, opportunity_id=deal.pk,
                                member_id=_seat_of(deal, presales).pk)
    assert not is_visible(presales, deal)
    assert client.get(detail).status_code == 404
    assert not selectors.opportunities_visible(presales).exists()


def test_a_team_member_may_work_the_deal_they_see(org, make_user):
    deal = OpportunityFactory(account=AccountFactory(owner_unit=org.zj_partner,
                                                     partner=org.zj_partner))
    presales = make_user(org.gd_key_account, Role.PRESALES)
    seat(deal, presales, DealRole.PRESALES)
    moved = services.move_stage(user=presales, opportunity_id=deal.pk, stage="solution")
    assert moved.stage == "solution"


def test_a_deal_i_hold_several_roles_on_is_listed_once(org, make_user, client):
    me = make_user(org.gd_sales, Role.ACCOUNT_MANAGER)
    deals = [OpportunityFactory(account=AccountFactory(owner_unit=org.zj_sales))
             for _ in range(3)]
    for deal in deals:
        seat(deal, me, DealRole.ACCOUNT_MANAGER)
        seat(deal, me, DealRole.PROJECT_MANAGER)
        seat(deal, me, DealRole.PRESALES)
    pages = ApiClient(me).pages("/api/opportunities", {"limit": 2})
    assert sorted(item["id"] for page in pages for item in page) == sorted(d.pk for d in deals)
    client.force_login(me)
    response = client.get(reverse("sales:opportunity_list"), {"mine": "1"})
    assert response.context["totals"].count == 3
    assert len(response.context["page"].items) == 3


# ---- the matrix, with deal teams --------------------------------------------------------------

@pytest.fixture(scope="module")
def team_world(django_db_setup, django_db_blocker):
    with module_transaction(django_db_blocker):
        with django_db_blocker.unblock():
            standard_org()
            world = with_deal_teams(build_world(PEOPLE))
        yield world


@pytest.fixture
def world(team_world, db) -> World:
    team_world.forget_clients()
    return team_world


def test_the_team_oracle_adds_the_deals_people_are_on(world):
    assert "zj-partner" in world.expected("gd-ka-presales")
    assert "gx-sales" in world.expected("gd-partner-staff")
    assert {"hq-key-account", "gd-key-account"} <= world.expected("zj-partner-staff")
    assert "region-east" in world.expected("gd-sales-rep")
    # the cases are tried row by row: people and rows the Shows checks use
    assert {"gd-ka-presales", "gd-partner-staff", "zj-partner-staff"} <= set(ROW_PEOPLE)
    assert {"zj-partner", "gx-sales", "hq-key-account", "gd-key-account"} <= set(CORE_ROWS)


def test_the_selector_shows_each_person_their_deals_and_the_deals_they_are_on(world):
    names = {name: row for row, name in world.names("opportunity").items()}
    failures = []
    for person, user in world.people.items():
        seen = [names.get(n, n) for n in
                selectors.opportunities_visible(user).values_list("name", flat=True)]
        if sorted(seen) != sorted(world.expected(person)):
            failures.append(f"{person}: {sorted(set(seen) ^ world.expected(person))}")
    assert not failures, "\n".join(failures)


# Every list and page of one deal, and one write per surface (the other writes read the deal
# the same way, through selectors.opportunity_detail or services._visible_opportunity).
WRITES = {"sales:opportunity_stage", "POST /api/opportunities/{id}/stage"}
OPPORTUNITY_CHECKS = [
    (key, i) for key in ROUTES for i, check in enumerate(checks_of(key))
    if not isinstance(check, Exempt) and check.model == "opportunity"
    and (not isinstance(check, Shows) or check.method == "GET" or key in WRITES)]


@pytest.mark.parametrize(("key", "index"), OPPORTUNITY_CHECKS,
                         ids=[f"{key}#{i}" if i else key for key, i in OPPORTUNITY_CHECKS])
def test_opportunity_routes_show_deal_team_members_their_deals(world, key, index):
    check = checks_of(key)[index]
    failures = (_check_shows(world, key, check) if isinstance(check, Shows)
                else _check_lists(world, key, check))
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:60])
