"""Factories for deals whose ownership a test sets by hand (the services set it from the
account or the lead; that is tested on its own)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from marketloop.leads.models import Lead, Stage
from marketloop.sales.models import DealRole, DealTeamMember, Opportunity


class OpportunityFactory(DjangoModelFactory):
    """Pass `account` (an AccountFactory row with its owner unit)."""

    class Meta:
        model = Opportunity

    name = factory.Sequence(lambda n: f"测试商机{n:04d}")
    amount = Decimal("500000")
    currency = "CNY"
    amount_cny = factory.LazyAttribute(lambda o: o.amount)
    expected_close = factory.LazyFunction(lambda: date.today() + timedelta(days=60))
    owner_unit = factory.LazyAttribute(lambda o: o.account.owner_unit)
    partner = factory.LazyAttribute(lambda o: o.account.partner)
    owner = factory.LazyAttribute(lambda o: o.account.owner)


def seat(opportunity: Opportunity, user, role: str = DealRole.ACCOUNT_MANAGER) -> DealTeamMember:
    return DealTeamMember.objects.create(opportunity=opportunity, user=user, role=role)


def accepted_lead(owner, account, **fields) -> Lead:
    """A lead its owner accepted (SAL), at `account`."""
    now = timezone.now()
    return Lead.objects.create(
        name=fields.pop("name", f"王经理 · {account.name}"), stage=fields.pop("stage", Stage.SAL),
        account=account,
        owner_unit=owner.unit, partner=fields.pop("partner", None), owner=owner, sal_at=now,
        mql_at=now, lead_at=now, **fields)
