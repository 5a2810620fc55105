"""Computing and storing scores, in set-based SQL.

Engagement: every (touchpoint, rule) pair that matches counts the rule's points; per profile,
rule and local day the sum is capped at the rule's daily cap; each day's capped sum is decayed
by 0.5 ** (age in days / half-life) as of the computation's day; days older than the look-back
count nothing. Fit: the points of the fit rules the profile's contact and account match.

A full re-score reads each month of touchpoints once (a sequential scan of its partition),
two months at a time on two connections, into small unlogged tables of (profile, millionths);
then one statement sums them per profile with the fit, and the stored scores are brought up
to date where they changed. An incremental re-score runs the same SQL restricted to a few
profiles, reaching their touchpoints through the identities' index."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from marketloop.scoring.models import ScoringModel
from marketloop.scoring.sql import (
    MICRO,
    Compiled,
    Sql,
    Window,
    compile_model,
    engagement_by_profile,
    hits,
    profiles_source,
    range_source,
    use_local_days,
    window_of,
)
from marketloop.tracking.partitions import month_start, partition_name

log = logging.getLogger(__name__)

ROLLUP_LOCK = 0x73636F72  # "scor": account roll-ups take turns (see roll_up_accounts)
FULL_LOCK = 0x73636F66  # "scof": one full re-score at a time (it owns the work tables)
WORK_TABLES = ("scoring_pass_", "scoring_new_")
SUM_WORK_MEM = "256MB"
# A pass groups (profile, rule, day) by sorting: one in-memory sort of the month's rows feeds
# both groupings (per day, then per profile) in order. Hash aggregation cost 20% more CPU
# (bench/rescore.py): the planner expects a dozen rules to match each touchpoint and sizes a
# hash table for all those groups up front. The sort takes ~75 bytes a row (measured), so
# work_mem is sized from the month's row count.
PASS_BYTES_PER_ROW = 100
PASS_WORK_MEM_KB = (16 * 1024, 1024 * 1024)
MAX_MERGE_HOPS = 20


def parallel_passes() -> int:
    return max(1, int(getattr(settings, "SCORING_PARALLEL", 2)))


def _ints(values: Iterable[int]) -> list[int]:
    return sorted({int(v) for v in values})


def profile_scores(compiled: Compiled, engagement: Sql, where: Sql) -> Sql:
    """(profile_id, account_id, fit, micro) of the live profiles `where` selects, with their
    engagement (profile_id, micro) from `engagement`."""
    return (Sql("SELECT p.id AS profile_id, p.account_id, ") + compiled.fit()
            + " AS fit, COALESCE(e.micro, 0)::float8 AS micro FROM tracking_profile p "
            "LEFT JOIN crm_contact c ON c.id = p.contact_id "
            "LEFT JOIN crm_account a ON a.id = p.account_id LEFT JOIN ("
            + engagement + ") e ON e.profile_id = p.id WHERE p.merged_into_id IS NULL AND ("
            + where + ")")


def _execute(cursor, sql: Sql) -> None:
    cursor.execute(sql.text, sql.params)


# ---- accounts ------------------------------------------------------------------------------

def roll_up_accounts(compiled: Compiled, at: datetime, account_ids: list[int] | None) -> int:
    """Bring the roll-ups of `account_ids` (None: every account) up to date from the stored
    profile scores. Inside the caller's transaction; roll-ups take turns, so the last one to
    run sees every score committed before it."""
    where = Sql("true") if account_ids is None else Sql("a.id = ANY(%s::bigint[])",
                                                        [account_ids])
    scores_where = Sql("account_id IS NOT NULL") if account_ids is None else \
        Sql("account_id = ANY(%s::bigint[])", [account_ids])
    fit = compiled.fit(people=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ROLLUP_LOCK])
        _execute(cursor, (
            Sql("INSERT INTO scoring_accountscore (account_id, fit, engagement, total, profiles, "
                "computed_at) SELECT a.id, f.fit, f.micro / %s, f.fit + f.micro / %s, f.n, %s "
                "FROM crm_account a LEFT JOIN (SELECT account_id, "
                "sum(round(engagement * %s))::float8 AS micro, count(*)::int AS n "
                "FROM scoring_score WHERE ", [MICRO, MICRO, at, MICRO])
            + scores_where + Sql(" GROUP BY account_id) s ON s.account_id = a.id "
                                 "CROSS JOIN LATERAL (SELECT ") + fit
            + " AS fit, COALESCE(s.micro, 0) AS micro, COALESCE(s.n, 0) AS n) f WHERE "
            + where + " ON CONFLICT (account_id) DO UPDATE SET fit = EXCLUDED.fit, "
            "engagement = EXCLUDED.engagement, total = EXCLUDED.total, "
            "profiles = EXCLUDED.profiles, computed_at = EXCLUDED.computed_at "
            "WHERE (scoring_accountscore.fit, scoring_accountscore.engagement, "
            "scoring_accountscore.profiles) IS DISTINCT FROM "
            "(EXCLUDED.fit, EXCLUDED.engagement, EXCLUDED.profiles)"))
        changed = cursor.rowcount
        gone = Sql("") if account_ids is None else Sql(" AND s.account_id = ANY(%s::bigint[])",
                                                       [account_ids])
        _execute(cursor, Sql("DELETE FROM scoring_accountscore s WHERE NOT EXISTS (SELECT 1 "
                             "FROM crm_account a WHERE a.id = s.account_id)") + gone)
    return changed


# ---- a few profiles ------------------------------------------------------------------------

@dataclass
class Rescored:
    profile_ids: list[int]  # live profiles whose scores were (re)computed
    removed: list[int]  # absorbed or missing profiles whose scores were dropped
    account_ids: list[int]


def _resolve(cursor, profile_ids: list[int]) -> tuple[list[int], list[int]]:
    """(live, gone): the live profiles behind `profile_ids` (an absorbed one stands for its
    survivor), and the ids that are no longer live profiles."""
    live: set[int] = set()
    gone: set[int] = set()
    frontier = profile_ids
    for _ in range(MAX_MERGE_HOPS):
        if not frontier:
            break
        cursor.execute("SELECT id, merged_into_id FROM tracking_profile "
                       "WHERE id = ANY(%s::bigint[])", [frontier])
        found = dict(cursor.fetchall())
        gone |= set(frontier) - set(found)
        live |= {pk for pk, into in found.items() if into is None}
        absorbed = {pk: into for pk, into in found.items() if into is not None}
        gone |= set(absorbed)
        frontier = _ints(set(absorbed.values()) - live - gone)
    return sorted(live - gone), sorted(gone - live)


def rescore_profiles(profile_ids: Iterable[int], *, at: datetime,
                     model: ScoringModel) -> Rescored:
    """Re-score exactly these profiles (absorbed ones: drop their scores, re-score their
    survivors) and their accounts' roll-ups, in one transaction."""
    ids = _ints(profile_ids)
    compiled = compile_model(model)
    window = window_of(model, at)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL random_page_cost = 1.1")  # index lookups, as on any SSD
        use_local_days(cursor, window)
        live, gone = _resolve(cursor, ids)
        cursor.execute("SELECT DISTINCT account_id FROM scoring_score WHERE profile_id = "
                       "ANY(%s::bigint[]) AND account_id IS NOT NULL", [live + gone])
        accounts = {row[0] for row in cursor.fetchall()}
        if gone:
            cursor.execute("DELETE FROM scoring_score WHERE profile_id = ANY(%s::bigint[])",
                           [gone])
        if live:
            engagement = engagement_by_profile(
                compiled, window, hits(compiled, window, profiles_source(live)))
            scores = profile_scores(compiled, engagement,
                                    Sql("p.id = ANY(%s::bigint[])", [live]))
            _execute(cursor, Sql(
                "INSERT INTO scoring_score (profile_id, account_id, fit, engagement, total, "
                "computed_at) SELECT n.profile_id, n.account_id, n.fit, n.micro / %s, "
                "n.fit + n.micro / %s, %s FROM (", [MICRO, MICRO, at]) + scores
                + Sql(") n ON CONFLICT (profile_id) DO UPDATE SET "
                      "account_id = EXCLUDED.account_id, fit = EXCLUDED.fit, "
                      "engagement = EXCLUDED.engagement, total = EXCLUDED.total, "
                      "computed_at = EXCLUDED.computed_at "
                      "WHERE scoring_score.computed_at <= EXCLUDED.computed_at "
                      "RETURNING account_id"))
            accounts |= {row[0] for row in cursor.fetchall() if row[0] is not None}
        account_ids = sorted(accounts)
        if account_ids:
            roll_up_accounts(compiled, at, account_ids)
    return Rescored(profile_ids=live, removed=gone, account_ids=account_ids)


# ---- everyone ------------------------------------------------------------------------------

@dataclass
class FullResult:
    profiles: int  # live profiles scored
    changed: list[int]  # profiles whose stored score changed (or is new)
    removed: int
    accounts_changed: int


Progress = Callable[[str], None]


def steps_of(model: ScoringModel, at: datetime) -> int:
    """How many steps a full re-score takes: a pass per month, the sum, the roll-ups."""
    return len(window_of(model, at).months()) + 2


def rescore_everyone(*, model: ScoringModel, at: datetime,
                     step_done: Progress | None = None) -> FullResult:
    """Re-score every live profile and account as of `at`. Scores written after `at` by an
    incremental re-score are newer and stay as they are."""
    compiled = compile_model(model)
    window = window_of(model, at)
    key = uuid.uuid4().hex[:12]
    months = window.months()
    passes = [f"scoring_pass_{key}_{k}" for k in range(len(months))]
    result_table = f"scoring_new_{key}"
    started = time.monotonic()

    def done(step: str) -> None:
        log.info("scoring: %s done after %.1f s", step, time.monotonic() - started)
        if step_done is not None:
            step_done(step)

    # Inside a transaction (tests, or a caller's atomic block) other connections would not
    # see its rows: then the passes run one after the other on this connection.
    workers = 1 if connection.in_atomic_block else min(parallel_passes(), len(months))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [FULL_LOCK])
        _drop_work_tables(cursor)  # of a run that died (killed worker, lost machine)
    try:
        if workers > 1:
            pool = ThreadPoolExecutor(max_workers=workers)
            try:
                futures = [pool.submit(_pass_in_thread, compiled, window, table, lower, upper,
                                       done)
                           for table, (lower, upper) in zip(passes, months, strict=True)]
                for future in futures:
                    future.result()
            finally:  # on a failure, the months not started yet are not started at all
                pool.shutdown(wait=True, cancel_futures=True)
        else:
            for table, (lower, upper) in zip(passes, months, strict=True):
                with transaction.atomic(), connection.cursor() as cursor:
                    _run_pass(cursor, compiled, window, table, lower, upper)
                done(f"month {lower:%Y-%m}")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{SUM_WORK_MEM}'")
            # Each parallel worker would see nearly every profile: partial sums save nothing
            # and the merge of their sorted halves costs more than one hash (measured).
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            union = Sql(" UNION ALL ".join(f"SELECT profile_id, micro FROM {t}" for t in passes)
                        or "SELECT NULL::bigint AS profile_id, 0::float8 AS micro")
            engagement = Sql("SELECT profile_id, sum(micro) AS micro FROM (") + union + \
                ") u GROUP BY profile_id"
            _execute(cursor, Sql(f"CREATE UNLOGGED TABLE {result_table} AS ")
                     + profile_scores(compiled, engagement, Sql("true")))
            cursor.execute(f"ALTER TABLE {result_table} ADD PRIMARY KEY (profile_id)")
            cursor.execute(f"ANALYZE {result_table}")
            cursor.execute(f"SELECT count(*) FROM {result_table}")
            profiles = cursor.fetchone()[0]
        done("sum")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{SUM_WORK_MEM}'")
            changed, removed = _store(cursor, result_table, at)
            accounts_changed = roll_up_accounts(compiled, at, None)
        done("accounts")
    finally:
        with connection.cursor() as cursor:
            for table in [*passes, result_table]:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute("SELECT pg_advisory_unlock(%s)", [FULL_LOCK])
    return FullResult(profiles=profiles, changed=changed, removed=removed,
                      accounts_changed=accounts_changed)


def _drop_work_tables(cursor) -> None:
    cursor.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND (" + " OR ".join(
        "starts_with(relname, %s)" for _ in WORK_TABLES) + ")", list(WORK_TABLES))
    for (name,) in cursor.fetchall():
        cursor.execute(f'DROP TABLE IF EXISTS "{name}"')


def _pass_work_mem(cursor, lower: datetime, upper: datetime) -> None:
    """Size the pass's work_mem from the statistics of the partitions it reads."""
    months = {month_start(lower.astimezone(UTC)),
              month_start((upper - timedelta(microseconds=1)).astimezone(UTC))}
    cursor.execute("SELECT coalesce(sum(greatest(reltuples, 0)), 0) FROM pg_class "
                   "WHERE relname = ANY(%s)", [[partition_name(m) for m in months]])
    rows = cursor.fetchone()[0] or 0
    low, high = PASS_WORK_MEM_KB
    kb = min(max(int(rows * PASS_BYTES_PER_ROW / 1024), low), high)
    cursor.execute(f"SET LOCAL work_mem = '{kb}kB'")


def pass_query(cursor, compiled: Compiled, window: Window, lower: datetime,
               upper: datetime) -> Sql:
    """The query of one month's pass, with its settings made in the caller's transaction."""
    use_local_days(cursor, window)
    _pass_work_mem(cursor, lower, upper)
    cursor.execute("SET LOCAL enable_hashagg = off")
    # Expecting a dozen matches per touchpoint, the planner would rather walk every identity
    # in profile order and fetch its touchpoints by index (no sort) than sort what a
    # sequential scan reads: six times slower at a million profiles (bench/rescore.py). A
    # month is read with a sequential scan, the few hours of the neighbouring partition
    # with a bitmap scan.
    cursor.execute("SET LOCAL enable_indexscan = off")
    cursor.execute("SET LOCAL enable_indexonlyscan = off")
    return engagement_by_profile(
        compiled, window, hits(compiled, window, range_source(), lower, upper))


def _run_pass(cursor, compiled: Compiled, window: Window, table: str, lower: datetime,
              upper: datetime) -> None:
    engagement = pass_query(cursor, compiled, window, lower, upper)
    _execute(cursor, Sql(f"CREATE UNLOGGED TABLE {table} AS ") + engagement)


def _pass_in_thread(compiled: Compiled, window: Window, table: str, lower: datetime,
                    upper: datetime, done: Progress) -> None:
    """One month on this thread's own connection. The passes already use every core between
    them, so each runs without parallel workers of its own."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            _run_pass(cursor, compiled, window, table, lower, upper)
        done(f"month {lower:%Y-%m}")
    finally:
        connection.close()


def _store(cursor, table: str, at: datetime) -> tuple[list[int], int]:
    """Write the new scores where they differ from the stored ones; drop the scores of
    profiles that are gone. Rows an incremental re-score wrote after `at` are left alone."""
    # Planned with an empty scoring_score's statistics, the anti-join of the insert became a
    # nested loop reading the table (which grows as it inserts) once per new row: quadratic.
    # Whole-table joins here are hash joins.
    cursor.execute("ANALYZE scoring_score")
    cursor.execute("SET LOCAL enable_nestloop = off")
    values = ("account_id = n.account_id, fit = n.fit, engagement = n.micro / %s, "
              "total = n.fit + n.micro / %s, computed_at = %s")
    cursor.execute(
        f"UPDATE scoring_score s SET {values} FROM {table} n "
        "WHERE s.profile_id = n.profile_id AND s.computed_at <= %s AND (s.account_id IS "
        "DISTINCT FROM n.account_id OR s.fit <> n.fit OR s.engagement <> n.micro / %s) "
        "RETURNING s.profile_id", [MICRO, MICRO, at, at, MICRO])
    changed = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        "INSERT INTO scoring_score (profile_id, account_id, fit, engagement, total, "
        "computed_at) SELECT n.profile_id, n.account_id, n.fit, n.micro / %s, "
        f"n.fit + n.micro / %s, %s FROM {table} n WHERE NOT EXISTS (SELECT 1 FROM "
        "scoring_score s WHERE s.profile_id = n.profile_id) ON CONFLICT (profile_id) "
        "DO NOTHING RETURNING profile_id", [MICRO, MICRO, at])
    changed += [row[0] for row in cursor.fetchall()]
    cursor.execute(
        f"DELETE FROM scoring_score s WHERE s.computed_at <= %s AND NOT EXISTS (SELECT 1 "
        f"FROM {table} n WHERE n.profile_id = s.profile_id)", [at])
    return changed, cursor.rowcount
