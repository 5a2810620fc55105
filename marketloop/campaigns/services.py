"""Writes of marketing plans and activities: one transaction each, validated, audited. The
budget's writes (requests, approvals, spend) are in campaigns.budget.

Order of checks in a write to a plan or an activity: the row must be visible (else it is as
missing as an id that does not exist), the roles must allow the action, then the request must
be valid.

Reach: a unit a user may put a plan or an activity in is one in their scope (HQ: any; a region:
its subtree; a province or its departments: the province's subtree; a partner: itself)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from marketloop.audit import services as audit
from marketloop.campaigns.errors import CampaignError
from marketloop.campaigns.errors import CampaignErrorCode as Code
from marketloop.campaigns.models import (
    Activity,
    ActivityKind,
    ActivityLevel,
    ActivityStatus,
    MarketingPlan,
)
from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import OrgUnit, UnitKind, User
from marketloop.org.permissions import Action, require
from marketloop.org.scope import visible, visible_unit_ids

PLAN_AUDIT_FIELDS = ("name", "year", "quarter", "owner_unit", "owner", "goal_leads",
                     "goal_mqls", "goal_pipeline", "goal_revenue", "budget")
ACTIVITY_AUDIT_FIELDS = ("plan", "code", "name", "kind", "level", "status", "owner_unit",
                         "partner", "owner", "starts_on", "ends_on", "audience", "goal_leads",
                         "goal_mqls", "goal_pipeline", "goal_revenue", "budget")
GOALS = ("goal_leads", "goal_mqls", "goal_pipeline", "goal_revenue")
PLAN_EDITABLE = {"name", "year", "quarter", "owner_id", "budget", *GOALS}
ACTIVITY_EDITABLE = {"name", "code", "kind", "level", "owner_unit_id", "partner_id", "owner_id",
                     "starts_on", "ends_on", "audience", "budget", *GOALS}
CENT = Decimal("0.01")
MAX_MONEY = Decimal("1e14")  # the columns hold 16 digits, 2 of them decimals
MAX_COUNT = 2_147_483_647
CODE_LENGTH = 60
CODE_UNIT_PART = 30  # so year, quarter, kind and sequence always fit in the code
CODE_ATTEMPTS = 5

# Who may own an activity of each level (kept simple on purpose): company-level activities
# (standard content, thought leadership) belong to HQ; region-level ones to a region or a
# province (its departments included); customer-group activities to any unit.
LEVEL_UNIT_KINDS: dict[str, frozenset[str]] = {
    ActivityLevel.COMPANY: frozenset({UnitKind.HQ, UnitKind.HQ_DEPARTMENT}),
    ActivityLevel.REGION: frozenset({UnitKind.REGION, UnitKind.PROVINCE,
                                     UnitKind.PROVINCE_DEPARTMENT}),
    ActivityLevel.CUSTOMER_GROUP: frozenset(UnitKind.values),
}


# ---- validation shared with the budget's writes --------------------------------------------

def clean_money(value: Any, *, field: str, positive: bool = False) -> Decimal:
    """CNY with two places: at least zero (above zero with `positive`), below 10¹⁴."""
    try:
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise CampaignError(Code.INVALID, _("Enter an amount in CNY."), field=field) from None
    if not amount.is_finite() or amount >= MAX_MONEY or amount < 0 or (positive and amount == 0):
        message = (_("The amount must be above zero and below 10¹⁴.") if positive
                   else _("The amount must be zero or more and below 10¹⁴."))
        raise CampaignError(Code.INVALID, message, field=field)
    return amount


def clean_text(value: Any, *, field: str, max_length: int, required: bool = True,
               message: str = "") -> str:
    text = str(value or "").strip()
    if required and not text:
        raise CampaignError(Code.INVALID, message or _("This field is required."), field=field)
    if len(text) > max_length:
        raise CampaignError(Code.INVALID, _("At most %(count)s characters.")
                            % {"count": max_length}, field=field)
    return text


def _clean_count(value: Any, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise CampaignError(Code.INVALID, _("Enter a whole number, zero or more."), field=field)
    return value


def _clean_goals(values: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for name in GOALS:
        if name not in values:
            continue
        if name in {"goal_leads", "goal_mqls"}:
            clean[name] = _clean_count(values[name], field=name)
        else:
            clean[name] = clean_money(values[name], field=name)
    return clean


def _clean_period(year: Any, quarter: Any) -> tuple[int, int]:
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        raise CampaignError(Code.INVALID, _("Enter a year from 2000 to 2100."), field="year")
    if isinstance(quarter, bool) or not isinstance(quarter, int) or not 1 <= quarter <= 4:
        raise CampaignError(Code.INVALID, _("Choose a quarter, 1 to 4."), field="quarter")
    return year, quarter


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    """The first and the last day of a quarter."""
    first = date(year, 3 * quarter - 2, 1)
    last = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return first, date.fromordinal(last.toordinal() - 1)


def _in_reach(user: User, unit: OrgUnit) -> bool:
    if user.is_superuser:
        return True
    if user.unit is None:
        return False
    unit_ids = visible_unit_ids(user.unit)
    return unit_ids is None or unit.pk in unit_ids


def _reachable_unit(user: User, unit_id: Any, *, field: str) -> OrgUnit:
    """A unit the user may put rows in; one outside their reach is as unknown as a missing
    one."""
    unit = OrgUnit.objects.filter(pk=unit_id).first() if isinstance(unit_id, int) else None
    if unit is None or not _in_reach(user, unit):
        raise CampaignError(Code.UNKNOWN_UNIT, _("Choose a unit within your reach."), field=field)
    return unit


def _within(outer: OrgUnit, unit: OrgUnit) -> bool:
    """`unit` is `outer` or lies under it."""
    return unit.path.startswith(outer.path)


def _active_user(user_id: Any, *, field: str) -> User:
    person = (User.objects.select_related("unit")
              .filter(pk=user_id, is_active=True, unit__isnull=False).first()
              if isinstance(user_id, int) else None)
    if person is None:
        raise CampaignError(Code.UNKNOWN_USER, _("Choose an active user of the company."),
                            field=field)
    return person


def _plan_owner(owner_id: Any, unit: OrgUnit) -> User:
    """A plan's owner approves its budget requests: a user of its unit or of one above it."""
    owner = _active_user(owner_id, field="owner")
    # HQ's departments act for HQ, which is above every unit.
    if not (_within(owner.unit, unit) or owner.unit.kind == UnitKind.HQ_DEPARTMENT):
        raise CampaignError(Code.UNKNOWN_USER, _("The plan's owner works in the plan's unit or "
                                                 "in a unit above it."), field="owner")
    return owner


# ---- plans -------------------------------------------------------------------------------------

def _visible_plan(user: User, plan_id: int) -> MarketingPlan:
    """The plan, locked for the write; a plan the user may not see is a missing one."""
    found = visible(user, MarketingPlan.objects.filter(pk=plan_id)).values_list("pk", flat=True)
    if not found:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such marketing plan."))
    return MarketingPlan.objects.select_for_update().select_related("owner_unit").get(
        pk=found[0])


def _plan_exists() -> CampaignError:
    return CampaignError(Code.PLAN_EXISTS, _("This unit has a plan for this quarter already."),
                         field="quarter")


def _save_new_plan(plan: MarketingPlan) -> None:
    """Insert, with the unit-and-quarter rule answered as a domain error even when two people
    create the same plan at once."""
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError:
        raise _plan_exists() from None


@transaction.atomic
def create_plan(*, user: User, name: str, year: int, quarter: int, owner_unit_id: int,
                owner_id: int, budget: Any = 0, goal_leads: int = 0, goal_mqls: int = 0,
                goal_pipeline: Any = 0, goal_revenue: Any = 0) -> MarketingPlan:
    """A unit's marketing plan for a quarter (one per unit and quarter), its goals and its
    budget; its owner approves its activities' budget requests."""
    require(user, Action.CREATE)
    name = clean_text(name, field="name", max_length=200, message=_("A plan needs a name."))
    year, quarter = _clean_period(year, quarter)
    unit = _reachable_unit(user, owner_unit_id, field="owner_unit")
    owner = _plan_owner(owner_id, unit)
    goals = _clean_goals({"goal_leads": goal_leads, "goal_mqls": goal_mqls,
                          "goal_pipeline": goal_pipeline, "goal_revenue": goal_revenue})
    budget = clean_money(budget, field="budget")
    if MarketingPlan.objects.filter(owner_unit=unit, year=year, quarter=quarter).exists():
        raise _plan_exists()
    now = timezone.now()
    plan = MarketingPlan(name=name, year=year, quarter=quarter, owner_unit=unit, owner=owner,
                         budget=budget, created_by=user, created_at=now, updated_at=now, **goals)
    _save_new_plan(plan)
    audit.record(actor=user, obj=plan, action="created",
                 changes={k: v for k, v in audit.diff(
                     {}, audit.snapshot(plan, PLAN_AUDIT_FIELDS)).items() if v[1] is not None})
    return plan


@transaction.atomic
def update_plan(*, user: User, plan_id: int, reason: str = "", **changes: Any) -> MarketingPlan:
    """Change a plan's name, quarter, owner, goals or budget. Its activities must still start
    in its quarter, and its budget must still cover what has been approved."""
    plan = _visible_plan(user, plan_id)
    require(user, Action.EDIT)
    unknown = set(changes) - PLAN_EDITABLE
    if unknown:
        raise CampaignError(Code.INVALID, _("This field cannot be changed."),
                            field=sorted(unknown)[0])
    if "name" in changes:
        changes["name"] = clean_text(changes["name"], field="name", max_length=200,
                                     message=_("A plan needs a name."))
    year, quarter = _clean_period(changes.get("year", plan.year),
                                  changes.get("quarter", plan.quarter))
    if "owner_id" in changes:
        changes["owner"] = _plan_owner(changes.pop("owner_id"), plan.owner_unit)
    changes.update(_clean_goals(changes))
    if "budget" in changes:
        changes["budget"] = clean_money(changes["budget"], field="budget")
        approved = approved_in_plan(plan)
        if changes["budget"] < approved:
            raise CampaignError(Code.OVER_PLAN_BUDGET, _(
                "%(approved)s CNY of this plan's budget is approved already; the budget cannot "
                "be less.") % {"approved": approved}, field="budget")
    if (year, quarter) != (plan.year, plan.quarter):
        if MarketingPlan.objects.filter(owner_unit_id=plan.owner_unit_id, year=year,
                                        quarter=quarter).exclude(pk=plan.pk).exists():
            raise _plan_exists()
        first, last = quarter_bounds(year, quarter)
        if plan.activities.exclude(starts_on__range=(first, last)).exists():
            raise CampaignError(Code.OUTSIDE_PLAN, _("Some of the plan's activities start "
                                                     "outside that quarter; move them first."),
                                field="quarter")

    before = audit.snapshot(plan, PLAN_AUDIT_FIELDS)
    for name, value in changes.items():
        setattr(plan, name, value)
    delta = audit.diff(before, audit.snapshot(plan, PLAN_AUDIT_FIELDS))
    if delta:
        plan.updated_at = timezone.now()
        try:
            with transaction.atomic():
                plan.save()
        except IntegrityError:
            raise _plan_exists() from None
        audit.record(actor=user, obj=plan, action="updated", changes=delta,
                     reason=reason.strip())
    return plan


def approved_in_plan(plan: MarketingPlan) -> Decimal:
    """The budget approved across the plan's activities."""
    total = Activity.objects.filter(plan_id=plan.pk).aggregate(total=Sum("approved_budget"))
    return total["total"] or Decimal("0.00")


# ---- activities --------------------------------------------------------------------------------

def visible_activity(user: User, activity_id: int) -> Activity:
    """The activity, locked for the write; one the user may not see is a missing one."""
    found = visible(user, Activity.objects.filter(pk=activity_id)).values_list("pk", flat=True)
    if not found:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such activity."))
    return Activity.objects.select_for_update().select_related(
        "plan", "plan__owner_unit", "owner_unit").get(pk=found[0])


def _clean_code(code: Any) -> str:
    """An activity code as it travels in links (utm_campaign): lower-case letters, digits,
    hyphens and underscores."""
    slug = slugify(str(code or ""))
    if not slug:
        raise CampaignError(Code.INVALID, _("An activity code needs letters or digits (a-z, "
                                            "0-9, hyphens)."), field="code")
    if len(slug) > CODE_LENGTH:
        raise CampaignError(Code.INVALID, _("At most %(count)s characters.")
                            % {"count": CODE_LENGTH}, field="code")
    return slug


def _code_taken() -> CampaignError:
    return CampaignError(Code.CODE_TAKEN, _("Another activity has this code."), field="code")


def _next_code(plan: MarketingPlan, unit: OrgUnit, kind: str) -> str:
    """Readable and unique: year, quarter, the owner unit's code, the kind and a sequence
    (2026q3-gd-salon-017)."""
    prefix = f"{plan.year}q{plan.quarter}-{unit.code[:CODE_UNIT_PART]}-{kind}-".lower()
    taken = Activity.objects.filter(code__startswith=prefix).values_list("code", flat=True)
    numbers = [int(tail) for code in taken if (tail := code[len(prefix):]).isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:03d}"


def _save_activity(activity: Activity, *, generate: bool) -> None:
    """Save with the unique code answered as CODE_TAKEN; a generated code that someone took
    meanwhile is generated again."""
    for attempt in range(CODE_ATTEMPTS):
        if generate:
            activity.code = _next_code(activity.plan, activity.owner_unit, activity.kind)
        try:
            with transaction.atomic():
                activity.save()
            return
        except IntegrityError:
            if not generate or attempt == CODE_ATTEMPTS - 1:
                raise _code_taken() from None


def _attach_on_commit(activity: Activity) -> None:
    """Once the activity (or its new code) is committed, earlier touchpoints carrying the code
    are attached to it by a background job."""
    from marketloop.campaigns import tasks

    activity_id = activity.pk
    transaction.on_commit(lambda: tasks.attach_activity.defer(activity_id=activity_id))


def _check_activity(plan: MarketingPlan, values: dict[str, Any]) -> dict[str, Any]:
    """The activity's fields as they will be, cleaned and checked together."""
    clean = dict(values)
    clean["name"] = clean_text(values["name"], field="name", max_length=200,
                               message=_("An activity needs a name."))
    if values["kind"] not in ActivityKind.values:
        raise CampaignError(Code.INVALID, _("Choose a kind of activity."), field="kind")
    if values["level"] not in ActivityLevel.values:
        raise CampaignError(Code.INVALID, _("Choose a level."), field="level")
    unit: OrgUnit = values["owner_unit"]
    if not _within(plan.owner_unit, unit):
        raise CampaignError(Code.INVALID, _("An activity is owned by its plan's unit or a unit "
                                            "under it."), field="owner_unit")
    if unit.kind not in LEVEL_UNIT_KINDS[values["level"]]:
        raise CampaignError(Code.INVALID, {
            ActivityLevel.COMPANY: _("A company-level activity is owned by headquarters."),
            ActivityLevel.REGION: _("A region-level activity is owned by a region or a "
                                    "province."),
        }.get(values["level"], _("Choose a level.")), field="level")
    partner: OrgUnit | None = values["partner"]
    if unit.kind == UnitKind.PARTNER:
        if partner is not None and partner.pk != unit.pk:
            raise CampaignError(Code.INVALID, _("A partner's activity is run with that "
                                                "partner."), field="partner")
        partner = unit
    if partner is not None and (partner.kind != UnitKind.PARTNER
                                or not _within(plan.owner_unit, partner)):
        raise CampaignError(Code.UNKNOWN_UNIT, _("Choose a partner within the plan's unit."),
                            field="partner")
    clean["partner"] = partner
    starts_on, ends_on = values["starts_on"], values["ends_on"]
    if not isinstance(starts_on, date):
        raise CampaignError(Code.INVALID, _("Enter the start date."), field="starts_on")
    if not isinstance(ends_on, date):
        raise CampaignError(Code.INVALID, _("Enter the end date."), field="ends_on")
    if ends_on < starts_on:
        raise CampaignError(Code.INVALID, _("An activity cannot end before it starts."),
                            field="ends_on")
    first, last = quarter_bounds(plan.year, plan.quarter)
    if not first <= starts_on <= last:
        raise CampaignError(Code.OUTSIDE_PLAN, _(
            "The activity must start within its plan's quarter (%(first)s to %(last)s).")
            % {"first": first.isoformat(), "last": last.isoformat()}, field="starts_on")
    clean["audience"] = clean_text(values["audience"], field="audience", max_length=5000,
                                   required=False)
    clean.update(_clean_goals(values))
    clean["budget"] = clean_money(values["budget"], field="budget")
    return clean


def _partner_unit(partner_id: Any) -> OrgUnit | None:
    if partner_id is None:
        return None
    partner = OrgUnit.objects.filter(pk=partner_id).first() if isinstance(partner_id,
                                                                          int) else None
    if partner is None:
        raise CampaignError(Code.UNKNOWN_UNIT, _("Choose a partner within the plan's unit."),
                            field="partner")
    return partner


def _activity_owner(user: User, owner_id: Any) -> User | None:
    if owner_id is None:
        return None
    owner = _active_user(owner_id, field="owner")
    if not _in_reach(user, owner.unit):
        raise CampaignError(Code.UNKNOWN_USER, _("Choose an active user of the company."),
                            field="owner")
    return owner


@transaction.atomic
def create_activity(*, user: User, plan_id: int, name: str, kind: str, level: str,
                    owner_unit_id: int, starts_on: date, ends_on: date,
                    partner_id: int | None = None, owner_id: int | None = None, code: str = "",
                    audience: str = "", budget: Any = 0, goal_leads: int = 0,
                    goal_mqls: int = 0, goal_pipeline: Any = 0,
                    goal_revenue: Any = 0) -> Activity:
    """An activity of a plan. Without a code it gets a readable one; touchpoints that carried
    its code before it existed are attached to it once it is committed."""
    require(user, Action.CREATE)
    plan = (visible(user, MarketingPlan.objects.filter(pk=plan_id)).select_related("owner_unit")
            .first() if isinstance(plan_id, int) else None)
    if plan is None:
        raise CampaignError(Code.UNKNOWN_PLAN, _("No such marketing plan."), field="plan")
    values = _check_activity(plan, {
        "name": name, "kind": kind, "level": level,
        "owner_unit": _reachable_unit(user, owner_unit_id, field="owner_unit"),
        "partner": _partner_unit(partner_id), "owner": _activity_owner(user, owner_id),
        "starts_on": starts_on, "ends_on": ends_on, "audience": audience, "budget": budget,
        "goal_leads": goal_leads, "goal_mqls": goal_mqls, "goal_pipeline": goal_pipeline,
        "goal_revenue": goal_revenue})
    given = str(code or "").strip()
    if given:
        values["code"] = _clean_code(given)
        if Activity.objects.filter(code=values["code"]).exists():
            raise _code_taken()
    now = timezone.now()
    activity = Activity(plan=plan, created_by=user, created_at=now, updated_at=now, **values)
    _save_activity(activity, generate=not given)
    audit.record(actor=user, obj=activity, action="created",
                 changes={k: v for k, v in audit.diff(
                     {}, audit.snapshot(activity, ACTIVITY_AUDIT_FIELDS)).items()
                     if v[1] not in (None, "")})
    _attach_on_commit(activity)
    return activity


@transaction.atomic
def update_activity(*, user: User, activity_id: int, reason: str = "",
                    **changes: Any) -> Activity:
    """Change an activity's fields: not its plan, nor its approved budget and spend (those
    move through campaigns.budget). A new code attaches the touchpoints that carried it."""
    activity = visible_activity(user, activity_id)
    require(user, Action.EDIT)
    unknown = set(changes) - ACTIVITY_EDITABLE
    if unknown:
        raise CampaignError(Code.INVALID, _("This field cannot be changed."),
                            field=sorted(unknown)[0])
    values: dict[str, Any] = {
        name: getattr(activity, name)
        for name in ("name", "kind", "level", "owner_unit", "partner", "owner", "starts_on",
                     "ends_on", "audience", "budget", *GOALS)}
    for name, value in changes.items():
        if name == "owner_unit_id":
            values["owner_unit"] = (activity.owner_unit if value == activity.owner_unit_id
                                    else _reachable_unit(user, value, field="owner_unit"))
        elif name == "partner_id":
            values["partner"] = _partner_unit(value)
        elif name == "owner_id":
            values["owner"] = (activity.owner if value == activity.owner_id
                               else _activity_owner(user, value))
        elif name != "code":
            values[name] = value
    clean = _check_activity(activity.plan, values)
    code_changed = False
    if "code" in changes:
        code = _clean_code(changes["code"])
        if code != activity.code:
            if Activity.objects.filter(code=code).exclude(pk=activity.pk).exists():
                raise _code_taken()
            clean["code"] = code
            code_changed = True

    before = audit.snapshot(activity, ACTIVITY_AUDIT_FIELDS)
    for name, value in clean.items():
        setattr(activity, name, value)
    delta = audit.diff(before, audit.snapshot(activity, ACTIVITY_AUDIT_FIELDS))
    if delta:
        activity.updated_at = timezone.now()
        _save_activity(activity, generate=False)
        audit.record(actor=user, obj=activity, action="updated", changes=delta,
                     reason=reason.strip())
    if code_changed:
        _attach_on_commit(activity)
    return activity


@transaction.atomic
def set_status(*, user: User, activity_id: int, status: str, reason: str = "") -> Activity:
    """Planned, running, completed or cancelled: any move but to the status it has."""
    activity = visible_activity(user, activity_id)
    require(user, Action.EDIT)
    if status not in ActivityStatus.values:
        raise CampaignError(Code.INVALID, _("Choose a status."), field="status")
    if status == activity.status:
        raise CampaignError(Code.INVALID, _("The activity has this status already."),
                            field="status")
    before = audit.snapshot(activity, ("status",))
    activity.status = status
    activity.updated_at = timezone.now()
    activity.save(update_fields=["status", "updated_at"])
    audit.record(actor=user, obj=activity, action="status",
                 changes=audit.diff(before, audit.snapshot(activity, ("status",))),
                 reason=(reason or "").strip())
    return activity
