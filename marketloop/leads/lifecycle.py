"""The lifecycle's one primitive: moving a lead from one stage to another, with its cause.

Every stage change in marketloop goes through `move`. A move forward along
subscriber -> lead -> MQL -> SAL -> SQL -> customer needs only a cause; a move backwards or
aside (recycled, disqualified, or any earlier stage) needs a rule with its numbers or a
person's reason, so a profile never jumps backwards without a recorded cause."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from marketloop.leads.errors import LeadError, LeadErrorCode
from marketloop.leads.models import STAGE_ORDER, Lead, Stage, StageChange
from marketloop.org.models import User

# The timestamp each stage sets the first time it is reached.
REACHED_AT = {Stage.LEAD: "lead_at", Stage.MQL: "mql_at", Stage.SAL: "sal_at",
              Stage.SQL: "sql_at", Stage.CUSTOMER: "won_at", Stage.RECYCLED: "recycled_at",
              Stage.DISQUALIFIED: "disqualified_at"}


def is_forward(from_stage: str, to_stage: str) -> bool:
    if from_stage == Stage.RECYCLED:
        # Back from nurture: re-qualified (lead or MQL) is forward again.
        return to_stage in (Stage.LEAD, Stage.MQL)
    if from_stage not in STAGE_ORDER or to_stage not in STAGE_ORDER:
        return False
    return STAGE_ORDER.index(to_stage) > STAGE_ORDER.index(from_stage)


def move(lead: Lead, to_stage: str, *, cause: str, by: User | None = None, reason: str = "",
         rule: dict[str, Any] | None = None, at: datetime | None = None) -> StageChange:
    """Move `lead` (locked by the caller, inside its transaction) to `to_stage` and record it.
    The caller saves the lead afterwards along with its other changes."""
    at = at or timezone.now()
    from_stage = lead.stage
    if from_stage == to_stage:
        raise LeadError(LeadErrorCode.WRONG_STAGE,
                        _("The lead is already at this stage."))
    if not is_forward(from_stage, to_stage) and not (reason.strip() or rule):
        raise LeadError(LeadErrorCode.BACKWARD_WITHOUT_CAUSE,
                        _("Moving a lead backwards needs a reason."))
    lead.stage = to_stage
    field = REACHED_AT.get(Stage(to_stage))
    if field and (getattr(lead, field) is None or to_stage in (Stage.RECYCLED,)):
        setattr(lead, field, at)
    # A lead reaching a stage has passed every stage before it (an MQL qualified by hand
    # was a lead from that moment).
    if to_stage in STAGE_ORDER:
        for earlier in STAGE_ORDER[1:STAGE_ORDER.index(to_stage)]:
            name = REACHED_AT[earlier]
            if getattr(lead, name) is None:
                setattr(lead, name, at)
    if to_stage == Stage.RECYCLED:
        lead.times_recycled += 1
        lead.engagement_at_recycle = lead.engagement
    lead.updated_at = at
    return StageChange.objects.create(lead=lead, from_stage=from_stage, to_stage=to_stage,
                                      at=at, cause=cause, by=by, reason=reason,
                                      rule=rule or {})


def begin(lead: Lead, *, cause: str, by: User | None = None, reason: str = "",
          rule: dict[str, Any] | None = None, at: datetime | None = None) -> StageChange:
    """Save a new lead (unsaved, inside the caller's transaction) at its stage and record how
    it entered the lifecycle."""
    at = at or lead.created_at
    field = REACHED_AT.get(Stage(lead.stage))
    if lead.stage in STAGE_ORDER:
        for earlier in STAGE_ORDER[1:STAGE_ORDER.index(lead.stage) + 1]:
            name = REACHED_AT[earlier]
            if getattr(lead, name) is None:
                setattr(lead, name, at)
    elif field and getattr(lead, field) is None:
        setattr(lead, field, at)
    lead.updated_at = at
    lead.save()
    return StageChange.objects.create(lead=lead, from_stage="", to_stage=lead.stage, at=at,
                                      cause=cause, by=by, reason=reason, rule=rule or {})
