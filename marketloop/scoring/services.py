"""Every write of the scoring context: re-scores (full and incremental), and the edits of the
model in force. Edits are audited and queue a full re-score; who may make them is decided here
(`can_edit_model`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from marketloop import bus
from marketloop.audit import services as audit
from marketloop.crm.models import Industry, RevenueBand, Tier
from marketloop.org.errors import NotAllowed
from marketloop.org.models import Function, OrgUnit, Role, UnitKind, User
from marketloop.scoring import engine
from marketloop.scoring.defaults import create_default_model
from marketloop.scoring.errors import ScoringError, ScoringErrorCode
from marketloop.scoring.events import ScoresChanged
from marketloop.scoring.models import (
    EngagementRule,
    FitAttribute,
    FitRule,
    RescoreRun,
    ScoringModel,
)
from marketloop.tracking.models import TouchpointKind

EVENT_CHUNK = 5000  # profile ids per ScoresChanged event
MAX_DAYS = 3650
MAX_POINTS = 1000
MODEL_FIELDS = ("name", "half_life_days", "lookback_days", "lead_engagement", "mql_fit",
                "mql_engagement")
FIT_FIELDS = ("attribute", "value", "points")
ENGAGEMENT_FIELDS = ("label", "kind", "event", "url_contains", "property_key",
                     "property_value", "points", "daily_cap")


# ---- who may edit --------------------------------------------------------------------------

def can_edit_model(user: Any) -> bool:
    """Administrators, and managers or marketers of an HQ unit whose function is marketing."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser or user.has_role(Role.ADMINISTRATOR):
        return True
    unit = user.unit
    return (unit is not None and unit.kind in {UnitKind.HQ, UnitKind.HQ_DEPARTMENT}
            and unit.function == Function.MARKETING
            and user.has_role(Role.MANAGER, Role.MARKETER))


def require_model_editor(user: Any) -> None:
    if not can_edit_model(user):
        raise NotAllowed(ScoringErrorCode.NOT_MODEL_EDITOR,
                         _("Only administrators and HQ marketing managers and marketers may "
                           "change the scoring model."))


# ---- the model in force --------------------------------------------------------------------

def model_in_force() -> ScoringModel:
    """The model in force; the default one is created where there is none (a database
    emptied after its migrations ran)."""
    model = ScoringModel.objects.filter(active=True).first()
    if model is not None:
        return model
    with transaction.atomic():
        with connection.cursor() as cursor:  # two first callers must not both create one
            cursor.execute("LOCK TABLE scoring_scoringmodel IN EXCLUSIVE MODE")
        model = ScoringModel.objects.filter(active=True).first()
        return model or create_default_model(ScoringModel, FitRule, EngagementRule)


# ---- re-scoring ----------------------------------------------------------------------------

def _announce(profile_ids: list[int]) -> None:
    for start in range(0, len(profile_ids), EVENT_CHUNK):
        bus.publish(ScoresChanged(profile_ids=tuple(profile_ids[start:start + EVENT_CHUNK])))


def rescore_profiles(*, profile_ids: Iterable[int]) -> engine.Rescored:
    """Re-score these profiles now (new touchpoints, a merge, a changed contact); absorbed
    profiles lose their scores and their survivors are re-scored."""
    ids = list(profile_ids)
    with transaction.atomic():
        result = engine.rescore_profiles(ids, at=timezone.now(), model=model_in_force())
        _announce(result.profile_ids)
    return result


def rescore_people(*, contact_ids: Iterable[int] = (),
                   account_ids: Iterable[int] = ()) -> engine.Rescored:
    """Re-score the profiles of these contacts and accounts (their fit may have changed)."""
    from marketloop.tracking.models import Profile

    contacts, accounts = list(contact_ids), list(account_ids)
    ids = set(Profile.objects.filter(contact_id__in=contacts).values_list("id", flat=True))
    ids |= set(Profile.objects.filter(account_id__in=accounts).values_list("id", flat=True))
    result = rescore_profiles(profile_ids=ids)
    if accounts:  # accounts without profiles still have their own fit
        with transaction.atomic():
            engine.roll_up_accounts(engine.compile_model(model_in_force()), timezone.now(),
                                    sorted(set(accounts)))
    return result


def request_rescore(*, actor: User | None, cause: str) -> RescoreRun:
    """Queue a full re-score; it starts once the current transaction commits."""
    from marketloop.scoring.tasks import rescore_everyone

    run = RescoreRun.objects.create(cause=cause[:2000], requested_by=actor)
    transaction.on_commit(lambda: rescore_everyone.defer(run_id=run.pk))
    return run


def _progress(run_id: int) -> engine.Progress:
    def step_done(step: str) -> None:
        RescoreRun.objects.filter(pk=run_id).update(processed=F("processed") + 1)

    return step_done


def run_rescore(*, run_id: int, at: datetime | None = None) -> RescoreRun:
    """Re-score every profile and account with the model in force as of `at` (default: now),
    recording progress. A run that a newer queued run makes pointless is skipped."""
    run = RescoreRun.objects.get(pk=run_id)
    if run.status in {RescoreRun.Status.DONE, RescoreRun.Status.SKIPPED}:
        return run
    newer = RescoreRun.objects.filter(status=RescoreRun.Status.QUEUED, pk__gt=run.pk).first()
    if newer is not None:
        RescoreRun.objects.filter(pk=run.pk).update(
            status=RescoreRun.Status.SKIPPED, finished_at=timezone.now(),
            error=_("Run %(id)s, queued later, does the same work.") % {"id": newer.pk})
        run.refresh_from_db()
        return run
    model = model_in_force()
    at = at or timezone.now()
    RescoreRun.objects.filter(pk=run.pk).update(
        status=RescoreRun.Status.RUNNING, started_at=timezone.now(), processed=0, profiles=0,
        total=engine.steps_of(model, at), error="")
    try:
        result = engine.rescore_everyone(model=model, at=at, step_done=_progress(run.pk))
    except Exception as exc:
        RescoreRun.objects.filter(pk=run.pk).update(status=RescoreRun.Status.FAILED,
                                                    error=str(exc)[:2000],
                                                    finished_at=timezone.now())
        raise
    with transaction.atomic():
        RescoreRun.objects.filter(pk=run.pk).update(
            status=RescoreRun.Status.DONE, profiles=result.profiles, changed=len(result.changed),
            finished_at=timezone.now())
        _announce(sorted(result.changed))
    run.refresh_from_db()
    return run


def nightly_rescore(*, cause: str) -> RescoreRun:
    """The nightly full re-score, run in the calling job (decay has moved every score)."""
    run = RescoreRun.objects.create(cause=cause)
    return run_rescore(run_id=run.pk)


# ---- editing the model ---------------------------------------------------------------------

def _invalid(field: str, message: str, code: ScoringErrorCode = ScoringErrorCode.INVALID
             ) -> ScoringError:
    return ScoringError(code, message, errors={field: [message]})


def _int(fields: dict[str, Any], name: str, low: int, high: int) -> None:
    value = fields.get(name)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _invalid(name, _("Enter a whole number.")) from None
    if not low <= number <= high:
        raise _invalid(name, _("Enter a number from %(low)s to %(high)s.")
                       % {"low": low, "high": high})
    fields[name] = number


def _text(fields: dict[str, Any], name: str, max_length: int, *, required: bool = False) -> None:
    value = str(fields.get(name) or "").strip()
    if required and not value:
        raise _invalid(name, _("This field is required."))
    if len(value) > max_length:
        raise _invalid(name, _("At most %(n)s characters.") % {"n": max_length})
    fields[name] = value


def _points(fields: dict[str, Any]) -> None:
    _int(fields, "points", -MAX_POINTS, MAX_POINTS)
    if fields["points"] == 0:
        raise _invalid("points", _("Points must not be zero: delete the rule instead."),
                       ScoringErrorCode.ZERO_POINTS)


def _changed_rules(actor: User, obj: Any, action: str, before: dict, after: dict,
                   cause: str) -> None:
    delta = audit.diff(before, after)
    if action != "updated" or delta:
        audit.record(actor=actor, obj=obj, action=action, changes=delta)
        ScoringModel.objects.filter(pk=obj.model_id).update(updated_at=timezone.now(),
                                                             updated_by=actor)
        request_rescore(actor=actor, cause=cause)


def _cause(kind: str, action: str, name: str) -> str:
    messages = {
        ("fit", "created"): _("Fit rule “%(rule)s” added"),
        ("fit", "updated"): _("Fit rule “%(rule)s” changed"),
        ("fit", "deleted"): _("Fit rule “%(rule)s” deleted"),
        ("engagement", "created"): _("Engagement rule “%(rule)s” added"),
        ("engagement", "updated"): _("Engagement rule “%(rule)s” changed"),
        ("engagement", "deleted"): _("Engagement rule “%(rule)s” deleted"),
    }
    return messages[(kind, action)] % {"rule": name}


@transaction.atomic
def update_model(*, actor: User, model: ScoringModel, **changes: Any) -> ScoringModel:
    require_model_editor(actor)
    unknown = set(changes) - set(MODEL_FIELDS)
    if unknown:
        raise _invalid(sorted(unknown)[0], _("This field cannot be set."))
    fields = dict(changes)
    if "name" in fields:
        _text(fields, "name", 120, required=True)
    for name in ("half_life_days", "lookback_days"):
        if name in fields:
            _int(fields, name, 1, MAX_DAYS)
    for name in ("lead_engagement", "mql_fit", "mql_engagement"):
        if name in fields:
            _int(fields, name, 0, 100_000)
    model = ScoringModel.objects.select_for_update().get(pk=model.pk)
    before = audit.snapshot(model, MODEL_FIELDS)
    for name, value in fields.items():
        setattr(model, name, value)
    model.updated_at, model.updated_by = timezone.now(), actor
    model.save()
    delta = audit.diff(before, audit.snapshot(model, MODEL_FIELDS))
    if delta:
        audit.record(actor=actor, obj=model, action="updated", changes=delta)
        # Thresholds alone change no score; the half-life and look-back change them all.
        if {"half_life_days", "lookback_days"} & set(delta):
            request_rescore(actor=actor, cause=_("Scoring model changed: %(what)s")
                            % {"what": ", ".join(sorted(delta))})
    return model


def _clean_fit(fields: dict[str, Any]) -> None:
    attribute = str(fields.get("attribute") or "")
    if attribute not in FitAttribute.values:
        raise _invalid("attribute", _("Choose an attribute."))
    _text(fields, "value", 120, required=True)
    value = fields["value"]
    known = {
        FitAttribute.TIER: lambda v: v in Tier.values,
        FitAttribute.REVENUE_BAND: lambda v: v in RevenueBand.values,
        FitAttribute.INDUSTRY: lambda v: Industry.objects.filter(code=v).exists(),
        FitAttribute.PROVINCE: lambda v: OrgUnit.objects.filter(
            code=v, kind=UnitKind.PROVINCE).exists(),
        FitAttribute.MANAGEMENT: lambda v: v in {"yes", "no"},
    }
    check = known.get(FitAttribute(attribute))
    if check is not None and not check(value):
        messages = {
            FitAttribute.TIER: _("“%(value)s” is not a tier."),
            FitAttribute.REVENUE_BAND: _("“%(value)s” is not a revenue band."),
            FitAttribute.INDUSTRY: _("No industry has the code “%(value)s”."),
            FitAttribute.PROVINCE: _("No province has the code “%(value)s”."),
            FitAttribute.MANAGEMENT: _("Management level is “yes” or “no”, not "
                                       "“%(value)s”."),
        }
        raise _invalid("value", messages[FitAttribute(attribute)] % {"value": value},
                       ScoringErrorCode.UNKNOWN_VALUE)
    fields["attribute"] = attribute
    _points(fields)


@transaction.atomic
def save_fit_rule(*, actor: User, model: ScoringModel, rule: FitRule | None = None,
                  attribute: str, value: str, points: int) -> FitRule:
    require_model_editor(actor)
    fields: dict[str, Any] = {"attribute": attribute, "value": value, "points": points}
    _clean_fit(fields)
    if rule is None:
        rule = FitRule.objects.create(model=model, **fields)
        before: dict[str, Any] = {}
        action = "created"
    else:
        rule = FitRule.objects.select_for_update().get(pk=rule.pk, model=model)
        before = audit.snapshot(rule, FIT_FIELDS)
        for name, value_ in fields.items():
            setattr(rule, name, value_)
        rule.save()
        action = "updated"
    _changed_rules(actor, rule, action, before, audit.snapshot(rule, FIT_FIELDS),
                   _cause("fit", action, str(rule)))
    return rule


@transaction.atomic
def delete_fit_rule(*, actor: User, rule: FitRule) -> None:
    require_model_editor(actor)
    before = audit.snapshot(rule, FIT_FIELDS)
    name = str(rule)
    _changed_rules(actor, rule, "deleted", before, {}, _cause("fit", "deleted", name))
    rule.delete()


def _clean_engagement(fields: dict[str, Any]) -> None:
    _text(fields, "label", 120, required=True)
    _text(fields, "kind", 12)
    if fields["kind"] and fields["kind"] not in TouchpointKind.values:
        raise _invalid("kind", _("Unknown kind of touchpoint."), ScoringErrorCode.UNKNOWN_VALUE)
    _text(fields, "event", 200)
    _text(fields, "url_contains", 200)
    _text(fields, "property_key", 60)
    _text(fields, "property_value", 200)
    if fields["property_value"] and not fields["property_key"]:
        raise _invalid("property_key", _("Name the property whose value must match."))
    _points(fields)
    cap = fields.get("daily_cap")
    if cap in (None, ""):
        fields["daily_cap"] = None
    else:
        try:
            fields["daily_cap"] = int(cap)
        except (TypeError, ValueError):
            raise _invalid("daily_cap", _("Enter a whole number.")) from None
        if fields["daily_cap"] <= 0:
            raise _invalid("daily_cap", _("A cap must be positive (leave it empty for none)."),
                           ScoringErrorCode.BAD_CAP)


@transaction.atomic
def save_engagement_rule(*, actor: User, model: ScoringModel,
                         rule: EngagementRule | None = None, label: str, points: int,
                         kind: str = "", event: str = "", url_contains: str = "",
                         property_key: str = "", property_value: str = "",
                         daily_cap: int | None = None) -> EngagementRule:
    require_model_editor(actor)
    fields: dict[str, Any] = {
        "label": label, "kind": kind, "event": event, "url_contains": url_contains,
        "property_key": property_key, "property_value": property_value, "points": points,
        "daily_cap": daily_cap}
    _clean_engagement(fields)
    if rule is None:
        rule = EngagementRule.objects.create(model=model, **fields)
        before: dict[str, Any] = {}
        action = "created"
    else:
        rule = EngagementRule.objects.select_for_update().get(pk=rule.pk, model=model)
        before = audit.snapshot(rule, ENGAGEMENT_FIELDS)
        for name, value in fields.items():
            setattr(rule, name, value)
        rule.save()
        action = "updated"
    _changed_rules(actor, rule, action, before, audit.snapshot(rule, ENGAGEMENT_FIELDS),
                   _cause("engagement", action, rule.label))
    return rule


@transaction.atomic
def delete_engagement_rule(*, actor: User, rule: EngagementRule) -> None:
    require_model_editor(actor)
    before = audit.snapshot(rule, ENGAGEMENT_FIELDS)
    label = rule.label
    _changed_rules(actor, rule, "deleted", before, {}, _cause("engagement", "deleted", label))
    rule.delete()


def rescore_now(*, actor: User) -> RescoreRun:
    """A full re-score on request (after a bulk change in the CRM, say)."""
    require_model_editor(actor)
    return request_rescore(actor=actor, cause=_("Re-score requested by %(user)s")
                           % {"user": actor})
