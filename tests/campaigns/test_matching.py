"""Touchpoints attach to activities by utm_campaign or by properties.activity_code, once each,
and the people behind them become members whose status only moves forward. Touchpoints are
made for real: stored in the inbox and processed (stitching included)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

import orjson
import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from marketloop.campaigns import links
from marketloop.campaigns.matching import (
    attach_touchpoints_of_activity,
    attach_touchpoints_of_profiles,
)
from marketloop.campaigns.models import ActivityTouch, CampaignMember, MemberStatus
from marketloop.org.models import Role
from marketloop.tracking import ingest
from marketloop.tracking.models import Identity, Profile, Source, SourceKind
from marketloop.tracking.processing import process_inbox
from marketloop.tracking.services import link_contacts
from tests.campaigns.factories import ActivityFactory, PlanFactory
from tests.factories import AccountFactory, ContactFactory
from tests.tracking.conftest import post_batch


@pytest.fixture
def source(org) -> Source:
    return Source.objects.create(name="Website", kind=SourceKind.SERVER)


@pytest.fixture
def plan(org, make_user):
    return PlanFactory(owner_unit=org.gd, owner=make_user(org.gd, Role.MANAGER), year=2026,
                       quarter=4)


@pytest.fixture
def salon(plan):
    return ActivityFactory(plan=plan, code="gd-salon", name="广州沙龙",
                           starts_on=timezone.localdate() - timedelta(days=3),
                           ends_on=timezone.localdate() + timedelta(days=3))


def event(kind: str, *, person: str, at: datetime | None = None, code: str = "",
          utm: str = "", name: str = "", properties: dict | None = None,
          traits: dict | None = None) -> dict[str, Any]:
    """A Segment event of `person` (an anonymous id): a page view (with utm_campaign=`utm` in
    its URL), or a track call of touchpoint kind `kind` (carrying activity_code=`code`)."""
    body: dict[str, Any] = {"anonymousId": person, "messageId": str(uuid.uuid4()),
                            "timestamp": (at or timezone.now()).isoformat()}
    props = dict(properties or {})
    if kind == "identify":
        body.update(type="identify", traits={**props, "activity_code": code})
        return body
    if kind == "page":
        body["type"] = "page"
        query = f"?utm_source=wechat&utm_medium=social&utm_campaign={utm}" if utm else ""
        props["url"] = f"https://www.example.cn/salon{query}"
    else:
        body.update(type="track", event=name or kind.title())
        props["touchpoint_kind"] = kind
    if code:
        props["activity_code"] = code
    body["properties"] = props
    if traits:
        body["context"] = {"traits": traits}
    return body


def record(source: Source, *events: dict) -> None:
    """Store the events as the tracking API would, and process the inbox."""
    ingest.store(source_id=source.id, endpoint="batch",
                 body=orjson.dumps({"batch": list(events)}), count=len(events), ip=None)
    while process_inbox():
        pass


def profile_of(person: str) -> int:
    return Identity.objects.get(kind="anonymous", value=person).profile_id


def attach(*people: str) -> int:
    return attach_touchpoints_of_profiles(profile_ids=[profile_of(p) for p in people])


def member_of(activity, person: str) -> CampaignMember:
    return CampaignMember.objects.get(activity=activity, profile_id=profile_of(person))


@pytest.mark.django_db
def test_a_visit_through_a_tracking_link_is_attached_by_utm(source, salon):
    record(source, event("page", person="v1", utm=" GD-Salon "))
    assert attach("v1") == 1
    touch = ActivityTouch.objects.get()
    assert (touch.activity, touch.kind, touch.how) == (salon, "page", "utm")
    assert touch.identity_id == Identity.objects.get(value="v1").pk
    member = member_of(salon, "v1")
    assert member.status == MemberStatus.RESPONDED and member.contact is None
    assert member.source == "touchpoint" and member.responded_at == touch.occurred_at


@pytest.mark.django_db
def test_a_call_carrying_the_activity_code_is_attached_by_code(source, salon):
    record(source, event("call", person="caller", code="gd-salon"))
    assert attach("caller") == 1
    assert ActivityTouch.objects.get().how == "code"
    assert member_of(salon, "caller").status == MemberStatus.RESPONDED


@pytest.mark.django_db
def test_attaching_twice_attaches_once_and_changes_nothing(source, salon):
    record(source, event("page", person="v1", utm="gd-salon"),
           event("email_open", person="v1", code="gd-salon"))
    assert attach("v1") == 2
    before = CampaignMember.objects.values().get()
    assert attach("v1") == 0
    assert attach_touchpoints_of_activity(activity_id=salon.pk) == 0
    assert ActivityTouch.objects.count() == 2
    assert CampaignMember.objects.values().get() == before


@pytest.mark.django_db
def test_unknown_codes_attach_nothing(source, salon):
    record(source, event("page", person="v1", utm="someone-elses-campaign"),
           event("call", person="v1", code="no-such-code"),
           event("page", person="v1"))
    assert attach("v1") == 0
    assert not ActivityTouch.objects.exists()
    assert not CampaignMember.objects.exists()


@pytest.mark.django_db
def test_a_new_activity_collects_the_touchpoints_that_carried_its_code(source, plan):
    starts = timezone.localdate() - timedelta(days=10)
    early = timezone.now() - timedelta(days=10 + 100)  # more than 90 days before it starts
    record(source, event("page", person="early", at=early, utm="gd-forum"),
           event("page", person="v1", at=timezone.now() - timedelta(days=30), utm="gd-forum"),
           event("call", person="v2", code="GD-FORUM"))
    assert attach("early", "v1", "v2") == 0  # no such activity yet
    forum = ActivityFactory(plan=plan, code="gd-forum", starts_on=starts,
                            ends_on=starts + timedelta(days=1))
    assert attach_touchpoints_of_activity(activity_id=forum.pk) == 2
    assert sorted(ActivityTouch.objects.values_list("how", flat=True)) == ["code", "utm"]
    assert {member_of(forum, p).status for p in ("v1", "v2")} == {MemberStatus.RESPONDED}
    assert not CampaignMember.objects.filter(profile_id=profile_of("early")).exists()


@pytest.mark.django_db
def test_statuses_from_registration_attendance_and_response(source, salon):
    now = timezone.now()
    record(source,
           event("form", person="reg", name="registration", code="gd-salon",
                 at=now - timedelta(hours=3)),
           event("form", person="reg2", name="Form Submitted", code="gd-salon",
                 properties={"form": "Register"}),
           event("event", person="came", name="Checked In", code="gd-salon"),
           event("form", person="asked", name="Form Submitted", code="gd-salon"),
           event("identify", person="id-only", code="gd-salon"))
    attach("reg", "reg2", "came", "asked", "id-only")
    assert member_of(salon, "reg").status == MemberStatus.REGISTERED
    assert member_of(salon, "reg").source == "registration"
    assert member_of(salon, "reg2").status == MemberStatus.REGISTERED
    assert member_of(salon, "came").status == MemberStatus.ATTENDED
    assert member_of(salon, "asked").status == MemberStatus.RESPONDED
    # an identify call is attached but says nothing about membership
    assert not CampaignMember.objects.filter(profile_id=profile_of("id-only")).exists()
    assert ActivityTouch.objects.count() == 5


@pytest.mark.django_db
def test_status_never_moves_backward_and_each_status_keeps_its_first_time(source, salon):
    now = timezone.now().replace(microsecond=0)
    record(source, event("form", person="p", name="registration", code="gd-salon",
                         at=now - timedelta(days=2)))
    attach("p")
    record(source, event("event", person="p", code="gd-salon", at=now - timedelta(days=1)),
           event("page", person="p", utm="gd-salon", at=now - timedelta(hours=1)))
    attach("p")
    member = member_of(salon, "p")
    assert member.status == MemberStatus.RESPONDED
    record(source, event("form", person="p", name="registration", code="gd-salon", at=now),
           event("event", person="p", code="gd-salon", at=now))
    attach("p")
    member.refresh_from_db()
    assert member.status == MemberStatus.RESPONDED  # not back to registered or attended
    assert member.registered_at == now - timedelta(days=2)
    assert member.attended_at == now - timedelta(days=1)
    assert member.responded_at == now - timedelta(hours=1)


@pytest.mark.django_db
def test_a_known_contact_becomes_a_member_as_that_contact(org, source, salon):
    contact = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales),
                             name="王磊", email="wang.lei@meidi.example.cn")
    link_contacts(contact_ids=[contact.pk])
    record(source, event("page", person="v1", utm="gd-salon",
                         traits={"email": "Wang.Lei@meidi.example.cn"}))
    attach("v1")
    member = CampaignMember.objects.get()
    assert member.contact == contact and member.email == "wang.lei@meidi.example.cn"


@pytest.mark.django_db
def test_a_profile_member_becomes_the_contacts_member_once_the_contact_is_known(org, source,
                                                                              salon):
    record(source, event("page", person="v1", utm="gd-salon",
                         traits={"email": "li.na@gree.example.cn"}),
           event("form", person="v1", name="registration", code="gd-salon"))
    attach("v1")
    profile_member = CampaignMember.objects.get()
    assert profile_member.contact is None
    contact = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales),
                             email="li.na@gree.example.cn")
    link_contacts(contact_ids=[contact.pk])  # tracking links the email to the contact
    # the contact was also put on the list by hand meanwhile, as invited
    CampaignMember.objects.create(activity=salon, contact=contact, status="invited",
                                  source="manual", invited_at=timezone.now())
    record(source, event("page", person="v1"))  # any new touchpoint of theirs
    attach("v1")
    member = CampaignMember.objects.get()
    assert member.contact == contact and member.status == MemberStatus.RESPONDED
    assert member.invited_at and member.registered_at and member.responded_at


@pytest.mark.django_db
def test_an_identity_shared_by_activities_attaches_each_touchpoint_to_its_own(source, plan,
                                                                             salon):
    webinar = ActivityFactory(plan=plan, code="gd-webinar")
    record(source, event("page", person="v1", utm="gd-salon"),
           event("page", person="v1", utm="gd-webinar"),
           event("page", person="v1", utm="gd-webinar", properties={"activity_code": "gd-salon"}))
    attach("v1")
    counts = dict(ActivityTouch.objects.values_list("activity__code").annotate(n=Count("id")))
    assert counts == {"gd-salon": 1, "gd-webinar": 2}  # utm_campaign wins over the code
    assert {m.activity for m in CampaignMember.objects.all()} == {salon, webinar}


# ---- through the real tracking API and worker -------------------------------------------------

def run_all(run_jobs) -> None:
    """Run jobs until none is due: processing queues attaching, which may queue more."""
    for _round in range(10):
        run_jobs()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo' "
                           "AND (scheduled_at IS NULL OR scheduled_at <= now())")
            if not cursor.fetchone()[0]:
                return
    raise AssertionError("jobs keep coming")


@pytest.mark.django_db(transaction=True)
def test_a_visit_through_a_tracking_link_makes_a_responded_member(client, org, make_user,
                                                                  source, run_jobs):
    manager = make_user(org.gd, Role.MANAGER)
    plan = PlanFactory(owner_unit=org.gd, owner=manager)
    salon = ActivityFactory(plan=plan, code="gd-salon-e2e", starts_on=date(2026, 7, 1))
    link = links.create_link(user=manager, activity_id=salon.pk,
                             destination="https://www.example.cn/salon?lang=zh#form",
                             utm_source="wechat", utm_medium="social")
    page = {"type": "page", "anonymousId": "visitor-7", "messageId": str(uuid.uuid4()),
            "name": "Salon", "properties": {"url": links.link_url(link), "title": "沙龙报名"}}
    assert post_batch(client, source, [page]).status_code == 200
    run_all(run_jobs)
    touch = ActivityTouch.objects.get()
    assert (touch.activity_id, touch.how, touch.kind) == (salon.pk, "utm", "page")
    member = CampaignMember.objects.get()
    assert member.activity_id == salon.pk and member.status == MemberStatus.RESPONDED
    assert member.profile_id == Profile.objects.get(
        identities__kind="anonymous", identities__value="visitor-7").pk

