"""What each role may do. One table, checked in services (never in templates alone)."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext as _

from marketloop.org.errors import NotAllowed, OrgErrorCode
from marketloop.org.models import Role, User


class Action(StrEnum):
    CREATE = "create"
    EDIT = "edit"
    APPROVE = "approve"
    IMPORT = "import"
    EXPORT = "export"
    ADMINISTER = "administer"


A = Action
ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.MARKETER: frozenset({A.CREATE, A.EDIT, A.IMPORT, A.EXPORT}),
    Role.SALES_REP: frozenset({A.CREATE, A.EDIT, A.EXPORT}),
    Role.ACCOUNT_MANAGER: frozenset({A.CREATE, A.EDIT, A.EXPORT}),
    Role.PROJECT_MANAGER: frozenset({A.EDIT}),
    Role.PRESALES: frozenset({A.EDIT}),
    Role.MANAGER: frozenset({A.CREATE, A.EDIT, A.APPROVE, A.IMPORT, A.EXPORT}),
    Role.SUPERVISOR: frozenset({A.EXPORT}),
    Role.PARTNER_STAFF: frozenset({A.CREATE, A.EDIT}),
    Role.TRAINER: frozenset(),
    Role.ADMINISTRATOR: frozenset(Action),
}


def can(user: User, action: Action) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return any(action in ROLE_ACTIONS.get(role, frozenset()) for role in user.roles)


def require(user: User, action: Action) -> None:
    if not can(user, action):
        raise NotAllowed(OrgErrorCode.NOT_ALLOWED, _("You are not allowed to %(action)s here.")
                         % {"action": action.value})
