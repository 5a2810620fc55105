"""An activity's members and tracking links as JSON: seen through the activity (a hidden one
answers like a missing one), errors as RFC 9457 problems."""

from __future__ import annotations

import pytest

from marketloop.campaigns.models import CampaignMember, TrackingLink
from marketloop.org.models import Role
from tests.api.client import ApiClient, assert_problem
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


@pytest.fixture
def gd_marketer(org, make_user):
    return make_user(org.gd, Role.MARKETER, username="gd-marketer")


@pytest.fixture
def salon(org, gd_marketer):
    plan = PlanFactory(owner_unit=org.gd, owner=gd_marketer)
    return ActivityFactory(plan=plan, code="gd-salon", name="广州智能制造沙龙")


@pytest.fixture
def contact(org):
    return ContactFactory(account=AccountFactory(owner_unit=org.gd_sales), name="王磊",
                          email="wang.lei@meidi.example.cn")


def test_a_contact_is_put_on_the_list_and_moves_forward_only(gd_marketer, salon, contact):
    api = ApiClient(gd_marketer)
    path = f"/api/activities/{salon.pk}/members"
    created = api.post(path, {"contact_id": contact.pk, "status": "registered"})
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["outcome"], body["status"], body["name"], body["contact_id"]) == (
        "added", "registered", "王磊", contact.pk)
    assert body["registered_at"] and body["source"] == "manual"
    again = api.post(path, {"contact_id": contact.pk, "status": "invited"})
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    assert again.json()["status"] == "registered"


def test_members_are_listed_with_counts_and_pages(org, gd_marketer, salon):
    contacts = ContactFactory.create_batch(5, account=AccountFactory(owner_unit=org.gd_sales))
    CampaignMember.objects.bulk_create([
        CampaignMember(activity=salon, contact=c, status="attended" if i % 2 else "invited",
                       source="import") for i, c in enumerate(contacts)])
    api = ApiClient(gd_marketer)
    first = api.get(f"/api/activities/{salon.pk}/members", {"limit": 2}).json()
    assert first["counts"] == {"invited": 3, "registered": 0, "attended": 2, "responded": 0}
    pages = api.pages(f"/api/activities/{salon.pk}/members", {"limit": 2})
    assert sorted(item["contact_id"] for page in pages for item in page) == sorted(
        c.pk for c in contacts)
    attended = api.get(f"/api/activities/{salon.pk}/members", {"status": "attended"}).json()
    assert len(attended["items"]) == 2


def test_a_bad_cursor_is_the_clients_error(gd_marketer, salon):
    response = ApiClient(gd_marketer).get(f"/api/activities/{salon.pk}/members",
                                          {"cursor": "not-a-cursor"})
    assert assert_problem(response, 422, "invalid")["errors"]["cursor"]


def test_a_contact_out_of_sight_is_unknown(org, gd_marketer, salon):
    hidden = ContactFactory(account=AccountFactory(owner_unit=org.zj_sales))
    response = ApiClient(gd_marketer).post(f"/api/activities/{salon.pk}/members",
                                           {"contact_id": hidden.pk, "status": "invited"})
    assert "contact_id" in assert_problem(response, 422, "unknown_contact")["errors"]


def test_links_are_created_listed_and_deleted(gd_marketer, salon):
    api = ApiClient(gd_marketer)
    created = api.post(f"/api/activities/{salon.pk}/links", {
        "destination": "https://www.example.cn/salon?lang=zh#form", "utm_source": "wechat",
        "utm_medium": "social", "utm_content": "menu"})
    assert created.status_code == 201, created.content
    assert created.json()["url"] == ("https://www.example.cn/salon?lang=zh&utm_source=wechat"
                                     "&utm_medium=social&utm_campaign=gd-salon"
                                     "&utm_content=menu#form")
    listed = api.get(f"/api/activities/{salon.pk}/links").json()
    assert [link["id"] for link in listed] == [created.json()["id"]]
    assert api.client.delete(f"/api/links/{listed[0]['id']}",
                             **api.headers).status_code == 204
    assert not TrackingLink.objects.exists()


def test_a_bad_landing_page_is_a_problem_on_its_field(gd_marketer, salon):
    response = ApiClient(gd_marketer).post(f"/api/activities/{salon.pk}/links", {
        "destination": "ftp://example.cn/", "utm_source": "a", "utm_medium": "b"})
    assert "destination" in assert_problem(response, 422, "invalid")["errors"]


def test_a_hidden_activity_answers_like_a_missing_one(org, make_user, gd_marketer, salon,
                                                      contact):
    zj = ApiClient(make_user(org.zj, Role.MANAGER))
    for path in (f"/api/activities/{salon.pk}/members", f"/api/activities/{salon.pk}/links",
                 "/api/activities/999999999/members"):
        assert_problem(zj.get(path), 404, "not_found")
    assert_problem(zj.post(f"/api/activities/{salon.pk}/members",
                           {"contact_id": contact.pk, "status": "invited"}), 404)


def test_deleting_a_link_of_a_hidden_activity_answers_like_a_missing_link(org, make_user,
                                                                          gd_marketer, salon):
    api = ApiClient(gd_marketer)
    link_id = api.post(f"/api/activities/{salon.pk}/links", {
        "destination": "https://www.example.cn/", "utm_source": "a",
        "utm_medium": "b"}).json()["id"]
    zj = ApiClient(make_user(org.zj, Role.MANAGER))
    hidden = zj.client.delete(f"/api/links/{link_id}", **zj.headers)
    missing = zj.client.delete("/api/links/999999999", **zj.headers)
    assert_problem(hidden, 404, "not_found")
    assert {k: v for k, v in hidden.json().items() if k != "instance"} == \
        {k: v for k, v in missing.json().items() if k != "instance"}
    assert TrackingLink.objects.filter(pk=link_id).exists()


def test_roles_without_edit_are_refused(org, make_user, salon, contact):
    supervisor = ApiClient(make_user(org.hq_supervision, Role.SUPERVISOR))
    assert_problem(supervisor.post(f"/api/activities/{salon.pk}/members",
                                   {"contact_id": contact.pk, "status": "invited"}), 403)
    assert_problem(supervisor.post(f"/api/activities/{salon.pk}/links", {
        "destination": "https://www.example.cn/", "utm_source": "a", "utm_medium": "b"}), 403)
    assert supervisor.get(f"/api/activities/{salon.pk}/members").status_code == 200
