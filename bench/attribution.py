"""Benchmark: a full attribution run (all seven models, every stage) over 100,000
opportunities and 5,000,000 activity touchpoints.

The data is built in SQL (generate_series, seeded): 1,000 activities in eight quarterly plans,
50,000 accounts with four people each (profiles and identities), 5,000,000 touchpoints attached
to activities (campaigns_activitytouch, what the engine reads: the wide touchpoint table itself
is not needed) over the last 900 days with a skew towards some activities, 150,000 leads (all
reach lead, ~70% MQL, ~80% of those SAL), 100,000 of them with an opportunity at their account
(30% won, 40% lost, 30% open, 50,000 to 5,000,000 CNY).

It times `attribution.services.run_attribution` — what the job runs: read the touches and
conversions (COPY into numpy), cut every journey to the look-back window (180 days), the Markov
removal effects per stage, the seven models for lead, MQL, SAL, pipeline and won, and replacing
the stored credit — and checks that the stored credit of every model and stage sums to exactly
the conversions. Prints ONE JSON line on stdout; the target is < 30 s.

    python bench/attribution.py            # the full size in ./var/bench-attribution
    python bench/attribution.py --quick    # 2,000 opportunities, 100,000 touchpoints

It runs on its own embedded PostgreSQL in that directory (DATABASE_URL is ignored). The data is
built on the first run and reused afterwards (--rebuild builds it again).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 30.0
FULL = {"opportunities": 100_000, "touches": 5_000_000, "activities": 1_000, "accounts": 50_000}
QUICK = {"opportunities": 2_000, "touches": 100_000, "activities": 200, "accounts": 1_000}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def isolate(quick: bool) -> Path:
    data = ROOT / "var" / ("bench-attribution-quick" if quick else "bench-attribution")
    data.mkdir(parents=True, exist_ok=True)
    os.environ["MARKETLOOP_DATA"] = str(data)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MARKETLOOP_EMBEDDED_OWNER", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "marketloop.settings"
    os.environ.setdefault("MARKETLOOP_LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(ROOT))
    return data


def insert_select(model: Any, given: dict[str, str], source: str,
                  params: list[Any] | None = None) -> int:
    """INSERT INTO model's table SELECT `given` column expressions FROM `source`; every other
    NOT NULL column gets its field default (so columns added later need no change here)."""
    from django.db import connection

    columns, expressions, values = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and field.column not in given:
            continue
        columns.append(field.column)
        if field.column in given:
            expressions.append(given[field.column])
        elif field.null:
            expressions.append("NULL")
        else:
            default = field.get_default()
            default = default.value if hasattr(default, "value") else default
            db_type = field.db_type(connection)
            expressions.append(f"%s::{db_type}")
            values.append(json.dumps(default) if db_type == "jsonb" else default)
    sql = (f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "
           f"SELECT {', '.join(expressions)} FROM {source}")
    with connection.cursor() as cursor:
        cursor.execute(sql, values + list(params or []))
        return cursor.rowcount


def build(size: dict[str, int]) -> float:
    from django.db import connection, transaction
    from django.utils import timezone

    from marketloop.campaigns.models import Activity, ActivityTouch, MarketingPlan
    from marketloop.crm.models import Account
    from marketloop.crm.reference import ensure_reference_data
    from marketloop.leads.models import Lead
    from marketloop.org.models import OrgUnit, Role, User
    from marketloop.org.standard import ensure_standard_org
    from marketloop.sales.models import Opportunity
    from marketloop.tracking.models import Identity, Profile

    started = time.monotonic()
    now = timezone.now()
    ensure_reference_data()
    ensure_standard_org()
    hq = OrgUnit.objects.get(code="hq-marketing")
    owner = User.objects.create(username="bench.marketer", display_name="bench", unit=hq,
                                roles=[Role.MARKETER], password="!")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.2026)")
        plans = []
        for q in range(8):
            start = now - timedelta(days=900 - q * 91)
            plans.append(MarketingPlan.objects.create(
                name=f"Bench plan {q}", year=start.year, quarter=(start.month - 1) // 3 + 1 + 0,
                owner_unit=OrgUnit.objects.filter(kind__in=["province", "region", "hq"])
                .order_by("id")[q], owner=owner, budget=10_000_000))
        kinds = ["conference", "edm", "magazine", "salon", "course", "forum", "webinar",
                 "article", "social", "search_ad", "hotline", "other"]
        levels = ["company", "region", "customer_group"]
        span = 900 / size["activities"]  # activities start one after another over 900 days
        Activity.objects.bulk_create([Activity(
            plan=plans[min(int(i * span) // 113, 7)], code=f"bench-{i:05d}",
            name=f"Bench activity {i}", kind=kinds[i % len(kinds)], level=levels[i % 3],
            owner_unit=hq, starts_on=(now - timedelta(days=900 - i * span)).date(),
            ends_on=(now - timedelta(days=900 - i * span - 30)).date())
            for i in range(size["activities"])])
        log(f"  {size['activities']:,} activities")
        unit = "(SELECT id FROM org_orgunit WHERE code = 'gd-sales')"
        insert_select(Account, {"name": "'Bench account ' || g", "owner_unit_id": unit,
                                "province_id": "(SELECT id FROM org_orgunit WHERE code = 'gd')",
                                "industry_id": "(SELECT min(id) FROM crm_industry)"},
                      f"generate_series(1, {size['accounts']}) g")
        cursor.execute("SELECT min(id) FROM crm_account")
        first_account = cursor.fetchone()[0]
        people = size["accounts"] * 4
        insert_select(Profile, {"account_id": f"{first_account} + (g - 1) / 4"},
                      f"generate_series(1, {people}) g")
        cursor.execute("SELECT min(id) FROM tracking_profile")
        first_profile = cursor.fetchone()[0]
        insert_select(Identity, {"kind": "'anonymous'", "value": "'bench-' || g",
                                 "profile_id": f"{first_profile} + g - 1"},
                      f"generate_series(1, {people}) g")
        cursor.execute("SELECT min(id) FROM tracking_identity")
        first_identity = cursor.fetchone()[0]
        log(f"  {size['accounts']:,} accounts, {people:,} people")
        cursor.execute("SELECT min(id) FROM campaigns_activity")
        first_activity = cursor.fetchone()[0]
        # Some activities draw far more touches than others (a skewed pick, scattered over
        # the list); each activity's touches fall in the 60 days after it starts.
        activities = size["activities"]
        insert_select(ActivityTouch, {
            "touchpoint_id": "g",
            "occurred_at": f"now() - interval '900 days' + (b * {900 / activities}) "
                           "* interval '1 day' + random() * interval '60 days'",
            "identity_id": f"{first_identity} + floor(random() * {people})::bigint",
            "activity_id": f"{first_activity} + b", "kind": "'page'", "how": "'utm'"},
            f"(SELECT g, mod(floor({activities} * power(random(), 2))::bigint * 7919, "
            f"{activities}) AS b FROM generate_series(1, {size['touches']}) g) s")
        log(f"  {size['touches']:,} touchpoints attached to activities")
        leads = size["opportunities"] * 3 // 2
        lead_at = "now() - interval '30 days' - random() * interval '800 days'"
        insert_select(Lead, {
            "name": "'Bench lead ' || g", "stage": "'sql'",
            "profile_id": f"{first_profile} + mod(g * 7919, {people})",  # one lead a person
            "owner_unit_id": unit, "created_at": "t", "lead_at": "t",
            "mql_at": "CASE WHEN r < 0.7 THEN t + interval '5 days' END",
            "sal_at": "CASE WHEN r < 0.56 THEN t + interval '8 days' END",
            "updated_at": "t"},
            f"(SELECT g, {lead_at} AS t, random() AS r "
            f"FROM generate_series(1, {leads}) g) s")
        cursor.execute("SELECT min(id) FROM leads_lead")
        first_lead = cursor.fetchone()[0]
        insert_select(Opportunity, {
            "account_id": "p.account_id", "lead_id": "l.id", "name": "'Bench deal ' || l.id",
            "amount": "a", "amount_cny": "a", "currency": "'CNY'",
            "stage": "CASE WHEN r < 0.3 THEN 'won' WHEN r < 0.7 THEN 'lost' "
                     "ELSE 'negotiation' END",
            "expected_close": "(l.lead_at + interval '90 days')::date",
            "closed_at": "CASE WHEN r < 0.7 THEN l.lead_at + interval '60 days' END",
            "owner_unit_id": unit, "created_at": "l.lead_at + interval '15 days'",
            "updated_at": "l.lead_at + interval '15 days'"},
            "(SELECT l.*, random() AS r, round((50000 + random() * 4950000)::numeric, 2) AS a "
            f"FROM leads_lead l WHERE l.id < {first_lead} + {size['opportunities']}) l "
            "JOIN tracking_profile p ON p.id = l.profile_id")
        log(f"  {leads:,} leads, {size['opportunities']:,} opportunities")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.monotonic() - started


def check_sums() -> dict[str, Any]:
    """Per stage: conversions and amount, and for every model the stored totals."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT stage, model, sum(credit), sum(amount) "
                       "FROM campaigns_activitycredit GROUP BY stage, model")
        rows = cursor.fetchall()
    totals: dict[str, set] = {}
    for stage, _model, credit, amount in rows:
        totals.setdefault(stage, set()).add((int(credit), str(amount)))
    return {stage: len(values) == 1 for stage, values in totals.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small size, in seconds")
    parser.add_argument("--rebuild", action="store_true", help="build the data again")
    args = parser.parse_args()
    data_dir = isolate(args.quick)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_start = os.getloadavg()
    size = QUICK if args.quick else FULL

    from marketloop.cli import _setup_django

    _setup_django()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)
    from marketloop.campaigns.attribution import services
    from marketloop.campaigns.models import ActivityTouch, AttributionRun
    from marketloop.org.models import User

    built = None
    if args.rebuild or not User.objects.filter(username="bench.marketer").exists():
        if args.rebuild:
            log("Rebuilding: drop the data directory's database to start clean.")
            call_command("flush", "--no-input", verbosity=0)
        log("Building the data set ...")
        built = round(build(size), 1)
        log(f"Built in {built} s.")
    touches = ActivityTouch.objects.count()
    runs = []
    figures: dict[str, Any] = {}
    for _ in range(2):
        run = AttributionRun.objects.create(reason="bench")
        started = time.monotonic()
        run = services.run_attribution(run_id=run.pk)
        runs.append(round(time.monotonic() - started, 2))
        figures = run.figures
    sums_ok = check_sums()
    result = {
        "bench": "attribution",
        "quick": args.quick,
        "opportunities": size["opportunities"],
        "touchpoints": touches,
        "activities": size["activities"],
        "models": 7,
        "stages": figures.get("stages"),
        "seconds": runs,
        "phases": {k: figures.get(k) for k in ("load_seconds", "compute_seconds",
                                                "store_seconds")},
        "credits_add_up": all(sums_ok.values()) and bool(sums_ok),
        "built_seconds": built,
        "target_seconds": TARGET_SECONDS,
        "ok": max(runs) < TARGET_SECONDS and all(sums_ok.values()),
        "loadavg_before": [round(x, 2) for x in load_start],
        "data": str(data_dir),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
