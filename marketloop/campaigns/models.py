"""Campaigns: marketing plans, activities at three levels (company, region, customer group),
their budgets (requests, approvals, spend), tracking links and codes, members, the touchpoints
attached to them, and the credit attribution gives them for leads, pipeline and revenue."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketloop.crm.models import Contact
from marketloop.org.models import OrgUnit
from marketloop.org.scope import ScopeFields
from marketloop.tracking.models import Profile

ZERO = Decimal("0")


class ActivityKind(models.TextChoices):
    CONFERENCE = "conference", _("Industry conference")
    EDM = "edm", _("EDM")
    MAGAZINE = "magazine", _("Magazine issue")
    SALON = "salon", _("Salon")
    PUBLIC_COURSE = "course", _("Public course")
    EXECUTIVE_FORUM = "forum", _("Executive forum")
    WEBINAR = "webinar", _("Webinar")
    INSIGHT_ARTICLE = "article", _("Insight article")
    SOCIAL_POST = "social", _("Social post")
    SEARCH_AD = "search_ad", _("Search keyword ad")
    HOTLINE_PROMOTION = "hotline", _("Hotline promotion")
    OTHER = "other", _("Other")


class ActivityLevel(models.TextChoices):
    COMPANY = "company", _("Company (standard content, thought leadership)")
    REGION = "region", _("Region (regional scenarios)")
    CUSTOMER_GROUP = "customer_group", _("Customer group (customer-specific)")


class ActivityStatus(models.TextChoices):
    PLANNED = "planned", _("Planned")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


def _money(verbose: str, **kwargs) -> models.DecimalField:
    return models.DecimalField(verbose, max_digits=16, decimal_places=2, default=ZERO, **kwargs)


class MarketingPlan(models.Model):
    """A unit's marketing plan for one quarter of a year: goals and the budget its activities
    draw on. Its owner approves the activities' budget requests."""

    scope_fields = ScopeFields(unit="owner_unit", partner=None, owner="owner")

    name = models.CharField(_("name"), max_length=200)
    year = models.PositiveSmallIntegerField(
        _("year"), validators=[MinValueValidator(2000), MaxValueValidator(2100)])
    quarter = models.PositiveSmallIntegerField(
        _("quarter"), validators=[MinValueValidator(1), MaxValueValidator(4)])
    owner_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                              related_name="+", verbose_name=_("plan owner"))
    goal_leads = models.PositiveIntegerField(_("goal: leads"), default=0)
    goal_mqls = models.PositiveIntegerField(_("goal: MQLs"), default=0)
    goal_pipeline = _money(_("goal: pipeline (CNY)"))
    goal_revenue = _money(_("goal: revenue (CNY)"))
    budget = _money(_("budget (CNY)"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-year", "-quarter", "name"]
        constraints = [models.UniqueConstraint(fields=["owner_unit", "year", "quarter"],
                                               name="plan_unit_quarter_once")]

    def __str__(self) -> str:
        return f"{self.name} ({self.year} Q{self.quarter})"


class Activity(models.Model):
    """One marketing activity. Its `code` is its utm_campaign and its activity code: any
    touchpoint carrying it is attached to the activity."""

    scope_fields = ScopeFields(unit="owner_unit", partner="partner", owner="owner")

    plan = models.ForeignKey(MarketingPlan, on_delete=models.PROTECT, related_name="activities",
                             verbose_name=_("plan"))
    code = models.SlugField(_("activity code"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=12, choices=ActivityKind.choices)
    level = models.CharField(_("level"), max_length=16, choices=ActivityLevel.choices)
    status = models.CharField(_("status"), max_length=10, choices=ActivityStatus.choices,
                              default=ActivityStatus.PLANNED)
    owner_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    audience = models.TextField(_("target audience"), blank=True)
    goal_leads = models.PositiveIntegerField(_("goal: leads"), default=0)
    goal_mqls = models.PositiveIntegerField(_("goal: MQLs"), default=0)
    goal_pipeline = _money(_("goal: pipeline (CNY)"))
    goal_revenue = _money(_("goal: revenue (CNY)"))
    budget = _money(_("budget line (CNY)"))  # what the plan sets aside; not yet approved
    approved_budget = _money(_("approved budget (CNY)"))  # Σ approved requests
    spent = _money(_("spent (CNY)"))  # Σ spend records
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "activities"
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_on__gte=models.F("starts_on")),
                                   name="activity_ends_after_start"),
            models.CheckConstraint(condition=models.Q(spent__lte=models.F("approved_budget")),
                                   name="activity_spend_within_approved"),
        ]
        indexes = [
            models.Index(fields=["owner_unit", "-starts_on", "-id"], name="act_unit_starts"),
            models.Index(fields=["partner", "-starts_on", "-id"], name="act_partner_starts"),
            models.Index(fields=["owner", "-starts_on", "-id"], name="act_owner_starts"),
            models.Index(fields=["plan"], name="act_plan"),
        ]

    def __str__(self) -> str:
        return f"{self.name} [{self.code}]"

    @property
    def available(self) -> Decimal:
        """Approved budget not yet spent."""
        return self.approved_budget - self.spent


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class BudgetRequest(models.Model):
    """A request for (more) budget for an activity, decided by the plan's owner."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE,
                                 related_name="budget_requests")
    amount = models.DecimalField(_("amount (CNY)"), max_digits=16, decimal_places=2)
    reason = models.TextField(_("reason"))
    status = models.CharField(max_length=10, choices=RequestStatus.choices,
                              default=RequestStatus.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                     on_delete=models.SET_NULL, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0),
                                              name="budget_request_positive")]

    def __str__(self) -> str:
        return f"{self.amount} for {self.activity_id} ({self.status})"


class Spend(models.Model):
    """Money committed or paid for an activity (an actual), within its approved budget."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="spend")
    amount = models.DecimalField(_("amount (CNY)"), max_digits=16, decimal_places=2)
    spent_on = models.DateField(_("date"))
    description = models.CharField(_("what for"), max_length=300)
    vendor = models.CharField(_("vendor"), max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                    on_delete=models.SET_NULL, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-spent_on", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0),
                                              name="spend_positive")]
        indexes = [models.Index(fields=["spent_on"], name="spend_on")]

    def __str__(self) -> str:
        return f"{self.amount} on {self.spent_on}"


class SpendAttachment(models.Model):
    """An invoice, contract or receipt behind a spend record."""

    spend = models.ForeignKey(Spend, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to="campaigns/spend/%Y/%m/")
    name = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=120, blank=True)
    uploaded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class TrackingLink(models.Model):
    """A link to a landing page with the activity's UTM parameters (utm_campaign is always
    the activity's code)."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE,
                                 related_name="tracking_links")
    destination = models.URLField(_("landing page"), max_length=1000)
    utm_source = models.CharField(_("source (utm_source)"), max_length=100)
    utm_medium = models.CharField(_("medium (utm_medium)"), max_length=100)
    utm_content = models.CharField(_("content (utm_content)"), max_length=100, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.destination


class MemberStatus(models.TextChoices):
    """In order: a member's status only moves forward."""

    INVITED = "invited", _("Invited")
    REGISTERED = "registered", _("Registered")
    ATTENDED = "attended", _("Attended")
    RESPONDED = "responded", _("Responded")


MEMBER_STATUS_RANK = {s: i for i, s in enumerate(MemberStatus.values)}


class MemberSource(models.TextChoices):
    TOUCHPOINT = "touchpoint", _("Touchpoint")
    IMPORT = "import", _("Import")
    REGISTRATION = "registration", _("Registration")
    MANUAL = "manual", _("Added by hand")


class CampaignMember(models.Model):
    """A person on an activity's list: a CRM contact where known, else a profile."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="members")
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="+")
    profile = models.ForeignKey(Profile, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", db_constraint=False)
    name = models.CharField(max_length=200, blank=True)
    email = models.CharField(max_length=254, blank=True)
    mobile = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=12, choices=MemberStatus.choices)
    source = models.CharField(max_length=12, choices=MemberSource.choices)
    invited_at = models.DateTimeField(null=True, blank=True)
    registered_at = models.DateTimeField(null=True, blank=True)
    attended_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["activity", "contact"],
                                    condition=models.Q(contact__isnull=False),
                                    name="member_contact_once"),
            models.UniqueConstraint(fields=["activity", "profile"],
                                    condition=models.Q(contact__isnull=True,
                                                       profile__isnull=False),
                                    name="member_profile_once"),
            models.CheckConstraint(condition=models.Q(contact__isnull=False)
                                   | models.Q(profile__isnull=False),
                                   name="member_is_someone"),
        ]
        indexes = [models.Index(fields=["activity", "status"], name="member_activity_status")]

    def __str__(self) -> str:
        return f"{self.name or self.email or self.contact_id} ({self.status})"


class ActivityTouch(models.Model):
    """A touchpoint attached to an activity (by its utm_campaign or activity code). Keeps the
    touchpoint's identity and time so journeys are read without the wide touchpoint table."""

    class How(models.TextChoices):
        UTM = "utm", _("Tracking link (utm_campaign)")
        CODE = "code", _("Activity code")

    touchpoint_id = models.BigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    identity_id = models.BigIntegerField()
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="touches")
    kind = models.CharField(max_length=12)  # the touchpoint's kind
    how = models.CharField(max_length=4, choices=How.choices)

    class Meta:
        indexes = [
            models.Index(fields=["identity_id", "occurred_at"], name="acttouch_identity"),
            models.Index(fields=["activity", "-occurred_at"], name="acttouch_activity"),
        ]

    def __str__(self) -> str:
        return f"touchpoint {self.touchpoint_id} → activity {self.activity_id}"


# ---- attribution --------------------------------------------------------------------------------

class AttributionModel(models.TextChoices):
    FIRST_TOUCH = "first_touch", _("First touch")
    LAST_TOUCH = "last_touch", _("Last touch")
    LINEAR = "linear", _("Linear")
    TIME_DECAY = "time_decay", _("Time decay")
    POSITION_BASED = "position_based", _("Position-based (40/20/40)")
    W_SHAPED = "w_shaped", _("W-shaped")
    DATA_DRIVEN = "data_driven", _("Data-driven (Markov)")


class ConversionStage(models.TextChoices):
    LEAD = "lead", _("Leads")
    MQL = "mql", _("MQLs")
    SAL = "sal", _("SALs")
    PIPELINE = "pipeline", _("Pipeline")
    WON = "won", _("Won revenue")


SHARE_UNIT = 1_000_000  # a conversion's credit is split in millionths that sum to exactly this


class AttributionSettings(models.Model):
    """One row: how far back a journey reaches and the half-life of the time-decay model."""

    lookback_days = models.PositiveIntegerField(
        _("look-back window (days)"), default=180,
        validators=[MinValueValidator(1), MaxValueValidator(1095)])
    half_life_days = models.PositiveIntegerField(
        _("time-decay half-life (days)"), default=14,
        validators=[MinValueValidator(1), MaxValueValidator(365)])
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name_plural = "attribution settings"

    def __str__(self) -> str:
        return "attribution settings"


class AttributionRun(models.Model):
    """One computation of every model's credit over every conversion (a job with progress)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped (a newer run was queued)")

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(max_length=200, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    steps_done = models.PositiveIntegerField(default=0)
    steps_total = models.PositiveIntegerField(default=0)
    figures = models.JSONField(default=dict, blank=True)  # conversions, journey rows, seconds
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"attribution run {self.pk} ({self.status})"


class ActivityCredit(models.Model):
    """Credit one model gives one activity (None: conversions with no activity in their
    journey) for conversions of one stage in one month. `credit` is in millionths of a
    conversion, `amount` in CNY (pipeline and won stages)."""

    model = models.CharField(max_length=16, choices=AttributionModel.choices)
    stage = models.CharField(max_length=8, choices=ConversionStage.choices)
    activity = models.ForeignKey(Activity, null=True, on_delete=models.CASCADE,
                                 related_name="+", db_constraint=False)
    month = models.DateField()
    credit = models.BigIntegerField()
    amount = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        indexes = [
            models.Index(fields=["model", "stage", "month"], name="credit_model_stage_month"),
            models.Index(fields=["activity", "model"], name="credit_activity_model"),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.stage} {self.month:%Y-%m} → {self.activity_id}"


class ActivityInfluence(models.Model):
    """How many conversions of a stage in a month had the activity anywhere in their journey
    (and their amount): influence, which does not depend on the model."""

    stage = models.CharField(max_length=8, choices=ConversionStage.choices)
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="+",
                                 db_constraint=False)
    month = models.DateField()
    conversions = models.PositiveIntegerField()
    amount = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        indexes = [models.Index(fields=["activity", "stage"], name="influence_activity_stage"),
                   models.Index(fields=["stage", "month"], name="influence_stage_month")]

    def __str__(self) -> str:
        return f"{self.stage} {self.month:%Y-%m} ← {self.activity_id}"


class RemovalEffect(models.Model):
    """The data-driven model's removal effect of an activity for one stage, from the last
    run: the share of conversions lost if the activity were taken out of every journey."""

    stage = models.CharField(max_length=8, choices=ConversionStage.choices)
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="+",
                                 db_constraint=False)
    effect = models.FloatField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stage", "activity"],
                                               name="removal_effect_once")]

    def __str__(self) -> str:
        return f"{self.stage} {self.activity_id}: {self.effect:.3f}"
