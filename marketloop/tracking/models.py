"""Touchpoints and identities: what customers do, and the profiles that stitch it together.

A request to the tracking API is stored whole in the inbox (durably, before the answer goes
out); the worker turns it into touchpoints and stitches their identifiers into profiles.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketloop.crm.models import Account, Contact
from marketloop.org.models import OrgUnit
from marketloop.org.scope import ScopeFields


class SourceKind(models.TextChoices):
    SERVER = "server", _("Server or app (Segment/RudderStack SDK)")
    WEBSITE = "website", _("Website (tracker.js)")
    EMAIL = "email", _("Email (open pixel and click redirect)")
    HOTLINE = "hotline", _("Hotline (call webhook)")
    INTERNAL = "internal", _("marketloop itself")


def new_write_key() -> str:
    return "wk_" + secrets.token_urlsafe(24)


class Source(models.Model):
    """Where events come from. The write key authenticates a client (HTTP Basic user name); it
    sits in web pages and apps, so it is an identifier rather than a secret, and is stored."""

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=12, choices=SourceKind.choices)
    write_key = models.CharField(max_length=64, unique=True, default=new_write_key,
                                 editable=False)
    active = models.BooleanField(_("active"), default=True)
    require_consent = models.BooleanField(
        _("track only after consent"), default=False,
        help_text=_("tracker.js records nothing until the visitor has consented."))
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    last_event_at = models.DateTimeField(null=True, blank=True)
    events_received = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class SourceError(models.Model):
    """Rejected requests and events per source, code and day, with the latest message."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="errors")
    day = models.DateField()
    code = models.CharField(max_length=40)
    count = models.PositiveIntegerField(default=0)
    last_message = models.TextField(blank=True)
    last_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "day", "code"],
                                               name="source_error_day_code")]

    def __str__(self) -> str:
        return f"{self.code} × {self.count} on {self.day}"


class InboxBatch(models.Model):
    """One accepted request, stored before the 200 goes out and deleted in the same
    transaction that writes its touchpoints."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)
    endpoint = models.CharField(max_length=12)  # "batch", or the type of a single event
    body = models.BinaryField()
    event_count = models.PositiveIntegerField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    # Set when the request failed to process on its own (it is then left for inspection).
    error = models.TextField(blank=True, db_default="")

    def __str__(self) -> str:
        return f"{self.endpoint} request {self.pk} ({self.event_count} events)"


class TouchpointKind(models.TextChoices):
    PAGE = "page", _("Page view")
    SCREEN = "screen", _("Screen view")
    TRACK = "track", _("Action")
    IDENTIFY = "identify", _("Identified")
    GROUP = "group", _("Company")
    ALIAS = "alias", _("Alias")
    FORM = "form", _("Form submitted")
    DOWNLOAD = "download", _("Download")
    EMAIL_OPEN = "email_open", _("Email opened")
    EMAIL_CLICK = "email_click", _("Email link clicked")
    CALL = "call", _("Hotline call")
    EVENT = "event", _("Event attended")
    VISIT = "visit", _("Sales visit")


class IdentityKind(models.TextChoices):
    USER = "user", _("User id")
    CONTACT = "contact", _("CRM contact")
    EMAIL = "email", _("Email")
    MOBILE = "mobile", _("Mobile")
    ANONYMOUS = "anonymous", _("Anonymous id")


class Profile(models.Model):
    """The set of identifiers proven to be one person. A profile absorbed by a merge keeps its
    row (`merged_into`) so links to it still resolve and the merge can be inspected.

    Owner unit, partner and owner are copied from the linked contact (else the account, else
    HQ marketing), so a touchpoint is visible exactly where its contact or account is."""

    scope_fields = ScopeFields(unit="owner_unit", partner="partner", owner="owner")

    contact = models.ForeignKey(Contact, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="profiles")
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="profiles")
    suggested_account = models.ForeignKey(Account, null=True, blank=True,
                                          on_delete=models.SET_NULL, related_name="+")
    traits = models.JSONField(default=dict, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    # Empty only where no HQ marketing department exists yet: then HQ alone sees the profile.
    owner_unit = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    partner = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")

    # No index holds last_seen: processing moves it forward all the time, and updates that
    # touch no indexed column stay HOT (cheap). Foreign keys carry Django's own indexes.

    def __str__(self) -> str:
        return f"profile {self.pk}"


class Identity(models.Model):
    """One identifier (kind + normalised value) and the profile it currently belongs to.
    A shared identifier (an office phone, a test address) is kept apart and links nothing."""

    kind = models.CharField(max_length=10, choices=IdentityKind.choices)
    value = models.CharField(max_length=200)
    # No database-level foreign keys on the identity graph: only the stitcher writes it, under
    # its lock, and without the per-row checks bench/ingest.py's PostgreSQL CPU time fell
    # from 99 to 75 s per million events.
    profile = models.ForeignKey(Profile, null=True, on_delete=models.SET_NULL,
                                related_name="identities", db_constraint=False)
    shared = models.BooleanField(default=False)
    shared_reason = models.CharField(max_length=200, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "value"],
                                               name="identity_kind_value")]
        verbose_name_plural = "identities"

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class IdentityLink(models.Model):
    """Evidence that two identifiers are one person: the event that carried both. Stored with
    `low` < `high` so each pair is one row."""

    low = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+",
                            db_index=False,  # the unique (low, high) index leads with it
                            db_constraint=False)
    high = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="+",
                             db_constraint=False)
    evidence = models.CharField(max_length=40)  # identify, alias, form, crm, ...
    message_id = models.CharField(max_length=100, blank=True)
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["low", "high"], name="identity_link_pair")]

    def __str__(self) -> str:
        return f"{self.low_id} ~ {self.high_id} ({self.evidence})"


class ProfileChange(models.Model):
    """A merge (two profiles proved one) or a split (a shared identifier stopped linking)."""

    class Kind(models.TextChoices):
        MERGE = "merge", _("Merged")
        SPLIT = "split", _("Split")

    kind = models.CharField(max_length=8, choices=Kind.choices)
    survivor = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="changes")
    other = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    evidence = models.JSONField(default=dict)  # identifiers, the event that proved it, the rule
    at = models.DateTimeField(default=timezone.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                           on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.other_id} → {self.survivor_id}"


class Touchpoint(models.Model):
    """One customer action. The table is partitioned by month of `occurred_at` (created by a
    migration in SQL; Django does not manage it). Its profile is its identity's profile, so a
    merge moves every touchpoint without rewriting one."""

    scope_fields = ScopeFields(unit="identity__profile__owner_unit",
                               partner="identity__profile__partner",
                               owner="identity__profile__owner")

    id = models.BigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    source = models.ForeignKey(Source, on_delete=models.DO_NOTHING, related_name="+",
                               db_constraint=False)
    identity = models.ForeignKey(Identity, on_delete=models.DO_NOTHING, related_name="+",
                                 db_constraint=False)
    kind = models.CharField(max_length=12, choices=TouchpointKind.choices)
    event = models.CharField(max_length=200, blank=True)
    message_id = models.CharField(max_length=100)
    url = models.TextField(blank=True)
    title = models.CharField(max_length=300, blank=True)
    referrer = models.TextField(blank=True)
    keyword = models.CharField(max_length=200, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    properties = models.JSONField(default=dict)
    context = models.JSONField(default=dict)

    class Meta:
        managed = False
        db_table = "tracking_touchpoint"
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.event} at {self.occurred_at:%Y-%m-%d %H:%M}"


class SeenMessage(models.Model):
    """messageIds already stored, as md5(source id, messageId): the same message twice is
    stored once, whichever month its timestamp falls in."""

    key = models.UUIDField(primary_key=True)
    seen_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return str(self.key)
