"""Signing in and out, the lock-out after repeated failures, the language switch, the org tree
and API tokens pages."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

from marketloop.org.models import ApiToken, hash_token
from marketloop.org.services import authenticate_token, issue_api_token
from tests.conftest import PASSWORD


def sign_in(client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_sign_in_with_the_right_password_opens_the_account_list(org, client, gd_rep):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and 'name="password"' in page.content.decode()
    response = sign_in(client, "gd-rep", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:account_list")
    assert client.session["_auth_user_id"] == str(gd_rep.pk)
    assert client.get(reverse("crm:account_list")).status_code == 200


def test_sign_in_with_a_wrong_password_fails(org, client, gd_rep):
    response = sign_in(client, "gd-rep", "not-the-password")
    assert response.status_code == 200
    assert 'id="login-error"' in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("crm:account_list")).status_code == 302


def test_sign_in_returns_to_the_page_asked_for(org, client, gd_rep):
    target = reverse("org:unit_list")
    response = client.get(target)
    assert response["Location"] == f"{reverse('login')}?next={target}"
    response = client.post(response["Location"], {"username": "gd-rep", "password": PASSWORD,
                                                  "next": target})
    assert response["Location"] == target


def test_five_wrong_passwords_lock_the_user_name(org, client, gd_rep):
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "gd-rep", "wrong-password").status_code == 200
    locked = sign_in(client, "gd-rep", "wrong-password")
    assert locked.status_code == 429
    response = sign_in(client, "gd-rep", PASSWORD)
    assert response.status_code == 429
    assert 'id="locked-out-message"' in response.content.decode()
    assert "15 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lock_out_page_in_chinese(org, client, gd_rep):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "gd-rep", "wrong-password")
    content = sign_in(client, "gd-rep", PASSWORD).content.decode()
    assert "登录失败次数过多" in content and "15 分钟" in content


def test_other_user_names_are_not_locked(org, client, gd_rep, hq_marketer):
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "gd-rep", "wrong-password")
    assert sign_in(client, "hq-marketer", PASSWORD).status_code == 302


def test_sign_out_is_a_post(org, client, gd_rep):
    client.force_login(gd_rep)
    page = client.get(reverse("crm:account_list")).content.decode()
    assert re.search(r'<form method="post" action="/logout/"', page)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_language_switch_sets_chinese(org, client, gd_rep):
    client.force_login(gd_rep)
    page = client.get(reverse("crm:account_list")).content.decode()
    assert 'action="/i18n/setlang/"' in page and 'value="zh-hans"' in page
    response = client.post("/i18n/setlang/", {"language": "zh-hans",
                                               "next": reverse("org:unit_list")})
    assert response.status_code == 302 and response["Location"] == reverse("org:unit_list")
    content = client.get(reverse("org:unit_list")).content.decode()
    assert "组织单元" in content and "大客户经营部" in content


def test_login_page_in_chinese(org, client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    content = client.get(reverse("login")).content.decode()
    assert "登录" in content and "密码" in content


def test_navigation_hides_what_the_user_may_not_do(org, client, hq_marketer, admin_user):
    client.force_login(hq_marketer)
    page = client.get(reverse("crm:account_list")).content.decode()
    assert reverse("crm:account_list") in page and reverse("crm:tier_rules") not in page
    client.force_login(admin_user)
    assert reverse("crm:tier_rules") in client.get(reverse("crm:account_list")).content.decode()


# ---- org tree -----------------------------------------------------------------------------

def test_unit_tree_is_indented_by_depth(org, client, gd_rep):
    client.force_login(gd_rep)
    content = client.get(reverse("org:unit_list")).content.decode()
    depth_of = {}
    for depth, row in re.findall(r'<tr data-depth="(\d+)">(.*?)</tr>', content, re.S):
        name = re.search(r'<span class="(?:fw-bold)?">([^<]+)</span>', row).group(1)
        depth_of[name] = int(depth)
    assert depth_of["Headquarters"] == 0
    assert depth_of["Key-account department"] == depth_of["South China"] == 1
    assert depth_of["Guangdong"] == 2
    assert depth_of["Guangdong key-account department"] == 3
    assert depth_of["Guangdong Partner Ltd"] == 3
    rows = re.findall(r'<tr data-depth="\d+">.*?</tr>', content, re.S)
    guangdong = next(row for row in rows if "Guangdong key-account department" in row)
    assert "Province department" in guangdong and "Key-account department" in guangdong


# ---- API tokens ---------------------------------------------------------------------------

def test_create_token_shows_the_key_once_and_it_works(org, client, gd_rep):
    client.force_login(gd_rep)
    response = client.post(reverse("org:tokens"), {"name": "BI nightly sync"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = re.search(r'id="raw-key">([^<]+)<', response.content.decode()).group(1)
    assert authenticate_token(raw) == gd_rep
    token = ApiToken.objects.get(user=gd_rep)
    assert token.key_hash == hash_token(raw) and token.name == "BI nightly sync"
    again = client.get(reverse("org:tokens")).content.decode()
    assert raw not in again and "BI nightly sync" in again and token.prefix in again


def test_token_needs_a_name(org, client, gd_rep):
    client.force_login(gd_rep)
    response = client.post(reverse("org:tokens"), {"name": ""})
    assert response.status_code == 422
    assert not ApiToken.objects.exists()


def test_revoke_token_only_revokes_your_own(org, client, gd_rep, hq_marketer):
    mine, raw_mine = issue_api_token(user=gd_rep, name="mine")
    theirs, raw_theirs = issue_api_token(user=hq_marketer, name="theirs")
    client.force_login(gd_rep)
    assert "theirs" not in client.get(reverse("org:tokens")).content.decode()
    client.post(reverse("org:token_revoke", args=[theirs.pk]))
    assert authenticate_token(raw_theirs) == hq_marketer
    response = client.post(reverse("org:token_revoke", args=[mine.pk]))
    assert response.status_code == 302
    assert authenticate_token(raw_mine) is None


@pytest.mark.parametrize("method", ["get"])
def test_revoke_needs_post(org, client, gd_rep, method):
    token, raw = issue_api_token(user=gd_rep, name="t")
    client.force_login(gd_rep)
    assert getattr(client, method)(reverse("org:token_revoke", args=[token.pk])).status_code == 405
    assert authenticate_token(raw) == gd_rep
