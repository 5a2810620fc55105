"""The data-driven model: a first-order Markov chain over journeys that did and did not
convert, and each activity's removal effect (the share of conversions lost when the activity
is taken out of every journey: its visitors go nowhere).

States: start, conversion, null (no conversion), then one per activity. With Q the
transitions among the transient states (start and activities), r the step into conversion and
M = (I - Q)^-1, the chance of converting from state i is x = M r and P = x[start]. Removing
activity k makes it lead to null, a change of one row of I - Q; by the Sherman-Morrison
formula the chance becomes P - y_k x_k / M_kk, where y = M[start] (expected visits). So one
inverse gives every removal effect: RE_k = y_k x_k / (M_kk P).
"""

from __future__ import annotations

import numpy as np

from marketloop.campaigns.attribution.credit import Journeys

START, CONVERSION, NULL = 0, 1, 2
FIRST_ACTIVITY = 3


def transition_counts(journeys: Journeys, converted: np.ndarray,
                      activities: int) -> np.ndarray:
    """Counts of steps between states over every journey (start → touches → end)."""
    size = FIRST_ACTIVITY + activities
    state = journeys.activity + FIRST_ACTIVITY
    starts, ends = journeys.offsets[:-1], journeys.offsets[1:]
    has_touch = journeys.lengths > 0
    end_state = np.where(converted, CONVERSION, NULL).astype(np.int64)
    first_state = end_state.copy()
    first_state[has_touch] = state[starts[has_touch]]
    last_rows = ends[has_touch] - 1
    inner = np.ones(len(state), dtype=bool)
    inner[last_rows] = False  # a journey's last touch steps to its end instead
    inner_rows = np.flatnonzero(inner)
    source = np.concatenate([np.full(journeys.size, START, dtype=np.int64), state[inner_rows],
                             state[last_rows]])
    target = np.concatenate([first_state, state[inner_rows + 1], end_state[has_touch]])
    counts = np.bincount(source * size + target, minlength=size * size)
    return counts.reshape(size, size).astype(np.float64)


def removal_effects(journeys: Journeys, converted: np.ndarray, activities: int) -> np.ndarray:
    """Removal effect (0..1) of every activity index; 0 for activities never touched, and
    for all when nothing converted."""
    counts = transition_counts(journeys, converted, activities)
    effects = np.zeros(activities, dtype=np.float64)
    if journeys.size == 0:
        return effects
    transient = np.concatenate([[START], FIRST_ACTIVITY + np.arange(activities)])
    seen = counts[transient].sum(axis=1) > 0
    seen[0] = True
    states = transient[seen]
    out = counts[states].sum(axis=1, keepdims=True)
    q = counts[np.ix_(states, states)] / out
    r = counts[states, CONVERSION] / out[:, 0]
    m = np.linalg.inv(np.eye(len(states)) - q)
    x = m @ r
    p = x[0]
    if p <= 0:
        return effects
    y = m[0]
    effect = y * x / (np.diag(m) * p)
    touched = states[1:] - FIRST_ACTIVITY
    effects[touched] = np.clip(effect[1:], 0.0, 1.0)
    return effects
