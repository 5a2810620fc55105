"""Budget control: requests go to the plan's owner, only they (or an administrator) decide,
approvals stay within the plan's budget, spend stays within the approved budget (a new
approval lets more through), and spend carries its files. (Two at once:
test_budget_concurrency.py.)"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction

from marketloop.audit.models import AuditEntry
from marketloop.campaigns import budget, selectors
from marketloop.campaigns.errors import CampaignError, CampaignErrorCode
from marketloop.campaigns.models import Activity, BudgetRequest, RequestStatus, SpendAttachment
from marketloop.org.errors import NotAllowed, NotFound
from marketloop.org.models import Notification, Role
from tests.campaigns.factories import (  # noqa: F401  (a fixture)
    ActivityFactory,
    BudgetRequestFactory,
    PlanFactory,
    campaigns_org,
)

pytestmark = pytest.mark.usefixtures("campaigns_org")

MB = 1024 * 1024


@pytest.fixture
def owner(org, make_user):
    """The plan's owner: Guangdong's marketing manager."""
    return make_user(org.gd, Role.MANAGER, username="gd-plan-owner")


@pytest.fixture
def marketer(org, make_user):
    return make_user(org.gd_sales, Role.MARKETER, username="gd-marketer")


@pytest.fixture
def plan(org, owner):
    return PlanFactory(owner_unit=org.gd, owner=owner, budget=Decimal("50000"))


@pytest.fixture
def salon(plan, org):
    return ActivityFactory(plan=plan, owner_unit=org.gd_sales, budget=Decimal("30000"))


@pytest.fixture
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def ask(user, activity, amount="10000", reason="场地和茶歇") -> BudgetRequest:
    return budget.request_budget(user=user, activity_id=activity.pk, amount=amount,
                                 reason=reason)


def spend(user, activity, amount, **fields):
    values = {"spent_on": date(2026, 7, 10), "description": "场地费", "vendor": "会展中心"}
    values.update(fields)
    return budget.record_spend(user=user, activity_id=activity.pk, amount=amount, **values)


# ---- requests --------------------------------------------------------------------------------

def test_a_budget_request_waits_for_the_plan_owner_who_is_told(marketer, owner, salon):
    request = ask(marketer, salon)
    assert (request.status, request.amount, request.requested_by) == (
        RequestStatus.PENDING, Decimal("10000.00"), marketer)
    told = Notification.objects.get(user=owner)
    assert told.kind == "budget_request"
    assert "10000.00" in told.title and salon.name in told.title
    assert told.url == f"/campaigns/activities/{salon.pk}/"
    assert AuditEntry.objects.filter(object_type="campaigns.budgetrequest",
                                     object_id=request.pk, action="requested").exists()
    salon.refresh_from_db()
    assert salon.approved_budget == 0  # nothing is approved by asking


@pytest.mark.parametrize(("amount", "reason", "field"), [("0", "x", "amount"),
                                                         ("-5", "x", "amount"),
                                                         ("100", " ", "reason")])
def test_a_request_needs_an_amount_and_a_reason(marketer, salon, amount, reason, field):
    with pytest.raises(CampaignError) as refused:
        ask(marketer, salon, amount=amount, reason=reason)
    assert refused.value.errors.keys() == {field}


def test_nobody_asks_for_budget_for_an_activity_out_of_sight(org, make_user, salon):
    with pytest.raises(NotFound):
        ask(make_user(org.zj, Role.MARKETER), salon)


# ---- decisions -------------------------------------------------------------------------------

def test_only_the_plan_owner_decides_a_budget_request(org, make_user, marketer, salon):
    request = ask(marketer, salon)
    another_manager = make_user(org.gd, Role.MANAGER)
    for someone in (marketer, another_manager):
        with pytest.raises(NotAllowed) as refused:
            budget.decide_budget_request(user=someone, request_id=request.pk, approve=True)
        assert refused.value.code == CampaignErrorCode.NOT_PLAN_OWNER
        assert refused.value.status == 403
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING


def test_an_administrator_may_decide_for_the_plan_owner(org, make_user, marketer, salon):
    admin = make_user(org.hq, Role.ADMINISTRATOR)
    request = ask(marketer, salon)
    assert budget.decide_budget_request(user=admin, request_id=request.pk,
                                        approve=False).status == RequestStatus.REJECTED


def test_an_approval_adds_to_the_approved_budget_and_tells_the_requester(
        owner, marketer, salon):
    request = ask(marketer, salon, amount="12000")
    decided = budget.decide_budget_request(user=owner, request_id=request.pk, approve=True,
                                           note="同意")
    assert (decided.status, decided.decided_by, decided.decision_note) == (
        RequestStatus.APPROVED, owner, "同意")
    salon.refresh_from_db()
    assert salon.approved_budget == Decimal("12000.00")
    told = Notification.objects.get(user=marketer)
    assert told.kind == "budget_decision" and "12000.00" in told.title
    assert AuditEntry.objects.get(object_type="campaigns.activity", object_id=salon.pk,
                                  action="budget_approved").changes == {
        "approved_budget": ["0.00", "12000.00"]}


def test_a_rejection_leaves_the_approved_budget_alone(owner, marketer, salon):
    request = ask(marketer, salon)
    budget.decide_budget_request(user=owner, request_id=request.pk, approve=False, note="太贵")
    salon.refresh_from_db()
    assert salon.approved_budget == 0
    assert "rejected" in Notification.objects.get(user=marketer).title


def test_a_decided_request_is_not_decided_again(owner, marketer, salon):
    request = ask(marketer, salon)
    budget.decide_budget_request(user=owner, request_id=request.pk, approve=True)
    for approve in (True, False):
        with pytest.raises(CampaignError) as refused:
            budget.decide_budget_request(user=owner, request_id=request.pk, approve=approve)
        assert refused.value.code == CampaignErrorCode.ALREADY_DECIDED
    salon.refresh_from_db()
    assert salon.approved_budget == Decimal("10000.00")


def test_an_approval_beyond_the_plans_budget_is_refused(org, owner, marketer, plan, salon):
    forum = ActivityFactory(plan=plan, approved_budget=Decimal("30000"))
    first = ask(marketer, salon, amount="15000")
    budget.decide_budget_request(user=owner, request_id=first.pk, approve=True)
    too_much = ask(marketer, salon, amount="5000.01")  # 30,000 + 15,000 + 5,000.01 > 50,000
    with pytest.raises(CampaignError) as refused:
        budget.decide_budget_request(user=owner, request_id=too_much.pk, approve=True)
    assert refused.value.code == CampaignErrorCode.OVER_PLAN_BUDGET
    assert "5000.00" in refused.value.message  # what is left
    too_much.refresh_from_db()
    assert too_much.status == RequestStatus.PENDING
    exactly = ask(marketer, salon, amount="5000")
    budget.decide_budget_request(user=owner, request_id=exactly.pk, approve=True)
    salon.refresh_from_db()
    forum.refresh_from_db()
    assert salon.approved_budget + forum.approved_budget == plan.budget


def test_a_request_out_of_sight_is_as_missing_as_none(org, make_user, marketer, salon):
    request = ask(marketer, salon)
    with pytest.raises(NotFound):
        budget.decide_budget_request(user=make_user(org.zj, Role.MANAGER), request_id=request.pk,
                                     approve=True)
    with pytest.raises(NotFound):
        budget.decide_budget_request(user=marketer, request_id=10**9, approve=True)


# ---- spend -----------------------------------------------------------------------------------

def test_spend_beyond_the_approved_budget_is_refused_with_what_is_available(marketer, salon):
    Activity.objects.filter(pk=salon.pk).update(approved_budget=Decimal("5000"))
    spend(marketer, salon, "3000")
    with pytest.raises(CampaignError) as refused:
        spend(marketer, salon, "2000.01")
    assert refused.value.code == CampaignErrorCode.OVER_APPROVED_BUDGET
    assert "2000.00" in refused.value.message and "request more" in refused.value.message
    assert refused.value.errors.keys() == {"amount"}
    salon.refresh_from_db()
    assert salon.spent == Decimal("3000.00")
    assert salon.spend.count() == 1


def test_an_activity_without_approved_budget_spends_nothing(marketer, salon):
    with pytest.raises(CampaignError) as refused:
        spend(marketer, salon, "0.01")
    assert refused.value.code == CampaignErrorCode.OVER_APPROVED_BUDGET


def test_a_new_approval_lets_the_refused_spend_through(owner, marketer, salon):
    budget.decide_budget_request(user=owner, request_id=ask(marketer, salon, "5000").pk,
                                 approve=True)
    spend(marketer, salon, "4000")
    with pytest.raises(CampaignError):
        spend(marketer, salon, "3000")
    budget.decide_budget_request(user=owner, request_id=ask(marketer, salon, "2000").pk,
                                 approve=True)
    spend(marketer, salon, "3000")
    salon.refresh_from_db()
    assert (salon.approved_budget, salon.spent, salon.available) == (
        Decimal("7000.00"), Decimal("7000.00"), Decimal("0.00"))
    assert AuditEntry.objects.filter(object_id=salon.pk, action="spend_recorded").count() == 2


def test_the_database_refuses_spend_beyond_the_approved_budget_too(salon):
    with pytest.raises(IntegrityError), transaction.atomic():
        Activity.objects.filter(pk=salon.pk).update(spent=Decimal("0.01"))


def test_spend_on_a_cancelled_activity_is_refused(marketer, salon):
    Activity.objects.filter(pk=salon.pk).update(approved_budget=Decimal("5000"),
                                                status="cancelled")
    with pytest.raises(CampaignError) as refused:
        spend(marketer, salon, "100")
    assert refused.value.code == CampaignErrorCode.ACTIVITY_CLOSED


def test_spend_needs_a_description_a_date_and_a_positive_amount(marketer, salon):
    Activity.objects.filter(pk=salon.pk).update(approved_budget=Decimal("5000"))
    for fields, field in (({"description": ""}, "description"), ({"spent_on": None}, "spent_on")):
        with pytest.raises(CampaignError) as refused:
            spend(marketer, salon, "100", **fields)
        assert refused.value.errors.keys() == {field}
    with pytest.raises(CampaignError):
        spend(marketer, salon, "0")


def test_spend_files_are_stored_under_media_root(media, marketer, salon):
    Activity.objects.filter(pk=salon.pk).update(approved_budget=Decimal("5000"))
    invoice = SimpleUploadedFile("发票 2026-07.pdf", b"%PDF-1.7 invoice", "application/pdf")
    receipt = SimpleUploadedFile("receipt.jpg", b"\xff\xd8 jpeg", "image/jpeg")
    record = spend(marketer, salon, "1200", files=[invoice, receipt])
    files = list(record.attachments.order_by("id"))
    assert [(f.name, f.size, f.content_type) for f in files] == [
        ("发票 2026-07.pdf", 16, "application/pdf"), ("receipt.jpg", 7, "image/jpeg")]
    for stored, content in zip(files, (b"%PDF-1.7 invoice", b"\xff\xd8 jpeg"), strict=True):
        path = Path(stored.file.path)
        assert path.is_relative_to(media / "campaigns" / "spend")
        assert path.read_bytes() == content
    assert Path(files[0].file.name).suffix == ".pdf"


def test_a_file_over_20_mb_is_refused_and_nothing_is_recorded(media, marketer, salon):
    Activity.objects.filter(pk=salon.pk).update(approved_budget=Decimal("5000"))
    spend(marketer, salon, "100",
          files=[SimpleUploadedFile("just-fits.pdf", b"x" * (20 * MB), "application/pdf")])
    with pytest.raises(CampaignError) as refused:
        spend(marketer, salon, "100",
              files=[SimpleUploadedFile("big.pdf", b"x" * (20 * MB + 1), "application/pdf")])
    assert refused.value.code == CampaignErrorCode.ATTACHMENT_TOO_LARGE
    assert "big.pdf" in refused.value.message
    salon.refresh_from_db()
    assert salon.spent == Decimal("100.00")
    assert SpendAttachment.objects.filter(spend__activity=salon).count() == 1


def test_a_file_is_found_only_through_an_activity_the_user_may_see(
        org, make_user, media, marketer, salon, plan):
    Activity.objects.filter(pk=salon.pk).update(approved_budget=Decimal("5000"))
    record = spend(marketer, salon, "100", files=[SimpleUploadedFile("a.pdf", b"pdf")])
    attachment = record.attachments.get()
    assert selectors.spend_attachment(marketer, salon.pk, attachment.pk) == attachment
    with pytest.raises(NotFound):
        selectors.spend_attachment(make_user(org.zj, Role.MARKETER), salon.pk, attachment.pk)
    other = ActivityFactory(plan=plan)
    with pytest.raises(NotFound):  # the right file, through the wrong activity
        selectors.spend_attachment(marketer, other.pk, attachment.pk)


def test_requests_and_spend_are_read_through_their_activity(owner, marketer, salon):
    BudgetRequestFactory(activity=salon, requested_by=marketer, amount=Decimal("1"))
    ask(marketer, salon)
    assert [r.amount for r in selectors.budget_requests(salon)] == [Decimal("10000.00"),
                                                                    Decimal("1.00")]
