"""Tracking links: the activity's code is always utm_campaign, the landing page's own query and
fragment survive, and only people who may edit a visible activity make or delete links."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from marketloop.audit.models import AuditEntry
from marketloop.campaigns import links
from marketloop.campaigns.errors import CampaignError
from marketloop.campaigns.models import TrackingLink
from marketloop.org.errors import NotAllowed, NotFound
from marketloop.org.models import Role
from tests.campaigns.factories import ActivityFactory, PlanFactory
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
def gd_manager(org, make_user):
    return make_user(org.gd, Role.MANAGER, username="gd-manager")


@pytest.fixture
def activity(org, gd_manager):
    plan = PlanFactory(owner_unit=org.gd, owner=gd_manager)
    return ActivityFactory(plan=plan, code="gd-salon-2026q3", name="广州制造业沙龙")


def make(user, activity, destination="https://www.example.cn/solutions", **utm):
    return links.create_link(user=user, activity_id=activity.pk, destination=destination,
                             utm_source=utm.get("utm_source", "wechat"),
                             utm_medium=utm.get("utm_medium", "social"),
                             utm_content=utm.get("utm_content", ""))


def test_utm_campaign_is_always_the_activity_code(gd_manager, activity):
    link = make(gd_manager, activity, utm_content="banner")
    query = parse_qs(urlsplit(links.link_url(link)).query)
    assert query == {"utm_source": ["wechat"], "utm_medium": ["social"],
                     "utm_campaign": ["gd-salon-2026q3"], "utm_content": ["banner"]}


def test_the_landing_pages_query_is_kept_and_its_fragment_stays_last(gd_manager, activity):
    link = make(gd_manager, activity,
                destination="https://www.example.cn/events/salon?lang=zh&ref=a%20b#signup")
    assert links.link_url(link) == (
        "https://www.example.cn/events/salon?lang=zh&ref=a%20b&utm_source=wechat"
        "&utm_medium=social&utm_campaign=gd-salon-2026q3#signup")


def test_a_utm_parameter_already_on_the_landing_page_is_replaced(gd_manager, activity):
    link = make(gd_manager, activity,
                destination="https://www.example.cn/?utm_campaign=old&utm_source=x&page=2")
    query = parse_qs(urlsplit(links.link_url(link)).query)
    assert query["utm_campaign"] == ["gd-salon-2026q3"]
    assert query["utm_source"] == ["wechat"]
    assert query["page"] == ["2"]


def test_values_are_encoded_in_the_link(gd_manager, activity):
    link = make(gd_manager, activity, utm_source="微信 公众号", utm_content="a&b")
    url = links.link_url(link)
    assert "utm_source=%E5%BE%AE%E4%BF%A1%20%E5%85%AC%E4%BC%97%E5%8F%B7" in url
    assert parse_qs(urlsplit(url).query)["utm_content"] == ["a&b"]


@pytest.mark.parametrize("destination", [
    "www.example.cn/page", "/relative/path", "javascript:alert(1)", "ftp://files.example.cn/x",
    "https://", "https://exa mple.cn/", ""])
def test_only_absolute_web_addresses_are_landing_pages(gd_manager, activity, destination):
    with pytest.raises(CampaignError) as error:
        make(gd_manager, activity, destination=destination)
    assert "destination" in error.value.errors
    assert not TrackingLink.objects.exists()


def test_source_and_medium_are_required(gd_manager, activity):
    with pytest.raises(CampaignError) as error:
        make(gd_manager, activity, utm_source="  ")
    assert "utm_source" in error.value.errors


def test_a_link_is_created_and_deleted_with_an_audit_trail(gd_manager, activity):
    link = make(gd_manager, activity)
    links.delete_link(user=gd_manager, link_id=link.pk)
    assert not TrackingLink.objects.exists()
    actions = AuditEntry.objects.filter(object_type="campaigns.trackinglink",
                                        object_id=link.pk).values_list("action", flat=True)
    assert sorted(actions) == ["created", "deleted"]


def test_an_activity_of_another_province_is_as_missing_as_none(org, make_user, activity):
    gx_manager = make_user(org.gx, Role.MANAGER)
    with pytest.raises(NotFound):
        make(gx_manager, activity)
    link = make(make_user(org.gd, Role.MARKETER), activity)
    with pytest.raises(NotFound):
        links.delete_link(user=gx_manager, link_id=link.pk)
    assert TrackingLink.objects.filter(pk=link.pk).exists()


def test_roles_without_edit_may_not_make_links(org, make_user, activity):
    supervisor = make_user(org.hq_supervision, Role.SUPERVISOR)  # sees everything, edits nothing
    with pytest.raises(NotAllowed):
        make(supervisor, activity)


def test_a_link_of_another_activity_cannot_be_deleted_through_this_one(org, gd_manager,
                                                                     activity):
    other = ActivityFactory(plan=activity.plan)
    link = make(gd_manager, other)
    with pytest.raises(CampaignError):
        links.delete_link(user=gd_manager, link_id=link.pk, activity_id=activity.pk)
    assert TrackingLink.objects.filter(pk=link.pk).exists()
