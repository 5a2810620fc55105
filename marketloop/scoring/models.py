"""Scoring: a model of fit rules (who the person is) and engagement rules (what they did),
and the scores it gives every profile and account.

One model is in force at a time (`ScoringModel.active`). Scores are stored as of
`computed_at`; engagement decays by the model's half-life, so a periodic full re-score keeps
stored scores current and new touchpoints re-score their profiles within seconds."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketloop.tracking.models import TouchpointKind


class ScoringModel(models.Model):
    name = models.CharField(_("name"), max_length=120)
    active = models.BooleanField(_("in force"), default=False)
    half_life_days = models.PositiveIntegerField(
        _("engagement half-life (days)"), default=30,
        help_text=_("An action counts half as much after this many days."))
    lookback_days = models.PositiveIntegerField(
        _("look-back (days)"), default=365,
        help_text=_("Actions older than this count nothing."))
    # Thresholds the lifecycle reads: engagement that makes a subscriber a lead, and fit and
    # engagement that together make a lead an MQL.
    lead_engagement = models.PositiveIntegerField(_("lead at engagement"), default=10)
    mql_fit = models.PositiveIntegerField(_("MQL at fit"), default=30)
    mql_engagement = models.PositiveIntegerField(_("MQL at engagement"), default=40)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["active"], condition=Q(active=True),
                                               name="one_scoring_model_in_force")]

    def __str__(self) -> str:
        return self.name


class FitAttribute(models.TextChoices):
    TIER = "tier", _("Account tier")
    INDUSTRY = "industry", _("Industry")
    PROVINCE = "province", _("Province")
    REVENUE_BAND = "revenue_band", _("Revenue band")
    TITLE = "title", _("Title contains")
    MANAGEMENT = "management", _("Management level")


class FitRule(models.Model):
    """`points` when the profile's contact or account has `attribute` = `value` (for a title:
    contains `value`; for management level: "yes" or "no"; industry and province by code)."""

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="fit_rules")
    attribute = models.CharField(_("attribute"), max_length=16, choices=FitAttribute.choices)
    value = models.CharField(_("value"), max_length=120)
    points = models.IntegerField(_("points"))

    class Meta:
        ordering = ["attribute", "value", "id"]

    def __str__(self) -> str:
        return f"{self.attribute}={self.value}: {self.points:+d}"


class EngagementRule(models.Model):
    """`points` for every touchpoint that matches all the given conditions (blank = any),
    at most `daily_cap` points a day from this rule, decayed by the model's half-life."""

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE,
                              related_name="engagement_rules")
    label = models.CharField(_("label"), max_length=120)
    kind = models.CharField(_("kind of touchpoint"), max_length=12, blank=True,
                            choices=TouchpointKind.choices)
    event = models.CharField(_("event name"), max_length=200, blank=True)
    url_contains = models.CharField(_("URL contains"), max_length=200, blank=True)
    property_key = models.CharField(_("property"), max_length=60, blank=True)
    property_value = models.CharField(_("property value"), max_length=200, blank=True)
    points = models.IntegerField(_("points"))
    daily_cap = models.PositiveIntegerField(_("cap per day"), null=True, blank=True)

    class Meta:
        ordering = ["kind", "label", "id"]

    def __str__(self) -> str:
        return f"{self.label}: {self.points:+d}"


class Score(models.Model):
    """A profile's scores as of `computed_at`. No foreign key: a merged profile's score row is
    dropped by the re-score of its survivor."""

    profile_id = models.BigIntegerField(primary_key=True)
    account_id = models.BigIntegerField(null=True, db_index=True)
    fit = models.IntegerField(default=0)
    engagement = models.FloatField(default=0)
    total = models.FloatField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"profile {self.profile_id}: fit {self.fit}, engagement {self.engagement:.1f}"


class AccountScore(models.Model):
    """An account's roll-up: the account's own fit and the engagement of all its people."""

    account_id = models.BigIntegerField(primary_key=True)
    fit = models.IntegerField(default=0)
    engagement = models.FloatField(default=0)
    total = models.FloatField(default=0)
    profiles = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"account {self.account_id}: fit {self.fit}, engagement {self.engagement:.1f}"


class RescoreRun(models.Model):
    """A background re-score of every profile, with its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")  # a run queued after it does the same work

    cause = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)  # steps
    processed = models.PositiveIntegerField(default=0)
    profiles = models.PositiveIntegerField(default=0)  # live profiles scored
    changed = models.PositiveIntegerField(default=0)  # of which the score changed
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.cause
