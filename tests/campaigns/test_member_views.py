"""The activity page's slots for tracking links, members and attached touchpoints: fragments
swapped by HTMX, 404 for an activity the user cannot see, forms only for those who may use
them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from marketloop.campaigns import links
from marketloop.campaigns.models import ActivityTouch, CampaignMember, TrackingLink
from marketloop.org.models import Role
from marketloop.tracking.models import Identity, IdentityKind, Profile
from tests.campaigns.factories import ActivityFactory, PlanFactory
from tests.factories import AccountFactory, ContactFactory
from tests.org.matrix import module_transaction, standard_org

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def _organisation_once(django_db_setup, django_db_blocker):
    """The standard organisation built once for the module; each test runs in a savepoint."""
    with module_transaction(django_db_blocker):
        with django_db_blocker.unblock():
            standard_org()
        yield

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def gd_marketer(org, make_user):
    return make_user(org.gd, Role.MARKETER, username="gd-marketer")


@pytest.fixture
def salon(org, gd_marketer):
    plan = PlanFactory(owner_unit=org.gd, owner=gd_marketer)
    return ActivityFactory(plan=plan, code="gd-salon", name="广州智能制造沙龙")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(name: str, activity) -> str:
    return reverse(f"campaigns:{name}", args=[activity.pk])


# ---- tracking links --------------------------------------------------------------------------

def test_the_links_slot_shows_the_code_with_its_hint_and_each_link(gd_marketer, salon):
    link = links.create_link(user=gd_marketer, activity_id=salon.pk,
                             destination="https://www.example.cn/salon", utm_source="wechat",
                             utm_medium="social")
    response = signed_in(gd_marketer).get(url("activity_links", salon), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html  # a fragment
    assert 'id="activity-code">gd-salon<' in html and "properties.activity_code" in html
    assert f'value="{links.link_url(link)}"' in html.replace("&amp;", "&")
    assert 'id="link-form"' in html


def test_creating_a_link_swaps_the_slot_and_a_bad_address_is_shown(gd_marketer, salon):
    client = signed_in(gd_marketer)
    response = client.post(url("activity_links", salon), {
        "destination": "https://www.example.cn/p?x=1", "utm_source": "baidu",
        "utm_medium": "cpc", "utm_content": "kw-erp"}, **HTMX)
    assert response.status_code == 200
    assert "utm_campaign=gd-salon" in response.content.decode()
    bad = client.post(url("activity_links", salon), {
        "destination": "javascript:alert(1)", "utm_source": "x", "utm_medium": "y"}, **HTMX)
    assert bad.status_code == 422 and "http://" in bad.content.decode()
    assert TrackingLink.objects.count() == 1


def test_a_plain_form_post_goes_back_to_the_activity_page(gd_marketer, salon):
    response = signed_in(gd_marketer).post(url("activity_links", salon), {
        "destination": "https://www.example.cn/", "utm_source": "a", "utm_medium": "b"})
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:activity_detail", args=[salon.pk])


def test_deleting_a_link(gd_marketer, salon):
    link = links.create_link(user=gd_marketer, activity_id=salon.pk,
                             destination="https://www.example.cn/", utm_source="a",
                             utm_medium="b")
    client = signed_in(gd_marketer)
    response = client.post(url("link_delete", salon), {"link": link.pk}, **HTMX)
    assert response.status_code == 200 and not TrackingLink.objects.exists()
    assert client.post(url("link_delete", salon), {"link": link.pk}, **HTMX).status_code == 422


def test_people_who_may_not_edit_see_links_but_no_forms(org, make_user, gd_marketer, salon):
    supervisor = signed_in(make_user(org.hq_supervision, Role.SUPERVISOR))
    html = supervisor.get(url("activity_links", salon)).content.decode()
    assert "gd-salon" in html and 'id="link-form"' not in html
    assert supervisor.post(url("activity_links", salon), {
        "destination": "https://www.example.cn/", "utm_source": "a",
        "utm_medium": "b"}).status_code == 403


def test_every_slot_of_a_hidden_activity_is_not_found(org, make_user, salon):
    zj = signed_in(make_user(org.zj, Role.MANAGER))
    for name in ("activity_links", "activity_members", "activity_touches"):
        assert zj.get(url(name, salon)).status_code == 404, name
    for name in ("link_delete", "member_add", "member_import"):
        assert zj.post(url(name, salon), {}).status_code == 404, name


# ---- members ---------------------------------------------------------------------------------

def test_the_members_slot_counts_statuses_and_pages_the_list(org, gd_marketer, salon):
    account = AccountFactory(owner_unit=org.gd_sales)
    contacts = ContactFactory.create_batch(55, account=account)
    now = timezone.now()
    CampaignMember.objects.bulk_create([
        CampaignMember(activity=salon, contact=c, status="registered" if i < 5 else "invited",
                       source="import", updated_at=now - timedelta(minutes=i))
        for i, c in enumerate(contacts)])
    client = signed_in(gd_marketer)
    html = client.get(url("activity_members", salon), **HTMX).content.decode()
    assert 'data-status="invited">Invited · 50<' in html
    assert 'data-status="registered">Registered · 5<' in html
    assert "data-member-chart" in html
    assert html.count("data-member=") == 50
    next_href = re.search(r'rel="next" id="members-next" href="([^"]+)"', html).group(1)
    rest = client.get(next_href.replace("&amp;", "&"), HTTP_HX_TARGET=f"member-list-{salon.pk}",
                      **HTMX).content.decode()
    assert rest.count("data-member=") == 5 and 'rel="next"' not in rest
    assert 'id="activity-members"' not in rest  # only the list was swapped
    registered = client.get(url("activity_members", salon) + "?status=registered",
                            HTTP_HX_TARGET=f"member-list-{salon.pk}", **HTMX).content.decode()
    assert registered.count("data-member=") == 5


def test_adding_a_contact_by_hand_in_the_slot(org, gd_marketer, salon):
    contact = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales), name="李娜")
    client = signed_in(gd_marketer)
    response = client.post(url("member_add", salon),
                           {"contact_id": contact.pk, "status": "attended"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and 'id="member-note"' in html and "李娜" in html
    assert CampaignMember.objects.get().status == "attended"
    hidden = ContactFactory(account=AccountFactory(owner_unit=org.zj_sales))
    response = client.post(url("member_add", salon),
                           {"contact_id": hidden.pk, "status": "invited"}, **HTMX)
    assert response.status_code == 422 and "visible to you" in response.content.decode()


def test_an_import_in_the_slot_shows_its_summary_and_bad_rows(org, gd_marketer, salon):
    ContactFactory(account=AccountFactory(owner_unit=org.gd_sales), email="a@gd.example.cn")
    upload = SimpleUploadedFile("list.csv", "邮箱,状态\r\na@gd.example.cn,已报名\r\n"
                                "broken,已报名\r\n".encode("gb18030"))
    response = signed_in(gd_marketer).post(url("member_import", salon), {"file": upload},
                                           **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-count="added">1<' in html and 'data-count="errors">1<' in html
    assert re.search(r"<td>3</td><td>email</td>", html)


def test_a_file_that_cannot_be_read_is_shown_on_the_form(gd_marketer, salon):
    upload = SimpleUploadedFile("list.csv", b"\xff\xfe\x00garbage\x81\x82")
    response = signed_in(gd_marketer).post(url("member_import", salon), {"file": upload},
                                           **HTMX)
    assert response.status_code == 422 and "invalid-feedback" in response.content.decode()


def test_members_of_contacts_out_of_sight_do_not_show_the_contacts_name(org, make_user,
                                                                        gd_marketer, salon):
    zj_contact = ContactFactory(account=AccountFactory(owner_unit=org.zj_sales),
                                name="浙江客户某某")
    CampaignMember.objects.create(activity=salon, contact=zj_contact, status="invited",
                                  source="import")
    html = signed_in(gd_marketer).get(url("activity_members", salon)).content.decode()
    assert "浙江客户某某" not in html and "Someone outside your scope" in html
    hq = signed_in(make_user(org.hq_marketing, Role.MARKETER))
    assert "浙江客户某某" in hq.get(url("activity_members", salon)).content.decode()


# ---- touches ---------------------------------------------------------------------------------

def test_the_touches_slot_lists_the_latest_with_counts_by_kind(org, gd_marketer, salon):
    contact = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales), name="王磊")
    profile = Profile.objects.create(contact=contact, owner_unit=org.gd_sales)
    identity = Identity.objects.create(kind=IdentityKind.EMAIL, value="w@example.cn",
                                       profile=profile)
    stranger = Identity.objects.create(kind=IdentityKind.ANONYMOUS, value="anon",
                                       profile=Profile.objects.create(owner_unit=org.zj_sales))
    now = timezone.now()
    ActivityTouch.objects.bulk_create([
        ActivityTouch(touchpoint_id=1, occurred_at=now, identity_id=identity.pk,
                      activity=salon, kind="page", how="utm"),
        ActivityTouch(touchpoint_id=2, occurred_at=now - timedelta(hours=1),
                      identity_id=identity.pk, activity=salon, kind="page", how="utm"),
        ActivityTouch(touchpoint_id=3, occurred_at=now - timedelta(hours=2),
                      identity_id=stranger.pk, activity=salon, kind="call", how="code"),
    ])
    html = signed_in(gd_marketer).get(url("activity_touches", salon), **HTMX).content.decode()
    assert 'data-kind="page">Page view · 2<' in html and 'data-kind="call">Hotline call · 1<' \
        in html
    assert html.count("data-touchpoint=") == 3
    assert "王磊" in html and "Activity code" in html and "Tracking link (utm_campaign)" in html
    assert "Profile " not in html  # the stranger's profile is out of the user's sight
