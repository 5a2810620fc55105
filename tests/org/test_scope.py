"""The scope function on its own: anchors and the owner exception (the full matrix of roles,
units and surfaces is in test_visibility_matrix.py)."""

from __future__ import annotations

from marketloop.crm.models import Account
from marketloop.org.models import Role
from marketloop.org.scope import is_visible, scope_anchor, visible
from tests.factories import AccountFactory


def test_anchors(org):
    assert scope_anchor(org.hq) is None
    assert scope_anchor(org.hq_supervision) is None
    assert scope_anchor(org.region_south) == org.region_south
    assert scope_anchor(org.gd_sales) == org.gd
    assert scope_anchor(org.gd) == org.gd
    assert scope_anchor(org.gd_partner) == org.gd_partner


def test_owner_sees_own_record_outside_unit(org, make_user):
    user = make_user(org.gx_sales, Role.ACCOUNT_MANAGER)
    elsewhere = AccountFactory(owner_unit=org.zj_sales, owner=user)
    other = AccountFactory(owner_unit=org.zj_sales)
    assert is_visible(user, elsewhere)
    assert not is_visible(user, other)


def test_inactive_or_anonymous_users_see_nothing(org, make_user):
    from django.contrib.auth.models import AnonymousUser

    AccountFactory(owner_unit=org.gd_sales)
    user = make_user(org.hq_marketing, Role.MARKETER)
    user.is_active = False
    assert not visible(user, Account.objects.all()).exists()
    assert not visible(AnonymousUser(), Account.objects.all()).exists()


def test_user_without_unit_sees_nothing(org, make_user):
    AccountFactory(owner_unit=org.gd_sales)
    user = make_user(org.hq, Role.ADMINISTRATOR)
    user.unit = None
    assert not visible(user, Account.objects.all()).exists()
