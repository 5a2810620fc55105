"""The attribution models on journeys worked out by hand, and the rule that matters most: under
every model the credits of one conversion sum to exactly that conversion (its whole share and
its whole amount), for any journeys at all."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketloop.campaigns.attribution import credit, markov
from marketloop.campaigns.attribution.credit import MISSING, Journeys
from marketloop.campaigns.models import SHARE_UNIT, AttributionModel

DAY = 86400
MODELS = list(AttributionModel.values)
A, B, C = 0, 1, 2


def shares_of(journey: Journeys, model: str, effects=None, half_life_days: float = 1):
    share, amount = credit.credit(journey, model, half_life_seconds=half_life_days * DAY,
                                  removal_effects=effects if effects is not None
                                  else np.ones(3))
    return share.tolist(), amount.tolist()


def abc(**kwargs) -> Journeys:
    """A → B → C on days 0, 1 and 2; converts on day 2."""
    return credit.single([A, B, C], [0, DAY, 2 * DAY], anchor=2 * DAY, **kwargs)


def conversion_probability(journeys: Journeys, converted: np.ndarray, activities: int,
                           removed: int | None = None) -> float:
    """P(conversion) from start, optionally with one activity removed: the direct way (the
    chain solved with that activity leading to null), against which markov's one-inverse
    formula is checked."""
    counts = markov.transition_counts(journeys, converted, activities)
    size = counts.shape[0]
    out = counts.sum(axis=1, keepdims=True)
    p = np.divide(counts, out, out=np.zeros_like(counts), where=out > 0)
    if removed is not None:
        k = markov.FIRST_ACTIVITY + removed
        p[k] = 0.0
        p[k, markov.NULL] = 1.0
    for absorbing in (markov.CONVERSION, markov.NULL):
        p[absorbing] = 0.0
        p[absorbing, absorbing] = 1.0
    transient = [s for s in range(size) if s not in (markov.CONVERSION, markov.NULL)]
    q = p[np.ix_(transient, transient)]
    r = p[transient, markov.CONVERSION]
    x = np.linalg.solve(np.eye(len(transient)) - q, r)
    return float(x[0])


def test_first_touch_gives_everything_to_the_first_touch():
    assert shares_of(abc(value=100_00), AttributionModel.FIRST_TOUCH) == (
        [SHARE_UNIT, 0, 0], [100_00, 0, 0])


def test_last_touch_gives_everything_to_the_last_touch():
    assert shares_of(abc(), AttributionModel.LAST_TOUCH)[0] == [0, 0, SHARE_UNIT]


def test_linear_splits_equally_and_the_odd_millionth_goes_to_the_earliest_touch():
    share, amount = shares_of(abc(value=100), AttributionModel.LINEAR)
    assert share == [333_334, 333_333, 333_333]
    assert amount == [34, 33, 33]  # fen: 1.00 CNY in three


def test_position_based_gives_forty_to_each_end_and_twenty_to_the_middle():
    assert shares_of(abc(), AttributionModel.POSITION_BASED)[0] == [400_000, 200_000, 400_000]
    two = credit.single([A, B], [0, DAY], anchor=DAY)
    assert shares_of(two, AttributionModel.POSITION_BASED)[0] == [500_000, 500_000]


def test_time_decay_halves_a_touch_for_every_half_life_it_is_older():
    # Weights 1/4, 1/2, 1 with a one-day half-life: 1/7, 2/7, 4/7.
    share = shares_of(abc(), AttributionModel.TIME_DECAY, half_life_days=1)[0]
    assert share == [142_857, 285_714, 571_429]


def test_w_shaped_gives_thirty_to_first_touch_lead_creation_and_opportunity_creation():
    journey = abc(lead_at=DAY, opportunity_at=2 * DAY)
    assert shares_of(journey, AttributionModel.W_SHAPED)[0] == [333_334, 333_333, 333_333]
    # Without an opportunity (a lead's journey) the touch after lead creation shares 10%:
    # 0.3 : 0.3 : 0.1.
    lead_only = abc(lead_at=DAY)
    assert shares_of(lead_only, AttributionModel.W_SHAPED)[0] == [428_572, 428_571, 142_857]
    # Four touches, milestones at the first, the second (lead) and the last (opportunity):
    four = credit.single([A, B, C, A], [0, DAY, 2 * DAY, 3 * DAY], anchor=3 * DAY,
                         lead_at=DAY + 5, opportunity_at=3 * DAY)
    assert shares_of(four, AttributionModel.W_SHAPED)[0] == [300_000, 300_000, 100_000,
                                                               300_000]


def test_data_driven_splits_by_the_removal_effects_of_the_activities_in_the_journey():
    effects = np.array([1 / 3, 1.0, 0.0])
    journey = credit.single([A, B], [0, DAY], anchor=DAY, value=1000_00)
    assert shares_of(journey, AttributionModel.DATA_DRIVEN, effects) == (
        [250_000, 750_000], [250_00, 750_00])
    # An activity touched twice counts its effect once, split over its touches.
    twice = credit.single([A, A, B], [0, 1, DAY], anchor=DAY)
    assert shares_of(twice, AttributionModel.DATA_DRIVEN, effects)[0] == [125_000, 125_000,
                                                                           750_000]
    # No effect at all in the journey: split like linear.
    none = credit.single([C, C], [0, DAY], anchor=DAY)
    assert shares_of(none, AttributionModel.DATA_DRIVEN, effects)[0] == [500_000, 500_000]


def test_removal_effects_on_a_journey_set_worked_out_by_hand():
    """Journeys: A→B→conversion, A→null, B→conversion, B→null.

    Steps: start→A 2/4, start→B 2/4; A→B 1/2, A→null 1/2; B→conversion 2/3, B→null 1/3.
    P(conversion) = 1/2·(1/2·2/3) + 1/2·2/3 = 1/6 + 1/3 = 1/2 (two of the four converted).
    Without A (its visitors go to null): 1/2·0 + 1/2·2/3 = 1/3, so RE(A) = 1 − (1/3)/(1/2) = 1/3.
    Without B nothing converts: RE(B) = 1. C is never touched: 0.
    """
    journeys = Journeys(
        offsets=np.array([0, 2, 3, 4, 5]), activity=np.array([A, B, A, B, B]),
        at=np.array([0, 1, 0, 0, 0]), anchor=np.array([2, 1, 1, 1]),
        value=np.zeros(4, dtype=np.int64), lead_at=np.full(4, MISSING),
        opportunity_at=np.full(4, MISSING))
    converted = np.array([True, False, True, False])
    effects = markov.removal_effects(journeys, converted, 3)
    assert effects[A] == pytest.approx(float(Fraction(1, 3)))
    assert effects[B] == pytest.approx(1.0)
    assert effects[C] == 0.0
    assert conversion_probability(journeys, converted, 3) == pytest.approx(0.5)


def test_the_one_inverse_formula_matches_removing_each_activity_directly():
    rng = np.random.default_rng(7)
    n, activities = 300, 6
    lengths = rng.integers(0, 6, n)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    journeys = Journeys(offsets=offsets, activity=rng.integers(0, activities, offsets[-1]),
                        at=np.zeros(offsets[-1], dtype=np.int64),
                        anchor=np.zeros(n, dtype=np.int64), value=np.zeros(n, dtype=np.int64),
                        lead_at=np.full(n, MISSING), opportunity_at=np.full(n, MISSING))
    converted = rng.random(n) < 0.4
    effects = markov.removal_effects(journeys, converted, activities)
    whole = conversion_probability(journeys, converted, activities)
    for k in range(activities):
        without = conversion_probability(journeys, converted, activities, removed=k)
        assert effects[k] == pytest.approx(1 - without / whole)


def test_nothing_converted_means_no_removal_effect():
    journey = credit.single([A, B], [0, 1], anchor=1)
    assert markov.removal_effects(journey, np.array([False]), 3).tolist() == [0, 0, 0]


@st.composite
def journey_sets(draw):
    n = draw(st.integers(1, 12))
    activities = draw(st.integers(1, 6))
    offsets, acts, times, anchors, values, leads, opps = [0], [], [], [], [], [], []
    for _ in range(n):
        length = draw(st.integers(0, 9))
        moments = sorted(draw(st.lists(st.integers(0, 400 * DAY), min_size=length,
                                       max_size=length)))
        acts += draw(st.lists(st.integers(0, activities - 1), min_size=length,
                              max_size=length))
        times += moments
        offsets.append(offsets[-1] + length)
        anchor = (moments[-1] if moments else 0) + draw(st.integers(0, 30 * DAY))
        anchors.append(anchor)
        values.append(draw(st.sampled_from([0, 1, 99, 100_00, 2_000_000_00,
                                            draw(st.integers(0, 10**12))])))
        leads.append(draw(st.one_of(st.just(int(MISSING)), st.integers(-DAY, anchor))))
        opps.append(draw(st.one_of(st.just(int(MISSING)), st.integers(-DAY, anchor))))
    journeys = Journeys(offsets=np.array(offsets, dtype=np.int64),
                        activity=np.array(acts, dtype=np.int64),
                        at=np.array(times, dtype=np.int64),
                        anchor=np.array(anchors, dtype=np.int64),
                        value=np.array(values, dtype=np.int64),
                        lead_at=np.array(leads, dtype=np.int64),
                        opportunity_at=np.array(opps, dtype=np.int64))
    converted = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return journeys, converted, activities


@settings(max_examples=150, deadline=None)
@given(journey_sets(), st.integers(1, 60))
def test_every_model_credits_exactly_the_conversion(case, half_life_days):
    journeys, converted, activities = case
    effects = markov.removal_effects(journeys, converted, activities)
    conv = journeys.conversion_of_rows()
    touched = journeys.lengths > 0
    for model in MODELS:
        share, amount = credit.credit(journeys, model, half_life_seconds=half_life_days * DAY,
                                      removal_effects=effects)
        assert (share >= 0).all() and (amount >= 0).all(), model
        per_share = credit.exact_sums(conv, share, journeys.size)
        per_amount = credit.exact_sums(conv, amount, journeys.size)
        assert (per_share[touched] == SHARE_UNIT).all(), model
        assert (per_amount[touched] == journeys.value[touched]).all(), model
        assert (per_share[~touched] == 0).all(), model
