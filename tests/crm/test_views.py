"""The account, contact and tier-rule pages: what each user sees, search, keyset pages, forms
that show the services' errors, the audit trail, and the Chinese interface."""

from __future__ import annotations

import html
import re

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from marketloop.crm import services
from marketloop.crm.models import Account, Consent, Industry, RerouteRun, Tier, TierRule
from marketloop.crm.selectors import PAGE_SIZE
from marketloop.org.models import Role
from tests.factories import AccountFactory, ContactFactory

VALID_CREDIT_CODE = "91440300708461136T"
BAD_CHECK_DIGIT = "91440300708461136X"


@pytest.fixture
def rep_client(client, gd_rep):
    client.force_login(gd_rep)
    return client


def next_href(response) -> str | None:
    match = re.search(r'id="next-page"[^>]*href="([^"]+)"', response.content.decode())
    return html.unescape(match.group(1)) if match else None


def listed_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'class="ml-name" href="/accounts/(\d+)/"',
                                         response.content.decode())]


# ---- list ---------------------------------------------------------------------------------

def test_list_shows_only_visible_accounts(org, rep_client):
    mine = AccountFactory(name="广州可见制造有限公司", owner_unit=org.gd_sales)
    hidden = AccountFactory(name="杭州不可见贸易有限公司", owner_unit=org.zj_sales)
    response = rep_client.get(reverse("crm:account_list"))
    assert response.status_code == 200
    content = response.content.decode()
    assert mine.name in content
    assert hidden.name not in content
    assert listed_ids(response) == [mine.pk]


def test_search_by_two_chinese_characters_finds_the_account(org, rep_client):
    target = AccountFactory(name="深圳华为技术有限公司", owner_unit=org.gd_sales)
    AccountFactory(name="广州腾讯科技有限公司", owner_unit=org.gd_sales)
    response = rep_client.get(reverse("crm:account_list"), {"q": "华为"})
    assert listed_ids(response) == [target.pk]


def test_filters_by_tier_and_mine(org, rep_client, gd_rep):
    strategic = AccountFactory(owner_unit=org.gd_key_account, owner=gd_rep,
                               tier=Tier.REGIONAL_STRATEGIC)
    AccountFactory(owner_unit=org.gd_sales, tier=Tier.ORDINARY)
    url = reverse("crm:account_list")
    assert listed_ids(rep_client.get(url, {"tier": Tier.REGIONAL_STRATEGIC})) == [strategic.pk]
    assert listed_ids(rep_client.get(url, {"mine": "1"})) == [strategic.pk]


def test_next_page_has_no_overlap_and_no_gap_and_keeps_filters(org, rep_client):
    wanted = {AccountFactory(name=f"佛山样本{i:03d}有限公司", owner_unit=org.gd_sales).pk
              for i in range(PAGE_SIZE + 7)}
    AccountFactory(name="东莞其他有限公司", owner_unit=org.gd_sales)
    first = rep_client.get(reverse("crm:account_list"), {"q": "佛山", "sort": "-updated"})
    page1 = listed_ids(first)
    assert len(page1) == PAGE_SIZE
    href = next_href(first)
    assert href is not None and "cursor=" in href and "q=" in href and "sort=-updated" in href
    second = rep_client.get(href)
    page2 = listed_ids(second)
    assert not set(page1) & set(page2)
    assert set(page1) | set(page2) == wanted
    assert next_href(second) is None


def test_next_page_by_name_follows_name_order(org, rep_client):
    names = [f"中山顺序{i:03d}公司" for i in range(PAGE_SIZE + 3)]
    for name in reversed(names):
        AccountFactory(name=name, owner_unit=org.gd_sales)
    first = rep_client.get(reverse("crm:account_list"), {"q": "顺序"})
    second = rep_client.get(next_href(first))
    shown = [Account.objects.get(pk=pk).name for pk in listed_ids(first) + listed_ids(second)]
    assert shown == names


def test_list_never_counts_the_whole_table(org, rep_client):
    AccountFactory.create_batch(3, owner_unit=org.gd_sales)
    with CaptureQueriesContext(connection) as queries:
        response = rep_client.get(reverse("crm:account_list"), {"q": "测试"})
    assert response.status_code == 200
    # (the notification bell counts the reader's unread notifications: a small indexed count)
    assert not [q["sql"] for q in queries
                if "COUNT(" in q["sql"].upper() and "crm_account" in q["sql"]]


def test_htmx_filter_request_gets_only_the_results(org, rep_client):
    AccountFactory(name="珠海局部刷新有限公司", owner_unit=org.gd_sales)
    response = rep_client.get(reverse("crm:account_list"), {"q": "珠海"},
                              headers={"HX-Request": "true", "HX-Target": "account-results"})
    content = response.content.decode()
    assert "珠海局部刷新有限公司" in content
    assert 'id="account-table"' in content
    assert "<html" not in content and 'id="account-filters"' not in content
    full = rep_client.get(reverse("crm:account_list"))
    assert 'hx-target="#account-results"' in full.content.decode()
    assert 'hx-push-url="true"' in full.content.decode()


def test_export_buttons_carry_the_filters_and_need_the_export_permission(org, client,
                                                                        make_user):
    try:
        export = reverse("data:account_export")
    except NoReverseMatch:
        export = None
    exporter = make_user(org.gd_sales, Role.SALES_REP)
    client.force_login(exporter)
    content = client.get(reverse("crm:account_list"), {"q": "华为"}).content.decode()
    if export is not None:
        assert html.escape(f"{export}?q=%E5%8D%8E%E4%B8%BA&format=csv") in content
        assert "format=xlsx" in content
    else:
        assert 'id="export-csv"' not in content
    partner_staff = make_user(org.gd_partner, Role.PARTNER_STAFF)
    client.force_login(partner_staff)
    assert 'id="export-csv"' not in client.get(reverse("crm:account_list")).content.decode()


def test_new_account_button_only_for_users_who_may_create(org, client, make_user):
    client.force_login(make_user(org.gd_sales, Role.SALES_REP))
    assert 'id="new-account"' in client.get(reverse("crm:account_list")).content.decode()
    client.force_login(make_user(org.hq_supervision, Role.SUPERVISOR))
    assert 'id="new-account"' not in client.get(reverse("crm:account_list")).content.decode()
    assert client.get(reverse("crm:account_create")).status_code == 403


def test_root_redirects_to_accounts(org, rep_client):
    response = rep_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:account_list")


def test_pages_need_a_signed_in_user(org, client):
    response = client.get(reverse("crm:account_list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


# ---- detail -------------------------------------------------------------------------------

def test_detail_of_invisible_account_is_404(org, rep_client):
    hidden = AccountFactory(owner_unit=org.zj_sales)
    assert rep_client.get(reverse("crm:account_detail", args=[hidden.pk])).status_code == 404
    assert rep_client.get(reverse("crm:account_edit", args=[hidden.pk])).status_code == 404
    response = rep_client.post(reverse("crm:account_edit", args=[hidden.pk]), {"name": "x"})
    assert response.status_code == 404
    assert Account.objects.get(pk=hidden.pk).name == hidden.name


def test_detail_shows_only_visible_parent_subsidiaries_and_contacts(org, rep_client):
    parent = AccountFactory(name="浙江母公司", owner_unit=org.zj_sales)
    account = AccountFactory(name="广东子公司", owner_unit=org.gd_sales, parent=parent)
    child = AccountFactory(name="广东孙公司", owner_unit=org.gd_sales, parent=account)
    hidden_child = AccountFactory(name="浙江孙公司", owner_unit=org.zj_sales, parent=account)
    contact = ContactFactory(account=account, name="李经理")
    content = rep_client.get(reverse("crm:account_detail", args=[account.pk])).content.decode()
    assert child.name in content and contact.name in content
    assert parent.name not in content and hidden_child.name not in content


def test_account_page_shows_tier_reason_and_audit_trail_after_an_edit(org, rep_client, gd_rep):
    industry = Industry.objects.get(code="manufacturing")
    account = services.create_account(actor=gd_rep, name="广州审计样本有限公司",
                                      industry=industry, province=org.gd,
                                      industry_rank=700, revenue_band="medium")
    response = rep_client.post(reverse("crm:account_edit", args=[account.pk]), {
        "name": "广州审计样本集团有限公司", "credit_code": "", "industry": industry.pk,
        "industry_rank": 700, "province": org.gd.pk, "revenue_band": "medium",
        "parent": "", "reason": "工商变更登记",
    })
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:account_detail", args=[account.pk])
    content = rep_client.get(response["Location"]).content.decode()
    account.refresh_from_db()
    assert account.name == "广州审计样本集团有限公司"
    assert html.escape(account.tier_reason) in content
    assert "Ordinary" in account.tier_reason
    trail = content[content.index('id="audit-trail"'):]
    assert "Updated" in trail and "Created" in trail
    assert "广州审计样本有限公司" in trail and "广州审计样本集团有限公司" in trail
    assert "工商变更登记" in trail
    assert str(gd_rep) in trail


def test_rank_change_from_the_form_queues_a_reroute_and_warns(org, rep_client, gd_rep):
    account = AccountFactory(owner_unit=org.gd_sales, industry_rank=800)
    form = rep_client.get(reverse("crm:account_edit", args=[account.pk]))
    assert 'id="reroute-notice"' in form.content.decode()
    response = rep_client.post(reverse("crm:account_edit", args=[account.pk]), {
        "name": account.name, "industry": account.industry_id, "industry_rank": 150,
        "province": org.gd.pk, "revenue_band": "", "credit_code": "", "parent": "",
    })
    assert response.status_code == 302
    run = RerouteRun.objects.get()
    assert run.account_ids == [account.pk] and "800" in run.cause and "150" in run.cause


# ---- create and edit forms ----------------------------------------------------------------

def test_create_account_with_bad_credit_code_shows_the_error(org, rep_client):
    industry = Industry.objects.get(code="finance")
    response = rep_client.post(reverse("crm:account_create"), {
        "name": "广州坏码有限公司", "credit_code": BAD_CHECK_DIGIT, "industry": industry.pk,
        "province": org.gd.pk, "revenue_band": "medium",
    })
    assert response.status_code == 422
    content = response.content.decode()
    assert "check digit of the unified social credit code is wrong" in content
    assert 'ml-field-error' in content
    assert not Account.objects.filter(name="广州坏码有限公司").exists()


def test_create_account_routes_it_and_opens_its_page(org, rep_client, gd_rep):
    industry = Industry.objects.get(code="finance")
    response = rep_client.post(reverse("crm:account_create"), {
        "name": "广州新建银行", "credit_code": VALID_CREDIT_CODE, "industry": industry.pk,
        "industry_rank": 120, "province": org.gd.pk, "revenue_band": "large",
    })
    account = Account.objects.get(name="广州新建银行")
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:account_detail", args=[account.pk])
    assert account.tier == Tier.REGIONAL_STRATEGIC and account.owner_unit == org.gd_key_account


def test_edit_account_with_bad_credit_code_shows_the_error(org, rep_client):
    account = AccountFactory(owner_unit=org.gd_sales)
    response = rep_client.post(reverse("crm:account_edit", args=[account.pk]), {
        "name": account.name, "credit_code": "1234", "industry": account.industry_id,
        "province": org.gd.pk,
    })
    assert response.status_code == 422
    assert "18 characters" in response.content.decode()
    account.refresh_from_db()
    assert account.credit_code == ""


def test_duplicate_credit_code_is_shown_on_the_field(org, rep_client):
    AccountFactory(owner_unit=org.zj_sales, credit_code=VALID_CREDIT_CODE)
    account = AccountFactory(owner_unit=org.gd_sales)
    response = rep_client.post(reverse("crm:account_edit", args=[account.pk]), {
        "name": account.name, "credit_code": VALID_CREDIT_CODE,
        "industry": account.industry_id, "province": org.gd.pk,
    })
    assert response.status_code == 422
    assert "already exists" in response.content.decode()


def test_parent_must_be_a_visible_account(org, rep_client):
    hidden = AccountFactory(owner_unit=org.zj_sales)
    account = AccountFactory(owner_unit=org.gd_sales)
    response = rep_client.post(reverse("crm:account_edit", args=[account.pk]), {
        "name": account.name, "industry": account.industry_id, "province": org.gd.pk,
        "parent": hidden.pk,
    })
    assert response.status_code == 422
    account.refresh_from_db()
    assert account.parent_id is None


# ---- contacts -----------------------------------------------------------------------------

def test_contact_list_is_scoped_and_searchable(org, rep_client):
    visible = ContactFactory(name="王晓明", account=AccountFactory(owner_unit=org.gd_sales))
    ContactFactory(name="王大海", account=AccountFactory(owner_unit=org.zj_sales))
    ContactFactory(name="陈静", account=visible.account)
    content = rep_client.get(reverse("crm:contact_list"), {"q": "王"}).content.decode()
    assert "王晓明" in content and "王大海" not in content and "陈静" not in content


def test_contact_list_keyset_pages(org, rep_client):
    account = AccountFactory(owner_unit=org.gd_sales)
    ContactFactory.create_batch(PAGE_SIZE + 2, account=account)
    first = rep_client.get(reverse("crm:contact_list"), {"account": account.pk})
    href = next_href(first)
    assert f"account={account.pk}" in href
    second = rep_client.get(href)
    page1 = {c.pk for c in first.context["page"].items}
    page2 = {c.pk for c in second.context["page"].items}
    assert len(page1) == PAGE_SIZE and len(page2) == 2 and not page1 & page2


def test_create_contact_from_an_account_page(org, rep_client):
    account = AccountFactory(owner_unit=org.gd_sales)
    page = rep_client.get(reverse("crm:contact_create"), {"account": account.pk})
    assert page.status_code == 200 and account.name in page.content.decode()
    response = rep_client.post(f"{reverse('crm:contact_create')}?account={account.pk}", {
        "account": account.pk, "name": "赵总", "title": "CIO", "is_management": "on",
        "email": "zhao@example.cn", "mobile": "13812345678",
    })
    contact = account.contacts.get()
    assert response.status_code == 302
    assert (contact.name, contact.mobile, contact.is_management) == ("赵总", "+8613812345678",
                                                                     True)


def test_create_contact_with_bad_mobile_shows_the_error(org, rep_client):
    account = AccountFactory(owner_unit=org.gd_sales)
    response = rep_client.post(f"{reverse('crm:contact_create')}?account={account.pk}", {
        "account": account.pk, "name": "钱工", "mobile": "12345",
    })
    assert response.status_code == 422
    feedback = re.findall(r'class="invalid-feedback d-block">([^<]+)<', response.content.decode())
    assert feedback and "phone number" in feedback[0]
    assert not account.contacts.exists()


def test_cannot_add_a_contact_to_an_invisible_account(org, rep_client):
    hidden = AccountFactory(owner_unit=org.zj_sales)
    assert rep_client.get(reverse("crm:contact_create"),
                          {"account": hidden.pk}).status_code == 404


def test_contact_detail_records_consent_and_shows_it(org, rep_client, gd_rep):
    contact = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales))
    response = rep_client.post(reverse("crm:contact_consent", args=[contact.pk]), {
        "purpose": "EDM 双月刊", "granted": "1", "method": "web_form",
        "evidence": "表单 #4711",
    })
    assert response.status_code == 302
    consent = Consent.objects.get(contact=contact)
    assert consent.granted and consent.recorded_by == gd_rep
    content = rep_client.get(reverse("crm:contact_detail", args=[contact.pk])).content.decode()
    consents = content[content.index('id="consents"'):content.index('id="consent-form"')]
    assert "EDM 双月刊" in consents and "表单 #4711" in consents and "Web form" in consents
    assert "Consent recorded" in content


def test_consent_without_purpose_shows_the_error(org, rep_client):
    contact = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales))
    response = rep_client.post(reverse("crm:contact_consent", args=[contact.pk]), {
        "purpose": "", "granted": "0", "method": "email",
    })
    assert response.status_code == 422
    assert not Consent.objects.exists()


def test_contact_detail_and_edit_of_invisible_contact_are_404(org, rep_client):
    hidden = ContactFactory(account=AccountFactory(owner_unit=org.zj_sales))
    assert rep_client.get(reverse("crm:contact_detail", args=[hidden.pk])).status_code == 404
    assert rep_client.get(reverse("crm:contact_edit", args=[hidden.pk])).status_code == 404
    response = rep_client.post(reverse("crm:contact_consent", args=[hidden.pk]),
                               {"purpose": "x", "granted": "1", "method": "email"})
    assert response.status_code == 404


def test_edit_contact_records_the_change(org, rep_client):
    contact = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales), name="孙工")
    response = rep_client.post(reverse("crm:contact_edit", args=[contact.pk]), {
        "name": "孙总", "title": "CTO", "email": contact.email, "mobile": "",
    })
    assert response.status_code == 302
    content = rep_client.get(reverse("crm:contact_detail", args=[contact.pk])).content.decode()
    trail = content[content.index('id="audit-trail"'):]
    assert "孙工" in trail and "孙总" in trail


# ---- tier rules ---------------------------------------------------------------------------

def test_tier_rules_page_is_403_for_a_marketer(org, client, hq_marketer):
    client.force_login(hq_marketer)
    assert client.get(reverse("crm:tier_rules")).status_code == 403
    assert client.get(reverse("crm:reroute_runs")).status_code == 403
    rule = TierRule.objects.first()
    assert client.post(reverse("crm:tier_rule_delete", args=[rule.pk])).status_code == 403
    assert TierRule.objects.filter(pk=rule.pk).exists()


def test_tier_rules_are_listed_in_priority_order(org, client, admin_user):
    client.force_login(admin_user)
    content = client.get(reverse("crm:tier_rules")).content.decode()
    positions = [content.index(html.escape(rule.name))
                 for rule in TierRule.objects.order_by("priority")]
    assert positions == sorted(positions)


def test_admin_creates_edits_and_deletes_a_rule_and_runs_are_polled(org, client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("crm:tier_rule_create"), {
        "name": "能源百强", "priority": 5, "rank_min": 1, "rank_max": 50,
        "revenue_bands": ["large", "xlarge"], "tier": "hq_strategic",
        "owner_kind": "hq_key_account", "active": "on",
    })
    assert response.status_code == 302
    rule = TierRule.objects.get(name="能源百强")
    assert rule.revenue_bands == ["large", "xlarge"] and rule.priority == 5
    assert RerouteRun.objects.count() == 1
    page = client.get(reverse("crm:tier_rules")).content.decode()
    assert 'hx-trigger="every 2s"' in page  # a queued run is polled
    runs = client.get(reverse("crm:reroute_runs")).content.decode()
    assert 'id="reroute-runs"' in runs and "<html" not in runs
    response = client.post(reverse("crm:tier_rule_edit", args=[rule.pk]), {
        "name": "能源百强", "priority": 5, "rank_min": 60, "rank_max": 10,
        "tier": "hq_strategic", "owner_kind": "hq_key_account",
    })
    assert response.status_code == 422
    assert "lowest rank must not be above the highest" in response.content.decode()
    response = client.post(reverse("crm:tier_rule_delete", args=[rule.pk]))
    assert response.status_code == 302
    assert not TierRule.objects.filter(pk=rule.pk).exists()


def test_finished_runs_are_not_polled(org, client, admin_user):
    RerouteRun.objects.create(cause="done already", status=RerouteRun.Status.DONE, total=4,
                              processed=4)
    client.force_login(admin_user)
    page = client.get(reverse("crm:tier_rules")).content.decode()
    assert "done already" in page and 'hx-trigger="every 2s"' not in page


# ---- Chinese ------------------------------------------------------------------------------

def test_account_list_in_chinese(org, client, gd_rep):
    AccountFactory(owner_unit=org.gd_sales, tier=Tier.REGIONAL_KEY)
    client.force_login(gd_rep)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    content = client.get(reverse("crm:account_list")).content.decode()
    assert '<html lang="zh-hans">' in content
    for label in ("客户", "搜索", "新建客户", "行业百强", "区域战略客户", "区域重点客户", "省份"):
        assert label in content, label
    assert "New account" not in content and "Regional key" not in content


def test_account_page_in_chinese_explains_the_tier(org, client, hq_marketer):
    industry = Industry.objects.get(code="energy")
    client.force_login(hq_marketer)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    response = client.post(reverse("crm:account_create"), {
        "name": "广东中文能源有限公司", "industry": industry.pk, "industry_rank": 42,
        "province": org.gd.pk,
    })
    content = client.get(response["Location"]).content.decode()
    assert "为何定为此级别" in content and "审计记录" in content
    assert "行业百强" in Account.objects.get(name="广东中文能源有限公司").tier_reason


def test_account_routed_out_of_sight_goes_back_to_the_list_with_a_note(org, rep_client):
    industry = Industry.objects.get(code="energy")
    response = rep_client.post(reverse("crm:account_create"), {
        "name": "广东百强能源有限公司", "industry": industry.pk, "industry_rank": 7,
        "province": org.gd.pk,
    }, follow=True)
    assert response.redirect_chain[-1][0] == reverse("crm:account_list")
    assert "广东百强能源有限公司" in response.content.decode()  # the note names it
    assert Account.objects.get(name="广东百强能源有限公司").owner_unit == org.hq_key_account
