"""The attribution models, over many journeys at once (numpy, no loops per journey).

A journey is the run of activity touches before one conversion, oldest first. Every model
gives each touch a weight; the weights of one conversion are split into shares of exactly
SHARE_UNIT (millionths) by largest remainder, and its value (fen) into amounts that sum to
exactly that value, so credits always add up to the conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketloop.campaigns.models import SHARE_UNIT, AttributionModel

MISSING = np.int64(-(1 << 62))  # no lead date / no opportunity date
W_MILESTONE = 0.3  # W-shaped: first touch, lead creation, opportunity creation
W_REST = 0.1  # W-shaped: shared by the touches between milestones
POSITION_ENDS = 0.4  # position-based: first and last touch; the middle shares the rest


@dataclass(frozen=True)
class Journeys:
    """Rows of conversion i are offsets[i]:offsets[i+1], in time order."""

    offsets: np.ndarray  # int64, n + 1
    activity: np.ndarray  # int64 per row: a dense activity index
    at: np.ndarray  # int64 per row: seconds since the epoch
    anchor: np.ndarray  # int64 per conversion: when it converted
    value: np.ndarray  # int64 per conversion: its value in fen (0 for counted stages)
    lead_at: np.ndarray  # int64 per conversion, or MISSING
    opportunity_at: np.ndarray  # int64 per conversion, or MISSING

    @property
    def size(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def conversion_of_rows(self) -> np.ndarray:
        return np.repeat(np.arange(self.size, dtype=np.int64), self.lengths)


def single(activities: list[int], times: list[int], *, anchor: int, value: int = 0,
           lead_at: int | None = None, opportunity_at: int | None = None) -> Journeys:
    """One journey (for a page that shows one deal's credit)."""
    return Journeys(
        offsets=np.array([0, len(activities)], dtype=np.int64),
        activity=np.asarray(activities, dtype=np.int64),
        at=np.asarray(times, dtype=np.int64),
        anchor=np.array([anchor], dtype=np.int64),
        value=np.array([value], dtype=np.int64),
        lead_at=np.array([MISSING if lead_at is None else lead_at], dtype=np.int64),
        opportunity_at=np.array([MISSING if opportunity_at is None else opportunity_at],
                                dtype=np.int64))


def activity_repeats(journeys: Journeys) -> np.ndarray:
    """Per row: how often its activity occurs in its journey."""
    conv = journeys.conversion_of_rows()
    pair = conv * (int(journeys.activity.max(initial=0)) + 1) + journeys.activity
    _, inverse, counts = np.unique(pair, return_inverse=True, return_counts=True)
    return counts[inverse]


def weights(journeys: Journeys, model: str, *, half_life_seconds: float,
            removal_effects: np.ndarray | None = None,
            repeats: np.ndarray | None = None) -> np.ndarray:
    """Unnormalised weight of every touch under `model` (each journey's weights are > 0 in
    total when it has a touch)."""
    conv = journeys.conversion_of_rows()
    if len(conv) == 0:
        return np.zeros(0, dtype=np.float64)
    lengths = journeys.lengths
    position = np.arange(len(conv), dtype=np.int64) - journeys.offsets[:-1][conv]
    length = lengths[conv]
    first = position == 0
    last = position == length - 1
    if model == AttributionModel.FIRST_TOUCH:
        return first.astype(np.float64)
    if model == AttributionModel.LAST_TOUCH:
        return last.astype(np.float64)
    if model == AttributionModel.LINEAR:
        return np.ones(len(conv), dtype=np.float64)
    if model == AttributionModel.TIME_DECAY:
        # Relative to the journey's latest touch, so a long look-back never underflows to 0.
        latest = journeys.at[np.maximum(journeys.offsets[1:] - 1, 0)][conv]
        return np.exp2((journeys.at - latest) / float(half_life_seconds))
    if model == AttributionModel.POSITION_BASED:
        middle = (1.0 - 2 * POSITION_ENDS) / np.maximum(length - 2, 1)
        w = np.where(first | last, POSITION_ENDS, middle)
        return np.where(length <= 2, 1.0, w)
    if model == AttributionModel.W_SHAPED:
        return _w_shaped(journeys, conv, first)
    if model == AttributionModel.DATA_DRIVEN:
        if removal_effects is None:
            raise ValueError("the data-driven model needs removal effects")
        effect = removal_effects[journeys.activity]
        # Each activity's effect counts once per journey, however often it was touched.
        w = effect / (activity_repeats(journeys) if repeats is None else repeats)
        total = np.bincount(conv, weights=w, minlength=journeys.size)
        # A journey whose activities show no effect at all falls back to linear.
        return np.where(total[conv] > 0, w, 1.0)
    raise ValueError(f"unknown model {model!r}")


def _milestone_rows(journeys: Journeys, conv: np.ndarray, when: np.ndarray) -> np.ndarray:
    """Per conversion, the row of its last touch at or before `when` (-1 for none)."""
    n = journeys.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    base = int(min(journeys.at.min(initial=0), journeys.anchor.min(initial=0))) - 1
    span = np.int64(1) << 40
    key = conv * span + (journeys.at - base)
    target = np.arange(n, dtype=np.int64) * span + (np.maximum(when, base) - base)
    row = np.searchsorted(key, target, side="right") - 1
    valid = (when != MISSING) & (row >= journeys.offsets[:-1]) & (journeys.lengths > 0)
    return np.where(valid, row, -1)


def _w_shaped(journeys: Journeys, conv: np.ndarray, first: np.ndarray) -> np.ndarray:
    rows = len(conv)
    milestones = np.zeros(rows, dtype=np.float64)
    milestones[first] += W_MILESTONE
    for when in (journeys.lead_at, journeys.opportunity_at):
        row = _milestone_rows(journeys, conv, when)
        np.add.at(milestones, row[row >= 0], W_MILESTONE)
    is_other = milestones == 0
    others = np.bincount(conv, weights=is_other.astype(np.float64), minlength=journeys.size)
    return np.where(is_other, W_REST / np.maximum(others[conv], 1), milestones)


def split(journeys: Journeys, raw: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Split each conversion's whole (`totals`, int64 per conversion) over its rows in
    proportion to `raw`, in whole units that sum to exactly that whole."""
    conv = journeys.conversion_of_rows()
    if len(conv) == 0:
        return np.zeros(0, dtype=np.int64)
    weight = np.bincount(conv, weights=raw, minlength=journeys.size)
    exact = raw / weight[conv] * totals[conv]
    base = np.floor(exact).astype(np.int64)
    deficit = totals - exact_sums(conv, base, journeys.size)
    return _largest_remainder(journeys, conv, base, exact - base, deficit)


def shares(journeys: Journeys, raw: np.ndarray) -> np.ndarray:
    """Each conversion in SHARE_UNIT millionths, in proportion to `raw`."""
    return split(journeys, raw, np.full(journeys.size, SHARE_UNIT, dtype=np.int64))


def _largest_remainder(journeys: Journeys, conv: np.ndarray, base: np.ndarray,
                       remainder: np.ndarray, deficit: np.ndarray) -> np.ndarray:
    """Add one unit to the `deficit[c]` rows of conversion c with the largest remainders
    (earlier rows first on ties)."""
    if not deficit.any():
        return base  # every split was whole already (first touch, last touch, no value)
    # Within a conversion, largest remainder first: one stable sort of a single float key.
    order = np.argsort(conv - remainder / (2.0 * (remainder.max() or 1.0)), kind="stable")
    rank = np.empty(len(conv), dtype=np.int64)
    rank[order] = np.arange(len(conv), dtype=np.int64) - journeys.offsets[:-1][conv[order]]
    return base + (rank < deficit[conv]).astype(np.int64)


def exact_sums(group: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Σ int64 values per group, exactly: one float bincount when no sum can pass 2^53, else
    one per 26-bit half."""
    if len(values) == 0:
        return np.zeros(size, dtype=np.int64)
    if int(np.abs(values).max()) * len(values) < 2**53:
        sums = np.bincount(group, weights=values.astype(np.float64), minlength=size)
        return np.rint(sums).astype(np.int64)
    high, low = np.divmod(values, np.int64(1) << 26)
    high_sum = np.rint(np.bincount(group, weights=high.astype(np.float64), minlength=size))
    low_sum = np.rint(np.bincount(group, weights=low.astype(np.float64), minlength=size))
    return (high_sum.astype(np.int64) << 26) + low_sum.astype(np.int64)


def credit(journeys: Journeys, model: str, *, half_life_seconds: float,
           removal_effects: np.ndarray | None = None,
           repeats: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(shares in millionths, amounts in fen) per touch row under `model`: both split the
    model's exact weights, so a third of 1,000,000.00 is 333,333.34 / .33 / .33."""
    raw = weights(journeys, model, half_life_seconds=half_life_seconds,
                  removal_effects=removal_effects, repeats=repeats)
    return shares(journeys, raw), split(journeys, raw, journeys.value)
