"""Tier and ownership follow the rules, and re-route with a recorded reason on change."""

from __future__ import annotations

import pytest

from marketloop.audit.selectors import trail_of
from marketloop.crm import services
from marketloop.crm.models import Account, Industry, OwnerKind, RerouteRun, Tier, TierRule
from marketloop.org.models import Role


@pytest.fixture
def manufacturing(org) -> Industry:
    return Industry.objects.get(code="manufacturing")


@pytest.fixture
def owners(org, make_user):
    return {
        "hq": make_user(org.hq_key_account, Role.ACCOUNT_MANAGER),
        "gd_ka": make_user(org.gd_key_account, Role.ACCOUNT_MANAGER),
        "gd_sales": make_user(org.gd_sales, Role.SALES_REP),
        "gd_partner": make_user(org.gd_partner, Role.PARTNER_STAFF),
    }


def new_account(actor, org, industry, **kw) -> Account:
    return services.create_account(actor=actor, name=kw.pop("name", "广州示例制造有限公司"),
                                   industry=industry, province=org.gd, **kw)


def test_rank_1_to_100_is_hq_strategic_owned_by_hq_key_account(org, admin_user, manufacturing,
                                                                owners):
    account = new_account(admin_user, org, manufacturing, industry_rank=87)
    assert account.tier == Tier.HQ_STRATEGIC
    assert account.owner_unit == org.hq_key_account
    assert account.owner == owners["hq"]
    assert account.partner is None
    assert "87" in account.tier_reason and "HQ strategic" in account.tier_reason


def test_rank_101_goes_to_province_key_account_department(org, admin_user, manufacturing, owners):
    account = new_account(admin_user, org, manufacturing, industry_rank=101)
    assert account.tier == Tier.REGIONAL_STRATEGIC
    assert account.owner_unit == org.gd_key_account
    assert account.owner == owners["gd_ka"]


def test_beyond_500_large_revenue_is_regional_key_in_province_sales(org, admin_user,
                                                                     manufacturing, owners):
    account = new_account(admin_user, org, manufacturing, industry_rank=501,
                          revenue_band="large")
    assert (account.tier, account.owner_unit) == (Tier.REGIONAL_KEY, org.gd_sales)


def test_unranked_micro_account_goes_to_the_provinces_partner(org, admin_user, manufacturing,
                                                              owners):
    account = new_account(admin_user, org, manufacturing, revenue_band="micro")
    assert account.tier == Tier.ORDINARY
    assert account.owner_unit == org.gd_partner
    assert account.partner == org.gd_partner
    assert account.owner == owners["gd_partner"]


def test_unranked_medium_account_is_ordinary_in_province_sales(org, admin_user, manufacturing):
    account = new_account(admin_user, org, manufacturing, revenue_band="medium")
    assert (account.tier, account.owner_unit) == (Tier.ORDINARY, org.gd_sales)


def test_owner_is_the_least_loaded_candidate(org, admin_user, manufacturing, make_user):
    first = make_user(org.gd_sales, Role.SALES_REP)
    second = make_user(org.gd_sales, Role.SALES_REP)
    a = new_account(admin_user, org, manufacturing, name="甲公司", revenue_band="medium")
    b = new_account(admin_user, org, manufacturing, name="乙公司", revenue_band="medium")
    assert {a.owner, b.owner} == {first, second}


@pytest.mark.django_db(transaction=True)
def test_rank_change_reroutes_in_background_and_records_why(org, admin_user, manufacturing,
                                                             owners, run_jobs):
    account = new_account(admin_user, org, manufacturing, industry_rank=700,
                          revenue_band="medium")
    assert account.owner_unit == org.gd_sales
    services.update_account(actor=admin_user, account=account, industry_rank=42,
                            reason="2026 ranking published")
    # Nothing moves until the background job runs.
    account.refresh_from_db()
    assert account.owner_unit == org.gd_sales
    run_jobs()
    account.refresh_from_db()
    assert account.tier == Tier.HQ_STRATEGIC
    assert account.owner_unit == org.hq_key_account
    rerouted = trail_of(account).filter(action="rerouted").get()
    assert rerouted.changes["tier"] == ["ordinary", "hq_strategic"]
    assert "industry_rank 700 → 42" in rerouted.reason
    assert "Industry top 100" in rerouted.reason
    run = RerouteRun.objects.get()
    assert (run.status, run.total, run.processed, run.changed) == ("done", 1, 1, 1)


@pytest.mark.django_db(transaction=True)
def test_rule_change_reroutes_affected_accounts_only(org, admin_user, manufacturing, owners,
                                                      run_jobs):
    top = new_account(admin_user, org, manufacturing, name="百强公司", industry_rank=150)
    small = new_account(admin_user, org, manufacturing, name="小公司", industry_rank=900,
                        revenue_band="small")
    rule = TierRule.objects.get(rank_min=1, rank_max=100)
    services.save_tier_rule(actor=admin_user, rule=rule, rank_max=200)
    run_jobs()
    top.refresh_from_db()
    small.refresh_from_db()
    assert (top.tier, top.owner_unit) == (Tier.HQ_STRATEGIC, org.hq_key_account)
    assert small.owner_unit == org.gd_sales
    assert trail_of(top).filter(action="rerouted").count() == 1
    assert trail_of(small).filter(action="rerouted").count() == 0
    reason = trail_of(top).get(action="rerouted").reason
    assert "rank_max: 100 → 200" in reason


def test_partner_rule_falls_back_to_sales_when_province_has_no_partner(org, admin_user,
                                                                       manufacturing):
    org.gd_partner.delete() if not Account.objects.filter(partner=org.gd_partner).exists() \
        else None
    account = new_account(admin_user, org, manufacturing, revenue_band="micro")
    assert account.owner_unit == org.gd_sales
    assert "no partner" in account.tier_reason


def test_only_administrators_change_rules(org, hq_marketer):
    from marketloop.org.errors import NotAllowed

    rule = TierRule.objects.get(owner_kind=OwnerKind.HQ_KEY_ACCOUNT)
    with pytest.raises(NotAllowed):
        services.save_tier_rule(actor=hq_marketer, rule=rule, rank_max=300)
