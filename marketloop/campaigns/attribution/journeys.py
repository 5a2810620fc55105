"""Journeys read from the database: every activity touch once (COPY into numpy arrays), then,
per stage, the conversions and the journeys that did not convert, each cut to the look-back
window before its moment.

A lead's journey is its person's touches (the profile's identities); an opportunity's is its
account's (every profile at the account): business deals are bought by a buying group.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.db import connection

from marketloop.campaigns.attribution.credit import MISSING, Journeys
from marketloop.campaigns.models import ConversionStage

SHIFT = 36  # key = subject index << SHIFT | seconds since the base (2,000 years fit)
SPAN = np.int64(1) << SHIFT
CHINA_OFFSET = 8 * 3600  # months are China's (no daylight saving)

EPOCH = "floor(date_part('epoch', {0}))::bigint"


def _epoch_or_missing(column: str) -> str:
    return f"coalesce({EPOCH.format(column)}, {int(MISSING)})"


def read_ints(sql: str, columns: int, *, params: list | None = None) -> np.ndarray:
    """The integer columns (no NULLs) of `sql` as an n × columns int64 array. The server joins
    the numbers into one long text that numpy parses at once: fetching millions of rows one
    by one would take longer than everything else."""
    names = ", ".join(f"c{i}" for i in range(columns))
    text_of = " || ' ' || ".join(f"c{i}::text" for i in range(columns))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT string_agg({text_of}, ' ') FROM ({sql}) AS q({names})",
                       params)
        (text,) = cursor.fetchone()
    if not text:
        return np.zeros((0, columns), dtype=np.int64)
    return np.fromstring(text, dtype=np.int64, sep=" ").reshape(-1, columns)


TOUCHES_PER_READ = 4_000_000  # a text of ~100 MB; PostgreSQL's limit for one is 1 GB


def read_touches() -> np.ndarray:
    """Every activity touch as (identity, activity, seconds), in id ranges."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM campaigns_activitytouch")
        low, high = cursor.fetchone()
    if low is None:
        return np.zeros((0, 3), dtype=np.int64)
    parts = [read_ints(f"SELECT identity_id, activity_id, {EPOCH.format('occurred_at')} "
                       "FROM campaigns_activitytouch WHERE id >= %s AND id < %s", 3,
                       params=[start, start + TOUCHES_PER_READ])
             for start in range(low, high + 1, TOUCHES_PER_READ)]
    return np.concatenate(parts)


DENSE_LIMIT = 200_000_000  # ids up to this are looked up in a plain array (≤ 1.6 GB)


def lookup(keys: np.ndarray, table: np.ndarray) -> np.ndarray:
    """table[:, 1] where table[:, 0] == key, 0 where the key is not in the table."""
    if len(table) == 0 or len(keys) == 0:
        return np.zeros(len(keys), dtype=np.int64)
    top = int(max(table[:, 0].max(), keys.max())) + 1
    if top <= DENSE_LIMIT:  # direct indexing: no sorting, no binary search
        values = np.zeros(top, dtype=np.int64)
        values[table[:, 0]] = table[:, 1]
        return values[keys]
    table = table[np.argsort(table[:, 0])]
    index = np.minimum(np.searchsorted(table[:, 0], keys), len(table) - 1)
    return np.where(table[index, 0] == keys, table[index, 1], 0)


def dense_ranks(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the sorted distinct ids, each id's index among them)."""
    top = int(ids.max(initial=0)) + 1
    if top <= DENSE_LIMIT:
        present = np.zeros(top, dtype=bool)
        present[ids] = True
        rank = np.cumsum(present) - 1
        return np.flatnonzero(present), rank[ids]
    distinct = np.unique(ids)
    return distinct, np.searchsorted(distinct, ids)


def _search(haystack: np.ndarray, needles: np.ndarray, side: str) -> np.ndarray:
    """np.searchsorted with the needles in order: each search starts where the last ended,
    several times faster over millions of keys than needles in random order."""
    order = np.argsort(needles)
    found = np.empty(len(needles), dtype=np.int64)
    found[order] = np.searchsorted(haystack, needles[order], side=side)
    return found


@dataclass(frozen=True)
class TouchIndex:
    """Activity touches of one kind of subject (a profile or an account), sorted by subject
    and time, so any subject's window is two binary searches."""

    subjects: np.ndarray  # sorted subject ids
    key: np.ndarray
    activity: np.ndarray
    at: np.ndarray
    base: int

    @classmethod
    def build(cls, subject_ids: np.ndarray, activity: np.ndarray, at: np.ndarray,
              base: int) -> TouchIndex:
        keep = np.flatnonzero(subject_ids > 0)
        subjects, inverse = dense_ranks(subject_ids[keep])
        key = (inverse.astype(np.int64) << SHIFT) | (at[keep] - base)
        order = np.argsort(key, kind="stable")  # simultaneous touches keep their order
        rows = keep[order]
        return cls(subjects=subjects, key=key[order], activity=activity[rows], at=at[rows],
                   base=base)

    def journeys(self, subject_ids: np.ndarray, anchors: np.ndarray, lookback: int, *,
                 values: np.ndarray | None = None, lead_at: np.ndarray | None = None,
                 opportunity_at: np.ndarray | None = None) -> Journeys:
        """The touches of each subject in [anchor - lookback, anchor]."""
        n = len(subject_ids)
        index = np.searchsorted(self.subjects, subject_ids)
        index = np.minimum(index, max(len(self.subjects) - 1, 0))
        found = (self.subjects[index] == subject_ids) if len(self.subjects) else np.zeros(
            n, dtype=bool)
        prefix = index.astype(np.int64) << SHIFT
        low = np.clip(anchors - lookback - self.base, 0, SPAN - 1)
        high = np.clip(anchors - self.base, -1, SPAN - 1)
        lo = _search(self.key, prefix | low, side="left")
        hi = _search(self.key, prefix + high, side="right")
        lengths = np.where(found, np.maximum(hi - lo, 0), 0)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        rows = np.repeat(lo - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
        missing = np.full(n, MISSING, dtype=np.int64)
        return Journeys(
            offsets=offsets, activity=self.activity[rows], at=self.at[rows],
            anchor=anchors.astype(np.int64),
            value=np.zeros(n, dtype=np.int64) if values is None else values,
            lead_at=missing if lead_at is None else lead_at,
            opportunity_at=missing if opportunity_at is None else opportunity_at)


def concat(first: Journeys, second: Journeys) -> Journeys:
    return Journeys(
        offsets=np.concatenate([first.offsets, second.offsets[1:] + first.offsets[-1]]),
        activity=np.concatenate([first.activity, second.activity]),
        at=np.concatenate([first.at, second.at]),
        anchor=np.concatenate([first.anchor, second.anchor]),
        value=np.concatenate([first.value, second.value]),
        lead_at=np.concatenate([first.lead_at, second.lead_at]),
        opportunity_at=np.concatenate([first.opportunity_at, second.opportunity_at]))


@dataclass(frozen=True)
class StageJourneys:
    stage: str
    converted: Journeys  # one per conversion
    not_converted: Journeys  # for the data-driven model only


@dataclass(frozen=True)
class Data:
    activity_ids: np.ndarray  # dense activity index -> Activity id
    people: TouchIndex
    accounts: TouchIndex
    lead_rows: np.ndarray  # id, profile, lead_at, mql_at, sal_at, set aside at
    # id, account, created, closed, won (1) / lost (0) / open (-1), amount in fen, lead_at
    opportunity_rows: np.ndarray
    touches: int


def load(*, now: datetime) -> Data:
    activity_ids = np.sort(read_ints("SELECT id FROM campaigns_activity", 1)[:, 0])
    touches = read_touches()
    # Identity -> profile -> account in numpy: joining them in SQL costs more than the maps.
    profile_of = read_ints(
        "SELECT id, profile_id FROM tracking_identity WHERE profile_id IS NOT NULL", 2)
    profiles = lookup(touches[:, 0], profile_of)
    account_of = read_ints("SELECT id, account_id FROM tracking_profile "
                           "WHERE account_id IS NOT NULL AND merged_into_id IS NULL", 2)
    accounts = lookup(profiles, account_of)
    dense = lookup(touches[:, 1], np.stack(
        [activity_ids, np.arange(len(activity_ids), dtype=np.int64)], axis=1))
    at = touches[:, 2]
    base = int(at.min()) - 1 if len(at) else int(now.timestamp())
    leads = read_ints(
        "SELECT id, coalesce(profile_id, 0), "
        f"{_epoch_or_missing('lead_at')}, {_epoch_or_missing('mql_at')}, "
        f"{_epoch_or_missing('sal_at')}, "
        f"{_epoch_or_missing('coalesce(disqualified_at, recycled_at)')} "
        "FROM leads_lead WHERE lead_at IS NOT NULL OR mql_at IS NOT NULL", 6)
    opportunities = read_ints(
        f"SELECT o.id, o.account_id, {EPOCH.format('o.created_at')}, "
        f"{_epoch_or_missing('o.closed_at')}, "
        "CASE o.stage WHEN 'won' THEN 1 WHEN 'lost' THEN 0 ELSE -1 END, "
        "round(o.amount_cny * 100)::bigint, "
        f"{_epoch_or_missing('l.lead_at')} "
        "FROM sales_opportunity o LEFT JOIN leads_lead l ON l.id = o.lead_id", 7)
    return Data(
        activity_ids=activity_ids,
        people=TouchIndex.build(profiles, dense, at, base),
        accounts=TouchIndex.build(accounts, dense, at, base),
        lead_rows=leads, opportunity_rows=opportunities, touches=len(touches))


def stage_journeys(data: Data, stage: str, *, lookback: int, now: datetime) -> StageJourneys:
    """The conversions of `stage` and the journeys that could have converted and did not."""
    now_s = np.int64(int(now.timestamp()))
    leads, opps = data.lead_rows, data.opportunity_rows
    if stage in (ConversionStage.LEAD, ConversionStage.MQL, ConversionStage.SAL):
        column = {ConversionStage.LEAD: 2, ConversionStage.MQL: 3, ConversionStage.SAL: 4}[stage]
        done = leads[leads[:, column] != MISSING]
        converted = data.people.journeys(done[:, 1], done[:, column], lookback,
                                         lead_at=done[:, 2])
        if stage == ConversionStage.LEAD:
            # Everyone who touched an activity and never became a lead, as of now.
            others = np.setdiff1d(data.people.subjects, done[:, 1])
            anchors = np.full(len(others), now_s, dtype=np.int64)
        else:
            previous = 2 if stage == ConversionStage.MQL else 3
            stuck = leads[(leads[:, previous] != MISSING) & (leads[:, column] == MISSING)]
            others = stuck[:, 1]
            anchors = np.where(stuck[:, 5] != MISSING, stuck[:, 5], now_s)
        return StageJourneys(stage, converted,
                             data.people.journeys(others, anchors.astype(np.int64), lookback))
    if stage == ConversionStage.PIPELINE:
        converted = data.accounts.journeys(opps[:, 1], opps[:, 2], lookback, values=opps[:, 5],
                                           lead_at=opps[:, 6], opportunity_at=opps[:, 2])
        others = np.setdiff1d(data.accounts.subjects, opps[:, 1])
        return StageJourneys(stage, converted, data.accounts.journeys(
            others, np.full(len(others), now_s, dtype=np.int64), lookback))
    if stage == ConversionStage.WON:
        won, lost = opps[opps[:, 4] == 1], opps[opps[:, 4] == 0]
        converted = data.accounts.journeys(won[:, 1], won[:, 3], lookback, values=won[:, 5],
                                           lead_at=won[:, 6], opportunity_at=won[:, 2])
        return StageJourneys(stage, converted,
                             data.accounts.journeys(lost[:, 1], lost[:, 3], lookback))
    raise ValueError(f"unknown stage {stage!r}")


def months(anchors: np.ndarray) -> np.ndarray:
    """Month (in China) of each moment, as months since January 1970."""
    return ((anchors + CHINA_OFFSET).astype("datetime64[s]")
            .astype("datetime64[M]").astype(np.int64))
