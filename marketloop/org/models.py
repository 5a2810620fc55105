"""Organisation: units in a tree, users who belong to one unit and hold roles."""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class UnitKind(models.TextChoices):
    HQ = "hq", _("Headquarters")
    HQ_DEPARTMENT = "hq_department", _("HQ department")
    REGION = "region", _("Region")
    PROVINCE = "province", _("Province")
    PROVINCE_DEPARTMENT = "province_department", _("Province department")
    PARTNER = "partner", _("Partner")


class Function(models.TextChoices):
    """What a department does; blank for units that are not departments."""

    NONE = "", _("—")
    MARKETING = "marketing", _("Marketing")
    RESEARCH = "research", _("Research institute")
    KEY_ACCOUNT = "key_account", _("Key-account department")
    SALES = "sales", _("Sales department")
    SALES_MANAGEMENT = "sales_management", _("Sales management")
    SUPERVISION = "supervision", _("Supervision")
    ACADEMY = "academy", _("Partner academy")
    SERVICE_LINE = "service_line", _("Service line")


class OrgUnit(models.Model):
    """A node of the organisation tree.

    `path` is a materialised path of ids ("/1/4/37/"), so a subtree is one prefix match.
    `province` points at the province unit a unit belongs to (itself for a province).
    """

    name = models.CharField(max_length=120)
    name_en = models.CharField(max_length=120, blank=True)
    code = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=24, choices=UnitKind.choices)
    function = models.CharField(max_length=24, choices=Function.choices, blank=True, default="")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    province = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")

    class Meta:
        ordering = ["path"]
        constraints = [
            # One partner per province: exclusive territory.
            models.UniqueConstraint(
                fields=["province"],
                condition=Q(kind="partner"),
                name="one_partner_per_province",
                violation_error_message=_("This province already has a partner."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def display_name(self) -> str:
        from django.utils.translation import get_language

        if self.name_en and (get_language() or "en").startswith("en"):
            return self.name_en
        return self.name


class Role(models.TextChoices):
    MARKETER = "marketer", _("Marketer")
    SALES_REP = "sales_rep", _("Sales rep")
    ACCOUNT_MANAGER = "account_manager", _("Account manager")
    PROJECT_MANAGER = "project_manager", _("Project manager")
    PRESALES = "presales", _("Presales consultant")
    MANAGER = "manager", _("Manager")
    SUPERVISOR = "supervisor", _("Supervisor")
    PARTNER_STAFF = "partner_staff", _("Partner staff")
    TRAINER = "trainer", _("Trainer")
    ADMINISTRATOR = "administrator", _("Administrator")


class User(AbstractUser):
    unit = models.ForeignKey(OrgUnit, null=True, on_delete=models.PROTECT, related_name="users")
    roles = ArrayField(
        models.CharField(max_length=24, choices=Role.choices), default=list, blank=True
    )
    display_name = models.CharField(max_length=80, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    def has_role(self, *roles: str) -> bool:
        return bool(set(self.roles) & set(roles))


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for integrations. Only its hash is stored; the raw key is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=8, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"



class Notification(models.Model):
    """A message to one user, shown in the app and (when `email`) sent by mail."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40)  # e.g. lead_assigned, lead_reminder, lead_escalated
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    email = models.BooleanField(default=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="notification_inbox"),
                   models.Index(fields=["user"], condition=Q(read_at__isnull=True),
                                name="notification_unread")]

    def __str__(self) -> str:
        return self.title
