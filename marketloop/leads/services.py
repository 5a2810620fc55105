"""Every write of the leads context: lifecycle moves, routing, the hand-off."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from marketloop.leads import lifecycle
from marketloop.leads.errors import LeadError, LeadErrorCode
from marketloop.leads.models import Lead, Stage, StageChange
from marketloop.org.models import User

# ---- called by the sales context when an opportunity is opened, won or lost


@transaction.atomic
def record_opportunity(*, lead_id: int, by: User | None) -> Lead:
    """An opportunity was opened from this accepted lead: it becomes an SQL."""
    lead = Lead.objects.select_for_update().get(pk=lead_id)
    if lead.stage != Stage.SAL:
        raise LeadError(LeadErrorCode.WRONG_STAGE,
                        _("Only an accepted lead (SAL) can become an opportunity."))
    lifecycle.move(lead, Stage.SQL, cause=StageChange.Cause.USER, by=by,
                   reason=_("Opportunity opened"))
    lead.save()
    return lead


@transaction.atomic
def record_won(*, lead_id: int, by: User | None, opportunity_name: str) -> Lead:
    """The lead's opportunity was won: the lead is a customer."""
    lead = Lead.objects.select_for_update().get(pk=lead_id)
    if lead.stage != Stage.CUSTOMER:
        lifecycle.move(lead, Stage.CUSTOMER, cause=StageChange.Cause.SYSTEM, by=by,
                       reason=_("Opportunity won: %(name)s") % {"name": opportunity_name})
        lead.save()
    return lead


@transaction.atomic
def record_lost(*, lead_id: int, by: User | None, opportunity_name: str, reason: str) -> Lead:
    """The lead's opportunity was lost: the lead returns to nurture with the reason."""
    lead = Lead.objects.select_for_update().get(pk=lead_id)
    if lead.stage == Stage.SQL:
        lifecycle.move(lead, Stage.RECYCLED, cause=StageChange.Cause.SYSTEM, by=by,
                       reason=_("Opportunity lost: %(name)s: %(reason)s")
                       % {"name": opportunity_name, "reason": reason})
        lead.save()
    return lead
