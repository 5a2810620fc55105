"""The organisation as JSON: the unit tree (public inside the company) and the caller."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from marketloop.org.models import Function, Role, UnitKind, User
from marketloop.org.permissions import Action, can
from marketloop.org.selectors import units_tree

router = Router(tags=["org"])


class UnitOut(Schema):
    id: int
    code: str
    name: str
    name_en: str
    kind: UnitKind
    function: Function
    parent_id: int | None
    province_id: int | None


class MyUnit(Schema):
    id: int
    code: str
    name: str
    kind: UnitKind


class MeOut(Schema):
    id: int
    username: str
    name: str
    email: str
    unit: MyUnit | None
    roles: list[Role]
    is_superuser: bool
    permissions: list[Action]


@router.get("/units", response=list[UnitOut],
            summary="The organisation tree, parents before children (public inside the company)")
def list_units(request: HttpRequest) -> Any:
    return units_tree()


@router.get("/me", response=MeOut, summary="The caller: unit, roles and what they may do")
def me(request: HttpRequest) -> Any:
    user: User = request.auth  # type: ignore[attr-defined]
    return {
        "id": user.pk, "username": user.username, "name": str(user), "email": user.email,
        "unit": user.unit, "roles": user.roles, "is_superuser": user.is_superuser,
        "permissions": [action for action in Action if can(user, action)],
    }
