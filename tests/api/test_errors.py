"""Every error is an RFC 9457 problem: 401 without a valid token, 403 for a role, 404 for what
does not exist or may not be seen (never 403: that would tell it exists), 422 for bad input."""

from __future__ import annotations

import pytest
from django.test import Client

from marketloop.org.models import ApiToken, OrgUnit, Role
from marketloop.org.services import issue_api_token, revoke_api_token
from tests.api.client import ApiClient, assert_problem
from tests.factories import AccountFactory, ContactFactory

ROUTES = [
    ("get", "/api/accounts"), ("get", "/api/accounts/1"), ("post", "/api/accounts"),
    ("patch", "/api/accounts/1"), ("get", "/api/contacts"), ("get", "/api/contacts/1"),
    ("post", "/api/contacts"), ("patch", "/api/contacts/1"), ("get", "/api/contacts/1/consents"),
    ("post", "/api/contacts/1/consents"), ("get", "/api/industries"), ("get", "/api/tier-rules"),
    ("get", "/api/org/units"), ("get", "/api/org/me"),
]


def _call(method: str, path: str, **headers):
    client = Client()
    if method == "get":
        return client.get(path, **headers)
    return getattr(client, method)(path, "{}", content_type="application/json", **headers)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_token(db, method, path):
    response = _call(method, path)
    body = assert_problem(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"] == "Bearer"
    assert body["instance"] == path


@pytest.mark.parametrize("header", ["Bearer ml_not-a-real-token", "Bearer ", "Basic dXNlcjpwdw==",
                                    "ml_no-scheme", "Token abc"])
def test_a_malformed_or_unknown_token_is_401(org, gd_rep, header):
    assert_problem(Client().get("/api/accounts", HTTP_AUTHORIZATION=header), 401,
                   "unauthenticated")


def test_a_session_cookie_does_not_authenticate_the_api(org, gd_rep):
    client = Client()
    client.force_login(gd_rep, backend="django.contrib.auth.backends.ModelBackend")
    assert_problem(client.get("/api/org/me"), 401)


def test_a_revoked_token_or_an_inactive_user_is_401(org, gd_rep, make_user):
    token, raw = issue_api_token(user=gd_rep, name="integration")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert Client().get("/api/org/me", **headers).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used_at is not None
    revoke_api_token(user=gd_rep, token_id=token.pk)
    assert_problem(Client().get("/api/org/me", **headers), 401)

    other = make_user(org.gd_sales, Role.SALES_REP)
    _, raw = issue_api_token(user=other, name="integration")
    other.is_active = False
    other.save()
    assert_problem(Client().get("/api/org/me", HTTP_AUTHORIZATION=f"Bearer {raw}"), 401)


def test_not_found_and_not_visible_are_indistinguishable(org, gd_rep, make_user):
    api = ApiClient(gd_rep)
    hidden = AccountFactory(owner_unit=org.zj_sales, name="浙江隐藏有限公司")
    hidden_contact = ContactFactory(account=hidden, name="隐藏的人")
    for template, pk in (("/api/accounts/{}", hidden.pk), ("/api/contacts/{}", hidden_contact.pk),
                         ("/api/contacts/{}/consents", hidden_contact.pk)):
        seen = assert_problem(api.get(template.format(pk)), 404)
        unseen = assert_problem(api.get(template.format(10**9)), 404)
        seen.pop("instance"), unseen.pop("instance")
        assert seen == unseen
    # No status other than 404 for a hidden record, whatever the method and the caller's role.
    for user in (gd_rep, make_user(org.gd_sales, Role.TRAINER)):
        client = ApiClient(user)
        assert_problem(client.patch(f"/api/accounts/{hidden.pk}", {"name": "x"}), 404)
        assert_problem(client.patch(f"/api/contacts/{hidden_contact.pk}", {"name": "x"}), 404)
        assert_problem(client.post(f"/api/contacts/{hidden_contact.pk}/consents",
                                   {"purpose": "p", "method": "paper"}), 404)


def test_a_role_without_the_permission_is_403(org, make_user):
    account = AccountFactory(owner_unit=org.gd_sales)
    contact = ContactFactory(account=account)
    trainer = ApiClient(make_user(org.gd_sales, Role.TRAINER))
    for response in (
        trainer.post("/api/accounts", {"name": "x", "industry": "finance", "province": "gd"}),
        trainer.patch(f"/api/accounts/{account.pk}", {"name": "x"}),
        trainer.post("/api/contacts", {"account": account.pk, "name": "x"}),
        trainer.patch(f"/api/contacts/{contact.pk}", {"name": "x"}),
        trainer.post(f"/api/contacts/{contact.pk}/consents", {"purpose": "p", "method": "paper"}),
    ):
        body = assert_problem(response, 403, "not_allowed")
        assert "errors" not in body
    # Reading is open to every role, within the scope.
    assert trainer.get(f"/api/accounts/{account.pk}").status_code == 200


def test_validation_errors_name_each_field(org, gd_rep):
    api = ApiClient(gd_rep)
    body = assert_problem(api.post("/api/accounts", {"name": 5, "industry": [], "extra": 1}),
                          422, "validation_error")
    assert set(body["errors"]) == {"name", "industry", "province", "extra"}
    assert all(isinstance(messages, list) and all(isinstance(m, str) for m in messages)
               for messages in body["errors"].values())
    body = assert_problem(api.get("/api/accounts", {"limit": "lots", "sort": "size"}), 422)
    assert set(body["errors"]) == {"limit", "sort"}
    body = assert_problem(api.get("/api/accounts/not-a-number"), 422)
    assert set(body["errors"]) == {"id"}
    body = assert_problem(api.get("/api/contacts", {"management": "perhaps"}), 422)
    assert set(body["errors"]) == {"management"}


def test_a_body_that_is_not_json_is_a_problem(org, gd_rep):
    api = ApiClient(gd_rep)
    response = api.client.post("/api/accounts", "{not json", content_type="application/json",
                               **api.headers)
    assert response.status_code in (400, 422)
    assert_problem(response, response.status_code)


@pytest.mark.parametrize("cursor", ["%%%", "bm90IGpzb24=", "WzFd", "WyJ4IiwgInkiXQ==",
                                    "eyJhIjogMX0="])
def test_a_bad_cursor_is_422_not_a_restart(org, gd_rep, cursor):
    # not base64, not JSON, a list of the wrong length, values of the wrong type, not a list
    AccountFactory(owner_unit=org.gd_sales)
    body = assert_problem(ApiClient(gd_rep).get("/api/accounts", {"cursor": cursor,
                                                                  "sort": "rank"}), 422)
    assert list(body["errors"]) == ["cursor"]


def test_a_cursor_from_another_sort_is_rejected(org, gd_rep):
    for _ in range(3):
        AccountFactory(owner_unit=org.gd_sales)
    api = ApiClient(gd_rep)
    cursor = api.get("/api/accounts", {"limit": 1, "sort": "-updated"}).json()["next_cursor"]
    assert api.get("/api/accounts", {"limit": 1, "sort": "-updated", "cursor": cursor}
                   ).status_code == 200
    # name,id and -updated_at,-id have the same length but not the same types
    assert_problem(api.get("/api/accounts", {"limit": 1, "sort": "rank", "cursor": cursor}), 422)


def test_problem_bodies_are_complete(org, gd_rep):
    response = ApiClient(gd_rep).get("/api/accounts/123456789")
    body = assert_problem(response, 404, "not_found")
    assert body["type"] == "https://marketloop.dev/problems/not_found"
    assert body["instance"] == "/api/accounts/123456789"
    assert set(body) <= {"type", "title", "status", "code", "instance", "detail", "errors"}


def test_me_tells_the_caller_who_they_are(org, gd_rep):
    body = ApiClient(gd_rep).get("/api/org/me").json()
    assert body["username"] == "gd-rep"
    assert body["unit"] == {"id": org.gd_sales.pk, "code": "gd-sales", "name": org.gd_sales.name,
                            "kind": "province_department"}
    assert set(body["roles"]) == {"sales_rep", "account_manager"}
    assert set(body["permissions"]) == {"create", "edit", "export"}


def test_units_tree_lists_every_unit_parents_first(org, gd_partner_user):
    units = ApiClient(gd_partner_user).get("/api/org/units").json()
    assert len(units) == OrgUnit.objects.count()
    position = {unit["id"]: i for i, unit in enumerate(units)}
    assert all(position[u["parent_id"]] < position[u["id"]] for u in units if u["parent_id"])
    gd = next(u for u in units if u["code"] == "gd")
    assert gd["kind"] == "province" and gd["province_id"] == gd["id"]


def test_reference_data(org, gd_partner_user):
    api = ApiClient(gd_partner_user)
    industries = api.get("/api/industries").json()
    assert "manufacturing" in {i["code"] for i in industries}
    rules = api.get("/api/tier-rules").json()
    assert [r["priority"] for r in rules] == sorted(r["priority"] for r in rules)
    assert rules[0]["tier"] == "hq_strategic" and rules[0]["rank_max"] == 100
