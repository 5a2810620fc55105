"""Writes to the organisation: units, users, tokens."""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from marketloop.audit import services as audit
from marketloop.org.errors import DomainError, OrgErrorCode
from marketloop.org.models import ApiToken, OrgUnit, UnitKind, User, hash_token


@transaction.atomic
def create_unit(
    *,
    name: str,
    code: str,
    kind: str,
    parent: OrgUnit | None = None,
    function: str = "",
    name_en: str = "",
) -> OrgUnit:
    province = None
    if kind == UnitKind.PROVINCE:
        province = None  # set to itself below
    elif parent is not None:
        province = parent if parent.kind == UnitKind.PROVINCE else parent.province
    if kind == UnitKind.PARTNER and province is None:
        raise DomainError(OrgErrorCode.NOT_ALLOWED, _("A partner must sit under a province."))
    unit = OrgUnit(name=name, name_en=name_en, code=code, kind=kind, function=function,
                   parent=parent, province=province)
    try:
        with transaction.atomic():
            unit.save()
    except IntegrityError as exc:
        if "one_partner_per_province" in str(exc):
            raise DomainError(
                OrgErrorCode.PARTNER_TERRITORY_TAKEN,
                _("%(province)s already has a partner: territories are exclusive.")
                % {"province": province},
                status=409,
            ) from exc
        raise
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    if kind == UnitKind.PROVINCE:
        unit.province = unit
    unit.save(update_fields=["path", "province"])
    return unit


def create_user(
    *,
    username: str,
    password: str,
    unit: OrgUnit,
    roles: list[str],
    display_name: str = "",
    email: str = "",
    is_superuser: bool = False,
    actor: User | None = None,
) -> User:
    user = User(username=username, unit=unit, roles=roles, display_name=display_name,
                email=email, is_superuser=is_superuser, is_staff=is_superuser)
    user.set_password(password)
    user.save()
    audit.record(actor=actor, obj=user, action="created",
                 changes={"username": [None, username], "unit": [None, str(unit)],
                          "roles": [None, ", ".join(roles)]})
    return user


@transaction.atomic
def issue_api_token(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token; the raw key is returned once and never stored."""
    name = (name or "").strip() or _("API token")
    raw = "ml_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name[:80], prefix=raw[:8],
                                    key_hash=hash_token(raw))
    audit.record(actor=user, obj=token, action="created",
                 changes={"name": [None, token.name], "prefix": [None, token.prefix]})
    return token, raw


def authenticate_token(raw: str) -> User | None:
    token = (
        ApiToken.objects.select_related("user", "user__unit")
        .filter(key_hash=hash_token(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


@transaction.atomic
def revoke_api_token(*, user: User, token_id: int) -> None:
    token = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).first()
    if token is None:
        return
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(actor=user, obj=token, action="revoked", changes={"revoked": [False, True]})
