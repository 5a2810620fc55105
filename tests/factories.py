"""Factories for rows whose ownership a test sets by hand (routing is tested on its own)."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from marketloop.crm.models import Account, Contact, Industry, Tier
from marketloop.crm.validation import name_bigrams
from marketloop.org.models import OrgUnit


class AccountFactory(DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"测试科技{n:05d}有限公司")
    industry = factory.LazyFunction(lambda: Industry.objects.order_by("id").first())
    province = factory.LazyAttribute(
        lambda o: o.owner_unit.province or OrgUnit.objects.get(code="gd"))
    tier = Tier.ORDINARY
    name_grams = factory.LazyAttribute(lambda o: name_bigrams(o.name))


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    name = factory.Sequence(lambda n: f"张{n}")
    email = factory.Sequence(lambda n: f"person{n}@example.cn")
    account = factory.SubFactory(AccountFactory)
    owner_unit = factory.LazyAttribute(lambda o: o.account.owner_unit)
    owner = factory.LazyAttribute(lambda o: o.account.owner)
    partner = factory.LazyAttribute(lambda o: o.account.partner)
