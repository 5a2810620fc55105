"""The rules of opportunities: who owns a new deal, the big-deal band in CNY, the lead's way
SAL -> SQL -> customer or back to nurture, reasons, the deal team, who may change a deal, and
the settings that re-mark open deals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from marketloop.audit.models import AuditEntry
from marketloop.leads.models import Lead, Stage, StageChange
from marketloop.org.errors import NotAllowed, NotFound
from marketloop.org.models import Role
from marketloop.sales import services
from marketloop.sales.errors import NotDealEditor, SalesError, SalesErrorCode
from marketloop.sales.models import (
    Competitor,
    DealRole,
    DealTeamMember,
    Opportunity,
    OpportunityChange,
    Product,
    SalesSettings,
)
from tests.factories import AccountFactory
from tests.sales.factories import OpportunityFactory, accepted_lead, seat

pytestmark = pytest.mark.usefixtures("organisation_once")

CLOSE = date(2031, 3, 31)


def open_deal(user, account, **fields) -> Opportunity:
    values = {"name": "财务共享项目", "amount": Decimal("800000"), "currency": "CNY",
              "expected_close": CLOSE, **fields}
    return services.create_opportunity(user=user, account_id=account.pk, **values)


def error_code(excinfo) -> str:
    return str(excinfo.value.code)


# ---- opening a deal ---------------------------------------------------------------------------

def test_a_direct_deal_is_owned_by_the_creator_who_sits_in_the_accounts_unit(org, gd_rep):
    account = AccountFactory(owner_unit=org.gd_sales, partner=org.gd_partner)
    products = list(Product.objects.filter(code__in=["finance", "hr"]))
    rival = Competitor.objects.get(name="用友")
    deal = open_deal(gd_rep, account, products=[p.pk for p in products],
                     competitors=[rival.pk])
    assert (deal.owner_unit, deal.partner, deal.owner) == (org.gd_sales, org.gd_partner, gd_rep)
    assert deal.stage == "qualification" and deal.probability == 10
    assert deal.amount_cny == Decimal("800000.00") and not deal.big_deal
    assert set(deal.products.all()) == set(products)
    assert list(deal.competitors.all()) == [rival]
    assert [(m.user, m.role) for m in deal.team.all()] == [(gd_rep, DealRole.ACCOUNT_MANAGER)]
    assert [(c.from_stage, c.to_stage) for c in deal.changes.all()] == [("", "qualification")]
    entry = AuditEntry.objects.get(object_type="sales.opportunity", object_id=deal.pk)
    assert entry.action == "created" and entry.actor == gd_rep
    assert entry.changes["team"][1].startswith(str(gd_rep))


def test_a_direct_deal_by_someone_outside_the_unit_keeps_the_accounts_owner(org, make_user):
    account_owner = make_user(org.gd_sales, Role.SALES_REP)
    account = AccountFactory(owner_unit=org.gd_sales, owner=account_owner)
    manager = make_user(org.gd, Role.MANAGER)
    deal = open_deal(manager, account)
    assert (deal.owner_unit, deal.owner) == (org.gd_sales, account_owner)
    assert deal.team.get().user == manager  # the creator still joins the team


def test_an_account_the_user_cannot_see_is_unknown(org, gd_rep):
    hidden = AccountFactory(owner_unit=org.zj_sales)
    with pytest.raises(SalesError) as excinfo:
        open_deal(gd_rep, hidden)
    assert error_code(excinfo) == SalesErrorCode.UNKNOWN_ACCOUNT
    assert excinfo.value.errors == {"account": [excinfo.value.message]}
    assert not Opportunity.objects.exists()


def test_roles_without_create_cannot_open_deals(org, make_user):
    presales = make_user(org.gd_sales, Role.PRESALES)
    with pytest.raises(NotAllowed):
        open_deal(presales, AccountFactory(owner_unit=org.gd_sales))


@pytest.mark.parametrize(("amount", "currency", "amount_cny", "big"), [
    ("2000000", "CNY", "2000000.00", True),          # exactly at the band
    ("1999999.99", "CNY", "1999999.99", False),
    ("281690.15", "USD", "2000000.07", True),        # 7.1 CNY per USD
    ("281690.14", "USD", "1999999.99", False),       # 1,999,999.994 rounds to the cent below
    ("259740.26", "EUR", "2000000.00", True),        # 7.7: 2,000,000.002
    ("2197802.20", "HKD", "2000000.00", True),       # 0.91: exactly at the band after rounding
    ("2197802.19", "HKD", "1999999.99", False),
])
def test_big_deal_is_the_amount_in_cny_at_or_above_the_band(org, gd_rep, amount, currency,
                                                             amount_cny, big):
    deal = open_deal(gd_rep, AccountFactory(owner_unit=org.gd_sales), amount=Decimal(amount),
                     currency=currency)
    assert deal.amount_cny == Decimal(amount_cny)
    assert deal.big_deal is big


@pytest.mark.parametrize("amount", ["0", "-5", "1e14"])
def test_an_amount_must_be_positive_and_fit(org, gd_rep, amount):
    with pytest.raises(SalesError) as excinfo:
        open_deal(gd_rep, AccountFactory(owner_unit=org.gd_sales), amount=Decimal(amount))
    assert "amount" in excinfo.value.errors


# ---- from a lead ------------------------------------------------------------------------------

def test_opening_a_deal_from_an_accepted_lead_makes_it_an_sql(org, gd_rep, make_user):
    lead_owner = make_user(org.gd_sales, Role.SALES_REP)
    account = AccountFactory(owner_unit=org.gd_sales)
    lead = accepted_lead(lead_owner, account, partner=org.gd_partner)
    deal = services.create_opportunity(user=gd_rep, lead_id=lead.pk, name="人力云",
                                       amount=Decimal("300000"), currency="CNY",
                                       expected_close=CLOSE)
    lead.refresh_from_db()
    assert lead.stage == Stage.SQL and lead.sql_at is not None
    change = lead.stage_changes.get(to_stage=Stage.SQL)
    assert (change.from_stage, change.by) == (Stage.SAL, gd_rep)
    assert deal.lead == lead and deal.account == account
    assert (deal.owner_unit, deal.partner, deal.owner) == (org.gd_sales, org.gd_partner,
                                                           lead_owner)


@pytest.mark.parametrize("stage", [Stage.MQL, Stage.SQL, Stage.RECYCLED])
def test_only_an_accepted_lead_becomes_an_opportunity(org, gd_rep, stage):
    lead = accepted_lead(gd_rep, AccountFactory(owner_unit=org.gd_sales))
    Lead.objects.filter(pk=lead.pk).update(stage=stage)
    with pytest.raises(SalesError) as excinfo:
        services.create_opportunity(user=gd_rep, lead_id=lead.pk, name="x", amount=1,
                                    currency="CNY", expected_close=CLOSE)
    assert error_code(excinfo) == SalesErrorCode.LEAD_NOT_ACCEPTED
    assert not Opportunity.objects.exists()
    assert Lead.objects.get(pk=lead.pk).stage == stage


def test_a_lead_the_user_cannot_see_is_unknown(org, gd_rep, make_user):
    elsewhere = make_user(org.zj_sales, Role.SALES_REP)
    lead = accepted_lead(elsewhere, AccountFactory(owner_unit=org.zj_sales))
    with pytest.raises(SalesError) as excinfo:
        services.create_opportunity(user=gd_rep, lead_id=lead.pk, name="x", amount=1,
                                    currency="CNY", expected_close=CLOSE)
    assert error_code(excinfo) == SalesErrorCode.UNKNOWN_LEAD
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SAL


def test_a_refused_deal_leaves_the_lead_accepted(org, gd_rep):
    lead = accepted_lead(gd_rep, AccountFactory(owner_unit=org.gd_sales))
    with pytest.raises(SalesError):
        services.create_opportunity(user=gd_rep, lead_id=lead.pk, name="x", amount=0,
                                    currency="CNY", expected_close=CLOSE)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SAL
    assert not StageChange.objects.filter(lead=lead).exists()


def test_won_makes_the_lead_a_customer(org, gd_rep):
    lead = accepted_lead(gd_rep, AccountFactory(owner_unit=org.gd_sales))
    deal = services.create_opportunity(user=gd_rep, lead_id=lead.pk, name="供应链项目",
                                       amount=Decimal("900000"), currency="CNY",
                                       expected_close=CLOSE)
    won = services.close_won(user=gd_rep, opportunity_id=deal.pk, reason="标杆案例打动客户")
    assert (won.stage, won.probability, won.close_reason) == ("won", 100, "标杆案例打动客户")
    assert won.closed_at is not None
    lead.refresh_from_db()
    assert lead.stage == Stage.CUSTOMER and lead.won_at is not None
    assert "供应链项目" in lead.stage_changes.get(to_stage=Stage.CUSTOMER).reason


def test_lost_needs_a_reason_and_recycles_the_lead_with_it(org, gd_rep):
    lead = accepted_lead(gd_rep, AccountFactory(owner_unit=org.gd_sales))
    deal = services.create_opportunity(user=gd_rep, lead_id=lead.pk, name="数据平台项目",
                                       amount=Decimal("900000"), currency="CNY",
                                       expected_close=CLOSE)
    with pytest.raises(SalesError) as excinfo:
        services.close_lost(user=gd_rep, opportunity_id=deal.pk, reason="  ")
    assert error_code(excinfo) == SalesErrorCode.REASON_REQUIRED
    assert Opportunity.objects.get(pk=deal.pk).stage == "qualification"

    lost = services.close_lost(user=gd_rep, opportunity_id=deal.pk, reason="价格高于竞争对手")
    assert (lost.stage, lost.probability) == ("lost", 0)
    lead.refresh_from_db()
    assert lead.stage == Stage.RECYCLED and lead.times_recycled == 1
    assert "价格高于竞争对手" in lead.stage_changes.get(to_stage=Stage.RECYCLED).reason


# ---- stages -----------------------------------------------------------------------------------

def test_moving_a_deal_records_the_change_and_takes_the_stages_probability(org, gd_rep):
    deal = open_deal(gd_rep, AccountFactory(owner_unit=org.gd_sales))
    moved = services.move_stage(user=gd_rep, opportunity_id=deal.pk, stage="bid")
    assert (moved.stage, moved.probability) == ("bid", 50)
    change = OpportunityChange.objects.filter(opportunity=deal).last()
    assert (change.from_stage, change.to_stage, change.by) == ("qualification", "bid", gd_rep)
    assert AuditEntry.objects.filter(object_id=deal.pk, action="moved").exists()
    with pytest.raises(SalesError) as excinfo:
        services.move_stage(user=gd_rep, opportunity_id=deal.pk, stage="bid")
    assert error_code(excinfo) == SalesErrorCode.SAME_STAGE


def test_reopening_a_closed_deal_needs_a_reason(org, gd_rep):
    deal = open_deal(gd_rep, AccountFactory(owner_unit=org.gd_sales))
    services.close_won(user=gd_rep, opportunity_id=deal.pk)
    with pytest.raises(SalesError) as excinfo:
        services.move_stage(user=gd_rep, opportunity_id=deal.pk, stage="negotiation")
    assert error_code(excinfo) == SalesErrorCode.REASON_REQUIRED
    reopened = services.move_stage(user=gd_rep, opportunity_id=deal.pk, stage="negotiation",
                                   reason="客户追加模块, 合同重谈")
    assert (reopened.stage, reopened.probability) == ("negotiation", 75)
    assert reopened.closed_at is None and reopened.close_reason == ""
    last = OpportunityChange.objects.filter(opportunity=deal).last()
    assert last.reason == "客户追加模块, 合同重谈"
    assert AuditEntry.objects.filter(object_id=deal.pk, action="reopened").exists()


# ---- the deal team ----------------------------------------------------------------------------

def test_the_team_needs_an_account_manager(org, gd_rep, make_user):
    presales = make_user(org.hq_key_account, Role.PRESALES)
    with pytest.raises(SalesError) as excinfo:
        open_deal(gd_rep, AccountFactory(owner_unit=org.gd_sales),
                  team=[(gd_rep.pk, DealRole.PRESALES), (presales.pk, DealRole.PRESALES)])
    assert error_code(excinfo) == SalesErrorCode.ACCOUNT_MANAGER_REQUIRED


def test_a_team_from_anywhere_in_the_company_with_the_three_roles(org, gd_rep, make_user):
    pm = make_user(org.hq_key_account, Role.PROJECT_MANAGER)
    presales = make_user(org.zj_sales, Role.PRESALES)
    deal = open_deal(gd_rep, AccountFactory(owner_unit=org.gd_sales),
                     team=[(pm.pk, DealRole.PROJECT_MANAGER), (presales.pk, DealRole.PRESALES)])
    assert {(m.user, m.role) for m in deal.team.all()} == {
        (gd_rep, DealRole.ACCOUNT_MANAGER), (pm, DealRole.PROJECT_MANAGER),
        (presales, DealRole.PRESALES)}


def test_inactive_users_cannot_join_a_team(org, gd_rep, make_user):
    deal = open_deal(gd_rep, AccountFactory(owner_unit=org.gd_sales))
    gone = make_user(org.gd_sales, Role.PRESALES)
    gone.is_active = False
    gone.save()
    with pytest.raises(SalesError) as excinfo:
        services.add_team_member(user=gd_rep, opportunity_id=deal.pk, member_id=gone.pk,
                                 role=DealRole.PRESALES)
    assert error_code(excinfo) == SalesErrorCode.UNKNOWN_USER


def test_the_last_account_manager_cannot_leave(org, gd_rep, make_user):
    deal = open_deal(gd_rep, AccountFactory(owner_unit=org.gd_sales))
    mine = deal.team.get()
    with pytest.raises(SalesError) as excinfo:
        services.remove_team_member(user=gd_rep, opportunity_id=deal.pk, member_id=mine.pk)
    assert error_code(excinfo) == SalesErrorCode.ACCOUNT_MANAGER_REQUIRED
    other = make_user(org.gd_key_account, Role.ACCOUNT_MANAGER)
    services.add_team_member(user=gd_rep, opportunity_id=deal.pk, member_id=other.pk,
                             role=DealRole.ACCOUNT_MANAGER)
    services.remove_team_member(user=gd_rep, opportunity_id=deal.pk, member_id=mine.pk)
    assert [m.user for m in deal.team.all()] == [other]
    actions = list(AuditEntry.objects.filter(object_id=deal.pk, object_type="sales.opportunity")
                   .values_list("action", flat=True))
    assert actions.count("team_added") == 1 and actions.count("team_removed") == 1


def test_the_same_role_twice_is_refused(org, gd_rep):
    deal = open_deal(gd_rep, AccountFactory(owner_unit=org.gd_sales))
    with pytest.raises(SalesError) as excinfo:
        services.add_team_member(user=gd_rep, opportunity_id=deal.pk, member_id=gd_rep.pk,
                                 role=DealRole.ACCOUNT_MANAGER)
    assert error_code(excinfo) == SalesErrorCode.ALREADY_ON_TEAM


# ---- who may change a deal --------------------------------------------------------------------

@pytest.fixture
def gd_deal(org, make_user):
    owner = make_user(org.gd_sales, Role.SALES_REP)
    return OpportunityFactory(account=AccountFactory(owner_unit=org.gd_sales, owner=owner))


def _rename(user, deal) -> None:
    services.update_opportunity(user=user, opportunity_id=deal.pk, name="改名项目")


def test_a_colleague_who_sees_the_deal_but_is_not_on_it_may_not_change_it(org, make_user,
                                                                           gd_deal):
    colleague = make_user(org.gd_key_account, Role.PRESALES)
    with pytest.raises(NotDealEditor):
        _rename(colleague, gd_deal)
    with pytest.raises(NotDealEditor):
        services.move_stage(user=colleague, opportunity_id=gd_deal.pk, stage="bid")
    with pytest.raises(NotDealEditor):
        services.add_team_member(user=colleague, opportunity_id=gd_deal.pk,
                                 member_id=colleague.pk, role=DealRole.PRESALES)
    seat(gd_deal, colleague, DealRole.PRESALES)
    _rename(colleague, gd_deal)
    assert Opportunity.objects.get(pk=gd_deal.pk).name == "改名项目"


@pytest.mark.parametrize("unit", ["gd", "region_south", "hq"])
def test_managers_above_the_deal_may_change_it(org, make_user, gd_deal, unit):
    _rename(make_user(getattr(org, unit), Role.MANAGER), gd_deal)


def test_the_owner_and_administrators_may_change_it(org, gd_deal, admin_user):
    _rename(gd_deal.owner, gd_deal)
    _rename(admin_user, gd_deal)


def test_a_partners_manager_may_change_the_partners_deals(org, make_user):
    deal = OpportunityFactory(account=AccountFactory(owner_unit=org.gd_sales,
                                                     partner=org.gd_partner))
    staff = make_user(org.gd_partner, Role.PARTNER_STAFF)
    boss = make_user(org.gd_partner, Role.PARTNER_STAFF, Role.MANAGER)
    with pytest.raises(NotDealEditor):
        _rename(staff, deal)
    _rename(boss, deal)


def test_a_deal_out_of_sight_is_missing_not_refused(org, make_user, gd_deal):
    with pytest.raises(NotFound):
        _rename(make_user(org.zj_sales, Role.MANAGER), gd_deal)


def test_an_edit_recomputes_cny_and_the_big_deal_mark_and_is_audited(org, gd_rep):
    deal = open_deal(gd_rep, AccountFactory(owner_unit=org.gd_sales))
    updated = services.update_opportunity(user=gd_rep, opportunity_id=deal.pk,
                                          amount=Decimal("300000"), currency="USD",
                                          reason="客户改为美元报价")
    assert updated.amount_cny == Decimal("2130000.00") and updated.big_deal
    entry = AuditEntry.objects.get(object_id=deal.pk, action="updated")
    assert entry.changes["currency"] == ["CNY", "USD"] and entry.reason == "客户改为美元报价"


# ---- settings ---------------------------------------------------------------------------------

def _settings(**changes):
    values = {"big_deal_band_cny": Decimal("2000000"),
              "probabilities": {"qualification": 10, "solution": 30, "bid": 50,
                                "negotiation": 75},
              "cny_rates": {"USD": "7.1", "EUR": "7.7", "HKD": "0.91"}}
    values.update(changes)
    return values


def test_lowering_the_band_re_marks_open_deals_only(org, gd_rep, admin_user):
    account = AccountFactory(owner_unit=org.gd_sales)
    open_one = open_deal(gd_rep, account, amount=Decimal("1500000"))
    closed = open_deal(gd_rep, account, amount=Decimal("1500000"))
    services.close_won(user=gd_rep, opportunity_id=closed.pk)
    services.update_settings(user=admin_user, **_settings(big_deal_band_cny=Decimal("1000000")))
    assert Opportunity.objects.get(pk=open_one.pk).big_deal
    assert not Opportunity.objects.get(pk=closed.pk).big_deal
    assert SalesSettings.objects.get().big_deal_band_cny == Decimal("1000000")
    assert AuditEntry.objects.filter(object_type="sales.salessettings").exists()


def test_new_rates_and_probabilities_apply_to_open_deals(org, gd_rep, admin_user):
    deal = open_deal(gd_rep, AccountFactory(owner_unit=org.gd_sales),
                     amount=Decimal("250000"), currency="USD")
    assert not deal.big_deal  # 1,775,000 CNY
    services.update_settings(user=admin_user, **_settings(
        cny_rates={"USD": "8.2", "EUR": "7.7", "HKD": "0.91"},
        probabilities={"qualification": 15, "solution": 30, "bid": 50, "negotiation": 75}))
    deal.refresh_from_db()
    assert (deal.amount_cny, deal.big_deal, deal.probability) == (Decimal("2050000.00"), True,
                                                                  15)


def test_only_administrators_change_the_settings(org, make_user):
    with pytest.raises(NotAllowed):
        services.update_settings(user=make_user(org.gd, Role.MANAGER), **_settings())


def test_a_probability_outside_0_to_100_is_refused(org, admin_user):
    with pytest.raises(SalesError) as excinfo:
        services.update_settings(user=admin_user, **_settings(
            probabilities={"qualification": 101, "solution": 30, "bid": 50, "negotiation": 75}))
    assert "probability_qualification" in excinfo.value.errors


def test_team_members_are_kept_once_per_role(org, gd_rep):
    deal = open_deal(gd_rep, AccountFactory(owner_unit=org.gd_sales),
                     team=[(gd_rep.pk, DealRole.ACCOUNT_MANAGER),
                           (gd_rep.pk, DealRole.ACCOUNT_MANAGER)])
    assert DealTeamMember.objects.filter(opportunity=deal).count() == 1
