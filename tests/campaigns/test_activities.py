"""Activities: readable unique codes, dates inside their plan's quarter, levels owned by the
right units, touchpoints attached once an activity (or its new code) is committed, and the
list's filters and pages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from marketloop.audit.models import AuditEntry
from marketloop.campaigns import selectors, services
from marketloop.campaigns.errors import CampaignError, CampaignErrorCode
from marketloop.campaigns.models import Activity, ActivityStatus
from marketloop.org.errors import NotAllowed, NotFound
from marketloop.org.models import Role
from tests.campaigns.factories import (  # noqa: F401  (a fixture)
    ActivityFactory,
    PlanFactory,
    campaigns_org,
)

pytestmark = pytest.mark.usefixtures("campaigns_org")

JULY = date(2026, 7, 1)


@pytest.fixture
def gd_manager(org, make_user):
    return make_user(org.gd, Role.MANAGER, username="gd-manager")


@pytest.fixture
def gd_plan(org, gd_manager):
    return PlanFactory(owner_unit=org.gd, owner=gd_manager, year=2026, quarter=3)


def activity(user, plan, **fields):
    values = {"name": "广州制造业数字化沙龙", "kind": "salon", "level": "customer_group",
              "owner_unit_id": plan.owner_unit_id, "starts_on": JULY, "ends_on": JULY}
    values.update(fields)
    return services.create_activity(user=user, plan_id=plan.pk, **values)


def attach_jobs() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT args->>'activity_id' FROM procrastinate_jobs "
                       "WHERE task_name = 'campaigns.attach_activity' ORDER BY id")
        return [int(row[0]) for row in cursor.fetchall()]


# ---- codes ---------------------------------------------------------------------------------

def test_a_blank_code_is_made_from_year_quarter_unit_kind_and_a_sequence(org, gd_manager,
                                                                          gd_plan):
    first = activity(gd_manager, gd_plan)
    second = activity(gd_manager, gd_plan, code="  ")
    webinar = activity(gd_manager, gd_plan, kind="webinar")
    in_sales = activity(gd_manager, gd_plan, owner_unit_id=org.gd_sales.pk)
    assert [first.code, second.code, webinar.code, in_sales.code] == [
        "2026q3-gd-salon-001", "2026q3-gd-salon-002", "2026q3-gd-webinar-001",
        "2026q3-gd-sales-salon-001"]


def test_the_sequence_follows_the_highest_code_taken(gd_manager, gd_plan):
    ActivityFactory(plan=gd_plan, code="2026q3-gd-salon-016")
    assert activity(gd_manager, gd_plan).code == "2026q3-gd-salon-017"


def test_a_given_code_is_slugified_to_lower_case(gd_manager, gd_plan):
    assert activity(gd_manager, gd_plan, code=" GD Salon 2026 Q3 ").code == "gd-salon-2026-q3"


def test_a_code_with_nothing_to_keep_is_refused(gd_manager, gd_plan):
    with pytest.raises(CampaignError) as refused:
        activity(gd_manager, gd_plan, code="沙龙")
    assert refused.value.code == CampaignErrorCode.INVALID
    assert "code" in refused.value.errors


def test_an_activity_code_is_unique(gd_manager, gd_plan):
    taken = activity(gd_manager, gd_plan, code="gd-salon")
    with pytest.raises(CampaignError) as refused:
        activity(gd_manager, gd_plan, code="GD-Salon")
    assert refused.value.code == CampaignErrorCode.CODE_TAKEN
    other = activity(gd_manager, gd_plan)
    with pytest.raises(CampaignError) as renamed:
        services.update_activity(user=gd_manager, activity_id=other.pk, code=taken.code)
    assert renamed.value.code == CampaignErrorCode.CODE_TAKEN


# ---- dates, levels, units ------------------------------------------------------------------

def test_an_activity_starts_in_its_plans_quarter_and_may_end_after_it(gd_manager, gd_plan):
    for starts_on in (date(2026, 6, 30), date(2026, 10, 1)):
        with pytest.raises(CampaignError) as refused:
            activity(gd_manager, gd_plan, starts_on=starts_on, ends_on=date(2026, 10, 5))
        assert refused.value.code == CampaignErrorCode.OUTSIDE_PLAN
        assert "starts_on" in refused.value.errors
    late = activity(gd_manager, gd_plan, starts_on=date(2026, 9, 30), ends_on=date(2026, 10, 2))
    assert late.ends_on == date(2026, 10, 2)


def test_an_activity_cannot_end_before_it_starts(gd_manager, gd_plan):
    with pytest.raises(CampaignError) as refused:
        activity(gd_manager, gd_plan, starts_on=date(2026, 8, 2), ends_on=date(2026, 8, 1))
    assert refused.value.errors.keys() == {"ends_on"}


def test_each_level_is_owned_by_its_kind_of_unit(org, hq_marketer):
    hq_plan = PlanFactory(owner_unit=org.hq, owner=hq_marketer)
    company = activity(hq_marketer, hq_plan, level="company", owner_unit_id=org.hq_marketing.pk)
    assert company.level == "company"
    with pytest.raises(CampaignError) as refused:
        activity(hq_marketer, hq_plan, level="company", owner_unit_id=org.gd.pk)
    assert refused.value.errors.keys() == {"level"}
    for unit in (org.region_south, org.gd, org.gd_sales):
        assert activity(hq_marketer, hq_plan, level="region", owner_unit_id=unit.pk).pk
    for unit in (org.hq_marketing, org.gd_partner):
        with pytest.raises(CampaignError) as refused:
            activity(hq_marketer, hq_plan, level="region", owner_unit_id=unit.pk)
        assert refused.value.errors.keys() == {"level"}
    for unit in (org.hq, org.zj_sales, org.gd_partner):
        assert activity(hq_marketer, hq_plan, owner_unit_id=unit.pk).level == "customer_group"


def test_an_activity_is_owned_in_its_plans_unit_or_under_it(org, gd_manager, gd_plan):
    with pytest.raises(CampaignError) as refused:
        activity(gd_manager, PlanFactory(owner_unit=org.gd_sales, owner=gd_manager),
                 owner_unit_id=org.gd.pk)
    assert refused.value.errors.keys() == {"owner_unit"}
    with pytest.raises(CampaignError) as out_of_reach:
        activity(gd_manager, gd_plan, owner_unit_id=org.zj.pk)
    assert out_of_reach.value.code == CampaignErrorCode.UNKNOWN_UNIT


def test_a_partners_activity_is_run_with_that_partner(org, gd_manager, gd_plan):
    by_partner = activity(gd_manager, gd_plan, owner_unit_id=org.gd_partner.pk)
    assert by_partner.partner == org.gd_partner
    with_partner = activity(gd_manager, gd_plan, owner_unit_id=org.gd_sales.pk,
                            partner_id=org.gd_partner.pk)
    assert with_partner.partner == org.gd_partner
    with pytest.raises(CampaignError) as refused:
        activity(gd_manager, gd_plan, partner_id=org.gx_partner.pk)
    assert refused.value.errors.keys() == {"partner"}


def test_a_plan_out_of_sight_takes_no_activities(org, gd_manager, make_user):
    zj_plan = PlanFactory(owner_unit=org.zj, owner=make_user(org.zj, Role.MANAGER))
    with pytest.raises(CampaignError) as refused:
        activity(gd_manager, zj_plan)
    assert refused.value.code == CampaignErrorCode.UNKNOWN_PLAN


def test_making_an_activity_needs_the_create_right(org, make_user, gd_plan):
    presales = make_user(org.gd_key_account, Role.PRESALES)
    with pytest.raises(NotAllowed):
        activity(presales, gd_plan)


def test_every_activity_write_is_audited(gd_manager, gd_plan):
    made = activity(gd_manager, gd_plan, budget="20000", audience="制造业 CIO")
    services.update_activity(user=gd_manager, activity_id=made.pk, name="改名", reason="更准确")
    services.set_status(user=gd_manager, activity_id=made.pk, status=ActivityStatus.RUNNING)
    entries = list(AuditEntry.objects.filter(object_type="campaigns.activity",
                                             object_id=made.pk).order_by("id"))
    assert [e.action for e in entries] == ["created", "updated", "status"]
    assert entries[0].changes["code"] == [None, "2026q3-gd-salon-001"]
    assert entries[0].changes["budget"] == [None, "20000.00"]
    assert entries[1].changes == {"name": ["广州制造业数字化沙龙", "改名"]}
    assert entries[2].changes == {"status": ["planned", "running"]}


def test_a_status_moves_to_another_status_only(gd_manager, gd_plan):
    made = activity(gd_manager, gd_plan)
    with pytest.raises(CampaignError):
        services.set_status(user=gd_manager, activity_id=made.pk, status="planned")
    with pytest.raises(CampaignError):
        services.set_status(user=gd_manager, activity_id=made.pk, status="postponed")
    assert services.set_status(user=gd_manager, activity_id=made.pk,
                               status="cancelled").status == "cancelled"


def test_an_activity_out_of_sight_cannot_be_changed(org, make_user, gd_plan):
    zj_user = make_user(org.zj, Role.MARKETER)
    made = ActivityFactory(plan=gd_plan)
    with pytest.raises(NotFound):
        services.update_activity(user=zj_user, activity_id=made.pk, name="x")
    with pytest.raises(NotFound):
        services.set_status(user=zj_user, activity_id=made.pk, status="running")


def test_moving_an_activity_keeps_its_rules(org, gd_manager, gd_plan):
    made = activity(gd_manager, gd_plan)
    with pytest.raises(CampaignError) as refused:
        services.update_activity(user=gd_manager, activity_id=made.pk,
                                 starts_on=date(2026, 12, 1), ends_on=date(2026, 12, 2))
    assert refused.value.code == CampaignErrorCode.OUTSIDE_PLAN
    moved = services.update_activity(user=gd_manager, activity_id=made.pk,
                                     owner_unit_id=org.gd_key_account.pk, level="region",
                                     goal_leads=30, goal_revenue="120000")
    assert (moved.owner_unit, moved.level, moved.goal_leads, moved.goal_revenue) == (
        org.gd_key_account, "region", 30, Decimal("120000.00"))
    with pytest.raises(CampaignError):
        services.update_activity(user=gd_manager, activity_id=made.pk, approved_budget=1)


# ---- touchpoints attach on commit ----------------------------------------------------------

def test_touchpoints_are_attached_once_a_new_activity_is_committed(
        gd_manager, gd_plan, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as waiting:
        made = activity(gd_manager, gd_plan)
    assert attach_jobs() == []  # nothing is queued before the commit
    assert len(waiting) == 1
    waiting[0]()
    assert attach_jobs() == [made.pk]


def test_a_new_code_attaches_again_and_other_changes_do_not(
        gd_manager, gd_plan, django_capture_on_commit_callbacks):
    made = ActivityFactory(plan=gd_plan, owner_unit=gd_plan.owner_unit)
    with django_capture_on_commit_callbacks(execute=True):
        services.update_activity(user=gd_manager, activity_id=made.pk, name="新名字",
                                 code=made.code)
    assert attach_jobs() == []
    with django_capture_on_commit_callbacks(execute=True):
        services.update_activity(user=gd_manager, activity_id=made.pk, code="gd-new-code")
    assert attach_jobs() == [made.pk]


def test_a_refused_activity_queues_nothing(gd_manager, gd_plan,
                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as waiting:
        with pytest.raises(CampaignError):
            activity(gd_manager, gd_plan, starts_on=date(2027, 1, 1), ends_on=date(2027, 1, 1))
    assert waiting == [] and attach_jobs() == []


# ---- the list ------------------------------------------------------------------------------

def test_the_activity_list_filters_by_kind_level_status_unit_plan_period_and_text(
        org, hq_marketer, gd_manager, gd_plan):
    q4 = PlanFactory(owner_unit=org.gd, owner=gd_manager, quarter=4)
    salon = ActivityFactory(plan=gd_plan, name="珠海沙龙", code="zh-salon", kind="salon",
                            owner_unit=org.gd_sales, starts_on=date(2026, 8, 1),
                            ends_on=date(2026, 8, 1))
    forum = ActivityFactory(plan=gd_plan, name="高层论坛", code="gd-forum", kind="forum",
                            level="region", status="running")
    webinar = ActivityFactory(plan=q4, name="网络研讨会", code="gd-webinar", kind="webinar",
                              starts_on=date(2026, 11, 3), ends_on=date(2026, 11, 3))
    zj = ActivityFactory(plan=PlanFactory(owner_unit=org.zj, owner=hq_marketer), code="zj-x",
                         kind="edm")

    def codes(**params):
        page = selectors.activity_page(hq_marketer, selectors.ActivityFilter.from_params(params))
        return [a.code for a in page.items]

    assert codes(kind="salon") == [salon.code]
    assert codes(level="region") == [forum.code]
    assert codes(status="running") == [forum.code]
    assert codes(unit=org.gd.pk) == [webinar.code, salon.code, forum.code]
    assert codes(unit=org.gd_sales.pk) == [salon.code]
    assert codes(plan=q4.pk) == [webinar.code]
    assert codes(period="2026Q4") == [webinar.code]
    assert codes(period="2026") == [webinar.code, salon.code, zj.code, forum.code]
    assert codes(q="沙龙") == [salon.code]
    assert codes(q="GD-") == [webinar.code, forum.code]
    assert codes(kind="party", level="x", period="soon") == codes()


def test_the_activity_list_pages_by_start_and_keeps_to_the_scope(org, make_user, gd_plan):
    made = [ActivityFactory(plan=gd_plan, starts_on=date(2026, 7, day), ends_on=date(2026, 7, day))
            for day in (1, 2, 3, 4, 5)]
    ActivityFactory(plan=PlanFactory(owner_unit=org.zj, owner=make_user(org.zj, Role.MANAGER)))
    gd_rep = make_user(org.gd_sales, Role.SALES_REP)
    seen, cursor = [], None
    while True:
        page = selectors.activity_page(gd_rep, selectors.ActivityFilter(), cursor=cursor, size=2)
        seen += page.items
        if not (cursor := page.next_cursor):
            break
    assert [a.pk for a in seen] == [a.pk for a in reversed(made)]
    partner = make_user(org.gd_partner, Role.PARTNER_STAFF)
    assert selectors.activity_page(partner, selectors.ActivityFilter()).items == []
    with_partner = ActivityFactory(plan=gd_plan, owner_unit=org.gd_sales, partner=org.gd_partner)
    assert selectors.activity_page(partner, selectors.ActivityFilter()).items == [with_partner]


def test_activities_visible_is_the_scope_other_parts_read_through(org, make_user, gd_plan):
    mine = ActivityFactory(plan=gd_plan)
    zj = ActivityFactory(plan=PlanFactory(owner_unit=org.zj, owner=make_user(org.zj,
                                                                             Role.MANAGER)))
    gd_rep = make_user(org.gd_sales, Role.SALES_REP)
    assert set(selectors.activities_visible(gd_rep)) == {mine}
    assert Activity.objects.filter(pk=zj.pk).exists()
