"""The visibility scope: the one place that decides which rows a user may see.

Every scoped model names, in `scope_fields`, the columns that carry its owning unit, its
partner and its owning user. The rules (DESIGN.md, Visibility):

- HQ units see everything;
- a region sees the rows owned anywhere in its subtree (its provinces, their departments
  and partners); a province, or one of its departments, sees its province's subtree;
- a partner's users see only rows of their partner;
- anyone sees the rows they own themselves;
- a member of a row's team (a deal team) sees that row, wherever it is owned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from django.db import models
from django.db.models import Q

from marketloop.org.models import OrgUnit, UnitKind, User

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class ScopeFields:
    unit: str = "owner_unit"
    partner: str | None = "partner"
    owner: str | None = "owner"
    # A relation from the row to the users on its team ("team__user"): members see the row.
    member: str | None = None


def scope_anchor(unit: OrgUnit) -> OrgUnit | None:
    """The unit whose subtree a user of `unit` sees; None means everything."""
    if unit.kind in {UnitKind.HQ, UnitKind.HQ_DEPARTMENT}:
        return None
    if unit.kind == UnitKind.PROVINCE_DEPARTMENT and unit.province_id:
        return unit.province
    return unit


def visible_unit_ids(unit: OrgUnit) -> list[int] | None:
    anchor = scope_anchor(unit)
    if anchor is None:
        return None
    return list(
        OrgUnit.objects.filter(path__startswith=anchor.path).values_list("id", flat=True)
    )


def visible_parts(user: User, model: type[models.Model]) -> list[Q] | None:
    """The scope as conditions whose union is what `user` may see: None means everything,
    [] nothing. Each part matches one index ((owner_unit, ...), (partner, ...), (owner, ...)),
    so a list can page through each part on its own index and merge (see crm.selectors)."""
    if not user.is_authenticated or not user.is_active:
        return []
    if user.is_superuser:
        return None
    unit = user.unit
    if unit is None:
        return []
    fields: ScopeFields = model.scope_fields  # type: ignore[attr-defined]
    own = [Q(**{f"{fields.owner}_id": user.id})] if fields.owner else []
    if fields.member:
        # A semi-join, so a row with several of the user's roles on its team is listed once.
        on_team = model._default_manager.filter(**{f"{fields.member}_id": user.id})
        own.append(Q(pk__in=on_team.values("pk")))
    if unit.kind == UnitKind.PARTNER:
        if fields.partner is None:
            return own
        return [Q(**{f"{fields.partner}_id": unit.id}), *own]
    unit_ids = visible_unit_ids(unit)
    if unit_ids is None:
        return None
    return [Q(**{f"{fields.unit}_id": unit_id}) for unit_id in unit_ids] + own


def visible(user: User, queryset: models.QuerySet[M]) -> models.QuerySet[M]:
    """Filter `queryset` down to what `user` may see."""
    parts = visible_parts(user, queryset.model)
    if parts is None:
        return queryset
    if not parts:
        return queryset.none()
    condition = Q()
    for part in parts:
        condition |= part
    return queryset.filter(condition)


def is_visible(user: User, obj: models.Model) -> bool:
    return visible(user, type(obj)._default_manager.filter(pk=obj.pk)).exists()
