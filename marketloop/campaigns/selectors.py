"""Reads of marketing plans, activities and their budgets, through the visibility scope first.
Budget rows (requests, spend, attachments) are seen through their activity, never on their
own."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, Q, QuerySet, Sum

from marketloop.campaigns.models import (
    Activity,
    ActivityKind,
    ActivityLevel,
    ActivityStatus,
    BudgetRequest,
    MarketingPlan,
    Spend,
    SpendAttachment,
)
from marketloop.campaigns.services import quarter_bounds
from marketloop.crm.selectors import Page, paginate
from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import OrgUnit, User
from marketloop.org.scope import visible, visible_parts, visible_unit_ids

PAGE_SIZE = 50
PLAN_SORT = ("-year", "-quarter", "-id")
ACTIVITY_SORT = ("-starts_on", "-id")  # matches the act_*_starts indexes
ZERO = Decimal("0.00")
PERIOD = re.compile(r"^(\d{4})(?:[-\s]?[qQ]([1-4]))?$")


def _int(value: Any) -> int | None:
    text = str(value if value is not None else "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def parse_period(value: Any) -> tuple[date, date] | None:
    """"2026" (the year) or "2026q3" (a quarter) as its first and last day; None otherwise."""
    match = PERIOD.match(str(value or "").strip())
    if not match:
        return None
    year = int(match.group(1))
    if not 2000 <= year <= 2100:
        return None
    if match.group(2):
        return quarter_bounds(year, int(match.group(2)))
    return date(year, 1, 1), date(year, 12, 31)


def _subtree(unit_id: int) -> QuerySet[OrgUnit]:
    unit = OrgUnit.objects.filter(pk=unit_id).first()
    if unit is None:
        return OrgUnit.objects.none()
    return OrgUnit.objects.filter(path__startswith=unit.path)


def percent(part: Decimal, whole: Decimal) -> Decimal | None:
    """`part` as a percentage of `whole`, one place; None when there is no whole."""
    if not whole:
        return None
    return (part * 100 / whole).quantize(Decimal("0.1"))


# ---- plans ---------------------------------------------------------------------------------

@dataclass
class PlanFilter:
    year: int | None = None
    quarter: int | None = None
    unit: int | None = None  # the unit's plans and those of the units under it

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PlanFilter:
        """From query parameters (the pages and the API share them); bad values are ignored."""
        year, quarter = _int(params.get("year")), _int(params.get("quarter"))
        return cls(year=year if year and 2000 <= year <= 2100 else None,
                   quarter=quarter if quarter in {1, 2, 3, 4} else None,
                   unit=_int(params.get("unit")))


@dataclass
class Burn:
    """Money of a plan, an activity or a unit: the budget, what is approved and what is
    spent (% burnt: spent of the budget)."""

    budget: Decimal = ZERO
    approved: Decimal = ZERO
    spent: Decimal = ZERO

    @property
    def available(self) -> Decimal:
        return self.approved - self.spent

    @property
    def unapproved(self) -> Decimal:
        return self.budget - self.approved

    @property
    def burnt_percent(self) -> Decimal | None:
        return percent(self.spent, self.budget)

    @property
    def approved_percent(self) -> Decimal | None:
        return percent(self.approved, self.budget)

    @property
    def available_percent(self) -> Decimal | None:
        return percent(self.available, self.budget)


def plans_visible(user: User) -> QuerySet[MarketingPlan]:
    return visible(user, MarketingPlan.objects.all())


def _filtered_plans(flt: PlanFilter) -> QuerySet[MarketingPlan]:
    qs = MarketingPlan.objects.all()
    if flt.year:
        qs = qs.filter(year=flt.year)
    if flt.quarter:
        qs = qs.filter(quarter=flt.quarter)
    if flt.unit:
        qs = qs.filter(owner_unit__in=_subtree(flt.unit))
    return qs


def _with_burn(plans: list[MarketingPlan]) -> list[MarketingPlan]:
    """Each plan's `burn`, over all its activities (a plan's money is the plan's, whoever
    may see each of its activities)."""
    totals = {row["plan_id"]: row for row in Activity.objects.filter(
        plan_id__in=[plan.pk for plan in plans]).values("plan_id").annotate(
        approved=Sum("approved_budget"), spent=Sum("spent")).order_by()}
    for plan in plans:
        row = totals.get(plan.pk, {})
        plan.burn = Burn(budget=plan.budget, approved=row.get("approved") or ZERO,
                         spent=row.get("spent") or ZERO)
    return plans


def plan_page(user: User, flt: PlanFilter, cursor: str | None = None,
              size: int = PAGE_SIZE) -> Page[MarketingPlan]:
    """Newest quarter first, each plan with its burn. Raises crm.selectors.InvalidCursor."""
    parts = visible_parts(user, MarketingPlan)
    if parts is not None and not parts:
        return Page(items=[], next_cursor=None, sort="-period")
    qs = _filtered_plans(flt).select_related("owner_unit", "owner")
    items, next_cursor = paginate(qs, PLAN_SORT, cursor, size, parts=parts)
    return Page(items=_with_burn(items), next_cursor=next_cursor, sort="-period")


def plan_detail(user: User, plan_id: int) -> MarketingPlan:
    plan = (plans_visible(user).select_related("owner_unit", "owner", "created_by")
            .filter(pk=plan_id).first())
    if plan is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such marketing plan.")
    return _with_burn([plan])[0]


def plan_activities(user: User, plan: MarketingPlan) -> list[Activity]:
    """The plan's activities the user may see, in the order they start."""
    return list(activities_visible(user).filter(plan_id=plan.pk)
                .select_related("owner_unit", "partner", "owner").order_by("starts_on", "id"))


@dataclass
class PlanBurn:
    plan: MarketingPlan
    burn: Burn
    activities: list[tuple[Activity, Burn]]
    budget_lines: Decimal  # Σ the activities' budget lines: what the plan set aside


def plan_burn(user: User, plan_id: int) -> PlanBurn:
    """A plan's budget, approved and spent (over all its activities), and the activities the
    user may see, each with its own."""
    plan = plan_detail(user, plan_id)
    activities = plan_activities(user, plan)
    lines = Activity.objects.filter(plan_id=plan.pk).aggregate(total=Sum("budget"))["total"]
    return PlanBurn(plan=plan, burn=plan.burn, budget_lines=lines or ZERO, activities=[
        (activity, Burn(budget=activity.budget, approved=activity.approved_budget,
                        spent=activity.spent)) for activity in activities])


@dataclass
class UnitBurn:
    unit: OrgUnit
    year: int
    quarter: int | None
    burn: Burn
    plans: list[MarketingPlan] = field(default_factory=list)


def unit_burn(user: User, unit_id: int, year: int, quarter: int | None = None) -> UnitBurn:
    """Σ over the plans the user may see of a unit and the units under it, in a year (or one
    quarter of it): budget, approved, spent."""
    unit = OrgUnit.objects.filter(pk=unit_id).first()
    if unit is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such unit.")
    flt = PlanFilter(year=year, quarter=quarter, unit=unit.pk)
    plans = _with_burn(list(visible(user, _filtered_plans(flt)).select_related("owner_unit")
                            .order_by("year", "quarter", "owner_unit__path")))
    burn = Burn(budget=sum((p.burn.budget for p in plans), ZERO),
                approved=sum((p.burn.approved for p in plans), ZERO),
                spent=sum((p.burn.spent for p in plans), ZERO))
    return UnitBurn(unit=unit, year=year, quarter=quarter, burn=burn, plans=plans)


def can_see_plan(user: User, plan: MarketingPlan) -> bool:
    """Whether the user may open the plan (a partner's people see an activity run with their
    partner, but only the plans they own)."""
    return plans_visible(user).filter(pk=plan.pk).exists()


def plan_choices(user: User, limit: int = 200) -> QuerySet[MarketingPlan]:
    """Plans the user may add activities to, newest first (a form's choices)."""
    return plans_visible(user).select_related("owner_unit").order_by(*PLAN_SORT)[:limit]


def units_in_reach(user: User) -> QuerySet[OrgUnit]:
    """Units the user may own plans and activities in (a form's choices)."""
    if user.is_superuser:
        return OrgUnit.objects.order_by("path")
    if user.unit is None:
        return OrgUnit.objects.none()
    ids = visible_unit_ids(user.unit)
    qs = OrgUnit.objects.all() if ids is None else OrgUnit.objects.filter(pk__in=ids)
    return qs.order_by("path")


def active_user(username: str) -> User | None:
    return User.objects.filter(username=username.strip(), is_active=True).first()


# ---- activities ----------------------------------------------------------------------------

@dataclass
class ActivityFilter:
    q: str = ""
    kind: str = ""
    level: str = ""
    status: str = ""
    unit: int | None = None  # owned by the unit or a unit under it
    plan: int | None = None
    period: str = ""  # "2026" or "2026q3": starting in it
    starts_from: date | None = None
    starts_to: date | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ActivityFilter:
        """From query parameters (the pages and the API share them); bad values are ignored."""
        kind, level = str(params.get("kind") or ""), str(params.get("level") or "")
        status, period = str(params.get("status") or ""), str(params.get("period") or "")
        bounds = parse_period(period)
        return cls(
            q=str(params.get("q") or "")[:100].strip(),
            kind=kind if kind in ActivityKind.values else "",
            level=level if level in ActivityLevel.values else "",
            status=status if status in ActivityStatus.values else "",
            unit=_int(params.get("unit")), plan=_int(params.get("plan")),
            period=period.strip().lower() if bounds else "",
            starts_from=bounds[0] if bounds else None, starts_to=bounds[1] if bounds else None)


def activities_visible(user: User) -> QuerySet[Activity]:
    """Every activity the user may see: other parts of campaigns read their rows (members,
    links, touches, credits) through these."""
    return visible(user, Activity.objects.all())


def _filtered_activities(flt: ActivityFilter) -> QuerySet[Activity]:
    qs = Activity.objects.all()
    if flt.q:
        qs = qs.filter(Q(name__icontains=flt.q) | Q(code__icontains=flt.q))
    if flt.kind:
        qs = qs.filter(kind=flt.kind)
    if flt.level:
        qs = qs.filter(level=flt.level)
    if flt.status:
        qs = qs.filter(status=flt.status)
    if flt.unit:
        qs = qs.filter(owner_unit__in=_subtree(flt.unit))
    if flt.plan:
        qs = qs.filter(plan_id=flt.plan)
    if flt.starts_from and flt.starts_to:
        qs = qs.filter(starts_on__range=(flt.starts_from, flt.starts_to))
    return qs


def activity_page(user: User, flt: ActivityFilter, cursor: str | None = None,
                  size: int = PAGE_SIZE) -> Page[Activity]:
    """Latest start first; the scope is applied part by part (each on its own index, merged)
    as crm's lists do. Raises crm.selectors.InvalidCursor."""
    parts = visible_parts(user, Activity)
    if parts is not None and not parts:
        return Page(items=[], next_cursor=None, sort="-starts_on")
    qs = _filtered_activities(flt).select_related("plan", "owner_unit", "partner", "owner")
    items, next_cursor = paginate(qs, ACTIVITY_SORT, cursor, size, parts=parts or None)
    return Page(items=items, next_cursor=next_cursor, sort="-starts_on")


def activity_detail(user: User, activity_id: int) -> Activity:
    activity = (activities_visible(user)
                .select_related("plan", "plan__owner", "plan__owner_unit", "owner_unit",
                                "partner", "owner", "created_by")
                .filter(pk=activity_id).first())
    if activity is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such activity.")
    return activity


def budget_requests(activity: Activity) -> QuerySet[BudgetRequest]:
    """Requests of an activity the caller has read through `activity_detail`."""
    return activity.budget_requests.select_related("requested_by", "decided_by").order_by(
        "-requested_at", "-id")


def spend_of(activity: Activity) -> QuerySet[Spend]:
    """Spend of an activity the caller has read through `activity_detail`, with its files."""
    return activity.spend.select_related("recorded_by").prefetch_related(
        Prefetch("attachments", queryset=SpendAttachment.objects.order_by("id")))


def spend_attachment(user: User, activity_id: int, attachment_id: int) -> SpendAttachment:
    """A file behind a spend record, found only through an activity the user may see."""
    activity = activity_detail(user, activity_id)
    attachment = SpendAttachment.objects.filter(pk=attachment_id,
                                                spend__activity_id=activity.pk).first()
    if attachment is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such file.")
    return attachment
