"""The scoring context's API routes: a profile's and an account's score with the contributions
that make it up, and the model in force. Scores go through the visibility scope (an id the
caller cannot see answers 404, like a missing one); the model is the same for everyone."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema

from marketloop.org.models import User
from marketloop.scoring import display, selectors
from marketloop.scoring.explain import Explanation

router = Router(tags=["scoring"])


def _user(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined, return-value]


class Contribution(Schema):
    kind: Literal["fit", "engagement"]
    rule_id: int
    label: str
    amount: float  # what it adds to the score (engagement: after cap and decay)
    count: int | None = None  # engagement: matching touchpoints in the look-back
    this_week: int | None = None
    raw: int | None = None  # engagement: points before the daily cap
    capped: int | None = None  # after the daily cap, before decay
    decay: float | None = None  # what decay took away
    last_day: date | None = None


class ProfileScoreOut(Schema):
    profile_id: int
    contact_id: int | None
    account_id: int | None
    fit: int
    engagement: float
    total: float
    computed_at: datetime | None  # null: never scored (the numbers are as of now)
    current: bool  # false while a re-score after a model change is pending
    model: str
    contributions: list[Contribution]


def _contributions(explanation: Explanation, names: display.Names) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [
        {"kind": "fit", "rule_id": f.rule.id, "label": display.fit_rule_text(f.rule, names),
         "amount": f.amount} for f in explanation.fit_lines]
    items += [{"kind": "engagement", "rule_id": e.rule.id, "label": e.rule.label,
               "amount": float(e.amount), "count": e.count, "this_week": e.recent,
               "raw": e.raw, "capped": e.capped, "decay": float(e.decay),
               "last_day": e.last_day} for e in explanation.engagement_lines]
    return items


@router.get("/profiles/{id}/score", response=ProfileScoreOut, tags=["profiles"],
            summary="A profile's score and every contribution to it (an absorbed profile's "
                    "id answers for the profile it was merged into)")
def profile_score(request: HttpRequest, id: int) -> Any:
    entry = selectors.profile_score(_user(request), id)
    score, explanation = entry.score, entry.explanation
    return {
        "profile_id": entry.profile.pk,
        "contact_id": entry.contact.pk if entry.contact else None,
        "account_id": entry.profile.account_id if entry.contact else None,
        "fit": score.fit if score else explanation.fit,
        "engagement": score.engagement if score else explanation.engagement,
        "total": score.total if score else explanation.total,
        "computed_at": score.computed_at if score else None,
        "current": entry.current if score else True,
        "model": explanation.model.name,
        "contributions": _contributions(explanation, display.Names()),
    }


class PersonOut(Schema):
    profile_id: int
    contact_id: int | None
    name: str | None
    fit: int
    engagement: float
    total: float


class AccountScoreOut(Schema):
    account_id: int
    fit: int
    engagement: float  # the sum of its people's engagement
    total: float
    profiles: int
    computed_at: datetime | None
    contributions: list[Contribution]  # the account's own fit
    top_people: list[PersonOut]  # the most engaged people the caller may see


@router.get("/accounts/{id}/score", response=AccountScoreOut, tags=["accounts"],
            summary="An account's score: its own fit, its people's engagement, and the top "
                    "people the caller may see")
def account_score(request: HttpRequest, id: int) -> Any:
    view = selectors.account_score(_user(request), id)
    roll_up, names = view.roll_up, display.Names()
    fit = sum(line.amount for line in view.fit_lines)
    return {
        "account_id": view.account.pk,
        "fit": roll_up.fit if roll_up else fit,
        "engagement": roll_up.engagement if roll_up else 0.0,
        "total": roll_up.total if roll_up else float(fit),
        "profiles": roll_up.profiles if roll_up else 0,
        "computed_at": roll_up.computed_at if roll_up else None,
        "contributions": [{"kind": "fit", "rule_id": f.rule.id, "amount": f.amount,
                           "label": display.fit_rule_text(f.rule, names)}
                          for f in view.fit_lines],
        "top_people": [{"profile_id": p.profile.pk,
                        "contact_id": p.contact.pk if p.contact else None,
                        "name": p.contact.name if p.contact else None,
                        "fit": p.score.fit, "engagement": p.score.engagement,
                        "total": p.score.total} for p in view.people],
    }


class FitRuleOut(Schema):
    id: int
    attribute: str
    value: str
    points: int
    description: str


class EngagementRuleOut(Schema):
    id: int
    label: str
    kind: str
    event: str
    url_contains: str
    property_key: str
    property_value: str
    points: int
    daily_cap: int | None
    description: str


class ModelOut(Schema):
    name: str
    half_life_days: int
    lookback_days: int
    lead_engagement: int
    mql_fit: int
    mql_engagement: int
    updated_at: datetime
    fit_rules: list[FitRuleOut]
    engagement_rules: list[EngagementRuleOut]


@router.get("/scoring/model", response=ModelOut,
            summary="The scoring model in force: settings, thresholds and rules")
def scoring_model(request: HttpRequest) -> Any:
    view = selectors.model_view()
    model, names = view.model, display.Names()
    return {
        **{name: getattr(model, name) for name in (
            "name", "half_life_days", "lookback_days", "lead_engagement", "mql_fit",
            "mql_engagement", "updated_at")},
        "fit_rules": [{"id": r.id, "attribute": r.attribute, "value": r.value,
                       "points": r.points, "description": display.fit_rule_text(r, names)}
                      for r in view.fit_rules],
        "engagement_rules": [{"id": r.id, "label": r.label, "kind": r.kind, "event": r.event,
                              "url_contains": r.url_contains, "property_key": r.property_key,
                              "property_value": r.property_value, "points": r.points,
                              "daily_cap": r.daily_cap,
                              "description": display.engagement_rule_text(r)}
                             for r in view.engagement_rules],
    }
