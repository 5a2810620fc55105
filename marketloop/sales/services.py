"""Every write of the sales context: opportunities, their deal teams, stage moves (a won or lost
deal is reported to its lead), and the company's sales settings. One transaction each, audited.

Order of checks in a write to a deal: the deal must be visible (else it is as missing as an id
that does not exist), the roles must allow the action, the request must be valid, and then only
the deal team, the owner and the managers above may change it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import BooleanField, Case, DecimalField, ExpressionWrapper, F, Q, Value, When
from django.db.models.functions import Round
from django.utils import timezone
from django.utils.translation import gettext as _

from marketloop import bus
from marketloop.audit import services as audit
from marketloop.crm import selectors as crm_selectors
from marketloop.leads import services as leads
from marketloop.leads.models import Lead
from marketloop.leads.models import Stage as LeadStage
from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import User
from marketloop.org.permissions import Action, require
from marketloop.org.scope import visible
from marketloop.sales.errors import SalesError
from marketloop.sales.errors import SalesErrorCode as Code
from marketloop.sales.events import OpportunitiesChanged
from marketloop.sales.models import (
    CLOSED_OPPORTUNITY_STAGES,
    OPEN_OPPORTUNITY_STAGES,
    Competitor,
    Currency,
    DealRole,
    DealTeamMember,
    Opportunity,
    OpportunityChange,
    OpportunityStage,
    Product,
    SalesSettings,
    default_settings,
)
from marketloop.sales.permissions import require_deal_editor

AUDIT_FIELDS = ("name", "account", "amount", "currency", "amount_cny", "stage", "probability",
                "expected_close", "big_deal", "close_reason", "owner_unit", "partner", "owner")
EDITABLE = {"name", "amount", "currency", "expected_close", "products", "competitors"}
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1e14")  # the column holds 16 digits, 2 of them decimals


@dataclass(frozen=True)
class Seat:
    """A place on a deal team: a user in a role."""

    user_id: int
    role: str


# ---- validation --------------------------------------------------------------------------------

def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise SalesError(Code.INVALID, _("An opportunity needs a name."), field="name")
    if len(name) > 200:
        raise SalesError(Code.INVALID, _("At most 200 characters."), field="name")
    return name


def _clean_amount(amount: Any) -> Decimal:
    try:
        value = Decimal(str(amount)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise SalesError(Code.INVALID, _("Enter an amount."), field="amount") from None
    if not value.is_finite() or value <= 0 or value >= MAX_AMOUNT:
        raise SalesError(Code.INVALID, _("The amount must be above zero and below 10¹⁴."),
                         field="amount")
    return value


def _clean_currency(currency: str, settings: SalesSettings) -> tuple[str, Decimal]:
    if currency not in Currency.values:
        raise SalesError(Code.INVALID, _("Choose a currency."), field="currency")
    rate = settings.rate_of(currency)
    if rate is None:
        raise SalesError(Code.NO_RATE, _("There is no exchange rate for %(currency)s; ask an "
                                         "administrator.") % {"currency": currency},
                         field="currency")
    return currency, rate


def _clean_close(expected_close: Any) -> date:
    if not isinstance(expected_close, date):
        raise SalesError(Code.INVALID, _("Enter the expected close date."),
                         field="expected_close")
    return expected_close


def _products(ids: Iterable[int]) -> list[Product]:
    wanted = set(ids)
    found = list(Product.objects.filter(pk__in=wanted, active=True))
    if len(found) != len(wanted):
        raise SalesError(Code.UNKNOWN_PRODUCT, _("No such product."), field="products")
    return found


def _competitors(ids: Iterable[int]) -> list[Competitor]:
    wanted = set(ids)
    found = list(Competitor.objects.filter(pk__in=wanted))
    if len(found) != len(wanted):
        raise SalesError(Code.UNKNOWN_COMPETITOR, _("No such competitor."), field="competitors")
    return found


def _clean_seats(team: Iterable[Seat | tuple[int, str]]) -> list[Seat]:
    seats = list(dict.fromkeys(Seat(*seat) if isinstance(seat, tuple) else seat
                               for seat in team))
    for seat in seats:
        if seat.role not in DealRole.values:
            raise SalesError(Code.INVALID, _("Choose a role on the deal team."), field="role")
    user_ids = {seat.user_id for seat in seats}
    active = set(User.objects.filter(pk__in=user_ids, is_active=True, unit__isnull=False)
                 .values_list("pk", flat=True))
    if active != user_ids:
        raise SalesError(Code.UNKNOWN_USER,
                         _("Deal-team members must be active users of the company."),
                         field="team")
    return seats


def _to_cny(amount: Decimal, rate: Decimal) -> Decimal:
    return (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)


def _current_settings(*, lock: bool = False) -> SalesSettings:
    qs = SalesSettings.objects.order_by("pk")
    found = (qs.select_for_update() if lock else qs).first()
    if found is None:
        found = default_settings()
        found.save()
    return found


def _visible_opportunity(user: User, opportunity_id: int) -> Opportunity:
    """The deal, locked for the write; a deal the user may not see is a missing one."""
    opportunity = visible(user, Opportunity.objects.filter(pk=opportunity_id)).first()
    if opportunity is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, _("No such opportunity."))
    return Opportunity.objects.select_for_update().get(pk=opportunity.pk)


def _team_text(opportunity: Opportunity) -> str:
    members = opportunity.team.select_related("user").order_by("role", "user__username")
    return ", ".join(f"{member.user} ({member.get_role_display()})" for member in members)


def _names(rows: Iterable[Any]) -> str:
    return ", ".join(sorted(str(row) for row in rows))


# ---- opportunities -----------------------------------------------------------------------------

@transaction.atomic
def create_opportunity(
    *,
    user: User,
    name: str,
    amount: Decimal,
    currency: str,
    expected_close: date,
    account_id: int | None = None,
    lead_id: int | None = None,
    stage: str = OpportunityStage.QUALIFICATION,
    products: Iterable[int] = (),
    competitors: Iterable[int] = (),
    team: Iterable[Seat | tuple[int, str]] = (),
) -> Opportunity:
    """Open a deal, from an accepted lead (which becomes an SQL) or directly at an account.

    From a lead: the lead's owner owns it (else the user), in the lead's unit and partner.
    Directly: the account's unit and partner own it, and the account's owner, unless the user
    sits in that unit (or partner): then the user. The creator joins the team as account
    manager unless they hold a role on it already; the team needs an account manager."""
    require(user, Action.CREATE)
    settings = _current_settings()
    lead: Lead | None = None
    if lead_id is not None:
        lead = visible(user, Lead.objects.select_for_update().filter(pk=lead_id)).first()
        if lead is None:
            raise SalesError(Code.UNKNOWN_LEAD, _("No such lead."), field="lead")
        if lead.stage != LeadStage.SAL:
            raise SalesError(Code.LEAD_NOT_ACCEPTED, _("Only an accepted lead (SAL) can become "
                                                       "an opportunity."), field="lead")
        if account_id is not None and lead.account_id not in (None, account_id):
            raise SalesError(Code.ACCOUNT_NOT_THE_LEADS,
                             _("The opportunity is at the lead's account."), field="account")
        account_id = lead.account_id or account_id
    if account_id is None:
        raise SalesError(Code.UNKNOWN_ACCOUNT, _("Choose the account."), field="account")
    try:
        account = crm_selectors.account_detail(user, account_id)
    except NotFound:
        raise SalesError(Code.UNKNOWN_ACCOUNT, _("No such account."), field="account") from None
    if stage not in OPEN_OPPORTUNITY_STAGES:
        raise SalesError(Code.INVALID, _("A new opportunity starts at an open stage."),
                         field="stage")
    amount = _clean_amount(amount)
    currency, rate = _clean_currency(currency, settings)
    chosen_products, chosen_competitors = _products(products), _competitors(competitors)
    seats = _clean_seats(team)
    if not any(seat.user_id == user.pk for seat in seats):
        seats.insert(0, Seat(user.pk, DealRole.ACCOUNT_MANAGER))
    if not any(seat.role == DealRole.ACCOUNT_MANAGER for seat in seats):
        raise SalesError(Code.ACCOUNT_MANAGER_REQUIRED,
                         _("The deal team needs an account manager."), field="team")

    if lead is not None:
        owner_unit_id, partner_id = lead.owner_unit_id, lead.partner_id
        owner_id = lead.owner_id or user.pk
    else:
        owner_unit_id, partner_id = account.owner_unit_id, account.partner_id
        sits_there = user.unit_id in {account.owner_unit_id, account.partner_id}
        owner_id = user.pk if sits_there else account.owner_id
    amount_cny = _to_cny(amount, rate)
    now = timezone.now()
    opportunity = Opportunity.objects.create(
        account=account, lead=lead, name=_clean_name(name), amount=amount, currency=currency,
        amount_cny=amount_cny, stage=stage, probability=settings.probability_of(stage),
        expected_close=_clean_close(expected_close),
        big_deal=amount_cny >= settings.big_deal_band_cny, owner_unit_id=owner_unit_id,
        partner_id=partner_id, owner_id=owner_id, created_by=user, created_at=now,
        updated_at=now)
    opportunity.products.set(chosen_products)
    opportunity.competitors.set(chosen_competitors)
    DealTeamMember.objects.bulk_create([
        DealTeamMember(opportunity=opportunity, user_id=seat.user_id, role=seat.role,
                       added_at=now) for seat in seats])
    OpportunityChange.objects.create(opportunity=opportunity, from_stage="", to_stage=stage,
                                     at=now, by=user)
    if lead is not None:
        leads.record_opportunity(lead_id=lead.pk, by=user)
    changes = audit.diff({}, audit.snapshot(opportunity, AUDIT_FIELDS))
    changes.update({"products": [None, _names(chosen_products) or None],
                    "competitors": [None, _names(chosen_competitors) or None],
                    "team": [None, _team_text(opportunity)]})
    bus.publish(OpportunitiesChanged(opportunity_ids=(opportunity.id,), stage=opportunity.stage))
    audit.record(actor=user, obj=opportunity, action="created",
                 changes={k: v for k, v in changes.items() if v[1] is not None},
                 reason=_("From lead %(lead)s") % {"lead": lead.pk} if lead else "")
    return opportunity


@transaction.atomic
def update_opportunity(*, user: User, opportunity_id: int, reason: str = "",
                       **changes: Any) -> Opportunity:
    """Change a deal's name, amount, currency, expected close, products or competitors. The
    amount in CNY and the big-deal mark follow the amount and the current rates."""
    opportunity = _visible_opportunity(user, opportunity_id)
    require(user, Action.EDIT)
    unknown = set(changes) - EDITABLE
    if unknown:
        raise SalesError(Code.INVALID, _("This field cannot be set."), field=sorted(unknown)[0])
    settings = _current_settings()
    if "name" in changes:
        changes["name"] = _clean_name(changes["name"])
    if "amount" in changes:
        changes["amount"] = _clean_amount(changes["amount"])
    currency = changes.get("currency", opportunity.currency)
    currency, rate = _clean_currency(currency, settings)
    if "expected_close" in changes:
        changes["expected_close"] = _clean_close(changes["expected_close"])
    new_products = _products(changes.pop("products")) if "products" in changes else None
    new_competitors = (_competitors(changes.pop("competitors")) if "competitors" in changes
                       else None)
    require_deal_editor(user, opportunity)

    before = audit.snapshot(opportunity, AUDIT_FIELDS)
    before_products = _names(opportunity.products.all())
    before_competitors = _names(opportunity.competitors.all())
    for name, value in changes.items():
        setattr(opportunity, name, value)
    if {"amount", "currency"} & set(changes):
        opportunity.amount_cny = _to_cny(opportunity.amount, rate)
        if opportunity.stage in OPEN_OPPORTUNITY_STAGES:
            opportunity.big_deal = opportunity.amount_cny >= settings.big_deal_band_cny
    delta = audit.diff(before, audit.snapshot(opportunity, AUDIT_FIELDS))
    if new_products is not None:
        opportunity.products.set(new_products)
        if _names(new_products) != before_products:
            delta["products"] = [before_products, _names(new_products)]
    if new_competitors is not None:
        opportunity.competitors.set(new_competitors)
        if _names(new_competitors) != before_competitors:
            delta["competitors"] = [before_competitors, _names(new_competitors)]
    if delta:
        opportunity.updated_at = timezone.now()
        opportunity.save()
        audit.record(actor=user, obj=opportunity, action="updated", changes=delta,
                     reason=reason.strip())
    return opportunity


@transaction.atomic
def move_stage(*, user: User, opportunity_id: int, stage: str, reason: str = "") -> Opportunity:
    """Move a deal to another stage. Won and lost close it (lost needs a reason) and report to
    the lead; moving a closed deal anywhere (reopening it) needs a reason too."""
    opportunity = _visible_opportunity(user, opportunity_id)
    require(user, Action.EDIT)
    reason = (reason or "").strip()
    if stage not in OpportunityStage.values:
        raise SalesError(Code.INVALID, _("Choose a stage."), field="stage")
    if stage == opportunity.stage:
        raise SalesError(Code.SAME_STAGE, _("The opportunity is at this stage already."),
                         field="stage")
    if stage == OpportunityStage.LOST and not reason:
        raise SalesError(Code.REASON_REQUIRED, _("Say why the opportunity was lost."),
                         field="reason")
    reopening = opportunity.stage in CLOSED_OPPORTUNITY_STAGES
    if reopening and not reason:
        raise SalesError(Code.REASON_REQUIRED,
                         _("Say why a closed opportunity is moved again."), field="reason")
    require_deal_editor(user, opportunity)

    settings = _current_settings()
    before = audit.snapshot(opportunity, AUDIT_FIELDS)
    now = timezone.now()
    from_stage = opportunity.stage
    opportunity.stage = stage
    opportunity.probability = settings.probability_of(stage)
    opportunity.updated_at = now
    if stage in CLOSED_OPPORTUNITY_STAGES:
        opportunity.closed_at, opportunity.close_reason = now, reason
    else:
        opportunity.closed_at, opportunity.close_reason = None, ""
        if reopening:  # the rates and the band may have changed while it was closed
            rate = settings.rate_of(opportunity.currency)
            if rate is not None:
                opportunity.amount_cny = _to_cny(opportunity.amount, rate)
            opportunity.big_deal = opportunity.amount_cny >= settings.big_deal_band_cny
    opportunity.save()
    OpportunityChange.objects.create(opportunity=opportunity, from_stage=from_stage,
                                     to_stage=stage, at=now, by=user, reason=reason)
    if opportunity.lead_id is not None:
        if stage == OpportunityStage.WON:
            leads.record_won(lead_id=opportunity.lead_id, by=user,
                             opportunity_name=opportunity.name)
        elif stage == OpportunityStage.LOST:
            leads.record_lost(lead_id=opportunity.lead_id, by=user,
                              opportunity_name=opportunity.name, reason=reason)
    if stage in CLOSED_OPPORTUNITY_STAGES or reopening:
        bus.publish(OpportunitiesChanged(opportunity_ids=(opportunity.id,), stage=stage))
    audit.record(actor=user, obj=opportunity,
                 action={"won": "won", "lost": "lost"}.get(stage,
                                                           "reopened" if reopening else "moved"),
                 changes=audit.diff(before, audit.snapshot(opportunity, AUDIT_FIELDS)),
                 reason=reason)
    return opportunity


def close_won(*, user: User, opportunity_id: int, reason: str = "") -> Opportunity:
    """The deal is won: its lead becomes a customer."""
    return move_stage(user=user, opportunity_id=opportunity_id, stage=OpportunityStage.WON,
                      reason=reason)


def close_lost(*, user: User, opportunity_id: int, reason: str) -> Opportunity:
    """The deal is lost (a reason is required): its lead returns to nurture with the reason."""
    return move_stage(user=user, opportunity_id=opportunity_id, stage=OpportunityStage.LOST,
                      reason=reason)


# ---- the deal team ----------------------------------------------------------------------------

@transaction.atomic
def add_team_member(*, user: User, opportunity_id: int, member_id: int,
                    role: str) -> DealTeamMember:
    """Put an active user (anywhere in the company) on the deal team in a role."""
    opportunity = _visible_opportunity(user, opportunity_id)
    require(user, Action.EDIT)
    (seat,) = _clean_seats([Seat(member_id, role)])
    if DealTeamMember.objects.filter(opportunity=opportunity, user_id=seat.user_id,
                                     role=seat.role).exists():
        raise SalesError(Code.ALREADY_ON_TEAM, _("This person holds this role on the team "
                                                 "already."), field="user")
    require_deal_editor(user, opportunity)
    before = _team_text(opportunity)
    member = DealTeamMember.objects.create(opportunity=opportunity, user_id=seat.user_id,
                                           role=seat.role)
    _touch(opportunity)
    audit.record(actor=user, obj=opportunity, action="team_added",
                 changes={"team": [before, _team_text(opportunity)]})
    return member


@transaction.atomic
def remove_team_member(*, user: User, opportunity_id: int, member_id: int) -> Opportunity:
    """Take a seat off the deal team (`member_id` is the seat's id). The team keeps at least
    one account manager."""
    opportunity = _visible_opportunity(user, opportunity_id)
    require(user, Action.EDIT)
    member = DealTeamMember.objects.filter(opportunity=opportunity, pk=member_id).first()
    if member is None:
        raise SalesError(Code.UNKNOWN_MEMBER, _("No such member of this deal team."),
                         field="member")
    others = DealTeamMember.objects.filter(opportunity=opportunity,
                                           role=DealRole.ACCOUNT_MANAGER).exclude(pk=member.pk)
    if member.role == DealRole.ACCOUNT_MANAGER and not others.exists():
        raise SalesError(Code.ACCOUNT_MANAGER_REQUIRED,
                         _("The deal team needs an account manager: add another one first."),
                         field="member")
    require_deal_editor(user, opportunity)
    before = _team_text(opportunity)
    member.delete()
    _touch(opportunity)
    audit.record(actor=user, obj=opportunity, action="team_removed",
                 changes={"team": [before, _team_text(opportunity)]})
    return opportunity


def _touch(opportunity: Opportunity) -> None:
    opportunity.updated_at = timezone.now()
    opportunity.save(update_fields=["updated_at"])


# ---- settings ---------------------------------------------------------------------------------

@transaction.atomic
def update_settings(*, user: User, big_deal_band_cny: Decimal, probabilities: Mapping[str, int],
                    cny_rates: Mapping[str, Any]) -> SalesSettings:
    """Change the company's sales settings (administrators). Open deals follow at once: their
    probability, their amount in CNY at the new rates, and their big-deal mark."""
    require(user, Action.ADMINISTER)
    band = _clean_amount(big_deal_band_cny) if big_deal_band_cny is not None else None
    if band is None:
        raise SalesError(Code.INVALID, _("Enter the big-deal band."), field="big_deal_band_cny")
    clean_probabilities: dict[str, int] = {}
    for stage in OpportunityStage.values:
        value = probabilities.get(stage)
        if stage == OpportunityStage.WON:
            value = 100
        elif stage == OpportunityStage.LOST:
            value = 0
        if not isinstance(value, int) or not 0 <= value <= 100:
            raise SalesError(Code.INVALID, _("A probability is a whole percent, 0 to 100."),
                             field=f"probability_{stage}")
        clean_probabilities[stage] = value
    clean_rates: dict[str, str] = {}
    for currency in Currency.values:
        if currency == Currency.CNY:
            continue
        try:
            rate = Decimal(str(cny_rates.get(currency)))
        except (InvalidOperation, ValueError):
            rate = Decimal(0)
        if not rate.is_finite() or rate <= 0:
            raise SalesError(Code.INVALID, _("An exchange rate is a positive number."),
                             field=f"rate_{currency}")
        clean_rates[currency] = str(rate.normalize())

    settings = _current_settings(lock=True)
    fields = ("big_deal_band_cny", "probabilities", "cny_rates")
    before = {name: str(getattr(settings, name)) for name in fields}
    settings.big_deal_band_cny, settings.probabilities, settings.cny_rates = (
        band, clean_probabilities, clean_rates)
    settings.updated_at = timezone.now()
    settings.save()
    delta = audit.diff(before, {name: str(getattr(settings, name)) for name in fields})
    if delta:
        remarked = _apply_settings_to_open_deals(settings)
        audit.record(actor=user, obj=settings, action="updated", changes=delta,
                     reason=_("%(count)s open opportunities re-marked") % {"count": remarked})
    return settings


def _apply_settings_to_open_deals(settings: SalesSettings) -> int:
    """One UPDATE: the open deals' probability, amount in CNY and big-deal mark."""
    open_deals = Opportunity.objects.filter(stage__in=OPEN_OPPORTUNITY_STAGES)
    rate_of = {currency: settings.rate_of(currency) for currency in Currency.values}
    amount_cny = Case(*[When(currency=currency, then=_cny_expression(rate))
                        for currency, rate in rate_of.items() if rate is not None],
                      default="amount_cny")
    probability = Case(*[When(stage=stage, then=Value(settings.probability_of(stage)))
                         for stage in OPEN_OPPORTUNITY_STAGES])
    updated = open_deals.update(amount_cny=amount_cny, probability=probability)
    open_deals.update(big_deal=ExpressionWrapper(Q(amount_cny__gte=settings.big_deal_band_cny),
                                                 output_field=BooleanField()))
    return updated


def _cny_expression(rate: Decimal) -> Round:
    return Round(F("amount") * Value(rate), 2, output_field=DecimalField(max_digits=18,
                                                                         decimal_places=2))

