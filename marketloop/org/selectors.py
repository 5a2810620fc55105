"""Reads of the organisation."""

from __future__ import annotations

from django.db.models import QuerySet

from marketloop.org.models import ApiToken, Function, OrgUnit, UnitKind, User


def units_tree() -> QuerySet[OrgUnit]:
    """The organisation chart is public inside the company: every user may read it."""
    return OrgUnit.objects.select_related("parent").order_by("path")


def provinces() -> QuerySet[OrgUnit]:
    return OrgUnit.objects.filter(kind=UnitKind.PROVINCE).order_by("code")


def hq_department(function: str) -> OrgUnit:
    return OrgUnit.objects.get(kind=UnitKind.HQ_DEPARTMENT, function=function)


def province_department(province: OrgUnit, function: str) -> OrgUnit | None:
    return OrgUnit.objects.filter(
        kind=UnitKind.PROVINCE_DEPARTMENT, province=province, function=function
    ).first()


def province_partner(province: OrgUnit) -> OrgUnit | None:
    return OrgUnit.objects.filter(kind=UnitKind.PARTNER, province=province).first()


def api_tokens(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")


def owners_in_unit(unit: OrgUnit) -> QuerySet[User]:
    """People in a unit who can own accounts."""
    return User.objects.filter(
        unit=unit, is_active=True,
        roles__overlap=["account_manager", "sales_rep", "partner_staff", "manager"],
    ).order_by("id")


__all__ = ["Function", "units_tree", "provinces", "hq_department", "province_department",
           "province_partner", "api_tokens", "owners_in_unit"]
