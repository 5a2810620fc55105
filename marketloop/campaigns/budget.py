"""Budget control of activities: requests for budget, their approval by the plan's owner, and
spend (actuals, with their invoices and receipts). One transaction each, audited.

Money never runs ahead of approval: an approval cannot take a plan's activities past the plan's
budget (the plan's row is locked while it is checked, so two approvals cannot both slip
through), and spend cannot take an activity past its approved budget (the activity's row is
locked; a check constraint in the database holds the line too)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import PurePath
from typing import Any
from uuid import uuid4

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from marketloop.audit import services as audit
from marketloop.campaigns.errors import CampaignError
from marketloop.campaigns.errors import CampaignErrorCode as Code
from marketloop.campaigns.models import (
    Activity,
    ActivityStatus,
    BudgetRequest,
    MarketingPlan,
    RequestStatus,
    Spend,
    SpendAttachment,
)
from marketloop.campaigns.services import (
    approved_in_plan,
    clean_money,
    clean_text,
    visible_activity,
)
from marketloop.org.errors import NotAllowed, NotFound, OrgErrorCode
from marketloop.org.models import Role, User
from marketloop.org.notifications import notify
from marketloop.org.permissions import Action, require
from marketloop.org.scope import visible

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
MAX_ATTACHMENTS = 10


def _activity_url(activity: Activity) -> str:
    return reverse("campaigns:activity_detail", args=[activity.pk])


def _open(activity: Activity) -> None:
    if activity.status == ActivityStatus.CANCELLED:
        raise CampaignError(Code.ACTIVITY_CLOSED, _("The activity is cancelled."))


def can_decide(user: User, plan: MarketingPlan) -> bool:
    """The plan's owner decides its budget requests (administrators may stand in)."""
    return user.is_authenticated and (plan.owner_id == user.pk or user.is_superuser
                                      or user.has_role(Role.ADMINISTRATOR))


# ---- requests and approvals --------------------------------------------------------------------

@transaction.atomic
def request_budget(*, user: User, activity_id: int, amount: Any, reason: str) -> BudgetRequest:
    """Ask the plan's owner for (more) budget for an activity."""
    activity = visible_activity(user, activity_id)
    require(user, Action.EDIT)
    amount = clean_money(amount, field="amount", positive=True)
    reason = clean_text(reason, field="reason", max_length=2000,
                        message=_("Say what the money is for."))
    _open(activity)
    request = BudgetRequest.objects.create(activity=activity, amount=amount, reason=reason,
                                           requested_by=user, requested_at=timezone.now())
    audit.record(actor=user, obj=request, action="requested",
                 changes={"activity": [None, str(activity)], "amount": [None, str(amount)]},
                 reason=reason)
    notify(user=activity.plan.owner, kind="budget_request", url=_activity_url(activity),
           title=_("Budget request: %(amount)s CNY for %(activity)s")
           % {"amount": amount, "activity": activity.name},
           body=_("%(person)s asks: %(reason)s") % {"person": user, "reason": reason})
    return request


@transaction.atomic
def decide_budget_request(*, user: User, request_id: int, approve: bool,
                          note: str = "") -> BudgetRequest:
    """The plan's owner approves or rejects a pending request. An approval adds the amount to
    the activity's approved budget, unless the plan's activities would then have more approved
    than the plan's budget."""
    activities = visible(user, Activity.objects.all()).values("pk")
    found = (BudgetRequest.objects.filter(pk=request_id, activity__in=activities)
             .values_list("activity__plan_id", flat=True))
    if not found:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such budget request."))
    # Plan first, then the request and its activity: every approval in a plan queues here.
    plan = MarketingPlan.objects.select_for_update().get(pk=found[0])
    request = (BudgetRequest.objects.select_for_update(of=("self",))
               .select_related("activity", "requested_by").get(pk=request_id))
    note = clean_text(note, field="note", max_length=2000, required=False)
    if request.status != RequestStatus.PENDING:
        raise CampaignError(Code.ALREADY_DECIDED, _("This request has been decided already."))
    if not can_decide(user, plan):
        raise NotAllowed(Code.NOT_PLAN_OWNER, _("Only the plan's owner decides its budget "
                                                "requests."))
    activity = Activity.objects.select_for_update().get(pk=request.activity_id)
    if approve:
        approved = approved_in_plan(plan)
        if approved + request.amount > plan.budget:
            raise CampaignError(Code.OVER_PLAN_BUDGET, _(
                "The plan's budget is %(budget)s CNY and %(approved)s CNY of it is approved "
                "already: only %(left)s CNY is left.") % {
                    "budget": plan.budget, "approved": approved,
                    "left": max(plan.budget - approved, 0)})
        before = audit.snapshot(activity, ("approved_budget",))
        activity.approved_budget += request.amount
        activity.updated_at = timezone.now()
        activity.save(update_fields=["approved_budget", "updated_at"])
        audit.record(actor=user, obj=activity, action="budget_approved",
                     changes=audit.diff(before, audit.snapshot(activity, ("approved_budget",))),
                     reason=note)
    request.status = RequestStatus.APPROVED if approve else RequestStatus.REJECTED
    request.decided_by, request.decided_at, request.decision_note = user, timezone.now(), note
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit.record(actor=user, obj=request, action=request.status,
                 changes={"status": [RequestStatus.PENDING.value, request.status]}, reason=note)
    if request.requested_by is not None and request.requested_by.is_active:
        title = (_("Budget approved: %(amount)s CNY for %(activity)s") if approve
                 else _("Budget request rejected: %(amount)s CNY for %(activity)s"))
        notify(user=request.requested_by, kind="budget_decision", url=_activity_url(activity),
               title=title % {"amount": request.amount, "activity": activity.name}, body=note)
    return request


# ---- spend -------------------------------------------------------------------------------------

def _clean_files(files: Sequence[UploadedFile]) -> list[UploadedFile]:
    files = [file for file in files if file is not None]
    if len(files) > MAX_ATTACHMENTS:
        raise CampaignError(Code.INVALID, _("At most %(count)s files per spend record.")
                            % {"count": MAX_ATTACHMENTS}, field="files")
    for file in files:
        if file.size is None or file.size > MAX_ATTACHMENT_BYTES:
            raise CampaignError(Code.ATTACHMENT_TOO_LARGE, _(
                "%(name)s is larger than 20 MB.") % {"name": file.name}, field="files")
    return files


def _stored_name(original: str) -> str:
    """A name for the file on disk: random (the original name is kept on the row), with the
    original's extension when it is a plain one."""
    suffix = PurePath(original).suffix.lower()
    if not (suffix[1:].isascii() and suffix[1:].isalnum() and len(suffix) <= 10):
        suffix = ""
    return f"{uuid4().hex}{suffix}"


@transaction.atomic
def record_spend(*, user: User, activity_id: int, amount: Any, spent_on: date,
                 description: str, vendor: str = "",
                 files: Sequence[UploadedFile] = ()) -> Spend:
    """Record money committed or paid for an activity, with its invoices and receipts (20 MB
    each, stored under MEDIA_ROOT). Refused when it would take the activity past its approved
    budget: a new approval comes first."""
    activity = visible_activity(user, activity_id)  # locked until the spend is in
    require(user, Action.EDIT)
    amount = clean_money(amount, field="amount", positive=True)
    if not isinstance(spent_on, date):
        raise CampaignError(Code.INVALID, _("Enter the date of the spend."), field="spent_on")
    description = clean_text(description, field="description", max_length=300,
                             message=_("Say what the money was for."))
    vendor = clean_text(vendor, field="vendor", max_length=200, required=False)
    files = _clean_files(files)
    _open(activity)
    if activity.spent + amount > activity.approved_budget:
        raise CampaignError(Code.OVER_APPROVED_BUDGET, _(
            "Only %(available)s CNY of the approved budget is available; request more budget "
            "first.") % {"available": activity.available}, field="amount")
    spend = Spend.objects.create(activity=activity, amount=amount, spent_on=spent_on,
                                 description=description, vendor=vendor, recorded_by=user,
                                 recorded_at=timezone.now())
    before = audit.snapshot(activity, ("spent",))
    activity.spent += amount
    activity.updated_at = timezone.now()
    activity.save(update_fields=["spent", "updated_at"])
    for file in files:
        attachment = SpendAttachment(spend=spend, name=PurePath(file.name or "file").name[:255],
                                     size=file.size,
                                     content_type=(file.content_type or "")[:120])
        attachment.file.save(_stored_name(file.name or ""), file, save=False)
        attachment.save()
    audit.record(actor=user, obj=activity, action="spend_recorded",
                 changes={**audit.diff(before, audit.snapshot(activity, ("spent",))),
                          "spend": [None, f"{amount} · {spent_on.isoformat()} · {description}"]},
                 reason=vendor)
    return spend
