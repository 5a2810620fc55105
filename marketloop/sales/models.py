"""Sales: opportunities and their deal teams (account manager, project manager, presales
consultant), products, competitors, stages with probabilities, and the big-deal band."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketloop.crm.models import Account
from marketloop.leads.models import Lead
from marketloop.org.models import OrgUnit
from marketloop.org.scope import ScopeFields


class OpportunityStage(models.TextChoices):
    QUALIFICATION = "qualification", _("Qualification")
    SOLUTION = "solution", _("Solution")
    BID = "bid", _("Bid")
    NEGOTIATION = "negotiation", _("Negotiation")
    WON = "won", _("Won")
    LOST = "lost", _("Lost")


OPEN_OPPORTUNITY_STAGES = [OpportunityStage.QUALIFICATION, OpportunityStage.SOLUTION,
                           OpportunityStage.BID, OpportunityStage.NEGOTIATION]
CLOSED_OPPORTUNITY_STAGES = [OpportunityStage.WON, OpportunityStage.LOST]
DEFAULT_PROBABILITIES = {"qualification": 10, "solution": 30, "bid": 50, "negotiation": 75,
                         "won": 100, "lost": 0}
DEFAULT_BIG_DEAL_BAND_CNY = Decimal("2000000")
DEFAULT_CNY_RATES = {"USD": "7.1", "EUR": "7.7", "HKD": "0.91"}  # CNY per unit


class Currency(models.TextChoices):
    CNY = "CNY", "CNY ¥"
    USD = "USD", "USD $"
    EUR = "EUR", "EUR €"
    HKD = "HKD", "HKD HK$"


class SalesSettings(models.Model):
    """Company-wide sales settings (one row): stage probabilities, the big-deal band and the
    exchange rates used to compare amounts in CNY."""

    big_deal_band_cny = models.DecimalField(_("big deal from (CNY)"), max_digits=16,
                                            decimal_places=2, default=DEFAULT_BIG_DEAL_BAND_CNY)
    probabilities = models.JSONField(default=dict)  # stage -> percent
    cny_rates = models.JSONField(default=dict)  # currency -> CNY per unit, e.g. {"USD": "7.1"}
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "sales settings"

    def __str__(self) -> str:
        return "sales settings"

    def probability_of(self, stage: str) -> int:
        """The win probability of a stage, in percent (the default where none is set)."""
        return int(self.probabilities.get(stage, DEFAULT_PROBABILITIES[stage]))

    def rate_of(self, currency: str) -> Decimal | None:
        """CNY per unit of `currency`; None when no rate is set."""
        if currency == Currency.CNY:
            return Decimal(1)
        rate = self.cny_rates.get(currency)
        return Decimal(str(rate)) if rate not in (None, "") else None


def default_settings() -> SalesSettings:
    """The settings every installation starts with (unsaved)."""
    return SalesSettings(big_deal_band_cny=DEFAULT_BIG_DEAL_BAND_CNY,
                         probabilities=dict(DEFAULT_PROBABILITIES),
                         cny_rates=dict(DEFAULT_CNY_RATES))


class Product(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    name_en = models.CharField(max_length=120, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Competitor(models.Model):
    name = models.CharField(max_length=120, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Opportunity(models.Model):
    """A deal. Visible where its account's owner is (unit, partner, owner) and to every member
    of its deal team, wherever they sit."""

    scope_fields = ScopeFields(unit="owner_unit", partner="partner", owner="owner",
                               member="team__user")

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="opportunities")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="opportunities")
    name = models.CharField(_("name"), max_length=200)
    amount = models.DecimalField(_("amount"), max_digits=16, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, choices=Currency.choices,
                                default=Currency.CNY)
    amount_cny = models.DecimalField(max_digits=18, decimal_places=2)
    stage = models.CharField(_("stage"), max_length=16, choices=OpportunityStage.choices,
                             default=OpportunityStage.QUALIFICATION)
    probability = models.PositiveSmallIntegerField(default=10)  # percent, from the stage
    expected_close = models.DateField(_("expected close"))
    products = models.ManyToManyField(Product, blank=True, related_name="+")
    competitors = models.ManyToManyField(Competitor, blank=True, related_name="+")
    big_deal = models.BooleanField(default=False)
    close_reason = models.TextField(_("won or lost because"), blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    owner_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "opportunities"
        indexes = [
            models.Index(fields=["owner_unit", "-updated_at", "-id"], name="opp_unit_updated"),
            models.Index(fields=["partner", "-updated_at", "-id"], name="opp_partner_updated"),
            models.Index(fields=["owner", "-updated_at", "-id"], name="opp_owner_updated"),
            models.Index(fields=["stage", "-updated_at", "-id"], name="opp_stage_updated"),
            models.Index(fields=["account"], name="opp_account"),
        ]

    def __str__(self) -> str:
        return self.name


class DealRole(models.TextChoices):
    ACCOUNT_MANAGER = "account_manager", _("Account manager")
    PROJECT_MANAGER = "project_manager", _("Project manager")
    PRESALES = "presales", _("Presales consultant")


class DealTeamMember(models.Model):
    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="team")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="deal_teams")
    role = models.CharField(max_length=16, choices=DealRole.choices)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["opportunity", "user", "role"],
                                               name="deal_team_member_once")]
        indexes = [models.Index(fields=["user", "opportunity"], name="deal_team_user")]

    def __str__(self) -> str:
        return f"{self.user_id} as {self.role}"


class OpportunityChange(models.Model):
    """A stage move (or won/lost) of an opportunity: from, to, when, who, why."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE,
                                    related_name="changes")
    from_stage = models.CharField(max_length=16, choices=OpportunityStage.choices, blank=True)
    to_stage = models.CharField(max_length=16, choices=OpportunityStage.choices)
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_stage or '∅'} → {self.to_stage}"
