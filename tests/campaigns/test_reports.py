"""campaigns.reports: the dashboard's figures worked out by hand (tests/campaigns/report_world.py
says how), grouping by kind, level and region, the period and the model changing the numbers,
what a province user sees, budget burn, the sankey, the model comparison, and an activity's
sourced and influenced leads and deals on a hand-made journey."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from marketloop.campaigns import reports
from marketloop.campaigns.errors import CampaignError
from marketloop.campaigns.models import ActivityTouch, AttributionSettings
from marketloop.leads.models import Lead, Stage
from marketloop.org.errors import NotFound
from marketloop.org.models import OrgUnit
from marketloop.sales.models import Opportunity
from marketloop.tracking.models import Identity, Profile
from tests.campaigns.report_world import (  # noqa: F401  (fixtures)
    Q1,
    World,
    organisation_once_fixture,
    world_fixture,
)
from tests.factories import AccountFactory, ContactFactory
from tests.sales.factories import OpportunityFactory

pytestmark = pytest.mark.usefixtures("organisation_once")

TODAY = date(2026, 4, 15)


def query(**params: str) -> reports.ReportQuery:
    return reports.ReportQuery.from_params({**Q1, **params}, today=TODAY)


def rows_by_code(report: reports.Report) -> dict[str, reports.Figures]:
    return {row.activity.code: row.figures for row in report.activities}


# ---- figures ---------------------------------------------------------------------------------

def test_each_activity_gets_its_credit_spend_roi_and_cost_per_stage(world: World):
    figures = rows_by_code(reports.dashboard(world.hq, query()))
    a, b = figures["rw-a"], figures["rw-b"]
    assert (a.leads, a.mqls, a.sals, a.won_deals) == (Decimal("3.5"), 1, Decimal("0.5"),
                                                      Decimal("0.75"))
    assert (a.pipeline, a.revenue, a.spend) == (100000, 75000, 4000)
    assert a.roi == Decimal("18.75")
    assert a.cost == {"lead": Decimal("1142.86"), "mql": Decimal("4000.00"),
                      "sal": Decimal("8000.00"), "won": Decimal("5333.33")}
    assert (b.leads, b.mqls, b.sals, b.won_deals) == (2, 1, 0, Decimal("0.5"))
    assert b.roi == 25
    assert b.cost == {"lead": Decimal("1000.00"), "mql": Decimal("2000.00"), "sal": None,
                      "won": Decimal("4000.00")}


def test_totals_add_up_the_activities_and_the_no_activity_bucket_stays_apart(world: World):
    report = reports.dashboard(world.hq, query())
    t = report.totals
    assert (t.leads, t.mqls, t.sals, t.won_deals) == (Decimal("6.5"), 2, Decimal("0.5"),
                                                      Decimal("2.25"))
    assert (t.revenue, t.spend) == (165000, 7000)
    assert t.roi == Decimal("23.5714")
    assert t.cost_per("lead") == Decimal("1076.92")
    assert t.cost_per("won") == Decimal("3111.11")
    assert report.unattributed is not None and report.unattributed.leads == 1
    assert report.all_conversions.leads == Decimal("7.5")


def test_no_spend_means_no_roi_and_no_credit_means_no_cost():
    figures = reports.Figures()
    figures.amount["won"] = Decimal("1000")
    assert figures.roi is None
    figures.spend = Decimal("500")
    assert figures.roi == 2
    assert figures.cost_per("lead") is None


def test_grouping_by_kind_level_and_region(world: World):
    def groups(group: str) -> dict[str, tuple[str, Decimal, Decimal, int]]:
        report = reports.dashboard(world.hq, query(group=group))
        return {g.key: (g.label, g.figures.leads, g.figures.revenue, g.activities)
                for g in report.groups}

    assert groups("kind") == {"salon": ("Salon", Decimal("3.5"), 75000, 1),
                              "webinar": ("Webinar", 2, 50000, 1),
                              "edm": ("EDM", 1, 40000, 1)}
    levels = groups("level")
    assert {key: value[1:] for key, value in levels.items()} == {
        "company": (2, 50000, 1), "region": (1, 40000, 1),
        "customer_group": (Decimal("3.5"), 75000, 1)}
    south = OrgUnit.objects.get(code="region-south")
    east = OrgUnit.objects.get(code="region-east")
    regions = reports.dashboard(world.hq, query(group="region")).groups
    assert [(g.key, g.label) for g in regions] == [
        ("hq", "HQ"), (str(south.pk), "South China"), (str(east.pk), "East China")]
    assert [g.figures.revenue for g in regions] == [50000, 75000, 40000]
    units = {g.label: g.figures.spend for g in reports.dashboard(world.hq,
                                                                   query(group="unit")).groups}
    assert units == {"Guangdong": 4000, "Marketing department": 2000,
                     "Zhejiang sales department": 1000}


def test_the_period_decides_which_months_of_credit_and_spend_count(world: World):
    half = rows_by_code(reports.dashboard(world.hq, query(to="2026-06")))
    assert half["rw-a"].leads == Decimal("7.5")
    assert half["rw-a"].spend == 9000
    january = rows_by_code(reports.dashboard(world.hq, query(to="2026-01")))
    assert january["rw-a"].leads == Decimal("2.5")
    assert january["rw-a"].spend == 3000
    # An activity with credit only outside the period and not running in it is not listed.
    later = reports.dashboard(world.hq, query(**{"from": "2026-04", "to": "2026-04"}))
    assert later.activities == []


def test_switching_the_model_changes_the_numbers(world: World):
    linear = rows_by_code(reports.dashboard(world.hq, query(model="linear")))
    first = rows_by_code(reports.dashboard(world.hq, query(model="first_touch")))
    assert (linear["rw-a"].leads, first["rw-a"].leads) == (Decimal("3.5"), 3)
    assert (linear["rw-b"].revenue, first["rw-b"].revenue) == (50000, 100000)
    assert first["rw-b"].roi == 50


def test_activities_sort_by_roi_revenue_or_spend(world: World):
    def order(sort: str) -> list[str]:
        return [row.activity.code for row in
                reports.dashboard(world.hq, query(sort=sort)).activities]

    assert order("revenue") == ["rw-a", "rw-b", "rw-c"]
    assert order("roi") == ["rw-c", "rw-b", "rw-a"]
    assert order("spend") == ["rw-a", "rw-b", "rw-c"]


def test_the_default_period_is_the_last_four_quarters():
    period = reports.default_period(TODAY)
    assert (period.first, period.last) == (date(2025, 7, 1), date(2026, 6, 1))
    assert period.last_day == date(2026, 6, 30)
    only_from = reports.parse_period("2026-03", "", TODAY)
    assert (only_from.first, only_from.last) == (date(2026, 3, 1), date(2027, 2, 1))
    only_to = reports.parse_period("", "2026-03", TODAY)
    assert (only_to.first, only_to.last) == (date(2025, 4, 1), date(2026, 3, 1))


@pytest.mark.parametrize(("params", "field"), [
    ({"model": "best_guess"}, "model"), ({"from": "2026-13"}, "from"),
    ({"from": "2026-03", "to": "2026-01"}, "to"), ({"group": "colour"}, "group"),
    ({"sort": "name"}, "sort"), ({"from": "1999-12"}, "from")])
def test_an_unknown_filter_is_an_error_on_its_field(params, field):
    with pytest.raises(CampaignError) as caught:
        reports.ReportQuery.from_params(params, today=TODAY)
    assert field in caught.value.errors


# ---- scope -----------------------------------------------------------------------------------

def test_a_province_user_sees_only_their_activities_and_no_no_activity_bucket(world: World):
    report = reports.dashboard(world.gd, query())
    assert [row.activity.code for row in report.activities] == ["rw-a"]
    assert report.unattributed is None
    assert report.totals.leads == Decimal("3.5")
    assert report.totals.spend == 4000
    assert [g.key for g in report.groups] == ["salon"]
    flow = reports.sankey(report)
    assert "No activity" not in {node["name"] for node in flow["nodes"]}
    comparison = reports.model_comparison(world.gd, query().period)
    assert [a.code for a in comparison.activities] == ["rw-a"]
    burn = reports.budget_burn(world.gd, query().period)
    assert [row.label for row in burn.units] == ["Guangdong"]


def test_everyone_at_hq_sees_the_no_activity_bucket(world: World):
    assert reports.dashboard(world.trainer, query()).unattributed.leads == 1
    assert reports.sees_everything(world.hq)
    assert not reports.sees_everything(world.gd)


# ---- budget burn, sankey, comparison ---------------------------------------------------------

def test_budget_burn_per_plan_and_unit_for_the_quarters_of_the_period(world: World):
    burn = reports.budget_burn(world.hq, query().period)
    plans = {row.label: (row.budget, row.approved, row.spent, row.burnt) for row in burn.plans}
    assert plans == {
        "广东2026Q1 (2026 Q1)": (100000, 20000, 9000, Decimal("9.0")),
        "总部2026Q1 (2026 Q1)": (200000, 10000, 2000, Decimal("1.0")),
        "浙江2026Q1 (2026 Q1)": (50000, 1000, 1000, Decimal("2.0"))}
    units = {row.label: (row.budget, row.spent) for row in burn.units}
    assert units["Guangdong"] == (100000, 9000)
    # The Q3 plan joins when the period reaches Q3 (a quarter the period only touches counts).
    later = reports.budget_burn(world.hq, query(to="2026-07").period)
    assert {row.label for row in later.plans} >= {"广东2026Q3 (2026 Q3)"}
    assert reports.budget_burn(world.hq, query(**{"from": "2026-03", "to": "2026-03"})
                               .period).plans


def test_the_sankey_splits_leads_by_kind_then_flows_down_the_stages(world: World):
    flow = reports.sankey(reports.dashboard(world.hq, query()))
    links = {(link["source"], link["target"]): link["value"] for link in flow["links"]}
    assert links == {
        ("Salon", "Lead"): 3.5, ("Webinar", "Lead"): 2.0, ("EDM", "Lead"): 1.0,
        ("No activity", "Lead"): 1.0,
        ("Lead", "MQL"): 2.0, ("Lead", "Not qualified"): 5.5,
        ("MQL", "SAL"): 0.5, ("MQL", "Not accepted"): 1.5,
        ("SAL", "Opportunity"): 0.5,
        # more won than opportunities in the period: clamped, so no "Not won" flow
        ("Opportunity", "Won"): 2.3,
    }
    names = [node["name"] for node in flow["nodes"]]
    assert names[:4] == ["EDM", "Salon", "Webinar", "No activity"]
    assert "No opportunity" not in names and "Not won" not in names


def test_the_model_comparison_ranks_activities_by_their_mean_won_revenue(world: World):
    comparison = reports.model_comparison(world.hq, query().period)
    assert [a.code for a in comparison.activities] == ["rw-b", "rw-a", "rw-c"]
    assert comparison.revenue["linear"] == [50000, 75000, 40000]
    assert comparison.revenue["first_touch"] == [100000, 0, 0]
    assert comparison.revenue["w_shaped"] == [0, 0, 0]
    assert len(comparison.models) == 7


# ---- one activity's results ------------------------------------------------------------------

def test_activity_results_show_sourced_influenced_and_credited(world: World):
    results = reports.activity_results(world.hq, world.a.pk, "linear")
    assert results.credited.leads == Decimal("7.5")  # every month
    assert results.credited.revenue == 75000
    assert results.credited.spend == 9000
    assert results.credited.roi == Decimal("8.3333")
    assert results.credited.cost_per("lead") == Decimal("1200.00")
    assert results.sourced.leads == 3
    assert results.influenced["lead"] == (5, 0)
    assert results.influenced["won"] == (2, 100000)
    assert results.influenced["mql"] == (0, 0)
    assert [m.month for m in results.months] == [date(2026, m, 1) for m in range(1, 6)]
    assert [m.figures.leads for m in results.months] == [Decimal("2.5"), 1, 0, 0, 4]
    first = reports.activity_results(world.hq, world.a.pk, "first_touch")
    assert first.credited.leads == 3


def test_activity_results_of_an_activity_out_of_sight_are_not_found(world: World):
    with pytest.raises(NotFound):
        reports.activity_results(world.gd, world.b.pk, "linear")
    assert reports.activity_results(world.gd, world.a.pk, "linear").activity == world.a


# ---- sourced and influenced leads and deals: a hand-made journey ------------------------------

def at(year: int, month: int, day: int) -> datetime:
    return timezone.make_aware(datetime(year, month, day, 10, 0))


class Journeys:
    """People with identities, their activity touches and their leads."""

    def __init__(self) -> None:
        self.touchpoint = 0

    def person(self, unit_code: str, name: str, identities: int = 1):
        unit = OrgUnit.objects.get(code=unit_code)
        account = AccountFactory(owner_unit=unit, name=f"{name}公司")
        contact = ContactFactory(account=account, name=name)
        profile = Profile.objects.create(contact=contact, account=account, owner_unit=unit)
        ids = [Identity.objects.create(kind="email", value=f"{name}-{i}@example.cn",
                                       profile=profile) for i in range(identities)]
        return account, profile, ids

    def touch(self, identity: Identity, activity, when: datetime) -> None:
        self.touchpoint += 1
        ActivityTouch.objects.create(touchpoint_id=self.touchpoint, occurred_at=when,
                                     identity_id=identity.pk, activity=activity, kind="page",
                                     how=ActivityTouch.How.UTM)

    @staticmethod
    def lead(profile: Profile, name: str, when: datetime) -> Lead:
        return Lead.objects.create(name=name, profile=profile, contact=profile.contact,
                                   account=profile.account, stage=Stage.MQL,
                                   owner_unit=profile.owner_unit, lead_at=when, mql_at=when)


@pytest.fixture
def journeys(world: World) -> dict[str, object]:
    j = Journeys()
    a, b = world.a, world.b
    # l1: B first (on one identity), then A (on another) -> A influenced, B sourced
    _acc, p1, (i1a, i1b) = j.person("gd", "j-one", identities=2)
    j.touch(i1b, b, at(2026, 1, 15))
    j.touch(i1a, a, at(2026, 2, 1))
    # l2: A first, then B -> A sourced
    acc2, p2, (i2,) = j.person("gd", "j-two")
    j.touch(i2, a, at(2026, 2, 10))
    j.touch(i2, b, at(2026, 2, 20))
    # l3: A 273 days before the lead (outside 180 days), then B -> not A's
    _acc, p3, (i3,) = j.person("gd", "j-three")
    j.touch(i3, a, at(2025, 6, 1))
    j.touch(i3, b, at(2026, 2, 1))
    # l4: A only after the lead -> not A's
    acc4, p4, (i4,) = j.person("gd", "j-four")
    j.touch(i4, a, at(2026, 4, 1))
    # l5: A first, in Zhejiang: influenced and sourced, but a Guangdong user cannot see it
    _acc, p5, (i5,) = j.person("zj-sales", "j-five")
    j.touch(i5, a, at(2026, 2, 1))
    leads = {"l1": j.lead(p1, "j-lead-one", at(2026, 3, 1)),
             "l2": j.lead(p2, "j-lead-two", at(2026, 2, 25)),
             "l3": j.lead(p3, "j-lead-three", at(2026, 3, 1)),
             "l4": j.lead(p4, "j-lead-four", at(2026, 3, 1)),
             "l5": j.lead(p5, "j-lead-five", at(2026, 3, 1))}
    deals = {"o2": OpportunityFactory(account=acc2, name="j-deal-two"),
             "o4": OpportunityFactory(account=acc4, name="j-deal-four")}
    Opportunity.objects.filter(pk=deals["o2"].pk).update(created_at=at(2026, 3, 1))
    Opportunity.objects.filter(pk=deals["o4"].pk).update(created_at=at(2026, 3, 15))
    return {**leads, **deals}


def _marks(results: reports.ActivityResults) -> dict[str, str]:
    return {lead.name: "sourced" if lead.first_activity == results.activity.pk
            else "influenced" for lead in results.leads}


def test_a_lead_is_influenced_by_touches_in_the_window_and_sourced_by_the_first(
        world: World, journeys):
    results = reports.activity_results(world.hq, world.a.pk, "linear")
    assert _marks(results) == {"j-lead-one": "influenced", "j-lead-two": "sourced",
                               "j-lead-five": "sourced"}
    assert (results.leads_influenced, results.leads_sourced) == (3, 2)
    assert results.lookback_days == 180
    of_b = reports.activity_results(world.hq, world.b.pk, "linear")
    assert _marks(of_b) == {"j-lead-one": "sourced", "j-lead-two": "influenced",
                            "j-lead-three": "sourced"}


def test_a_longer_look_back_window_reaches_older_touches(world: World, journeys):
    AttributionSettings.objects.create(lookback_days=365)
    results = reports.activity_results(world.hq, world.a.pk, "linear")
    assert _marks(results)["j-lead-three"] == "sourced"
    assert _marks(reports.activity_results(world.hq, world.b.pk, "linear"))[
        "j-lead-three"] == "influenced"


def test_influenced_deals_are_at_accounts_that_touched_the_activity_before_they_opened(
        world: World, journeys):
    results = reports.activity_results(world.hq, world.a.pk, "linear")
    assert [o.name for o in results.opportunities] == ["j-deal-two"]
    assert results.opportunities_influenced == 1


def test_the_leads_lists_keep_to_what_the_user_may_see(world: World, journeys):
    results = reports.activity_results(world.gd, world.a.pk, "linear")
    assert set(_marks(results)) == {"j-lead-one", "j-lead-two"}
    assert (results.leads_influenced, results.leads_sourced) == (2, 1)
