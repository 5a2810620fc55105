"""Keyset pages, scope merged part by part, add up to exactly the sorted visible rows: no row
twice, none missing, in every sort order, nulls included."""

from __future__ import annotations

import random

import pytest

from marketloop.crm import selectors
from marketloop.crm.models import Account
from marketloop.org.models import Role
from tests.factories import AccountFactory


def all_pages(user, sort: str, size: int) -> list[int]:
    seen, cursor = [], None
    while True:
        page = selectors.account_page(user, selectors.AccountFilter(sort=sort), cursor, size)
        seen += [a.id for a in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen


def expected(user, sort: str) -> list[int]:
    return list(selectors.accounts_visible(user).order_by(*selectors.ACCOUNT_SORTS[sort])
                .values_list("id", flat=True))


@pytest.mark.parametrize("sort", sorted(selectors.ACCOUNT_SORTS))
def test_pages_cover_the_visible_rows_exactly_once(org, make_user, sort):
    rnd = random.Random(7)
    hq = make_user(org.hq_marketing, Role.MARKETER)
    gd = make_user(org.gd_sales, Role.SALES_REP)
    partner = make_user(org.gd_partner, Role.PARTNER_STAFF)
    units = [org.gd_sales, org.gd_key_account, org.gd_partner, org.zj_sales, org.hq_key_account]
    for i in range(40):
        unit = rnd.choice(units)
        AccountFactory(
            name=rnd.choice(["甲", "乙", "丙"]) + f"公司{i % 7}",  # many equal names: ties
            owner_unit=unit, partner=unit if unit == org.gd_partner else None,
            owner=gd if i % 13 == 0 else None,  # some owned by gd outside its province
            industry_rank=rnd.choice([None, 1, 5, 5, 50, 700]),
        )
    Account.objects.filter(id__in=Account.objects.order_by("?")[:20].values("id")).update(
        updated_at="2026-01-01T00:00:00Z")  # ties on the updated sort too
    for user in (hq, gd, partner):
        want = expected(user, sort)
        assert want, "the fixture should give everyone something to see"
        for size in (3, 7):
            assert all_pages(user, sort, size) == want


def test_a_bad_cursor_is_refused(org, make_user):
    user = make_user(org.gd_sales, Role.SALES_REP)
    with pytest.raises(selectors.InvalidCursor):
        selectors.account_page(user, selectors.AccountFilter(sort="rank"),
                               selectors.encode_cursor(["x", "y"]))
