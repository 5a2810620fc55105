"""Attribution API routes: the settings, runs, and a deal's or a lead's journey with the credit
each activity gets under every model. Journeys go through the visibility scope (an id the
caller cannot see answers 404, like a missing one)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from marketloop.campaigns.attribution import selectors, services
from marketloop.campaigns.attribution.selectors import ConversionJourney
from marketloop.org.models import User

router = Router(tags=["campaigns"])

Model = Literal["first_touch", "last_touch", "linear", "time_decay", "position_based",
                "w_shaped", "data_driven"]


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined, return-value]


class SettingsOut(Schema):
    lookback_days: int
    half_life_days: int


class SettingsIn(Schema):
    lookback_days: int
    half_life_days: int


class RunOut(Schema):
    id: int
    status: str
    reason: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    steps_done: int
    steps_total: int
    figures: dict[str, Any]
    error: str


class TouchOut(Schema):
    at: datetime
    activity_id: int | None  # null: an activity the caller cannot see
    activity: str
    kind: str
    how: str


class CreditOut(Schema):
    model: Model
    share: int  # millionths of the conversion; a conversion's shares sum to 1,000,000
    amount: Decimal  # CNY (pipeline and won); the amounts sum to the conversion's value


class ActivityCreditOut(Schema):
    activity_id: int | None
    name: str
    touches: int
    credit: list[CreditOut]


class JourneyOut(Schema):
    stage: Literal["lead", "mql", "sal", "pipeline", "won"]
    at: datetime
    value: Decimal
    window_start: datetime
    touch_count: int
    touches: list[TouchOut]  # the latest 300, oldest first
    activities: list[ActivityCreditOut]


class LeadJourneyQuery(Schema):
    stage: Literal["lead", "mql", "sal"] | None = None


def _journey(journey: ConversionJourney) -> dict[str, Any]:
    return {
        "stage": journey.stage, "at": journey.at, "value": journey.value,
        "window_start": journey.window_start, "touch_count": journey.touch_count,
        "touches": [{"at": t.at, "activity_id": t.activity_id, "activity": t.activity,
                     "kind": t.kind, "how": t.how}
                    for t in journey.touches],
        "activities": [{"activity_id": row.activity_id, "name": row.name,
                        "touches": row.touches,
                        "credit": [{"model": model, "share": share, "amount": amount}
                                   for model, share, _percent, amount in row.cells]}
                       for row in journey.rows],
    }


@router.get("/attribution/settings", response=SettingsOut)
def get_settings(request: HttpRequest) -> Any:
    return selectors.current_settings()


@router.put("/attribution/settings", response=SettingsOut)
def put_settings(request: HttpRequest, payload: SettingsIn) -> Any:
    """Administrators; queues a new run."""
    return services.update_settings(user=_user(request), lookback_days=payload.lookback_days,
                                    half_life_days=payload.half_life_days)


@router.post("/attribution/runs", response={202: RunOut})
def queue_run(request: HttpRequest) -> Any:
    """Administrators: queue a run (or get the one already queued)."""
    return Status(202, services.request_run(user=_user(request)))


@router.get("/attribution/runs/{id}", response=RunOut)
def get_run(request: HttpRequest, id: int) -> Any:
    return selectors.get_run(id)


@router.get("/opportunities/{id}/journey", response=JourneyOut)
def opportunity_journey(request: HttpRequest, id: int) -> Any:
    """A won deal's journey to its win (else to its creation) and every model's credit."""
    return _journey(selectors.opportunity_journey(_user(request), id))


@router.get("/leads/{id}/journey", response=JourneyOut)
def lead_journey(request: HttpRequest, id: int, params: Query[LeadJourneyQuery]) -> Any:
    """A lead's journey to a stage it reached (default the furthest) and every model's credit."""
    return _journey(selectors.lead_journey(_user(request), id, params.stage))
