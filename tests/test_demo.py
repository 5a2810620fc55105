"""The demo data set: complete, realistic, routed by the tier rules, deterministic, loaded once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import Count, F
from django.test import RequestFactory
from stdnum.cn import uscc

from marketloop import demo
from marketloop.cli import DEMO_PASSWORD
from marketloop.crm.models import Account, Consent, Contact, Tier
from marketloop.crm.routing import Router
from marketloop.crm.selectors import accounts_visible
from marketloop.crm.validation import name_bigrams, normalise_email, normalise_mobile
from marketloop.org.models import OrgUnit, Role, UnitKind, User
from marketloop.org.standard import REGIONS

ACCOUNTS, CONTACTS = 300, 600


@pytest.fixture(scope="module")
def demo_set(django_db_setup, django_db_blocker) -> Iterator[demo.DemoResult]:
    """Built once for the module inside an outer transaction (as Django's setUpTestData does);
    each test runs in a savepoint within it, and all is rolled back at the end."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield demo.build_demo(accounts=ACCOUNTS, contacts=CONTACTS,
                                  progress=lambda _msg: None)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def built(demo_set, db) -> demo.DemoResult:
    return demo_set


def test_builds_the_requested_counts(built):
    assert built.created
    assert Account.objects.count() == ACCOUNTS
    assert Contact.objects.count() == CONTACTS
    assert Consent.objects.count() == built.consents > 0
    assert 200 <= User.objects.count() <= 270


def test_every_documented_login_exists_and_takes_the_demo_password(built):
    request = RequestFactory().post("/login/")
    for username, description in demo.DEMO_LOGINS:
        assert description
        user = authenticate(request, username=username, password=DEMO_PASSWORD)
        assert user is not None and user.username == username, username


def test_every_user_has_the_demo_password_and_a_chinese_name(built):
    user = User.objects.get(username="gd.sales")
    assert user.check_password(DEMO_PASSWORD)
    # One hash computed once, shared by everyone.
    assert User.objects.values("password").distinct().count() == 1
    assert all("\u4e00" <= ch <= "\u9fff" for ch in user.display_name)


def test_every_role_and_every_kind_of_unit_has_users(built):
    for role in Role:
        assert User.objects.filter(roles__contains=[role.value]).exists(), role
    kinds = set(User.objects.values_list("unit__kind", flat=True))
    assert kinds == set(UnitKind.values)


def test_the_logins_sit_where_their_descriptions_say(built):
    def unit_of(username: str) -> str:
        return User.objects.get(username=username).unit.code

    assert User.objects.get(username="admin").is_superuser
    assert unit_of("hq.ka") == "hq-key-account"
    assert unit_of("supervisor") == "hq-supervision"
    assert unit_of("trainer") == "hq-academy"
    assert unit_of("south.manager") == "region-south"
    assert unit_of("gd.sales") == "gd-sales"
    assert unit_of("gd.partner") == "gd-partner"


def test_one_partner_in_each_of_the_31_provinces(built):
    partners = OrgUnit.objects.filter(kind=UnitKind.PARTNER)
    assert partners.count() == 31
    provinces = {code for _r, _n, _e, ps in REGIONS for code, _name, _en in ps}
    assert set(partners.values_list("province__code", flat=True)) == provinces
    assert all(name.endswith("有限公司") for name in partners.values_list("name", flat=True))
    assert all(User.objects.filter(unit=p, roles__contains=[Role.PARTNER_STAFF]).exists()
               for p in partners)


def test_tier_owner_unit_and_partner_are_what_the_router_decides(built):
    router = Router()
    sample = Account.objects.select_related("industry").order_by("id")[::7]
    for account in sample:
        decision = router.route(rank=account.industry_rank, revenue_band=account.revenue_band,
                                province_id=account.province_id,
                                industry_name=account.industry.name)
        assert (account.tier, account.owner_unit_id, account.partner_id,
                account.tier_rule_id, account.tier_reason) == (
            decision.tier, decision.owner_unit_id, decision.partner_id, decision.rule_id,
            decision.reason)


def test_owners_are_candidates_of_the_owning_unit_and_evenly_loaded(built):
    candidates = {}
    for user in User.objects.filter(roles__overlap=[Role.ACCOUNT_MANAGER, Role.SALES_REP,
                                                    Role.PARTNER_STAFF]):
        candidates.setdefault(user.unit_id, set()).add(user.id)
    loads: dict[int, Counter] = {}
    for unit_id, owner_id in Account.objects.values_list("owner_unit_id", "owner_id"):
        assert owner_id in candidates[unit_id]
        loads.setdefault(unit_id, Counter())[owner_id] += 1
    for unit_id, load in loads.items():
        counts = [load.get(user_id, 0) for user_id in candidates[unit_id]]
        assert max(counts) - min(counts) <= 1  # least-loaded first, as the services pick


def test_tier_rules_hold(built):
    for account in Account.objects.select_related("owner_unit"):
        if account.industry_rank is not None and account.industry_rank <= 100:
            assert account.tier == Tier.HQ_STRATEGIC
            assert account.owner_unit.code == "hq-key-account"
        elif account.industry_rank is None and account.revenue_band == "micro":
            assert account.owner_unit.kind == UnitKind.PARTNER
            assert account.partner_id == account.owner_unit_id
            assert account.owner_unit.province_id == account.province_id
        else:
            assert account.owner_unit.province_id == account.province_id
        assert account.tier_reason


def test_ranks_run_from_1_within_each_industry(built):
    for industry_id in set(Account.objects.values_list("industry_id", flat=True)):
        ranks = sorted(Account.objects.filter(industry_id=industry_id, industry_rank__isnull=False)
                       .values_list("industry_rank", flat=True))
        assert ranks == list(range(1, len(ranks) + 1))
    assert Account.objects.filter(industry_rank__isnull=True).exists()


def test_credit_codes_are_valid_and_unique(built):
    codes = list(Account.objects.values_list("credit_code", flat=True))
    assert all(uscc.is_valid(code) for code in codes)
    assert len(set(codes)) == len(codes)


def test_names_are_chinese_companies_with_search_grams(built):
    for name, grams in Account.objects.values_list("name", "name_grams"):
        assert grams == name_bigrams(name)
        assert name.endswith(("公司", "局", "委员会", "医院", "学院", "学校")), name
    assert Account.objects.values("name").distinct().count() == ACCOUNTS


def test_subsidiaries_point_at_their_group(built):
    for account in Account.objects.filter(parent__isnull=False).select_related("parent"):
        assert "集团" in account.parent.name
        assert account.industry_id == account.parent.industry_id


def test_contacts_are_valid_and_carry_their_accounts_scope(built):
    emails = []
    for email, mobile in Contact.objects.values_list("email", "mobile"):
        if mobile:
            assert normalise_mobile(mobile) == mobile
            assert mobile[3:5] in {"13", "15", "18", "19"}
        if email:
            assert normalise_email(email) == email
            emails.append(email)
    assert len(set(emails)) == len(emails) > CONTACTS * 0.8
    assert not Contact.objects.exclude(owner_unit_id=F("account__owner_unit_id")).exists()
    assert not Contact.objects.exclude(partner_id=F("account__partner_id")).filter(
        partner_id__isnull=False).exists()
    assert not Contact.objects.filter(owner_id__isnull=True,
                                      account__owner_id__isnull=False).exists()
    assert Contact.objects.filter(is_management=True).exists()
    assert Contact.objects.filter(is_management=False).exists()


def test_visibility_of_the_province_and_partner_logins(built):
    gd = OrgUnit.objects.get(code="gd")
    rep = User.objects.get(username="gd.sales")
    seen = accounts_visible(rep)
    assert seen.exists()
    assert not seen.exclude(province=gd).exists()
    partner_user = User.objects.get(username="gd.partner")
    assert not accounts_visible(partner_user).exclude(
        partner__code="gd-partner").exclude(owner=partner_user).exists()
    assert accounts_visible(User.objects.get(username="hq.marketer")).count() == ACCOUNTS


def test_rows_are_what_the_generators_give_for_the_seed(built):
    specs = demo.generate_accounts(ACCOUNTS, demo.DEFAULT_SEED)
    assert list(Account.objects.order_by("id").values_list("name", "credit_code")) == [
        (s.name, s.credit_code) for s in specs]
    contacts = list(demo.generate_contacts(specs, CONTACTS, demo.DEFAULT_SEED))
    assert list(Contact.objects.order_by("id").values_list("name", "email", "mobile")) == [
        (c.name, c.email, c.mobile) for c in contacts]
    assert [u.username for u in demo.user_specs()] == list(
        User.objects.order_by("id").values_list("username", flat=True))


def test_a_second_run_adds_nothing(built):
    messages = []
    again = demo.build_demo(accounts=ACCOUNTS, contacts=CONTACTS, progress=messages.append)
    assert not again.created
    assert "already loaded" in messages[0]
    assert Account.objects.count() == ACCOUNTS
    assert Contact.objects.count() == CONTACTS
    assert User.objects.filter(username="admin").count() == 1
    assert not User.objects.values("username").annotate(n=Count("id")).filter(n__gt=1).exists()


def test_the_activity_makes_mqls_that_land_with_their_accounts_teams(built):
    from marketloop.leads.models import Assignment, Lead, Stage, StageChange

    by_rule = StageChange.objects.filter(to_stage=Stage.MQL, cause=StageChange.Cause.RULE,
                                         lead__assignments__how=Assignment.How.ROUTED)
    assert by_rule.exists()
    change = by_rule.select_related("lead__account").first()
    assert change.rule["engagement"] >= change.rule["mql_engagement"]
    assert change.rule["fit"] >= change.rule["mql_fit"]
    routed = Lead.objects.filter(assignments__how=Assignment.How.ROUTED,
                                 account__isnull=False, owner__isnull=False
                                 ).exclude(stage=Stage.RECYCLED).select_related("account")
    assert routed.exists()
    for lead in routed:
        assert lead.owner_unit_id == lead.account.owner_unit_id
        assert lead.partner_id == lead.account.partner_id


def test_the_pipeline_shows_every_stage_and_its_causes(built):
    from marketloop.leads.models import Lead, Stage
    from marketloop.org.models import Notification
    from marketloop.sales.models import Opportunity, OpportunityStage

    stages = set(Lead.objects.values_list("stage", flat=True))
    assert {Stage.LEAD, Stage.MQL, Stage.SAL, Stage.SQL, Stage.CUSTOMER,
            Stage.RECYCLED} <= stages
    rejected = Lead.objects.filter(stage=Stage.RECYCLED).exclude(reject_reason="")
    assert rejected.exists()
    assert all(lead.stage_changes.exclude(reason="").exists() for lead in rejected)
    assert Opportunity.objects.filter(stage=OpportunityStage.WON).exists()
    assert Opportunity.objects.filter(lead__stage=Stage.SQL).exists()
    assert Lead.objects.filter(escalated_at__isnull=False, escalated_to__isnull=False).exists()
    assert Notification.objects.filter(kind__contains="escalat").exists()


def test_a_year_of_campaigns_credits_the_won_deals_differently_by_model(built):
    from django.db.models import Sum

    from marketloop.campaigns.attribution.selectors import opportunity_journey
    from marketloop.campaigns.models import (
        SHARE_UNIT,
        Activity,
        ActivityCredit,
        ActivityLevel,
        ActivityTouch,
        AttributionModel,
        AttributionRun,
        BudgetRequest,
        CampaignMember,
        MarketingPlan,
        RequestStatus,
    )
    from marketloop.sales.models import Opportunity, OpportunityStage

    assert MarketingPlan.objects.count() >= 8
    assert set(Activity.objects.values_list("level", flat=True)) == set(ActivityLevel.values)
    assert Activity.objects.values("kind").distinct().count() >= 10
    assert not Activity.objects.filter(spent__gt=F("approved_budget")).exists()
    assert BudgetRequest.objects.filter(status=RequestStatus.PENDING).exists()
    assert ActivityTouch.objects.count() > 1000
    assert CampaignMember.objects.filter(status="attended").exists()
    assert AttributionRun.objects.filter(status="done").exists()
    won = ActivityCredit.objects.filter(stage="won", model=AttributionModel.LINEAR) \
        .aggregate(c=Sum("credit"))["c"]
    assert won == Opportunity.objects.filter(stage=OpportunityStage.WON).count() * SHARE_UNIT
    admin = User.objects.get(username="admin")
    journeys = [opportunity_journey(admin, deal.pk) for deal in
                Opportunity.objects.filter(stage=OpportunityStage.WON).order_by("pk")[:40]]
    rich = [j for j in journeys if len(j.rows) >= 3]
    assert rich, "some won deals have a journey through several activities"
    for journey in rich:
        assert all(total == SHARE_UNIT for total in journey.totals.values())
    top = {model: max(rich[0].rows, key=lambda row: row.shares[model]).name
           for model in (AttributionModel.FIRST_TOUCH, AttributionModel.LAST_TOUCH)}
    assert top[AttributionModel.FIRST_TOUCH] != top[AttributionModel.LAST_TOUCH]
