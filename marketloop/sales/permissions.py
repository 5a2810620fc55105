"""Who may change a deal: besides the role table (org.permissions), only the members of its
deal team, its owner and the managers above it (DESIGN.md: the deal team works the deal)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from marketloop.org.models import Role, UnitKind, User
from marketloop.org.permissions import Action, can
from marketloop.org.scope import visible_unit_ids
from marketloop.sales.errors import NotDealEditor, SalesErrorCode
from marketloop.sales.models import DealTeamMember, Opportunity


def is_manager_above(user: User, opportunity: Opportunity) -> bool:
    """A manager whose unit holds the deal's owning unit (HQ holds all), or a partner's
    manager for the partner's deals."""
    if not user.has_role(Role.MANAGER) or user.unit is None:
        return False
    if user.unit.kind == UnitKind.PARTNER:
        return opportunity.partner_id == user.unit_id
    unit_ids = visible_unit_ids(user.unit)
    return unit_ids is None or opportunity.owner_unit_id in unit_ids


def can_edit_deal(user: User, opportunity: Opportunity) -> bool:
    if not can(user, Action.EDIT):
        return False
    if user.is_superuser or user.has_role(Role.ADMINISTRATOR):
        return True
    if opportunity.owner_id == user.pk:
        return True
    if DealTeamMember.objects.filter(opportunity_id=opportunity.pk, user_id=user.pk).exists():
        return True
    return is_manager_above(user, opportunity)


def require_deal_editor(user: User, opportunity: Opportunity) -> None:
    if not can_edit_deal(user, opportunity):
        raise NotDealEditor(SalesErrorCode.NOT_DEAL_EDITOR,
                            _("Only the deal team, the owner and the managers above may change "
                              "this opportunity."))
