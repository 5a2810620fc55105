"""What users see of touchpoints: a contact's and an account's timeline (newest first, by kind,
keyset pages), the weekly chart, profiles with their merges, and a touchpoint visible exactly
where its contact is, on the pages and in the API."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from marketloop.crm.models import Contact
from marketloop.org.errors import NotFound
from marketloop.org.models import Role
from marketloop.tracking import selectors, services
from marketloop.tracking.models import Identity, Profile, ProfileChange
from marketloop.tracking.processing import process_inbox
from tests.api.client import ApiClient, assert_problem
from tests.factories import AccountFactory, ContactFactory
from tests.tracking.conftest import event, post_batch

pytestmark = pytest.mark.django_db

MISSING = 10**9


def drain() -> None:
    while process_inbox():
        pass


def touch(contact: Contact, kind: str, at: datetime, event_name: str = "", **properties) -> None:
    services.record_touchpoint(kind=kind, contact_id=contact.pk, occurred_at=at,
                               event=event_name or kind, properties=properties)


def page_view(client, source, contact: Contact, at: datetime, url: str, title: str) -> None:
    response = post_batch(client, source, [event(
        "page", name=title, timestamp=at.isoformat(), anonymousId=f"browser-{contact.pk}",
        properties={"url": url, "title": title,
                    "referrer": "https://www.baidu.com/s?wd=%E6%95%B0%E5%AD%97%E5%8C%96"},
        context={"traits": {"contactId": str(contact.pk)}})])
    assert response.status_code == 200, response.content


@pytest.fixture
def now() -> datetime:
    return timezone.now().replace(microsecond=0)


@pytest.fixture
def gd_contact(org) -> Contact:
    account = AccountFactory(name="广州可见制造有限公司", owner_unit=org.gd_sales)
    return ContactFactory(name="李可见", account=account)


@pytest.fixture
def gx_contact(org) -> Contact:
    account = AccountFactory(name="南宁隐藏贸易有限公司", owner_unit=org.gx_sales)
    return ContactFactory(name="王隐藏", account=account)


@pytest.fixture
def history(client, source, gd_contact, gx_contact, now) -> dict[str, datetime]:
    """Five touchpoints of the Guangdong contact over three weeks, two of the Guangxi one."""
    at = {"download": now - timedelta(days=15), "page": now - timedelta(days=3),
          "form": now - timedelta(days=2), "email_open": now - timedelta(days=1),
          "visit": now - timedelta(hours=1)}
    touch(gd_contact, "download", at["download"], "Case Study Downloaded")
    page_view(client, source, gd_contact, at["page"],
              "https://www.example.cn/erp?utm_source=baidu&utm_medium=cpc&utm_campaign=erp-q3",
              "ERP pricing")
    touch(gd_contact, "form", at["form"], "Trial Requested")
    touch(gd_contact, "email_open", at["email_open"], "Newsletter 42")
    touch(gd_contact, "visit", at["visit"], "Sales visit")
    touch(gx_contact, "form", now - timedelta(days=1), "Hidden Form")
    touch(gx_contact, "visit", now - timedelta(days=4), "Hidden Visit")
    drain()
    return at


# ---- the selectors --------------------------------------------------------------------------

def test_contact_timeline_is_newest_first_with_what_happened(admin_user, gd_contact, history):
    timeline = selectors.contact_timeline(admin_user, gd_contact.pk)
    assert [tp.kind for tp in timeline.items] == ["visit", "email_open", "form", "page",
                                                   "download"]
    assert [tp.occurred_at for tp in timeline.items] == sorted(history.values(), reverse=True)
    page = timeline.items[3]
    assert page.title == "ERP pricing" and page.utm_campaign == "erp-q3"
    assert page.keyword == "数字化"
    assert timeline.subject == gd_contact
    assert timeline.next_cursor is None


def test_kind_filter(admin_user, gd_contact, history):
    timeline = selectors.contact_timeline(admin_user, gd_contact.pk, kinds=["form", "page"])
    assert [tp.kind for tp in timeline.items] == ["form", "page"]
    assert selectors.contact_timeline(admin_user, gd_contact.pk, kinds=["call"]).items == []
    # unknown kinds are dropped, not an error: no filter at all
    assert len(selectors.contact_timeline(admin_user, gd_contact.pk, kinds=["nope"]).items) == 5


def test_keyset_pages_cover_everything_once_even_with_equal_times(admin_user, gd_contact,
                                                                   history, now):
    same = now - timedelta(days=5)
    for n in range(3):
        touch(gd_contact, "call", same, f"Call {n}")
    drain()
    seen, cursor, pages = [], None, 0
    while True:
        timeline = selectors.contact_timeline(admin_user, gd_contact.pk, before=cursor, limit=2)
        seen += [(tp.occurred_at, tp.pk) for tp in timeline.items]
        pages += 1
        cursor = timeline.next_cursor
        if cursor is None:
            break
    assert pages == 4
    assert len(seen) == len(set(seen)) == 8
    assert seen == sorted(seen, reverse=True)


def test_a_cursor_that_is_not_one_is_refused(admin_user, gd_contact, history):
    with pytest.raises(selectors.InvalidCursor):
        selectors.contact_timeline(admin_user, gd_contact.pk, before="not-a-cursor")


def test_account_timeline_has_the_touchpoints_of_all_its_contacts(admin_user, gd_contact,
                                                                   history, now):
    colleague = ContactFactory(name="陈同事", account=gd_contact.account)
    touch(colleague, "call", now - timedelta(minutes=5), "Hotline")
    drain()
    timeline = selectors.account_timeline(admin_user, gd_contact.account_id)
    assert [tp.event for tp in timeline.items][:2] == ["Hotline", "Sales visit"]
    assert len(timeline.items) == 6
    assert "Hidden Form" not in {tp.event for tp in timeline.items}


def test_timeline_reads_touchpoints_through_the_identity_index(admin_user, gd_contact,
                                                                history):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        selectors.contact_timeline(admin_user, gd_contact.pk, kinds=["form"],
                                   before=selectors.encode_cursor([timezone.now().isoformat(),
                                                                    10**12]))
    sql = next(q["sql"] for q in queries.captured_queries if "LATERAL" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # tiny tables: the plan it would use
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index" in plan and "Seq Scan on tracking_touchpoint" not in plan, plan


def test_activity_by_week_counts_every_week_and_kind(admin_user, gd_contact, history):
    activity = selectors.activity_by_week(admin_user, contact_id=gd_contact.pk, weeks=4)
    today = timezone.localdate()
    assert activity.weeks[-1] == today - timedelta(days=today.weekday())
    steps = [b - a for a, b in zip(activity.weeks, activity.weeks[1:], strict=False)]
    assert steps == [timedelta(weeks=1)] * 3
    assert len(activity.labels) == 4 and re.fullmatch(r"\d{4}-W\d{2}", activity.labels[0])

    def week_of(moment: datetime) -> int:
        day = timezone.localtime(moment).date()
        return activity.weeks.index(day - timedelta(days=day.weekday()))

    expected: dict[str, list[int]] = {}
    for kind, at in history.items():
        expected.setdefault(kind, [0, 0, 0, 0])[week_of(at)] += 1
    assert activity.counts == {kind: expected[kind] for kind in
                               ["page", "form", "download", "email_open", "visit"]}
    assert activity.total == 5
    assert any(sum(week) == 0 for week in zip(*activity.counts.values(), strict=True)), \
        "weeks without touchpoints are included, as zeros"


def test_activity_of_a_contact_without_touchpoints_is_all_zero_weeks(admin_user, gd_contact):
    activity = selectors.activity_by_week(admin_user, contact_id=gd_contact.pk)
    assert len(activity.weeks) == 26 and activity.counts == {} and activity.total == 0


# ---- visibility: exactly where the contact is -----------------------------------------------

@pytest.fixture
def gd_user(org, make_user):
    return make_user(org.gd_key_account, Role.ACCOUNT_MANAGER)


def test_a_province_user_reads_its_province_timelines_and_nothing_else(gd_user, gd_contact,
                                                                       gx_contact, history):
    assert len(selectors.contact_timeline(gd_user, gd_contact.pk).items) == 5
    for read, pk in ((selectors.contact_timeline, gx_contact.pk),
                     (selectors.account_timeline, gx_contact.account_id),
                     (selectors.contact_timeline, MISSING)):
        with pytest.raises(NotFound):
            read(gd_user, pk)
    with pytest.raises(NotFound):
        selectors.activity_by_week(gd_user, contact_id=gx_contact.pk)
    gx_profile = Profile.objects.get(contact=gx_contact)
    with pytest.raises(NotFound):
        selectors.profile_detail(gd_user, gx_profile.pk)


def test_an_account_timeline_leaves_out_contacts_the_reader_cannot_see(org, gd_user, admin_user,
                                                                      gd_contact, history, now):
    elsewhere = ContactFactory(name="周外省", account=gd_contact.account, owner_unit=org.zj_sales)
    touch(elsewhere, "call", now - timedelta(minutes=1), "Secret Call")
    drain()
    seen = {tp.event for tp in selectors.account_timeline(gd_user, gd_contact.account_id).items}
    assert "Secret Call" not in seen and "Sales visit" in seen
    activity = selectors.activity_by_week(gd_user, account_id=gd_contact.account_id)
    assert "call" not in activity.counts and activity.total == 5
    everything = selectors.account_timeline(admin_user, gd_contact.account_id).items
    assert everything[0].event == "Secret Call"


def test_pages_show_province_timelines_and_404_for_other_provinces(gd_user, gd_contact,
                                                                   gx_contact, history):
    client = Client()
    client.force_login(gd_user)
    response = client.get(reverse("tracking:contact_touchpoints", args=[gd_contact.pk]))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Trial Requested" in text and "erp-q3" in text and "数字化" in text
    assert "Hidden" not in text
    account = client.get(reverse("tracking:account_touchpoints", args=[gd_contact.account_id]))
    assert account.status_code == 200 and "Sales visit" in account.content.decode()
    gd_profile = Profile.objects.get(contact=gd_contact)
    assert client.get(reverse("tracking:profile_detail", args=[gd_profile.pk])).status_code == 200
    gx_profile = Profile.objects.get(contact=gx_contact)
    for name, pk in (("tracking:contact_touchpoints", gx_contact.pk),
                     ("tracking:account_touchpoints", gx_contact.account_id),
                     ("tracking:profile_detail", gx_profile.pk),
                     ("tracking:profile_touchpoints", gx_profile.pk),
                     ("tracking:contact_touchpoints", MISSING)):
        hidden = client.get(reverse(name, args=[pk]))
        assert hidden.status_code == 404, name
        assert "Hidden" not in hidden.content.decode()


def test_api_shows_province_timelines_and_404_for_other_provinces(gd_user, gd_contact,
                                                                  gx_contact, history):
    api = ApiClient(gd_user)
    body = api.get(f"/api/contacts/{gd_contact.pk}/touchpoints").json()
    assert [item["event"] for item in body["items"]] == [
        "Sales visit", "Newsletter 42", "Trial Requested", "ERP pricing",
        "Case Study Downloaded"]
    assert body["items"][3]["utm_campaign"] == "erp-q3"
    assert body["items"][0]["profile_id"] == Profile.objects.get(contact=gd_contact).pk
    assert body["next_cursor"] is None
    account = api.get(f"/api/accounts/{gd_contact.account_id}/touchpoints").json()
    assert len(account["items"]) == 5
    gx_profile = Profile.objects.get(contact=gx_contact)
    for path, missing in ((f"/api/contacts/{gx_contact.pk}/touchpoints",
                           f"/api/contacts/{MISSING}/touchpoints"),
                          (f"/api/accounts/{gx_contact.account_id}/touchpoints",
                           f"/api/accounts/{MISSING}/touchpoints"),
                          (f"/api/profiles/{gx_profile.pk}", f"/api/profiles/{MISSING}")):
        hidden, absent = api.get(path), api.get(missing)
        assert_problem(hidden, 404, "not_found")
        assert {k: v for k, v in hidden.json().items() if k != "instance"} == \
            {k: v for k, v in absent.json().items() if k != "instance"}


def test_api_pages_by_cursor_and_filters_by_kind(admin_user, gd_contact, history):
    api = ApiClient(admin_user)
    path = f"/api/contacts/{gd_contact.pk}/touchpoints"
    pages = api.pages(path, {"limit": 2})
    assert [len(page) for page in pages] == [2, 2, 1]
    ids = [item["id"] for page in pages for item in page]
    assert len(set(ids)) == 5
    kinds = api.get(path, {"kind": ["form", "download"]}).json()["items"]
    assert [item["kind"] for item in kinds] == ["form", "download"]
    assert_problem(api.get(path, {"kind": "nope"}), 422)
    assert_problem(api.get(path, {"cursor": "garbage"}), 422)


# ---- the card on the contact and account pages ----------------------------------------------

def test_contact_and_account_pages_load_the_touchpoints_card(admin_user, client, gd_contact):
    client.force_login(admin_user)
    contact_page = client.get(reverse("crm:contact_detail", args=[gd_contact.pk])).content.decode()
    url = reverse("tracking:contact_touchpoints", args=[gd_contact.pk])
    assert f'hx-get="{url}"' in contact_page and 'hx-trigger="load"' in contact_page
    assert "tracking/activity_chart.js" in contact_page and "echarts.min.js" in contact_page
    account_page = client.get(reverse("crm:account_detail", args=[gd_contact.account_id]))
    url = reverse("tracking:account_touchpoints", args=[gd_contact.account_id])
    assert f'hx-get="{url}"' in account_page.content.decode()


def test_card_embeds_the_chart_data_and_pages_older(admin_user, client, gd_contact, history):
    client.force_login(admin_user)
    url = reverse("tracking:contact_touchpoints", args=[gd_contact.pk])
    text = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    match = re.search(r'<script id="activity-contact-\d+" type="application/json">(.*?)</script>',
                      text, re.S)
    assert match, text
    chart = json.loads(match.group(1))
    assert len(chart["weeks"]) == 26 and chart["total"] == 5
    assert {series["name"] for series in chart["series"]} == {
        "Page view", "Form submitted", "Download", "Email opened", "Sales visit"}
    assert all(len(series["data"]) == 26 for series in chart["series"])
    profile = Profile.objects.get(contact=gd_contact)
    assert reverse("tracking:profile_detail", args=[profile.pk]) in text

    events = re.compile(r'data-kind="(\w+)"')
    assert events.findall(text) == ["visit", "email_open", "form", "page", "download"]
    filtered = client.get(url, {"kind": "form"}).content.decode()
    assert events.findall(filtered) == ["form"]

    assert 'rel="next"' not in text
    for n in range(50):
        touch(gd_contact, "call", timezone.now() - timedelta(days=20, minutes=n), f"Call {n}")
    drain()
    first = client.get(url).content.decode()
    assert len(events.findall(first)) == 50
    older = re.search(r'rel="next"[^>]*href="([^"]+)"', first)
    assert older
    second = client.get(unescape(older.group(1))).content.decode()
    assert len(events.findall(second)) == 5 and "Newest" in second
    # a stale or edited cursor starts again from the newest
    assert len(events.findall(client.get(url, {"before": "xx"}).content.decode())) == 50


def test_a_javascript_url_is_shown_but_never_linked(admin_user, client, source, gd_contact, now):
    page_view(client, source, gd_contact, now, "javascript:alert(1)", "Sneaky")
    drain()
    client.force_login(admin_user)
    text = client.get(reverse("tracking:contact_touchpoints", args=[gd_contact.pk])).content
    assert b'href="javascript:' not in text and b"javascript:alert(1)" in text


# ---- profiles, merges and their evidence ----------------------------------------------------

@pytest.fixture
def merged(client, source, gd_contact, now) -> tuple[Profile, Profile]:
    """An anonymous visitor browses, the contact fills in a form elsewhere, then the visitor
    identifies with the contact's email: the two profiles are merged."""
    assert post_batch(client, source, [event("page", anonymousId="anon-xyz", name="Home",
                                             timestamp=(now - timedelta(days=2)).isoformat(),
                                             properties={"url": "https://www.example.cn/"})]
                      ).status_code == 200
    drain()
    anonymous = Profile.objects.get(identities__value="anon-xyz")
    touch(gd_contact, "form", now - timedelta(days=1), "Trial Requested")
    drain()
    known = Profile.objects.get(contact=gd_contact)
    assert known.pk != anonymous.pk
    assert post_batch(client, source, [event("identify", anonymousId="anon-xyz",
                                             messageId="m-1",
                                             traits={"email": gd_contact.email})]
                      ).status_code == 200
    drain()
    change = ProfileChange.objects.get(kind="merge")
    survivor = Profile.objects.get(pk=change.survivor_id)
    absorbed = Profile.objects.get(pk=change.other_id)
    return survivor, absorbed


def test_profile_page_shows_the_merge_and_its_evidence(admin_user, client, gd_contact, merged):
    survivor, absorbed = merged
    client.force_login(admin_user)
    response = client.get(reverse("tracking:profile_detail", args=[survivor.pk]))
    assert response.status_code == 200
    text = unescape(response.content.decode())
    assert (f"Merged profile {absorbed.pk} into {survivor.pk} because Anonymous id anon-xyz "
            f"and Email {gd_contact.email} were seen together in identify message m-1 at"
            ) in text
    assert gd_contact.name in text and "anon-xyz" in text and gd_contact.email in text
    assert reverse("tracking:profile_touchpoints", args=[survivor.pk]) in text
    # the absorbed profile's address leads to the survivor
    old = client.get(reverse("tracking:profile_detail", args=[absorbed.pk]))
    assert old.status_code == 302 and old.url == reverse("tracking:profile_detail",
                                                         args=[survivor.pk])
    # the survivor's timeline holds both profiles' touchpoints
    timeline = selectors.profile_timeline(admin_user, absorbed.pk)
    assert {tp.kind for tp in timeline.items} >= {"page", "form", "identify"}
    # and the contact's card links to the profile
    card = client.get(reverse("tracking:contact_touchpoints", args=[gd_contact.pk]))
    assert reverse("tracking:profile_detail", args=[survivor.pk]) in card.content.decode()


def test_profile_detail_lists_identities_changes_both_ways_and_follows_merges(admin_user,
                                                                             gd_contact,
                                                                             merged):
    survivor, absorbed = merged
    detail = selectors.profile_detail(admin_user, absorbed.pk)
    assert detail.profile.pk == survivor.pk and detail.requested_id == absorbed.pk
    assert detail.contact == gd_contact and detail.account == gd_contact.account
    assert absorbed.pk in detail.absorbed_ids
    labels = {f"{i.kind}:{i.value}" for i in detail.identities}
    assert {"anonymous:anon-xyz", f"email:{gd_contact.email}", f"contact:{gd_contact.pk}"} <= labels
    merge = next(c for c in detail.changes if c.kind == "merge")
    assert {merge.survivor_id, merge.other_id} == {survivor.pk, absorbed.pk}
    link = merge.evidence["links"][0]
    assert link["message_id"] == "m-1" and link["evidence"] == "identify"


def test_api_profile_has_identities_and_merge_evidence(admin_user, gd_contact, merged):
    survivor, absorbed = merged
    body = ApiClient(admin_user).get(f"/api/profiles/{absorbed.pk}").json()
    assert body["id"] == survivor.pk
    assert body["contact"] == {"id": gd_contact.pk, "name": gd_contact.name}
    assert absorbed.pk in body["merged_from"]
    assert any(i["kind"] == "anonymous" and i["value"] == "anon-xyz" for i in body["identities"])
    merge = next(c for c in body["changes"] if c["kind"] == "merge")
    assert merge["evidence"]["links"][0]["message_id"] == "m-1"


def test_shared_identifiers_are_flagged_with_their_reason(admin_user, client, source, org):
    events = [event("identify", userId=f"kiosk-user-{n}", anonymousId="kiosk",
                    traits={"email": f"visitor{n}@corp{n}.cn"}) for n in range(3)]
    assert post_batch(client, source, events).status_code == 200
    drain()
    profile_id = Identity.objects.get(kind="anonymous", value="kiosk").profile_id
    detail = selectors.profile_detail(admin_user, profile_id)
    shared = [i for i in detail.identities if i.value == "kiosk"]
    assert shared and shared[0].shared and "limit" in shared[0].shared_reason
    client.force_login(admin_user)
    text = client.get(reverse("tracking:profile_detail", args=[profile_id])).content.decode()
    assert "Shared" in text and shared[0].shared_reason in unescape(text)


# ---- in a browser ---------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_card_loads_draws_the_chart_and_filters_on_a_phone(org, make_user, live_server,
                                                               browser):  # noqa: F811
    from tests.conftest import PASSWORD

    user = make_user(org.gd_sales, Role.SALES_REP)
    account = AccountFactory(name="广州浏览器测试有限公司", owner_unit=org.gd_sales)
    contact = ContactFactory(name="赵浏览", account=account)
    moment = timezone.now()
    for n, kind in enumerate(["form", "visit", "email_open", "form", "download"]):
        touch(contact, kind, moment - timedelta(days=9 * n), f"Step {n}")
    drain()
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_url(re.compile(r"/accounts/$"))
    page.goto(f"{live_server.url}{reverse('crm:contact_detail', args=[contact.pk])}")
    page.wait_for_selector("#touchpoints [data-kind]")
    assert page.locator("#touchpoints [data-kind]").count() == 5
    page.wait_for_selector("[data-activity-chart] canvas")
    box = page.locator("[data-activity-chart] canvas").bounding_box()
    assert box and 300 < box["width"] <= 390
    page.select_option(f"#kind-contact-{contact.pk}", "form")
    page.wait_for_function("document.querySelectorAll('#touchpoints [data-kind]').length === 2")
    page.wait_for_selector("[data-activity-chart] canvas")  # redrawn after the swap
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path="/tmp/marketloop-touchpoints.png", full_page=True)


def test_the_card_and_the_profile_page_speak_chinese(admin_user, client, gd_contact, merged):
    from django.conf import settings
    from django.utils import translation

    survivor, absorbed = merged
    client.force_login(admin_user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    try:
        card = client.get(reverse("tracking:contact_touchpoints", args=[gd_contact.pk]))
        text = client.get(reverse("tracking:profile_detail", args=[survivor.pk])).content.decode()
    finally:
        translation.deactivate()  # the request left Chinese active for later tests
    assert "全部类型" in card.content.decode()
    assert "合并与拆分" in text
    assert f"画像 {absorbed.pk} 已并入画像 {survivor.pk}" in text
