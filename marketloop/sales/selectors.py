"""Every read of opportunities, through the visibility scope first (a deal-team member sees the
deals they are on, wherever those are owned: the scope's `member` part)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    prefetch_related_objects,
)
from django.utils.dateparse import parse_date

from marketloop.crm import selectors as crm_selectors
from marketloop.crm.models import Account
from marketloop.crm.selectors import Page, paginate
from marketloop.leads.models import Lead
from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import OrgUnit, Role, UnitKind, User
from marketloop.org.scope import visible, visible_parts
from marketloop.sales.models import (
    CLOSED_OPPORTUNITY_STAGES,
    OPEN_OPPORTUNITY_STAGES,
    Competitor,
    DealTeamMember,
    Opportunity,
    OpportunityChange,
    OpportunityStage,
    Product,
    SalesSettings,
    default_settings,
)

PAGE_SIZE = 50
KANBAN_CARDS = 20  # cards shown per column; the column's totals count them all
ACCOUNT_OPPORTUNITIES = 20
SORT = ("-updated_at", "-id")  # keyset order of the list, matching the opp_*_updated indexes

WEIGHTED = ExpressionWrapper(F("amount_cny") * F("probability") / Value(Decimal(100)),
                             output_field=DecimalField(max_digits=20, decimal_places=2))


@dataclass
class OpportunityFilter:
    q: str = ""
    stage: str = ""
    status: str = ""  # "open", "closed" or "" (both)
    big_deal: bool | None = None
    mine: bool = False  # owned by the user or with the user on the deal team
    my_team: bool = False  # owned in the user's unit or the units under it
    account: int | None = None
    amount_min: Decimal | None = None  # CNY
    amount_max: Decimal | None = None
    close_from: date | None = None
    close_to: date | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> OpportunityFilter:
        """From query parameters (the pages and the API share them); bad values are ignored."""
        stage = str(params.get("stage") or "")
        status = str(params.get("status") or "")
        return cls(
            q=str(params.get("q") or "")[:100].strip(),
            stage=stage if stage in OpportunityStage.values else "",
            status=status if status in {"open", "closed"} else "",
            big_deal=_flag(params.get("big_deal")),
            mine=bool(_flag(params.get("mine"))),
            my_team=bool(_flag(params.get("my_team"))),
            account=_int(params.get("account")),
            amount_min=_decimal(params.get("amount_min")),
            amount_max=_decimal(params.get("amount_max")),
            close_from=_date(params.get("close_from")),
            close_to=_date(params.get("close_to")),
        )


def _flag(value: Any) -> bool | None:
    if value in (None, ""):
        return None
    return {"1": True, "true": True, "on": True, "0": False, "false": False}.get(
        str(value).lower())


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None
    return number if number is not None and number.is_finite() else None


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return parse_date(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _on_team_of(user: User) -> QuerySet[DealTeamMember]:
    return DealTeamMember.objects.filter(user_id=user.pk).values("opportunity_id")


def _filtered(user: User, flt: OpportunityFilter) -> QuerySet[Opportunity]:
    """The filters alone; callers put the scope on top."""
    qs = Opportunity.objects.all()
    if flt.q:
        qs = qs.filter(Q(name__icontains=flt.q) | Q(account__name__icontains=flt.q))
    if flt.stage:
        qs = qs.filter(stage=flt.stage)
    if flt.status == "open":
        qs = qs.filter(stage__in=OPEN_OPPORTUNITY_STAGES)
    elif flt.status == "closed":
        qs = qs.filter(stage__in=CLOSED_OPPORTUNITY_STAGES)
    if flt.big_deal is not None:
        qs = qs.filter(big_deal=flt.big_deal)
    if flt.mine:
        qs = qs.filter(Q(owner_id=user.pk) | Q(pk__in=_on_team_of(user)))
    if flt.my_team:
        unit = user.unit
        if unit is None:
            qs = qs.none()
        elif unit.kind == UnitKind.PARTNER:
            qs = qs.filter(partner_id=unit.pk)
        else:
            qs = qs.filter(owner_unit__in=OrgUnit.objects.filter(path__startswith=unit.path))
    if flt.account:
        qs = qs.filter(account_id=flt.account)
    if flt.amount_min is not None:
        qs = qs.filter(amount_cny__gte=flt.amount_min)
    if flt.amount_max is not None:
        qs = qs.filter(amount_cny__lte=flt.amount_max)
    if flt.close_from:
        qs = qs.filter(expected_close__gte=flt.close_from)
    if flt.close_to:
        qs = qs.filter(expected_close__lte=flt.close_to)
    return qs


def _with_team(items: list[Opportunity]) -> list[Opportunity]:
    prefetch_related_objects(items, Prefetch(
        "team", queryset=DealTeamMember.objects.select_related("user").order_by("role", "id")))
    return items


def opportunities_visible(user: User) -> QuerySet[Opportunity]:
    return visible(user, Opportunity.objects.all())


def opportunity_page(user: User, flt: OpportunityFilter, cursor: str | None = None,
                     size: int = PAGE_SIZE) -> Page[Opportunity]:
    """A page in the order (-updated_at, -id). The scope is applied part by part (each part on
    its own index, merged), as crm's lists do. Raises crm.selectors.InvalidCursor."""
    parts = visible_parts(user, Opportunity)
    if parts is not None and not parts:
        return Page(items=[], next_cursor=None, sort="-updated")
    qs = _filtered(user, flt).select_related("account", "owner", "owner_unit", "partner")
    items, next_cursor = paginate(qs, SORT, cursor, size, parts=parts or None)
    return Page(items=_with_team(items), next_cursor=next_cursor, sort="-updated")


def _cents(value: Decimal | None) -> Decimal:
    return (value or Decimal(0)).quantize(Decimal("0.01"))


@dataclass
class Totals:
    count: int
    amount_cny: Decimal
    pipeline_cny: Decimal  # open deals, each weighted by its stage's probability


def opportunity_totals(user: User, flt: OpportunityFilter) -> Totals:
    """Over every deal the filters match (not only one page)."""
    found = visible(user, _filtered(user, flt)).aggregate(
        count=Count("id"), amount=Sum("amount_cny"),
        pipeline=Sum(WEIGHTED, filter=Q(stage__in=OPEN_OPPORTUNITY_STAGES)))
    return Totals(count=found["count"], amount_cny=_cents(found["amount"]),
                  pipeline_cny=_cents(found["pipeline"]))


@dataclass
class KanbanColumn:
    stage: str
    label: str
    probability: int
    count: int = 0
    amount_cny: Decimal = Decimal(0)
    weighted_cny: Decimal = Decimal(0)
    cards: list[Opportunity] = field(default_factory=list)
    previous_stage: str | None = None  # where a card moves back to, and forward
    next_stage: str | None = None


def kanban(user: User, flt: OpportunityFilter, cards: int = KANBAN_CARDS) -> list[KanbanColumn]:
    """A column per open stage: count, sum and weighted sum of all its deals, and the biggest
    `cards` of them. The stage and open/closed filters do not apply (the columns are those)."""
    qs = visible(user, _filtered(user, replace(flt, stage="", status="")))
    settings = sales_settings()
    stages = [stage.value for stage in OPEN_OPPORTUNITY_STAGES]
    columns = {
        stage: KanbanColumn(stage=stage, label=str(OpportunityStage(stage).label),
                            probability=settings.probability_of(stage),
                            previous_stage=stages[i - 1] if i > 0 else None,
                            next_stage=stages[i + 1] if i + 1 < len(stages) else None)
        for i, stage in enumerate(stages)}
    stats = (qs.filter(stage__in=OPEN_OPPORTUNITY_STAGES).values("stage")
             .annotate(count=Count("id"), amount=Sum("amount_cny"), weighted=Sum(WEIGHTED))
             .order_by())
    for row in stats:
        column = columns[row["stage"]]
        column.count, column.amount_cny, column.weighted_cny = (
            row["count"], _cents(row["amount"]), _cents(row["weighted"]))
    for column in columns.values():
        if column.count:
            column.cards = _with_team(list(
                qs.filter(stage=column.stage).select_related("account")
                .order_by("-amount_cny", "-id")[:cards]))
    return list(columns.values())


def opportunity_detail(user: User, opportunity_id: int) -> Opportunity:
    """One deal with its account, owner, team, products, competitors and stage changes."""
    opportunity = (
        opportunities_visible(user)
        .select_related("account", "lead", "owner", "owner_unit", "partner", "created_by")
        .prefetch_related(
            Prefetch("team", queryset=DealTeamMember.objects.select_related(
                "user", "user__unit").order_by("role", "id")),
            "products", "competitors",
            Prefetch("changes", queryset=OpportunityChange.objects.select_related("by")
                     .order_by("at", "id")))
        .filter(pk=opportunity_id)
        .first()
    )
    if opportunity is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such opportunity.")
    return opportunity


def account_opportunities(user: User, account_id: int,
                          limit: int = ACCOUNT_OPPORTUNITIES) -> tuple[Account, list[Opportunity],
                                                                      int]:
    """The deals at an account the user may see (the account too: NotFound otherwise), open
    ones first, and how many there are in all."""
    account = crm_selectors.account_detail(user, account_id)
    qs = opportunities_visible(user).filter(account_id=account.pk)
    total = qs.count()
    items = list(qs.select_related("owner").order_by("closed_at", "-updated_at", "-id")[:limit])
    return account, items, total


def accepted_lead(user: User, lead_id: int) -> Lead:
    """A lead the user may see, to open an opportunity from (any stage: the service checks)."""
    lead = visible(user, Lead.objects.select_related("account", "owner")).filter(
        pk=lead_id).first()
    if lead is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such lead.")
    return lead


def sales_settings() -> SalesSettings:
    """The company's settings row (the defaults, unsaved, where there is none yet)."""
    return SalesSettings.objects.order_by("pk").first() or default_settings()


def products() -> QuerySet[Product]:
    return Product.objects.filter(active=True)


def competitors() -> QuerySet[Competitor]:
    return Competitor.objects.all()


TEAM_ROLES = (Role.ACCOUNT_MANAGER, Role.PROJECT_MANAGER, Role.PRESALES, Role.SALES_REP,
              Role.PARTNER_STAFF, Role.MANAGER)


def team_candidates(opportunity: Opportunity, limit: int = 50) -> QuerySet[User]:
    """Suggestions for the team form: active people who sell, in the deal's province and at
    HQ (anyone in the company may join; these are the usual ones)."""
    province_id = opportunity.owner_unit.province_id
    near = Q(unit__kind__in=[UnitKind.HQ, UnitKind.HQ_DEPARTMENT])
    if province_id:
        near |= Q(unit__province_id=province_id)
    return (User.objects.filter(near, is_active=True, roles__overlap=list(TEAM_ROLES))
            .exclude(deal_teams__opportunity=opportunity)
            .select_related("unit").order_by("username")[:limit])


def active_user(username: str) -> User | None:
    return User.objects.filter(username=username.strip(), is_active=True).first()
