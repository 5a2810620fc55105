"""Customers: accounts (companies), contacts (people), consent, and the tier rules that route
accounts to their owners."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from marketloop.org.models import OrgUnit
from marketloop.org.scope import ScopeFields


class Industry(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=60)
    name_en = models.CharField(max_length=60)

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "industries"

    def __str__(self) -> str:
        return self.name


class Tier(models.TextChoices):
    HQ_STRATEGIC = "hq_strategic", _("HQ strategic")
    REGIONAL_STRATEGIC = "regional_strategic", _("Regional strategic")
    REGIONAL_KEY = "regional_key", _("Regional key")
    ORDINARY = "ordinary", _("Ordinary")


class RevenueBand(models.TextChoices):
    MICRO = "micro", _("Under ¥10M")
    SMALL = "small", _("¥10M–100M")
    MEDIUM = "medium", _("¥100M–1B")
    LARGE = "large", _("¥1B–10B")
    XLARGE = "xlarge", _("Over ¥10B")


class OwnerKind(models.TextChoices):
    HQ_KEY_ACCOUNT = "hq_key_account", _("HQ key-account department")
    PROVINCE_KEY_ACCOUNT = "province_key_account", _("Province key-account department")
    PROVINCE_SALES = "province_sales", _("Province sales department")
    PROVINCE_PARTNER = "province_partner", _("Province partner")


class TierRule(models.Model):
    """Rules are tried by ascending priority; the first that matches an account decides its
    tier and the kind of unit that owns it. An unranked account counts as ranked beyond all."""

    name = models.CharField(max_length=120)
    priority = models.PositiveIntegerField(default=100)
    rank_min = models.PositiveIntegerField(null=True, blank=True)
    rank_max = models.PositiveIntegerField(null=True, blank=True)
    revenue_bands = ArrayField(
        models.CharField(max_length=12, choices=RevenueBand.choices), default=list, blank=True,
        help_text=_("Empty means any revenue band."),
    )
    tier = models.CharField(max_length=24, choices=Tier.choices)
    owner_kind = models.CharField(max_length=24, choices=OwnerKind.choices)
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return self.name


class Account(models.Model):
    scope_fields = ScopeFields(unit="owner_unit", partner="partner", owner="owner")

    name = models.CharField(max_length=200)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True,
                                   default="")
    industry = models.ForeignKey(Industry, on_delete=models.PROTECT, related_name="accounts")
    industry_rank = models.PositiveIntegerField(_("rank within industry"), null=True, blank=True)
    province = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+",
                                 limit_choices_to={"kind": "province"})
    revenue_band = models.CharField(max_length=12, choices=RevenueBand.choices, blank=True,
                                    default="")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="subsidiaries")
    tier = models.CharField(max_length=24, choices=Tier.choices, default=Tier.ORDINARY)
    owner_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    partner = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", limit_choices_to={"kind": "partner"})
    tier_rule = models.ForeignKey(TierRule, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    tier_reason = models.TextField(blank=True)
    name_grams = ArrayField(models.CharField(max_length=2), default=list, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["credit_code"], condition=~Q(credit_code=""),
                                    name="account_credit_code_unique"),
        ]
        indexes = [
            models.Index(fields=["name", "id"], name="account_name_keyset"),
            models.Index(fields=["owner_unit", "name", "id"], name="account_unit_name"),
            models.Index(fields=["partner", "name", "id"], name="account_partner_name"),
            models.Index(fields=["owner", "name", "id"], name="account_owner_name"),
            models.Index(fields=["province", "name", "id"], name="account_province_name"),
            models.Index(fields=["industry", "industry_rank"], name="account_industry_rank"),
            models.Index(fields=["industry_rank", "id"], name="account_rank_keyset"),
            models.Index(fields=["updated_at", "id"], name="account_updated_keyset"),
            GinIndex(fields=["name_grams"], name="account_name_grams"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    """A person at an account. Owner unit, owner and partner are copied from the account so the
    visibility scope filters contacts without a join; re-routing keeps them in step."""

    scope_fields = ScopeFields(unit="owner_unit", partner="partner", owner="owner")

    name = models.CharField(max_length=80)
    title = models.CharField(max_length=120, blank=True)
    is_management = models.BooleanField(_("management level"), default=False)
    email = models.EmailField(blank=True, default="")
    mobile = models.CharField(max_length=20, blank=True, default="",
                              help_text=_("E.164, e.g. +8613812345678"))
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    owner_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")
    partner = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), condition=~Q(email=""),
                                    name="contact_email_unique"),
        ]
        indexes = [
            models.Index(fields=["name", "id"], name="contact_name_keyset"),
            models.Index(fields=["owner_unit", "name", "id"], name="contact_unit_name"),
            models.Index(fields=["partner", "name", "id"], name="contact_partner_name"),
            models.Index(fields=["account", "name"], name="contact_account"),
            models.Index(fields=["mobile"], name="contact_mobile"),
            # Suggesting an account for an unknown visitor from their business email domain.
            models.Index(Lower(Func(F("email"), Value("@"), Value(2), function="split_part")),
                         name="contact_email_domain"),
        ]

    def __str__(self) -> str:
        return self.name


class ConsentMethod(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    EMAIL = "email", _("Email reply")
    PAPER = "paper", _("Signed paper form")
    PHONE = "phone", _("Phone call (recorded)")
    EVENT = "event", _("At an event")
    IMPORT = "import", _("Imported")


class Consent(models.Model):
    """One consent record: what the contact agreed (or withdrew), when, how, for which purpose."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=60, help_text=_("e.g. EDM digest, event invitations"))
    granted = models.BooleanField(default=True)
    method = models.CharField(max_length=16, choices=ConsentMethod.choices)
    recorded_at = models.DateTimeField(default=timezone.now)
    evidence = models.TextField(blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-recorded_at", "-id"]

    def __str__(self) -> str:
        return f"{self.purpose}: {'granted' if self.granted else 'withdrawn'}"


class RerouteRun(models.Model):
    """A background re-routing of accounts after a rank or rule change, with its progress."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    cause = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    account_ids = ArrayField(models.BigIntegerField(), null=True, blank=True,
                             help_text="Null means every account.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.cause


class ImportJob(models.Model):
    """An upload of accounts or contacts: previewed, then imported in the background."""

    class Kind(models.TextChoices):
        ACCOUNTS = "accounts", _("Accounts")
        CONTACTS = "contacts", _("Contacts")

    class Status(models.TextChoices):
        PREVIEW = "preview", _("Awaiting confirmation")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PREVIEW)
    file_name = models.CharField(max_length=255)
    file = models.FileField(upload_to="imports/%Y/%m/")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)  # header mapping, preview, notes
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.file_name


class ImportRowError(models.Model):
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField()  # as the user sees it in the file
    field = models.CharField(max_length=60, blank=True)
    message = models.TextField()
    values = models.JSONField(default=dict)

    class Meta:
        ordering = ["row_number", "id"]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.message}"
