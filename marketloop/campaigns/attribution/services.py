"""Attribution runs: every model's credit for every conversion, stored per activity, stage and
month; the settings they use; queueing, progress and the nightly run."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

import numpy as np
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from marketloop.audit import services as audit
from marketloop.campaigns.attribution import credit, journeys, markov
from marketloop.campaigns.attribution.selectors import current_settings
from marketloop.campaigns.errors import CampaignError
from marketloop.campaigns.errors import CampaignErrorCode as Code
from marketloop.campaigns.models import (
    SHARE_UNIT,
    AttributionModel,
    AttributionRun,
    AttributionSettings,
    ConversionStage,
)
from marketloop.org.models import User
from marketloop.org.permissions import Action, require

DAY = 86400
STAGES = list(ConversionStage.values)
MODELS = list(AttributionModel.values)


@transaction.atomic
def update_settings(*, user: User, lookback_days: int, half_life_days: int) -> AttributionSettings:
    """Change the look-back window or the half-life (administrators); queues a new run."""
    require(user, Action.ADMINISTER)
    for field, value, low, high in (("lookback_days", lookback_days, 1, 1095),
                                    ("half_life_days", half_life_days, 1, 365)):
        if not isinstance(value, int) or not low <= value <= high:
            raise CampaignError(Code.INVALID, _("Enter a whole number from %(low)s to "
                                                "%(high)s.") % {"low": low, "high": high},
                                field=field)
    settings = AttributionSettings.objects.select_for_update().order_by("pk").first()
    settings = settings or AttributionSettings()
    before = {"lookback_days": settings.lookback_days, "half_life_days": settings.half_life_days}
    settings.lookback_days, settings.half_life_days = lookback_days, half_life_days
    settings.updated_at, settings.updated_by = timezone.now(), user
    settings.save()
    after = {"lookback_days": lookback_days, "half_life_days": half_life_days}
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changes:
        audit.record(actor=user, obj=settings, action="updated", changes=changes)
        queue_attribution(reason=_("Settings changed"), user=user)
    return settings


def queue_attribution(*, reason: str, user: User | None = None) -> AttributionRun:
    """Queue a run, unless one is queued already (it will see the same data)."""
    from procrastinate.exceptions import AlreadyEnqueued

    from marketloop.campaigns import tasks

    waiting = AttributionRun.objects.filter(status=AttributionRun.Status.QUEUED).first()
    if waiting is not None:
        return waiting
    run = AttributionRun.objects.create(reason=reason[:200], requested_by=user)
    try:
        tasks.run_attribution.defer(run_id=run.pk)
    except AlreadyEnqueued:
        AttributionRun.objects.filter(pk=run.pk).update(
            status=AttributionRun.Status.SKIPPED, finished_at=timezone.now(),
            error=_("A run is queued already."))
    return run


def request_run(*, user: User) -> AttributionRun:
    """An administrator asks for a run now (or gets the one already queued)."""
    require(user, Action.ADMINISTER)
    return queue_attribution(reason=_("Run by hand"), user=user)


def nightly_attribution() -> AttributionRun:
    run = AttributionRun.objects.create(reason=_("Nightly run"))
    return run_attribution(run_id=run.pk)


def run_attribution(*, run_id: int, now: datetime | None = None) -> AttributionRun:
    """Compute every model for every stage and replace the stored credit."""
    run = AttributionRun.objects.get(pk=run_id)
    if run.status in {AttributionRun.Status.DONE, AttributionRun.Status.SKIPPED}:
        return run
    now = now or timezone.now()
    steps = 2 + len(STAGES)
    AttributionRun.objects.filter(pk=run.pk).update(
        status=AttributionRun.Status.RUNNING, started_at=timezone.now(), steps_done=0,
        steps_total=steps, error="")
    try:
        figures = compute_and_store(now=now, step_done=_progress(run.pk))
    except Exception as exc:
        AttributionRun.objects.filter(pk=run.pk).update(
            status=AttributionRun.Status.FAILED, error=str(exc)[:2000],
            finished_at=timezone.now())
        raise
    AttributionRun.objects.filter(pk=run.pk).update(
        status=AttributionRun.Status.DONE, steps_done=steps, figures=figures,
        finished_at=timezone.now())
    run.refresh_from_db()
    return run


def _progress(run_id: int) -> Callable[[], None]:
    def step_done() -> None:
        # Outside any transaction of the run, so a page polling the run sees it move.
        AttributionRun.objects.filter(pk=run_id).update(steps_done=F("steps_done") + 1)

    return step_done


class _Totals:
    """Credit summed per (model, stage, activity slot, month); slot 0 = no activity."""

    def __init__(self, activities: int) -> None:
        self.slots = activities + 1
        self.credit: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.influence: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def add_model(self, model: str, stage: str, rows: credit.Journeys, month: np.ndarray,
                  share: np.ndarray, amount: np.ndarray) -> None:
        conv = rows.conversion_of_rows()
        first = int(month.min()) if len(month) else 0
        row_key = (month[conv] - first) * self.slots + rows.activity + 1
        empty = np.flatnonzero(rows.lengths == 0)  # no activity touched: all to slot 0
        key = np.concatenate([row_key, (month[empty] - first) * self.slots])
        shares = np.concatenate([share, np.full(len(empty), SHARE_UNIT, dtype=np.int64)])
        amounts = np.concatenate([amount, rows.value[empty]])
        self.credit[(model, stage)] = _grouped(key, shares, amounts, first, self.slots)

    def add_influence(self, stage: str, rows: credit.Journeys, month: np.ndarray,
                      pairs: np.ndarray) -> None:
        """`pairs`: the distinct conversion * slots + activity of the journeys."""
        conv_of_pair, activity = np.divmod(pairs, self.slots)
        first = int(month.min()) if len(month) else 0
        key = (month[conv_of_pair] - first) * self.slots + activity + 1
        self.influence[stage] = _grouped(key, np.ones(len(key), dtype=np.int64),
                                         rows.value[conv_of_pair], first, self.slots)


def _grouped(key: np.ndarray, counts: np.ndarray, amounts: np.ndarray, first_month: int,
             slots: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(slot, month, [Σ counts, Σ amounts]) of the non-empty groups of `key` (a small dense
    range: months × activities, so counted without sorting)."""
    if len(key) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros((0, 2), dtype=np.int64)
    size = int(key.max()) + 1
    present = np.bincount(key, minlength=size) > 0
    groups = np.flatnonzero(present)
    sums = np.stack([credit.exact_sums(key, counts, size)[groups],
                     credit.exact_sums(key, amounts, size)[groups]], axis=1)
    month, slot = np.divmod(groups, slots)
    return slot, month + first_month, sums


def compute_and_store(*, now: datetime, step_done: Callable[[], None] = lambda: None) -> dict:
    settings = current_settings()
    lookback = settings.lookback_days * DAY
    half_life = float(settings.half_life_days * DAY)
    started = time.monotonic()
    data = journeys.load(now=now)
    activities = len(data.activity_ids)
    figures: dict = {"touches": data.touches, "activities": activities,
                     "lookback_days": settings.lookback_days,
                     "half_life_days": settings.half_life_days, "stages": {}}
    figures["load_seconds"] = round(time.monotonic() - started, 2)
    step_done()
    totals = _Totals(activities)
    effects: dict[str, np.ndarray] = {}
    tick = time.monotonic()
    for stage in STAGES:
        stage_rows = journeys.stage_journeys(data, stage, lookback=lookback, now=now)
        rows = stage_rows.converted
        both = journeys.concat(rows, stage_rows.not_converted)
        converted = np.concatenate([np.ones(rows.size, dtype=bool),
                                    np.zeros(stage_rows.not_converted.size, dtype=bool)])
        effects[stage] = markov.removal_effects(both, converted, activities)
        month = journeys.months(rows.anchor)
        pairs, inverse, counts = np.unique(
            rows.conversion_of_rows() * totals.slots + rows.activity, return_inverse=True,
            return_counts=True)
        for model in MODELS:
            share, amount = credit.credit(rows, model, half_life_seconds=half_life,
                                          removal_effects=effects[stage],
                                          repeats=counts[inverse])
            totals.add_model(model, stage, rows, month, share, amount)
        totals.add_influence(stage, rows, month, pairs)
        figures["stages"][stage] = {"conversions": int(rows.size),
                                    "journey_touches": int(rows.offsets[-1]),
                                    "not_converted": int(stage_rows.not_converted.size)}
        step_done()
    figures["compute_seconds"] = round(time.monotonic() - tick, 2)
    tick = time.monotonic()
    _store(data.activity_ids, totals, effects)
    figures["store_seconds"] = round(time.monotonic() - tick, 2)
    step_done()
    figures["seconds"] = round(time.monotonic() - started, 2)
    return figures


def _month_date(month: int) -> date:
    return date(1970 + month // 12, month % 12 + 1, 1)


def _fen(value: int) -> Decimal:
    return Decimal(int(value)).scaleb(-2)


def _lines(*columns: list) -> bytes:
    """COPY text rows of already formatted columns (\\N for NULL)."""
    return "".join("\t".join(row) + "\n" for row in zip(*columns, strict=True)).encode()


def _activity_column(activity_ids: np.ndarray, slots: np.ndarray) -> list[str]:
    ids = np.concatenate([[0], activity_ids])[slots]
    return ["\\N" if slot == 0 else str(i) for slot, i in zip(slots.tolist(), ids.tolist(),
                                                               strict=True)]


def _month_column(months: np.ndarray) -> list[str]:
    text = {m: _month_date(m).isoformat() for m in np.unique(months).tolist()}
    return [text[m] for m in months.tolist()]


def _fen_column(fen: np.ndarray) -> list[str]:
    return [f"{v // 100}.{v % 100:02d}" if v >= 0 else str(_fen(v)) for v in fen.tolist()]


@transaction.atomic
def _store(activity_ids: np.ndarray, totals: _Totals,
           effects: dict[str, np.ndarray]) -> None:
    """Replace the stored credit. TRUNCATE (not DELETE): a million rows go in seconds; readers
    wait for the commit instead of reading a half-written table."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE campaigns_activitycredit, campaigns_activityinfluence, "
                       "campaigns_removaleffect")
        # Indexes built once after the load cost less than kept up row by row.
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
                       "AND indexdef NOT LIKE '%%UNIQUE%%'",
                       [["campaigns_activitycredit", "campaigns_activityinfluence"]])
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        with cursor.cursor.copy("COPY campaigns_activitycredit (model, stage, activity_id, "
                                "month, credit, amount) FROM STDIN") as copy:
            for (model, stage), (slots, months, sums) in totals.credit.items():
                copy.write(_lines([model] * len(slots), [stage] * len(slots),
                                  _activity_column(activity_ids, slots), _month_column(months),
                                  [str(v) for v in sums[:, 0].tolist()], _fen_column(sums[:, 1])))
        with cursor.cursor.copy("COPY campaigns_activityinfluence (stage, activity_id, month, "
                                "conversions, amount) FROM STDIN") as copy:
            for stage, (slots, months, sums) in totals.influence.items():
                copy.write(_lines([stage] * len(slots), _activity_column(activity_ids, slots),
                                  _month_column(months), [str(v) for v in sums[:, 0].tolist()],
                                  _fen_column(sums[:, 1])))
        with cursor.cursor.copy("COPY campaigns_removaleffect (stage, activity_id, effect) "
                                "FROM STDIN") as copy:
            for stage, values in effects.items():
                for index in np.flatnonzero(values > 0).tolist():
                    copy.write_row((stage, int(activity_ids[index]), float(values[index])))
        for _name, definition in indexes:
            cursor.execute(definition)
