"""Contacts and their consent over the JSON API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from marketloop.crm.models import Consent, Contact
from marketloop.org.models import Role
from tests.api.client import ApiClient, assert_problem
from tests.factories import AccountFactory, ContactFactory


@pytest.fixture
def rep_api(gd_rep) -> ApiClient:
    return ApiClient(gd_rep)


@pytest.fixture
def account(org, gd_rep):
    return AccountFactory(owner_unit=org.gd_sales, owner=gd_rep, name="广州联系人有限公司")


def test_list_is_scoped_and_shaped(org, gd_rep, rep_api, account):
    mine = ContactFactory(account=account, title="CIO", is_management=True,
                          mobile="+8613812345678")
    partner_row = ContactFactory(account=AccountFactory(owner_unit=org.gd_partner,
                                                        partner=org.gd_partner))
    ContactFactory(account=AccountFactory(owner_unit=org.gx_sales))
    ContactFactory(account=AccountFactory(owner_unit=org.zj_partner, partner=org.zj_partner))

    body = rep_api.get("/api/contacts").json()

    assert {item["id"] for item in body["items"]} == {mine.pk, partner_row.pk}
    item = next(item for item in body["items"] if item["id"] == mine.pk)
    assert item["account"] == {"id": account.pk, "name": account.name}
    assert item["owner_unit"] == {"id": org.gd_sales.pk, "name": org.gd_sales.name}
    assert item["owner"]["id"] == gd_rep.pk and item["partner"] is None
    assert item["title"] == "CIO" and item["is_management"] is True
    assert item["mobile"] == "+8613812345678" and item["email"] == mine.email


@pytest.mark.parametrize("sort", ["name", "-updated"])
def test_keyset_pages_cover_every_row_once_in_order(org, rep_api, account, sort):
    now = timezone.now()
    contacts = [ContactFactory(account=account, name=f"王{i % 4}",
                               updated_at=now - timedelta(seconds=i % 3)) for i in range(17)]
    ContactFactory(account=AccountFactory(owner_unit=org.zj_sales), name="王0")
    if sort == "name":
        expected = sorted(contacts, key=lambda c: (c.name, c.id))
    else:
        expected = sorted(contacts, key=lambda c: (c.updated_at, c.id), reverse=True)

    pages = rep_api.pages("/api/contacts", {"sort": sort, "limit": 4})

    assert [len(page) for page in pages] == [4, 4, 4, 4, 1]
    assert [item["id"] for page in pages for item in page] == [c.pk for c in expected]


def test_filters(org, rep_api, account):
    boss = ContactFactory(account=account, name="陈总", is_management=True,
                          mobile="+8613900001111")
    clerk = ContactFactory(account=account, name="刘工", email="liu@example.cn")
    other = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales), name="陈工")

    def ids(**params):
        response = rep_api.get("/api/contacts", params)
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["items"]}

    assert ids(account=account.pk) == {boss.pk, clerk.pk}
    assert ids(management="true") == {boss.pk}
    assert ids(management="false") == {clerk.pk, other.pk}
    assert ids(q="陈") == {boss.pk, other.pk}
    assert ids(q="13900001") == {boss.pk}
    assert ids(q="liu@") == {clerk.pk}


def test_create_normalises_mobile_and_email(org, rep_api, account):
    response = rep_api.post("/api/contacts", {"account": account.pk, "name": " 李雷 ",
                                              "title": "采购经理", "mobile": "138 1234 5678",
                                              "email": "Li.Lei@Example.CN"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["mobile"] == "+8613812345678"
    assert body["email"] == "li.lei@example.cn"
    assert body["name"] == "李雷"
    assert body["owner_unit"]["id"] == account.owner_unit_id
    contact = Contact.objects.get(pk=body["id"])
    assert contact.mobile == "+8613812345678"


def test_plain_mobile_is_normalised(org, rep_api, account):
    response = rep_api.post("/api/contacts", {"account": account.pk, "name": "韩梅梅",
                                              "mobile": "13812345678"})
    assert response.status_code == 201, response.content
    assert response.json()["mobile"] == "+8613812345678"


def test_duplicate_email_is_rejected_whatever_the_case(org, rep_api, account):
    ContactFactory(account=AccountFactory(owner_unit=org.zj_sales), email="dup@example.cn")
    body = assert_problem(rep_api.post("/api/contacts", {"account": account.pk, "name": "重复",
                                                         "email": "DUP@example.cn"}),
                          422, "duplicate_email")
    assert list(body["errors"]) == ["email"]
    assert Contact.objects.filter(email__iexact="dup@example.cn").count() == 1


@pytest.mark.parametrize(("field", "value", "code"), [
    ("mobile", "12345", "invalid_mobile"),
    ("mobile", "+86 10 6552 9988", "invalid_mobile"),  # a Beijing landline
    ("email", "not-an-email", "invalid_email"),
])
def test_create_rejects_bad_identifiers(org, rep_api, account, field, value, code):
    body = assert_problem(rep_api.post("/api/contacts", {"account": account.pk, "name": "某人",
                                                         field: value}), 422, code)
    assert list(body["errors"]) == [field]


def test_create_at_an_account_the_caller_cannot_see_is_unknown(org, rep_api):
    hidden = AccountFactory(owner_unit=org.zj_sales)
    hidden_body = assert_problem(rep_api.post("/api/contacts", {"account": hidden.pk,
                                                                "name": "某人"}), 422)
    missing_body = assert_problem(rep_api.post("/api/contacts", {"account": 10**9,
                                                                 "name": "某人"}), 422)
    assert hidden_body["errors"] == missing_body["errors"] == {"account": ["No such account."]}
    assert not Contact.objects.filter(name="某人").exists()


def test_patch_and_move_to_another_account(org, gd_rep, rep_api, account):
    contact = ContactFactory(account=account)
    partner_account = AccountFactory(owner_unit=org.gd_partner, partner=org.gd_partner)
    response = rep_api.patch(f"/api/contacts/{contact.pk}", {
        "title": "总经理", "is_management": True, "mobile": "13912345678",
        "account": partner_account.pk})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["title"] == "总经理" and body["is_management"] is True
    assert body["mobile"] == "+8613912345678"
    assert body["account"]["id"] == partner_account.pk
    assert body["owner_unit"]["id"] == org.gd_partner.pk
    assert body["partner"]["id"] == org.gd_partner.pk


def test_patch_rejects_a_duplicate_email_and_unknown_fields(org, rep_api, account):
    ContactFactory(account=account, email="taken@example.cn")
    contact = ContactFactory(account=account)
    assert_problem(rep_api.patch(f"/api/contacts/{contact.pk}", {"email": "Taken@example.cn"}),
                   422, "duplicate_email")
    body = assert_problem(rep_api.patch(f"/api/contacts/{contact.pk}", {"owner_unit": 1}), 422)
    assert list(body["errors"]) == ["owner_unit"]


def test_patch_to_a_hidden_account_or_of_a_hidden_contact(org, rep_api, account):
    contact = ContactFactory(account=account)
    hidden_account = AccountFactory(owner_unit=org.zj_sales)
    assert_problem(rep_api.patch(f"/api/contacts/{contact.pk}", {"account": hidden_account.pk}),
                   422)
    hidden = ContactFactory(account=hidden_account)
    assert_problem(rep_api.patch(f"/api/contacts/{hidden.pk}", {"title": "x"}), 404, "not_found")
    assert_problem(rep_api.get(f"/api/contacts/{hidden.pk}"), 404, "not_found")


def test_consent_is_recorded_and_listed_newest_first(org, gd_rep, rep_api, account):
    contact = ContactFactory(account=account)
    earlier = timezone.now() - timedelta(days=3)
    first = rep_api.post(f"/api/contacts/{contact.pk}/consents", {
        "purpose": "EDM digest", "method": "web_form", "recorded_at": earlier.isoformat()})
    assert first.status_code == 201, first.content
    second = rep_api.post(f"/api/contacts/{contact.pk}/consents", {
        "purpose": "EDM digest", "granted": False, "method": "email",
        "evidence": "reply of 3 May"})
    assert second.status_code == 201, second.content
    assert second.json()["recorded_by"] == {"id": gd_rep.pk, "name": str(gd_rep)}

    listed = rep_api.get(f"/api/contacts/{contact.pk}/consents").json()

    assert [c["id"] for c in listed] == [second.json()["id"], first.json()["id"]]
    assert listed[0]["granted"] is False and listed[0]["method"] == "email"
    assert listed[1]["granted"] is True


def test_consent_input_is_validated(org, rep_api, account):
    contact = ContactFactory(account=account)
    body = assert_problem(rep_api.post(f"/api/contacts/{contact.pk}/consents",
                                       {"purpose": "", "method": "carrier pigeon"}), 422)
    assert set(body["errors"]) == {"purpose", "method"}
    assert_problem(rep_api.post(f"/api/contacts/{contact.pk}/consents",
                                {"purpose": "   ", "method": "paper"}), 422)
    assert not Consent.objects.exists()


def test_consent_of_a_hidden_contact_is_not_found(org, rep_api):
    hidden = ContactFactory(account=AccountFactory(owner_unit=org.gx_sales))
    assert_problem(rep_api.get(f"/api/contacts/{hidden.pk}/consents"), 404, "not_found")
    assert_problem(rep_api.post(f"/api/contacts/{hidden.pk}/consents",
                                {"purpose": "EDM", "method": "paper"}), 404, "not_found")
    assert not Consent.objects.exists()


def test_recording_consent_needs_the_edit_permission(org, make_user, account):
    contact = ContactFactory(account=account)
    trainer = ApiClient(make_user(org.gd_sales, Role.TRAINER))
    assert trainer.get(f"/api/contacts/{contact.pk}/consents").status_code == 200
    assert_problem(trainer.post(f"/api/contacts/{contact.pk}/consents",
                                {"purpose": "EDM", "method": "paper"}), 403, "not_allowed")


def test_a_page_costs_the_same_few_queries_however_many_rows(org, make_user,
                                                           django_assert_max_num_queries):
    manager = make_user(org.gd, Role.MANAGER)
    api = ApiClient(manager)
    for unit, partner in ((org.gd_sales, None), (org.gd_key_account, None),
                          (org.gd_partner, org.gd_partner)):
        owner = make_user(unit, Role.SALES_REP)
        for _ in range(8):
            ContactFactory(account=AccountFactory(owner_unit=unit, owner=owner, partner=partner))
    api.get("/api/contacts")  # the token's first use is recorded once
    with django_assert_max_num_queries(6):
        body = api.get("/api/contacts", {"limit": 200}).json()
    assert len(body["items"]) == 24
