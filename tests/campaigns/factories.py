"""Factories for plans and activities whose ownership and money a test sets by hand (the
services' rules are tested on their own in test_plans, test_activities and test_budget).

    plan = PlanFactory(owner_unit=org.gd, owner=gd_manager)          # 2026 Q3, budget 100,000
    activity = ActivityFactory(plan=plan)                              # owned like its plan
    funded = ActivityFactory(plan=plan, approved_budget=Decimal("20000"))
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import factory
import pytest
from django.test import override_settings
from factory.django import DjangoModelFactory

from marketloop.campaigns.models import (
    Activity,
    ActivityKind,
    ActivityLevel,
    ActivityStatus,
    BudgetRequest,
    MarketingPlan,
    RequestStatus,
    Spend,
)
from tests.org.matrix import module_transaction, standard_org

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
QUARTER_START = {1: (1, 1), 2: (4, 1), 3: (7, 1), 4: (10, 1)}


@pytest.fixture(scope="module")
def fast_passwords():
    """Users made by `make_user` get a cheap password hash (these tests log in with
    force_login): Argon2 costs half a second a user."""
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        yield


@pytest.fixture(scope="module")
def campaigns_org(django_db_setup, django_db_blocker):
    """The standard organisation built once for a module (its tests run in savepoints inside
    the module's transaction; `org` then finds it in place), and cheap passwords. Use it with
    `pytestmark = pytest.mark.usefixtures("campaigns_org")`; not in modules with
    transactional tests."""
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS), module_transaction(django_db_blocker):
        with django_db_blocker.unblock():
            standard_org()
        yield


def quarter_start(year: int, quarter: int) -> date:
    month, day = QUARTER_START[quarter]
    return date(year, month, day)


class PlanFactory(DjangoModelFactory):
    """Pass `owner_unit` and `owner` (a user of that unit or above it)."""

    class Meta:
        model = MarketingPlan

    name = factory.Sequence(lambda n: f"测试营销计划{n:04d}")
    year = 2026
    quarter = 3
    goal_leads = 100
    goal_mqls = 40
    goal_pipeline = Decimal("2000000.00")
    goal_revenue = Decimal("500000.00")
    budget = Decimal("100000.00")
    created_by = factory.LazyAttribute(lambda o: o.owner)


class ActivityFactory(DjangoModelFactory):
    """Pass `plan`; the activity is owned by the plan's unit and starts on the plan's
    quarter's first day unless told otherwise. No budget is approved unless given."""

    class Meta:
        model = Activity

    code = factory.Sequence(lambda n: f"test-activity-{n:05d}")
    name = factory.Sequence(lambda n: f"测试活动{n:04d}")
    kind = ActivityKind.SALON
    level = ActivityLevel.CUSTOMER_GROUP
    status = ActivityStatus.PLANNED
    owner_unit = factory.LazyAttribute(lambda o: o.plan.owner_unit)
    partner = None
    owner = None
    starts_on = factory.LazyAttribute(lambda o: quarter_start(o.plan.year, o.plan.quarter))
    ends_on = factory.LazyAttribute(lambda o: o.starts_on)
    audience = "制造业信息化负责人"
    budget = Decimal("20000.00")
    approved_budget = Decimal("0.00")
    spent = Decimal("0.00")


class BudgetRequestFactory(DjangoModelFactory):
    """A pending request; pass `activity` and `requested_by`."""

    class Meta:
        model = BudgetRequest

    amount = Decimal("10000.00")
    reason = "场地与茶歇"
    status = RequestStatus.PENDING


class SpendFactory(DjangoModelFactory):
    """A spend row as stored; it does not move the activity's `spent` (use
    services.record_spend for that, or set `spent` on the activity yourself)."""

    class Meta:
        model = Spend

    amount = Decimal("1000.00")
    spent_on = factory.LazyAttribute(lambda o: o.activity.starts_on)
    description = "场地费"
    vendor = "广州会展中心"
