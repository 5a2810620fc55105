"""Campaign members: added by hand, imported from Excel or a GBK CSV (bad rows reported by
their row number), registered on the public page, and kept one per person when tracking
merges two profiles. A status only moves forward."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from marketloop.campaigns import members
from marketloop.campaigns.errors import CampaignError
from marketloop.campaigns.matching import attach_touchpoints_of_profiles
from marketloop.campaigns.models import ActivityStatus, CampaignMember, MemberStatus
from marketloop.org.errors import NotAllowed, NotFound
from marketloop.org.models import Role
from marketloop.tracking.models import Identity, ProfileChange
from marketloop.tracking.services import link_contacts
from tests.campaigns.factories import ActivityFactory, PlanFactory
from tests.campaigns.test_matching import event, profile_of, record, run_all, source  # noqa: F401
from tests.factories import AccountFactory, ContactFactory


@pytest.fixture
def gd_marketer(org, make_user):
    return make_user(org.gd, Role.MARKETER, username="gd-marketer")


@pytest.fixture
def salon(org, make_user):
    plan = PlanFactory(owner_unit=org.gd, owner=make_user(org.gd, Role.MANAGER))
    return ActivityFactory(plan=plan, code="gd-salon", name="广州智能制造沙龙",
                           status=ActivityStatus.PLANNED)


@pytest.fixture
def wang(org):
    contact = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales), name="王磊",
                             email="wang.lei@meidi.example.cn", mobile="+8613800138000")
    link_contacts(contact_ids=[contact.pk])
    return contact


def add(user, activity, contact, status):
    return members.add_member(user=user, activity_id=activity.pk, contact_id=contact.pk,
                              status=status)


# ---- by hand ---------------------------------------------------------------------------------

@pytest.mark.django_db
def test_a_contact_added_by_hand_moves_forward_and_never_back(gd_marketer, salon, wang):
    added = add(gd_marketer, salon, wang, MemberStatus.INVITED)
    assert added.outcome == members.ADDED and added.member.source == "manual"
    assert added.member.invited_at is not None
    assert add(gd_marketer, salon, wang, MemberStatus.ATTENDED).outcome == members.MOVED_UP
    assert add(gd_marketer, salon, wang, MemberStatus.REGISTERED).outcome == members.UNCHANGED
    member = CampaignMember.objects.get()
    assert member.status == MemberStatus.ATTENDED
    assert member.registered_at is None and member.attended_at is not None


@pytest.mark.django_db
def test_only_contacts_the_user_may_see_can_be_added(org, gd_marketer, salon):
    zj_contact = ContactFactory(account=AccountFactory(owner_unit=org.zj_sales))
    with pytest.raises(CampaignError) as error:
        add(gd_marketer, salon, zj_contact, MemberStatus.INVITED)
    assert error.value.code == "unknown_contact" and "contact_id" in error.value.errors
    assert not CampaignMember.objects.exists()


@pytest.mark.django_db
def test_members_of_a_hidden_activity_cannot_be_added(org, make_user, salon, wang):
    with pytest.raises(NotFound):
        add(make_user(org.zj, Role.MANAGER), salon, wang, MemberStatus.INVITED)
    with pytest.raises(NotAllowed):
        add(make_user(org.hq_supervision, Role.SUPERVISOR), salon, wang, MemberStatus.INVITED)


# ---- imports ---------------------------------------------------------------------------------

def xlsx(rows: list[list[object]], *, title: str = "") -> SimpleUploadedFile:
    book = openpyxl.Workbook()
    sheet = book.active
    if title:  # a merged title row above the header, as Chinese exports have
        sheet.append([title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=4)
    for row in rows:
        sheet.append(row)
    data = io.BytesIO()
    book.save(data)
    return SimpleUploadedFile("名单.xlsx", data.getvalue())


def import_file(user, activity, upload) -> members.ImportResult:
    return members.import_members(user=user, activity_id=activity.pk, upload=upload)


@pytest.mark.django_db
def test_an_excel_list_adds_moves_up_and_reports_bad_rows(org, gd_marketer, salon, wang):
    li = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales), name="李娜",
                        email="li.na@gree.example.cn", mobile="+8613900139000")
    zhao = ContactFactory(account=AccountFactory(owner_unit=org.zj_sales), name="赵强",
                          email="zhao@zj.example.cn")
    add(gd_marketer, salon, li, MemberStatus.INVITED)
    add(gd_marketer, salon, wang, MemberStatus.RESPONDED)
    upload = xlsx([
        ["姓名", "邮箱", "手机", "状态"],
        ["王磊", "WANG.LEI@meidi.example.cn", "", "已报名"],     # row 3: stays responded
        ["李娜", "", "139 0013 9000", "已参加"],                 # row 4: by mobile, moves up
        ["坏行", "not-an-email", "", "已邀请"],                 # row 5: bad email
        ["赵强", "zhao@zj.example.cn", "", "registered"],        # row 6: another province's
        ["陈晨", "chen.chen@new.example.cn", "13812345678", ""],  # row 7: not in the CRM
        ["无名", "", "", "已邀请"],                             # row 8: nobody to find
        ["重复", "chen.chen@new.example.cn", "", ""],            # row 9: duplicate of row 7
    ], title="2026年广州智能制造沙龙邀请名单")
    result = import_file(gd_marketer, salon, upload)
    assert (result.rows, result.added, result.moved_up, result.unchanged, result.pending) == \
        (7, 1, 1, 1, 1)
    assert [(e.row, e.field) for e in result.errors] == [(5, "email"), (8, "email"),
                                                         (9, "email")]
    assert "row 7" in result.errors[-1].message
    statuses = dict(CampaignMember.objects.values_list("contact__name", "status"))
    assert statuses == {"王磊": "responded", "李娜": "attended", "赵强": "registered"}
    assert CampaignMember.objects.get(contact=zhao).source == "import"
    # The person not in the CRM becomes a member once tracking has made their profile.
    from marketloop.tracking.processing import process_inbox

    while process_inbox():
        pass
    profile = Identity.objects.get(kind="email", value="chen.chen@new.example.cn").profile_id
    attach_touchpoints_of_profiles(profile_ids=[profile])
    chen = CampaignMember.objects.get(profile_id=profile)
    assert (chen.status, chen.name, chen.email, chen.source) == (
        "invited", "陈晨", "chen.chen@new.example.cn", "import")
    assert chen.invited_at is not None and chen.contact is None
    assert not salon.touches.exists()  # an import is not something the person did


@pytest.mark.django_db
def test_a_gbk_csv_with_english_headers_and_a_bad_status(org, gd_marketer, salon, wang):
    zhou = ContactFactory(account=AccountFactory(owner_unit=org.gd_sales), name="周敏",
                          email="Zhou.Min@Haier.example.cn")  # stored as typed
    text = ("name,email,mobile,status\r\n"
            "王磊,wang.lei@meidi.example.cn,,已参加\r\n"
            "张伟,zhang.wei@example.cn,,未定\r\n"
            "周敏,zhou.min@haier.example.cn,,Responded\r\n")
    upload = SimpleUploadedFile("名单.csv", text.encode("gbk"))
    result = import_file(gd_marketer, salon, upload)
    assert (result.added, result.pending) == (2, 0)
    ((row, field, message),) = [(e.row, e.field, e.message) for e in result.errors]
    assert (row, field) == (3, "status") and "未定" in message
    assert CampaignMember.objects.get(contact=wang).status == "attended"
    assert CampaignMember.objects.get(contact=zhou).status == "responded"


@pytest.mark.django_db
def test_a_file_without_a_header_is_refused_whole(gd_marketer, salon):
    upload = SimpleUploadedFile("list.csv", "王磊,138\r\n李娜,139\r\n".encode())
    with pytest.raises(CampaignError) as error:
        import_file(gd_marketer, salon, upload)
    assert error.value.code == "import_invalid" and "file" in error.value.errors


@pytest.mark.django_db
def test_a_file_beyond_the_row_limit_is_refused_whole(gd_marketer, salon, wang, monkeypatch):
    monkeypatch.setattr(members, "MAX_IMPORT_ROWS", 2)
    rows = "".join(f"p{i},p{i}@example.cn\r\n" for i in range(3))
    with pytest.raises(CampaignError):
        import_file(gd_marketer, salon,
                    SimpleUploadedFile("l.csv", f"姓名,邮箱\r\n{rows}".encode()))
    assert not CampaignMember.objects.exists()


@pytest.mark.django_db
def test_importing_needs_the_import_right(org, make_user, salon):
    rep = make_user(org.gd_sales, Role.SALES_REP)
    with pytest.raises(NotAllowed):
        import_file(rep, salon, SimpleUploadedFile("l.csv", b"email\r\na@example.cn\r\n"))


# ---- merges ----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_when_two_profiles_merge_their_members_become_one(source, salon):  # noqa: F811
    now = timezone.now().replace(microsecond=0)
    record(source, event("form", person="phone-1", name="registration", code="gd-salon",
                         at=now - timedelta(days=2)))
    record(source, {"type": "page", "userId": "u-9", "messageId": str(uuid.uuid4()),
                    "timestamp": (now - timedelta(days=1)).isoformat(),
                    "properties": {"url": "https://www.example.cn/?utm_campaign=gd-salon"}})
    first = profile_of("phone-1")
    second = Identity.objects.get(kind="user", value="u-9").profile_id
    attach_touchpoints_of_profiles(profile_ids=[first, second])
    assert CampaignMember.objects.count() == 2
    record(source, {"type": "identify", "userId": "u-9", "anonymousId": "phone-1",
                    "messageId": str(uuid.uuid4())})
    change = ProfileChange.objects.get(kind="merge")
    members.merge_profiles(pairs=[(change.survivor_id, change.other_id)])
    member = CampaignMember.objects.get()
    assert member.profile_id == change.survivor_id
    assert member.status == MemberStatus.RESPONDED
    assert member.registered_at == now - timedelta(days=2)
    assert member.responded_at == now - timedelta(days=1)


# ---- the public registration page, through the real HTTP stack --------------------------------

@pytest.mark.django_db(transaction=True)
def test_a_registration_makes_a_registered_member_linked_to_the_contact(salon, wang, run_jobs):
    client = Client(enforce_csrf_checks=True)
    url = reverse("campaigns:registration", args=[salon.code])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "广州智能制造沙龙" in html and salon.starts_on.isoformat() in html
    form = {"name": "王磊", "email": "wang.lei@meidi.example.cn", "mobile": "",
            "company": "美的集团", "consent": "on"}
    assert client.post(url, form).status_code == 403  # no CSRF token
    token = client.cookies["csrftoken"].value
    response = client.post(url, {**form, "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == f"{url}?done=1"
    assert "广州智能制造沙龙" in client.get(response["Location"]).content.decode()
    run_all(run_jobs)
    member = CampaignMember.objects.get()
    assert (member.contact_id, member.status, member.source) == (wang.pk, "registered",
                                                                "registration")
    assert member.registered_at is not None and member.name == "王磊"
    assert salon.touches.get().kind == "form"


@pytest.mark.django_db
def test_registration_needs_a_name_a_way_to_reach_and_consent(client, salon):
    url = reverse("campaigns:registration", args=[salon.code])
    response = client.post(url, {"name": "王磊", "email": "", "mobile": "", "consent": "on"})
    assert response.status_code == 422
    response = client.post(url, {"name": "王磊", "email": "wang@example.cn"})
    assert response.status_code == 422 and 'name="consent"' in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("status", [ActivityStatus.COMPLETED, ActivityStatus.CANCELLED])
def test_only_planned_and_running_activities_take_registrations(client, salon, status):
    salon.status = status
    salon.save()
    url = reverse("campaigns:registration", args=[salon.code])
    assert client.get(url).status_code == 404
    assert client.post(url, {"name": "x", "email": "x@example.cn",
                             "consent": "on"}).status_code == 404
    assert client.get(reverse("campaigns:registration", args=["no-such"])).status_code == 404
