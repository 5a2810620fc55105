"""A small campaign world whose report figures are worked out by hand, shared by the report,
dashboard and report API tests.

Three activities in Q1 2026:
  A  salon, customer group, owned by Guangdong (region South China), GD plan
  B  webinar, company level, owned by HQ marketing (the "HQ" region group), HQ plan
  C  EDM, region level, owned by Zhejiang sales (region East China), ZJ plan

Linear-model credit (conversions) and amounts (CNY):
              2026-01                          2026-02              2026-05
  A  lead 2.5 mql 1 sal .5 pipe .5/100k won .5/50k   lead 1 won .25/25k   lead 4
  B  lead 1.5 mql 1 won .5/50k                      lead .5
  C  lead 1   won 1/40k
  -  (no activity) lead 1
First touch: A lead 3 (2026-01); B lead 2, won 1/100k (2026-01); C lead 1.
Spend: A 3,000 (01-10), 1,000 (02-20), 5,000 (05-01); B 2,000 (01-15); C 1,000 (01-05).

So over 2026-01..2026-03 under the linear model:
  A  leads 3.5  MQLs 1  SALs .5  won .75  pipeline 100,000  revenue 75,000  spend 4,000
     ROI 18.75, per lead 1,142.86, per MQL 4,000, per SAL 8,000, per won 5,333.33
  B  leads 2    MQLs 1  SALs 0   won .5   revenue 50,000  spend 2,000
     ROI 25, per lead 1,000, per MQL 2,000, per SAL none, per won 4,000
  C  leads 1    won 1   revenue 40,000  spend 1,000: ROI 40
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from marketloop.campaigns.models import (
    SHARE_UNIT,
    Activity,
    ActivityCredit,
    ActivityInfluence,
    ActivityKind,
    ActivityLevel,
    MarketingPlan,
)
from marketloop.org.models import OrgUnit, Role, User
from tests.campaigns.factories import ActivityFactory, PlanFactory, SpendFactory
from tests.org.matrix import module_transaction, standard_org

Q1 = {"from": "2026-01", "to": "2026-03"}
JAN, FEB, MAY = date(2026, 1, 1), date(2026, 2, 1), date(2026, 5, 1)


@pytest.fixture(scope="module", name="organisation_once")
def organisation_once_fixture(django_db_setup, django_db_blocker):
    """The standard organisation built once for a module; its tests run in savepoints."""
    with module_transaction(django_db_blocker):
        with django_db_blocker.unblock():
            standard_org()
        yield


def person(code: str, *roles: str, username: str) -> User:
    """A user (no password: tests log in with force_login)."""
    return User.objects.create(username=username, display_name=username, password="!",
                               unit=OrgUnit.objects.get(code=code),
                               roles=list(roles) or [Role.MARKETER])


def credit(activity: Activity | None, stage: str, month: date, conversions: str,
           amount: str = "0", model: str = "linear") -> ActivityCredit:
    return ActivityCredit.objects.create(
        model=model, stage=stage, activity=activity, month=month,
        credit=int(Decimal(conversions) * SHARE_UNIT), amount=Decimal(amount))


@dataclass
class World:
    a: Activity
    b: Activity
    c: Activity
    gd_plan: MarketingPlan
    hq_plan: MarketingPlan
    hq: User  # HQ marketer: sees everything
    gd: User  # Guangdong manager: sees A only
    trainer: User  # HQ trainer: sees everything, may not export


@pytest.fixture(name="world")
def world_fixture(db) -> World:
    hq = person("hq-marketing", Role.MARKETER, username="rw-hq-marketer")
    gd = person("gd", Role.MANAGER, username="rw-gd-manager")
    zj = person("zj", Role.MANAGER, username="rw-zj-manager")
    trainer = person("hq-academy", Role.TRAINER, username="rw-trainer")
    gd_plan = PlanFactory(owner_unit=gd.unit, owner=gd, year=2026, quarter=1,
                          name="广东2026Q1", budget=Decimal("100000.00"))
    hq_plan = PlanFactory(owner_unit=hq.unit, owner=hq, year=2026, quarter=1,
                          name="总部2026Q1", budget=Decimal("200000.00"))
    zj_plan = PlanFactory(owner_unit=zj.unit, owner=zj, year=2026, quarter=1,
                          name="浙江2026Q1", budget=Decimal("50000.00"))
    PlanFactory(owner_unit=gd.unit, owner=gd, year=2026, quarter=3, name="广东2026Q3")
    a = ActivityFactory(plan=gd_plan, code="rw-a", name="rw-salon-a", kind=ActivityKind.SALON,
                        level=ActivityLevel.CUSTOMER_GROUP, starts_on=date(2026, 1, 8),
                        ends_on=date(2026, 1, 8), approved_budget=Decimal("20000.00"),
                        spent=Decimal("9000.00"))
    b = ActivityFactory(plan=hq_plan, code="rw-b", name="rw-webinar-b",
                        kind=ActivityKind.WEBINAR, level=ActivityLevel.COMPANY,
                        starts_on=date(2026, 1, 12), ends_on=date(2026, 1, 12),
                        approved_budget=Decimal("10000.00"), spent=Decimal("2000.00"))
    c = ActivityFactory(plan=zj_plan, code="rw-c", name="rw-edm-c", kind=ActivityKind.EDM,
                        level=ActivityLevel.REGION, owner_unit=OrgUnit.objects.get(code="zj-sales"),
                        starts_on=date(2026, 1, 5), ends_on=date(2026, 1, 5),
                        approved_budget=Decimal("1000.00"), spent=Decimal("1000.00"))
    credit(a, "lead", JAN, "2.5")
    credit(a, "mql", JAN, "1")
    credit(a, "sal", JAN, "0.5")
    credit(a, "pipeline", JAN, "0.5", "100000")
    credit(a, "won", JAN, "0.5", "50000")
    credit(a, "lead", FEB, "1")
    credit(a, "won", FEB, "0.25", "25000")
    credit(a, "lead", MAY, "4")
    credit(b, "lead", JAN, "1.5")
    credit(b, "mql", JAN, "1")
    credit(b, "won", JAN, "0.5", "50000")
    credit(b, "lead", FEB, "0.5")
    credit(c, "lead", JAN, "1")
    credit(c, "won", JAN, "1", "40000")
    credit(None, "lead", JAN, "1")
    credit(a, "lead", JAN, "3", model="first_touch")
    credit(b, "lead", JAN, "2", model="first_touch")
    credit(b, "won", JAN, "1", "100000", model="first_touch")
    credit(c, "lead", JAN, "1", model="first_touch")
    for activity, stage, conversions, amount in ((a, "lead", 5, "0"), (a, "won", 2, "100000"),
                                                 (b, "lead", 3, "0")):
        ActivityInfluence.objects.create(activity=activity, stage=stage, month=JAN,
                                         conversions=conversions, amount=Decimal(amount))
    for activity, amount, day in ((a, "3000", date(2026, 1, 10)), (a, "1000", date(2026, 2, 20)),
                                  (a, "5000", date(2026, 5, 1)), (b, "2000", date(2026, 1, 15)),
                                  (c, "1000", date(2026, 1, 5))):
        SpendFactory(activity=activity, amount=Decimal(amount), spent_on=day)
    return World(a=a, b=b, c=c, gd_plan=gd_plan, hq_plan=hq_plan, hq=hq, gd=gd,
                 trainer=trainer)
