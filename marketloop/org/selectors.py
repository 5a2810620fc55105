"""Reads of the organisation."""

from __future__ import annotations

from django.db.models import QuerySet

from marketloop.org.models import ApiToken, OrgUnit, UnitKind, User


def units_tree() -> QuerySet[OrgUnit]:
    """The organisation chart is public inside the company: every user may read it."""
    return OrgUnit.objects.select_related("parent").order_by("path")


def provinces() -> QuerySet[OrgUnit]:
    return OrgUnit.objects.filter(kind=UnitKind.PROVINCE).order_by("code")


def api_tokens(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")
