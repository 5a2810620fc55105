"""Attribution runs over a small world worked out by hand, the journey and credit of one deal,
who sees which activity in it, the settings, and the events that queue a run.

The world (days before now):
  account X (Guangdong sales): Li (profile p1) and Wang (p2)
    p1: forum (HQ, company level) −40, EDM (HQ) −20;  lead L1 −19, MQL −15, SAL −12
    p2: salon (Guangdong, region level) −10;          lead L2 −9
    deal O1 from L1: created −8, won −2, 1,000,000 CNY
  account Y (Guangdong sales): Zhao (p3): EDM −30; deal O2 created −25, lost −5, 300,000 CNY
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from marketloop.campaigns.attribution import selectors, services
from marketloop.campaigns.models import (
    SHARE_UNIT,
    ActivityCredit,
    ActivityInfluence,
    ActivityKind,
    ActivityLevel,
    ActivityTouch,
    AttributionModel,
    AttributionRun,
    AttributionSettings,
    RemovalEffect,
)
from marketloop.leads.models import Lead, Stage
from marketloop.org.models import Role
from marketloop.sales import services as sales
from marketloop.tracking.models import Identity, Profile
from tests.api.client import ApiClient
from tests.campaigns.factories import ActivityFactory, PlanFactory
from tests.factories import AccountFactory, ContactFactory
from tests.sales.factories import OpportunityFactory, seat

MODELS = list(AttributionModel.values)


class World:
    pass


def _person(account, name: str):
    contact = ContactFactory(account=account, name=name)
    profile = Profile.objects.create(contact=contact, account=account,
                                     owner_unit=account.owner_unit)
    identity = Identity.objects.create(kind="email", value=contact.email, profile=profile)
    return contact, profile, identity


_touch_ids = iter(range(1, 1_000_000))


def _touch(activity, identity, at):
    ActivityTouch.objects.create(touchpoint_id=next(_touch_ids), occurred_at=at,
                                 identity_id=identity.pk, activity=activity, kind="page",
                                 how="utm")


@pytest.fixture
def world(org, make_user, hq_marketer, gd_rep) -> World:
    w = World()
    now = timezone.now()
    day = timedelta(days=1)
    w.now, w.gd_rep, w.hq_marketer = now, gd_rep, hq_marketer
    hq_plan = PlanFactory(owner_unit=org.hq_marketing, owner=hq_marketer)
    gd_plan = PlanFactory(owner_unit=org.gd, owner=make_user(org.gd, Role.MANAGER))
    w.forum = ActivityFactory(plan=hq_plan, name="年度高层论坛", kind=ActivityKind.EXECUTIVE_FORUM,
                              level=ActivityLevel.COMPANY)
    w.edm = ActivityFactory(plan=hq_plan, name="EDM 月刊", kind=ActivityKind.EDM,
                            level=ActivityLevel.COMPANY)
    w.salon = ActivityFactory(plan=gd_plan, name="广州 CIO 沙龙", kind=ActivityKind.SALON,
                              level=ActivityLevel.REGION)
    x = AccountFactory(owner_unit=org.gd_sales)
    y = AccountFactory(owner_unit=org.gd_sales)
    _c1, p1, i1 = _person(x, "李雷")
    _c2, p2, i2 = _person(x, "王芳")
    _c3, p3, i3 = _person(y, "赵强")
    _touch(w.forum, i1, now - 40 * day)
    _touch(w.edm, i1, now - 20 * day)
    _touch(w.salon, i2, now - 10 * day)
    _touch(w.edm, i3, now - 30 * day)
    w.l1 = Lead.objects.create(profile=p1, account=x, name="李雷", stage=Stage.SQL,
                               owner_unit=org.gd_sales, lead_at=now - 19 * day,
                               mql_at=now - 15 * day, sal_at=now - 12 * day)
    w.l2 = Lead.objects.create(profile=p2, account=x, name="王芳", stage=Stage.LEAD,
                               owner_unit=org.gd_sales, lead_at=now - 9 * day)
    w.o1 = OpportunityFactory(account=x, lead=w.l1, amount=Decimal("1000000"), stage="won",
                              created_at=now - 8 * day, closed_at=now - 2 * day, owner=gd_rep)
    w.o2 = OpportunityFactory(account=y, amount=Decimal("300000"), stage="lost",
                              created_at=now - 25 * day, closed_at=now - 5 * day)
    return w


def run(now=None) -> AttributionRun:
    return services.run_attribution(run_id=AttributionRun.objects.create().pk, now=now)


def credit_of(model: str, stage: str, activity) -> tuple[int, Decimal]:
    totals = ActivityCredit.objects.filter(model=model, stage=stage, activity=activity) \
        .aggregate(c=Sum("credit"), a=Sum("amount"))
    return totals["c"] or 0, totals["a"] or Decimal(0)


def test_a_run_credits_each_stage_by_hand(world):
    done = run()
    assert done.status == AttributionRun.Status.DONE
    assert done.figures["stages"]["won"]["conversions"] == 1
    linear, first = AttributionModel.LINEAR, AttributionModel.FIRST_TOUCH
    # Leads: L1's journey is forum, EDM (half each); L2's is the salon.
    assert credit_of(linear, "lead", world.forum)[0] == SHARE_UNIT // 2
    assert credit_of(linear, "lead", world.edm)[0] == SHARE_UNIT // 2
    assert credit_of(linear, "lead", world.salon)[0] == SHARE_UNIT
    # The won deal's journey is its account's: forum, EDM, salon, a third each.
    assert credit_of(linear, "won", world.forum) == (333_334, Decimal("333333.34"))
    assert credit_of(linear, "won", world.edm) == (333_333, Decimal("333333.33"))
    assert credit_of(first, "won", world.forum) == (SHARE_UNIT, Decimal("1000000.00"))
    assert credit_of(first, "won", world.salon) == (0, Decimal(0))
    # O2's pipeline came from the EDM alone.
    assert credit_of(first, "pipeline", world.edm) == (SHARE_UNIT, Decimal("300000.00"))
    # Influence: the EDM touched both deals' journeys.
    assert ActivityInfluence.objects.filter(stage="pipeline", activity=world.edm) \
        .aggregate(n=Sum("conversions"))["n"] == 2


def test_under_every_model_the_stored_credit_adds_up_to_the_conversions(world):
    run()
    expected = {"lead": (2, Decimal(0)), "mql": (1, Decimal(0)), "sal": (1, Decimal(0)),
                "pipeline": (2, Decimal("1300000.00")), "won": (1, Decimal("1000000.00"))}
    for model in MODELS:
        for stage, (count, amount) in expected.items():
            totals = ActivityCredit.objects.filter(model=model, stage=stage).aggregate(
                c=Sum("credit"), a=Sum("amount"))
            assert (totals["c"], totals["a"]) == (count * SHARE_UNIT, amount), (model, stage)


def test_models_disagree_about_the_won_deal(world):
    run()
    won = {model: credit_of(model, "won", world.salon)[1] for model in MODELS}
    assert won[AttributionModel.FIRST_TOUCH] == 0
    assert won[AttributionModel.LAST_TOUCH] == Decimal("1000000.00")
    assert len(set(won.values())) >= 4


def test_a_conversion_without_activity_touches_is_credited_to_no_activity(world, org):
    bare = AccountFactory(owner_unit=org.gd_sales)
    OpportunityFactory(account=bare, amount=Decimal("5000"), stage="won",
                       created_at=world.now - timedelta(days=3),
                       closed_at=world.now - timedelta(days=1))
    run()
    assert credit_of(AttributionModel.LINEAR, "won", None) == (SHARE_UNIT, Decimal("5000.00"))


def test_touches_outside_the_look_back_window_are_not_in_the_journey(world):
    AttributionSettings.objects.create(lookback_days=15, half_life_days=7)
    run()
    # The won deal (−2) now reaches back to −17: the EDM (−20) and the forum (−40) drop out.
    assert credit_of(AttributionModel.LINEAR, "won", world.salon) == (
        SHARE_UNIT, Decimal("1000000.00"))


def test_the_data_driven_model_uses_removal_effects_from_all_journeys(world):
    run()
    effects = dict(RemovalEffect.objects.filter(stage="won").values_list("activity", "effect"))
    # Journeys: forum → EDM → salon → won, and EDM → lost. Steps: start → forum 1/2,
    # start → EDM 1/2, forum → EDM, EDM → salon 1/2 or null 1/2, salon → won: P = 1/2.
    # Without the forum half the starts still reach the EDM: P = 1/4, effect 1/2. Without the
    # EDM or the salon nothing converts: effect 1.
    assert effects[world.forum.pk] == pytest.approx(0.5)
    assert effects[world.salon.pk] == pytest.approx(1.0)
    assert effects[world.edm.pk] == pytest.approx(1.0)


def test_a_deal_shows_its_journey_and_every_models_credit(world):
    run()
    journey = selectors.opportunity_journey(world.hq_marketer, world.o1.pk)
    assert journey.stage == "won" and journey.touch_count == 3
    assert [t.activity for t in journey.touches] == ["年度高层论坛", "EDM 月刊", "广州 CIO 沙龙"]
    for model in MODELS:
        assert journey.totals[model] == SHARE_UNIT
        assert journey.amount_totals[model] == Decimal("1000000.00")
        assert sum(row.amounts[model] for row in journey.rows) == Decimal("1000000.00")
    forum = next(row for row in journey.rows if row.activity_id == world.forum.pk)
    assert forum.shares[AttributionModel.FIRST_TOUCH] == SHARE_UNIT
    assert forum.shares[AttributionModel.POSITION_BASED] == 400_000


def test_activities_of_other_units_stay_anonymous_in_a_journey(world):
    journey = selectors.opportunity_journey(world.gd_rep, world.o1.pk)
    names = {row.name for row in journey.rows}
    assert "广州 CIO 沙龙" in names
    assert "年度高层论坛" not in names and "EDM 月刊" not in names
    assert all(row.activity_id in (None, world.salon.pk) for row in journey.rows)


def test_a_deal_the_user_cannot_see_has_no_journey(world, org, make_user, client):
    outsider = make_user(org.zj_sales)
    client.force_login(outsider)
    assert client.get(f"/campaigns/journeys/opportunity/{world.o1.pk}/").status_code == 404
    response = ApiClient(outsider).get(f"/api/opportunities/{world.o1.pk}/journey")
    assert response.status_code == 404


def test_the_deal_page_panel_shows_the_journey(world, client):
    run()
    client.force_login(world.hq_marketer)
    page = client.get(f"/opportunities/{world.o1.pk}/")
    assert page.status_code == 200 and b"/campaigns/journeys/opportunity/" in page.content
    panel = client.get(f"/campaigns/journeys/opportunity/{world.o1.pk}/")
    assert panel.status_code == 200
    text = panel.content.decode()
    assert "年度高层论坛" in text and 'data-total="1000000"' in text


def test_a_lead_shows_its_journey_to_each_stage_it_reached(world, client):
    client.force_login(world.hq_marketer)
    to_lead = client.get(f"/campaigns/journeys/lead/{world.l1.pk}/?stage=lead")
    assert to_lead.status_code == 200
    assert 'data-touches="2"' in to_lead.content.decode()
    journey = selectors.lead_journey(world.hq_marketer, world.l1.pk)
    assert journey.stage == "sal" and journey.touch_count == 2
    api = ApiClient(world.hq_marketer).get(f"/api/leads/{world.l1.pk}/journey",
                                           {"stage": "lead"})
    assert api.status_code == 200
    body = api.json()
    assert body["stage"] == "lead"
    for model in MODELS:
        assert sum(c["share"] for a in body["activities"] for c in a["credit"]
                   if c["model"] == model) == SHARE_UNIT


def test_the_journey_api_gives_each_activitys_credit_that_adds_up(world):
    run()
    body = ApiClient(world.hq_marketer).get(f"/api/opportunities/{world.o1.pk}/journey").json()
    assert body["stage"] == "won" and body["touch_count"] == 3
    for model in MODELS:
        credits = [c for a in body["activities"] for c in a["credit"] if c["model"] == model]
        assert sum(c["share"] for c in credits) == SHARE_UNIT
        assert sum(Decimal(str(c["amount"])) for c in credits) == Decimal("1000000")


def test_administrators_change_the_settings_and_a_run_is_queued(org, admin_user, client):
    client.force_login(admin_user)
    response = client.post("/campaigns/attribution/",
                           {"lookback_days": "90", "half_life_days": "7"})
    assert response.status_code == 302
    assert selectors.current_settings().lookback_days == 90
    assert AttributionRun.objects.filter(status=AttributionRun.Status.QUEUED).count() == 1
    assert ProcrastinateJob.objects.filter(task_name="campaigns.run_attribution").exists()
    bad = client.post("/campaigns/attribution/", {"lookback_days": "0", "half_life_days": "7"})
    assert bad.status_code == 422
    assert client.get("/campaigns/attribution/").status_code == 200
    assert client.get("/campaigns/attribution/runs/").status_code == 200


def test_others_read_the_settings_but_cannot_change_them(org, hq_marketer, client):
    client.force_login(hq_marketer)
    page = client.get("/campaigns/attribution/")
    assert page.status_code == 200 and b"save-settings" not in page.content
    assert client.post("/campaigns/attribution/",
                       {"lookback_days": "90", "half_life_days": "7"}).status_code == 403
    assert client.post("/campaigns/attribution/run/").status_code == 403
    api = ApiClient(hq_marketer)
    assert api.client.put("/api/attribution/settings", '{"lookback_days": 9, '
                          '"half_life_days": 3}', content_type="application/json",
                          **api.headers).status_code == 403
    assert api.post("/api/attribution/runs").status_code == 403
    assert api.get("/api/attribution/settings").json() == {"lookback_days": 180,
                                                           "half_life_days": 14}


def test_settings_and_runs_through_the_api(org, admin_user):
    api = ApiClient(admin_user)
    response = api.client.put("/api/attribution/settings",
                              '{"lookback_days": 120, "half_life_days": 10}',
                              content_type="application/json", **api.headers)
    assert response.status_code == 200 and response.json()["lookback_days"] == 120
    bad = api.client.put("/api/attribution/settings", '{"lookback_days": 5000, '
                         '"half_life_days": 10}', content_type="application/json",
                         **api.headers)
    assert bad.status_code == 422 and "lookback_days" in bad.json()["errors"]
    queued = api.post("/api/attribution/runs")
    assert queued.status_code == 202
    assert api.get(f"/api/attribution/runs/{queued.json()['id']}").json()["status"] == "queued"


def test_winning_a_deal_queues_a_run(world, django_capture_on_commit_callbacks):
    seat(world.o2, world.gd_rep)
    with django_capture_on_commit_callbacks(execute=True):
        sales.move_stage(user=world.gd_rep, opportunity_id=world.o2.pk, stage="won",
                         reason="重新谈判成功")
    assert AttributionRun.objects.filter(status=AttributionRun.Status.QUEUED).count() == 1
    with django_capture_on_commit_callbacks(execute=True):
        sales.move_stage(user=world.gd_rep, opportunity_id=world.o2.pk, stage="negotiation",
                         reason="客户要求重新报价")
    # One queued run serves both changes.
    assert AttributionRun.objects.filter(status=AttributionRun.Status.QUEUED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_queued_run_is_carried_out_by_the_worker(org, hq_marketer, run_jobs):
    queued = services.queue_attribution(reason="test")
    run_jobs()
    queued.refresh_from_db()
    assert queued.status == AttributionRun.Status.DONE
    assert queued.steps_done == queued.steps_total > 0
