"""Leads: a person's way from subscriber to customer (the lifecycle), who owns them on the way
(routing), and the hand-off marketing makes and sales accepts or sends back.

A lead is scoped like everything else: its owning unit, partner and owner are the routed
owner's (HQ marketing while it is marketing's, or in triage)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketloop.crm.models import Account, Contact, Tier
from marketloop.org.models import OrgUnit
from marketloop.org.scope import ScopeFields
from marketloop.tracking.models import Profile


class Stage(models.TextChoices):
    SUBSCRIBER = "subscriber", _("Subscriber")
    LEAD = "lead", _("Lead")
    MQL = "mql", _("MQL")
    SAL = "sal", _("SAL")
    SQL = "sql", _("SQL (opportunity)")
    CUSTOMER = "customer", _("Customer")
    RECYCLED = "recycled", _("Recycled")
    DISQUALIFIED = "disqualified", _("Disqualified")


# The forward order of the main stages; recycled and disqualified stand aside.
STAGE_ORDER = [Stage.SUBSCRIBER, Stage.LEAD, Stage.MQL, Stage.SAL, Stage.SQL, Stage.CUSTOMER]
OPEN_STAGES = [Stage.SUBSCRIBER, Stage.LEAD, Stage.MQL, Stage.SAL, Stage.SQL, Stage.RECYCLED]


class LeadKind(models.TextChoices):
    NEW_BUSINESS = "new_business", _("New business")
    CUSTOMER_NEED = "customer_need", _("Existing customer, new need")


class CustomerNeed(models.TextChoices):
    NEW_MODULE = "new_module", _("New module")
    LARGE_UPGRADE = "large_upgrade", _("Large upgrade")
    ANNUAL_PLAN = "annual_plan", _("Confirmed annual project plan")
    OTHER = "other", _("Other")


class Channel(models.TextChoices):
    """The channel of a lead's first touch."""

    SEARCH = "search", _("Search")
    WEB = "web", _("Website")
    EDM = "edm", _("EDM")
    HOTLINE = "hotline", _("Hotline")
    EVENT = "event", _("Events")
    FORM = "form", _("Web form")
    SALES = "sales", _("Sales")
    IMPORT = "import", _("Import")
    OTHER = "other", _("Other")


class RejectReason(models.TextChoices):
    NO_NEED = "no_need", _("No current need")
    NO_BUDGET = "no_budget", _("No budget")
    NOT_REACHABLE = "not_reachable", _("Could not reach")
    NOT_DECISION_MAKER = "not_decision_maker", _("Not a decision maker")
    WRONG_OWNER = "wrong_owner", _("Not ours (wrong territory or tier)")
    DUPLICATE = "duplicate", _("Duplicate")
    COMPETITOR_LOCKED = "competitor_locked", _("Locked in with a competitor")
    OTHER = "other", _("Other")


class Lead(models.Model):
    scope_fields = ScopeFields(unit="owner_unit", partner="partner", owner="owner")

    kind = models.CharField(max_length=16, choices=LeadKind.choices, default=LeadKind.NEW_BUSINESS)
    need = models.CharField(max_length=16, choices=CustomerNeed.choices, blank=True)
    note = models.TextField(blank=True)
    profile = models.ForeignKey(Profile, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="leads", db_constraint=False)
    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="leads")
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="leads")
    name = models.CharField(max_length=200)  # the person (and company) as first known
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.SUBSCRIBER)

    # Routed owner. While marketing works the lead (subscriber .. MQL before routing, in
    # triage, recycled) it is owned by HQ marketing.
    owner_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    partner = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    in_triage = models.BooleanField(default=False)

    # Snapshots for the funnel (as of routing, else creation).
    tier = models.CharField(max_length=24, choices=Tier.choices, blank=True)
    province = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    channel = models.CharField(max_length=12, choices=Channel.choices, default=Channel.OTHER)
    fit = models.IntegerField(default=0)
    engagement = models.FloatField(default=0)

    # When each stage was first reached (null: not yet).
    created_at = models.DateTimeField(default=timezone.now)
    lead_at = models.DateTimeField(null=True, blank=True)
    mql_at = models.DateTimeField(null=True, blank=True)
    sal_at = models.DateTimeField(null=True, blank=True)
    sql_at = models.DateTimeField(null=True, blank=True)
    won_at = models.DateTimeField(null=True, blank=True)
    recycled_at = models.DateTimeField(null=True, blank=True)
    disqualified_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    # The hand-off: assigned, to be accepted by `accept_due_at` (working hours by tier).
    assigned_at = models.DateTimeField(null=True, blank=True)
    accept_due_at = models.DateTimeField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_to = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    reject_reason = models.CharField(max_length=20, choices=RejectReason.choices, blank=True)
    reject_note = models.TextField(blank=True)
    times_recycled = models.PositiveIntegerField(default=0)
    # Engagement when the lead was last recycled: re-qualifying needs a real rise above it.
    engagement_at_recycle = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            # One open lead per profile; a customer's new need is a new lead once the earlier
            # one is closed (customer or disqualified).
            models.UniqueConstraint(
                fields=["profile"], condition=Q(profile__isnull=False)
                & ~Q(stage__in=["customer", "disqualified"]),
                name="one_open_lead_per_profile"),
        ]
        # Lists page newest first on (-updated_at, -id), one scope part per index.
        indexes = [
            models.Index(fields=["owner_unit", "-updated_at", "-id"], name="lead_unit_updated"),
            models.Index(fields=["partner", "-updated_at", "-id"], name="lead_partner_updated"),
            models.Index(fields=["owner", "-updated_at", "-id"], name="lead_owner_updated"),
            models.Index(fields=["stage", "-updated_at", "-id"], name="lead_stage_updated"),
            models.Index(fields=["lead_at"], name="lead_lead_at"),
            models.Index(fields=["accept_due_at"], condition=Q(stage="mql", owner__isnull=False),
                         name="lead_awaiting_acceptance"),
            models.Index(fields=["account"], name="lead_account"),
            models.Index(fields=["-updated_at", "-id"], condition=Q(in_triage=True),
                         name="lead_triage"),
        ]

    def __str__(self) -> str:
        return self.name


class StageChange(models.Model):
    """Every change of a lead's stage: from, to, when, and the cause: a rule with its numbers
    (`cause="rule"`, `rule` holds them), a person with a reason, or the system (a won deal)."""

    class Cause(models.TextChoices):
        RULE = "rule", _("Rule")
        USER = "user", _("Person")
        SYSTEM = "system", _("System")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=16, choices=Stage.choices, blank=True)
    to_stage = models.CharField(max_length=16, choices=Stage.choices)
    at = models.DateTimeField(default=timezone.now)
    cause = models.CharField(max_length=8, choices=Cause.choices)
    rule = models.JSONField(default=dict, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.SET_NULL, related_name="+")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_stage or '∅'} → {self.to_stage}"


class Assignment(models.Model):
    """Who a lead was handed to, when, and how (tier rule + round-robin, triage, by hand,
    escalation)."""

    class How(models.TextChoices):
        ROUTED = "routed", _("Routed by tier and territory")
        TRIAGE = "triage", _("Sent to triage")
        MANUAL = "manual", _("Assigned by hand")
        ESCALATED = "escalated", _("Escalated")

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="assignments")
    owner_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    how = models.CharField(max_length=12, choices=How.choices)
    detail = models.JSONField(default=dict, blank=True)  # rule, candidates and their loads
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            # Round-robin: when each person was last handed a lead.
            models.Index(fields=["owner", "-at"], name="assignment_owner_at"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} → {self.owner_unit_id}/{self.owner_id} ({self.how})"


class HandoffPolicy(models.Model):
    """How long the owner of a lead of a tier has to accept or reject it, in working hours,
    and how long before that they are reminded."""

    tier = models.CharField(max_length=24, choices=Tier.choices, unique=True)
    accept_within_hours = models.PositiveIntegerField(_("accept within (working hours)"))
    remind_before_hours = models.PositiveIntegerField(_("remind before (working hours)"),
                                                      default=2)

    class Meta:
        ordering = ["tier"]
        verbose_name_plural = "hand-off policies"

    def __str__(self) -> str:
        return f"{self.tier}: {self.accept_within_hours} h"
