"""Marketing plans: one per unit and quarter, owned by someone in the unit or above it, made
only within the maker's reach, audited; their budget burn per plan and per unit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from marketloop.audit.models import AuditEntry
from marketloop.campaigns import selectors, services
from marketloop.campaigns.errors import CampaignError, CampaignErrorCode
from marketloop.campaigns.models import MarketingPlan
from marketloop.org.errors import NotAllowed, NotFound
from marketloop.org.models import Role
from tests.campaigns.factories import (  # noqa: F401  (a fixture)
    ActivityFactory,
    PlanFactory,
    campaigns_org,
)

pytestmark = pytest.mark.usefixtures("campaigns_org")


@pytest.fixture
def gd_manager(org, make_user):
    return make_user(org.gd, Role.MANAGER, username="gd-manager")


def plan(user, unit, owner, **fields):
    values = {"name": "广东 2026 Q3 市场计划", "year": 2026, "quarter": 3,
              "owner_unit_id": unit.pk, "owner_id": owner.pk, "budget": Decimal("100000")}
    values.update(fields)
    return services.create_plan(user=user, **values)


def test_a_plan_holds_its_quarter_goals_budget_and_owner(org, gd_manager):
    made = plan(gd_manager, org.gd, gd_manager, goal_leads=120, goal_mqls=40,
                goal_pipeline="3000000", goal_revenue=Decimal("800000.005"))
    made.refresh_from_db()
    assert (made.year, made.quarter, made.owner_unit, made.owner) == (2026, 3, org.gd,
                                                                      gd_manager)
    assert (made.goal_leads, made.goal_mqls) == (120, 40)
    assert made.goal_pipeline == Decimal("3000000.00")
    assert made.goal_revenue == Decimal("800000.01")
    assert made.budget == Decimal("100000.00")
    assert made.created_by == gd_manager


def test_a_unit_has_one_plan_per_quarter(org, gd_manager):
    plan(gd_manager, org.gd, gd_manager)
    with pytest.raises(CampaignError) as refused:
        plan(gd_manager, org.gd, gd_manager, name="再来一个")
    assert refused.value.code == CampaignErrorCode.PLAN_EXISTS
    assert refused.value.errors == {"quarter": [refused.value.message]}
    plan(gd_manager, org.gd, gd_manager, quarter=4)  # another quarter
    plan(gd_manager, org.gd_sales, gd_manager)  # another unit, the same quarter
    assert MarketingPlan.objects.filter(owner_unit=org.gd, year=2026).count() == 2


def test_the_plan_owner_works_in_the_plans_unit_or_above_it(org, gd_manager, make_user):
    hq_manager = make_user(org.hq_marketing, Role.MANAGER)
    gx_manager = make_user(org.gx, Role.MANAGER)
    assert plan(gd_manager, org.gd_sales, gd_manager).owner == gd_manager  # the province above
    assert plan(hq_manager, org.gd, hq_manager).owner == hq_manager  # HQ is above all
    with pytest.raises(CampaignError) as refused:
        plan(gd_manager, org.gd, gx_manager, quarter=1)
    assert refused.value.code == CampaignErrorCode.UNKNOWN_USER
    assert "owner" in refused.value.errors
    rep = make_user(org.gd_sales, Role.SALES_REP)
    with pytest.raises(CampaignError):  # a department is under the province, not above it
        plan(gd_manager, org.gd, rep, quarter=2)


def test_a_province_user_plans_only_within_their_province(org, gd_manager, hq_marketer):
    plan(gd_manager, org.gd_key_account, gd_manager)
    with pytest.raises(CampaignError) as refused:
        plan(gd_manager, org.zj, gd_manager)
    assert refused.value.code == CampaignErrorCode.UNKNOWN_UNIT
    with pytest.raises(CampaignError):
        plan(gd_manager, org.region_south, gd_manager)  # above the province: out of reach
    assert plan(hq_marketer, org.zj, hq_marketer).owner_unit == org.zj  # HQ: any unit


def test_making_a_plan_needs_the_create_right(org, make_user):
    trainer = make_user(org.hq, Role.TRAINER)
    with pytest.raises(NotAllowed):
        plan(trainer, org.gd, trainer)


@pytest.mark.parametrize(("field", "value"), [("year", 1999), ("quarter", 5), ("name", " "),
                                              ("budget", "-1"), ("goal_leads", -3),
                                              ("goal_revenue", "lots")])
def test_a_plan_with_a_bad_field_is_refused_on_that_field(org, gd_manager, field, value):
    with pytest.raises(CampaignError) as refused:
        plan(gd_manager, org.gd, gd_manager, **{field: value})
    assert refused.value.code == CampaignErrorCode.INVALID
    assert field in refused.value.errors


def test_every_plan_write_is_audited(org, gd_manager):
    made = plan(gd_manager, org.gd, gd_manager)
    services.update_plan(user=gd_manager, plan_id=made.pk, budget=Decimal("150000"),
                         goal_leads=10, reason="追加预算")
    entries = list(AuditEntry.objects.filter(object_type="campaigns.marketingplan",
                                             object_id=made.pk).order_by("id"))
    assert [e.action for e in entries] == ["created", "updated"]
    assert entries[0].changes["budget"] == [None, "100000.00"]
    assert entries[1].changes == {"budget": ["100000.00", "150000.00"], "goal_leads": [0, 10]}
    assert entries[1].reason == "追加预算"
    assert all(e.actor == gd_manager for e in entries)


def test_an_update_that_changes_nothing_is_not_audited(org, gd_manager):
    made = plan(gd_manager, org.gd, gd_manager)
    services.update_plan(user=gd_manager, plan_id=made.pk, name=made.name)
    assert AuditEntry.objects.filter(object_id=made.pk, action="updated").count() == 0


def test_a_plan_out_of_sight_cannot_be_changed(org, gd_manager, make_user):
    zj_plan = PlanFactory(owner_unit=org.zj, owner=make_user(org.zj, Role.MANAGER))
    with pytest.raises(NotFound):
        services.update_plan(user=gd_manager, plan_id=zj_plan.pk, name="x")


def test_a_plans_owner_can_be_handed_on(org, gd_manager, make_user):
    made = plan(gd_manager, org.gd, gd_manager)
    successor = make_user(org.gd, Role.MANAGER)
    assert services.update_plan(user=gd_manager, plan_id=made.pk,
                                owner_id=successor.pk).owner == successor
    with pytest.raises(CampaignError):
        services.update_plan(user=gd_manager, plan_id=made.pk,
                             owner_id=make_user(org.zj, Role.MANAGER).pk)


def test_a_plans_budget_cannot_drop_below_what_is_approved(org, gd_manager):
    made = plan(gd_manager, org.gd, gd_manager)
    ActivityFactory(plan=made, approved_budget=Decimal("30000"))
    ActivityFactory(plan=made, approved_budget=Decimal("20000"))
    with pytest.raises(CampaignError) as refused:
        services.update_plan(user=gd_manager, plan_id=made.pk, budget=Decimal("49999.99"))
    assert refused.value.code == CampaignErrorCode.OVER_PLAN_BUDGET
    assert "50000.00" in refused.value.message
    assert services.update_plan(user=gd_manager, plan_id=made.pk,
                                budget=Decimal("50000")).budget == Decimal("50000.00")


def test_a_plan_moves_to_another_quarter_only_with_its_activities_inside(org, gd_manager):
    made = plan(gd_manager, org.gd, gd_manager)
    ActivityFactory(plan=made)  # starts 2026-07-01
    with pytest.raises(CampaignError) as refused:
        services.update_plan(user=gd_manager, plan_id=made.pk, quarter=4)
    assert refused.value.code == CampaignErrorCode.OUTSIDE_PLAN
    empty = plan(gd_manager, org.gd, gd_manager, quarter=1)
    with pytest.raises(CampaignError) as taken:
        services.update_plan(user=gd_manager, plan_id=empty.pk, quarter=3)
    assert taken.value.code == CampaignErrorCode.PLAN_EXISTS
    assert services.update_plan(user=gd_manager, plan_id=empty.pk, quarter=2).quarter == 2


# ---- reading plans -------------------------------------------------------------------------

def test_each_sees_the_plans_of_their_scope_and_partners_only_their_own(org, make_user,
                                                                        gd_manager):
    zj_boss = make_user(org.zj, Role.MANAGER)
    gd_plan = PlanFactory(owner_unit=org.gd, owner=gd_manager)
    zj_plan = PlanFactory(owner_unit=org.zj, owner=zj_boss)
    partner = make_user(org.gd_partner, Role.PARTNER_STAFF, Role.MANAGER)
    partners_plan = PlanFactory(owner_unit=org.gd_partner, owner=partner)
    PlanFactory(owner_unit=org.gd_partner, owner=gd_manager, quarter=4)

    def seen(user):
        return set(selectors.plans_visible(user).values_list("pk", flat=True))

    assert {gd_plan.pk, partners_plan.pk} <= seen(gd_manager)
    assert zj_plan.pk not in seen(gd_manager)
    assert seen(partner) == {partners_plan.pk}  # a plan has no partner: only what they own
    hq = make_user(org.hq, Role.MARKETER)
    assert {gd_plan.pk, zj_plan.pk, partners_plan.pk} <= seen(hq)


def test_the_plan_list_filters_by_year_quarter_and_unit_with_the_units_under_it(
        org, hq_marketer):
    owner = hq_marketer
    region = PlanFactory(owner_unit=org.region_south, owner=owner, year=2026, quarter=3)
    province = PlanFactory(owner_unit=org.gd, owner=owner, year=2026, quarter=3)
    department = PlanFactory(owner_unit=org.gd_sales, owner=owner, year=2026, quarter=2)
    elsewhere = PlanFactory(owner_unit=org.zj, owner=owner, year=2025, quarter=3)

    def names(**params):
        page = selectors.plan_page(hq_marketer, selectors.PlanFilter.from_params(params))
        return [p.name for p in page.items]

    assert names(unit=org.gd.pk) == [province.name, department.name]
    assert names(unit=org.region_south.pk, quarter=3) == [province.name, region.name]
    assert names(year=2025) == [elsewhere.name]
    assert names(year="x", quarter="9") == names()


def test_the_plan_list_pages_newest_quarter_first(org, hq_marketer):
    made = [PlanFactory(owner_unit=org.gd, owner=hq_marketer, year=2026, quarter=q)
            for q in (1, 2, 3, 4)]
    first = selectors.plan_page(hq_marketer, selectors.PlanFilter(), size=3)
    second = selectors.plan_page(hq_marketer, selectors.PlanFilter(), cursor=first.next_cursor,
                                 size=3)
    assert [p.pk for p in first.items + second.items] == [p.pk for p in reversed(made)]
    assert second.next_cursor is None


def test_a_plans_burn_is_its_budget_approved_and_spent_over_its_activities(org, gd_manager):
    made = PlanFactory(owner_unit=org.gd, owner=gd_manager, budget=Decimal("80000"))
    ActivityFactory(plan=made, budget=Decimal("30000"), approved_budget=Decimal("30000"),
                    spent=Decimal("12000"))
    ActivityFactory(plan=made, budget=Decimal("25000"), approved_budget=Decimal("10000"),
                    spent=Decimal("8000"))
    burn = selectors.plan_burn(gd_manager, made.pk)
    assert (burn.burn.budget, burn.burn.approved, burn.burn.spent) == (
        Decimal("80000.00"), Decimal("40000.00"), Decimal("20000.00"))
    assert burn.burn.burnt_percent == Decimal("25.0")
    assert burn.burn.approved_percent == Decimal("50.0")
    assert burn.burn.available == Decimal("20000.00")
    assert burn.budget_lines == Decimal("55000.00")
    assert [b.spent for _a, b in burn.activities] == [Decimal("12000.00"), Decimal("8000.00")]


def test_a_units_burn_sums_its_plans_and_those_under_it_in_the_period(org, hq_marketer,
                                                                       gd_manager):
    gd = PlanFactory(owner_unit=org.gd, owner=gd_manager, budget=Decimal("50000"), quarter=3)
    ActivityFactory(plan=gd, approved_budget=Decimal("20000"), spent=Decimal("5000"))
    sales = PlanFactory(owner_unit=org.gd_sales, owner=gd_manager, budget=Decimal("30000"),
                        quarter=3)
    ActivityFactory(plan=sales, approved_budget=Decimal("10000"), spent=Decimal("10000"))
    PlanFactory(owner_unit=org.gd, owner=gd_manager, budget=Decimal("99999"), quarter=4)
    PlanFactory(owner_unit=org.zj, owner=hq_marketer, budget=Decimal("77777"), quarter=3)

    south = selectors.unit_burn(hq_marketer, org.region_south.pk, 2026, 3)
    assert (south.burn.budget, south.burn.approved, south.burn.spent) == (
        Decimal("80000.00"), Decimal("30000.00"), Decimal("15000.00"))
    assert {p.pk for p in south.plans} == {gd.pk, sales.pk}
    whole_year = selectors.unit_burn(hq_marketer, org.gd.pk, 2026)
    assert whole_year.burn.budget == Decimal("179999.00")
    gd_view = selectors.unit_burn(gd_manager, org.hq.pk, 2026, 3)
    assert gd_view.burn.budget == Decimal("80000.00")  # only the plans they may see
