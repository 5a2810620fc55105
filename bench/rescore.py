"""Benchmark: a full re-score of every profile, through the service the background job runs.

Builds (once per size, reused afterwards) P profiles (default 1,000,000) with their identities,
the accounts and contacts some of them belong to, and T touchpoints (default 20,000,000) spread
over the last 12 months, all by COPY; the generation time is reported separately. Then it times
`scoring.services.run_rescore` (what the `scoring.rescore_everyone` job calls) with the default
scoring model:

    first     no stored scores yet: every profile's score is written
    again     the same day: nothing changed, nothing is written
    next_day  as of a day later (the nightly run): decay moves every engaged profile's score

Target on this 2-core machine: each under 120 s at 1,000,000 profiles and 20,000,000
touchpoints. Prints ONE JSON line on stdout; progress and EXPLAIN output go to stderr.

    python bench/rescore.py                       # 1M profiles, 20M touchpoints
    python bench/rescore.py --quick               # 20,000 profiles, 400,000 touchpoints
    python bench/rescore.py --profiles 200000 --touchpoints 4000000

It runs on its own embedded PostgreSQL in ./var/bench-rescore-<profiles> (DATABASE_URL is
ignored), never on a developer's database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 120.0
SEED = 20261126
ACCOUNTS_PER_PROFILE = 0.05  # 50,000 accounts for a million profiles
CONTACTS_PER_PROFILE = 0.3  # three in ten profiles are known CRM contacts
EMAIL_IDENTITIES = 0.2  # and one in five has an email identity beside its anonymous id
ABSORBED_PER_PROFILE = 0.01  # profiles merged into others earlier (they score nothing)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def isolate(profiles: int) -> Path:
    data = ROOT / "var" / f"bench-rescore-{profiles}"
    data.mkdir(parents=True, exist_ok=True)
    os.environ["MARKETLOOP_DATA"] = str(data)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MARKETLOOP_EMBEDDED_OWNER", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "marketloop.settings"
    os.environ.setdefault("MARKETLOOP_LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(ROOT))
    return data


def postgres_cpu(data: Path) -> float:
    """CPU seconds of the embedded PostgreSQL: the postmaster, its live processes, and the
    processes that exited (a backend's time is added to the postmaster's when it ends)."""
    import psutil

    try:
        pid = int((data / "pgdata" / "postmaster.pid").read_text().split()[0])
        root = psutil.Process(pid)
        times = root.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in root.children():
            try:
                times = child.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
        return total
    except (OSError, ValueError, IndexError, psutil.Error):
        return 0.0


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all processes, all cores)."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def load_now(seconds: float = 1.0) -> float:
    before = machine_busy()
    time.sleep(seconds)
    return round(100 * (machine_busy() - before) / (seconds * (os.cpu_count() or 1)), 1)


# --- the data ------------------------------------------------------------------------------

SITE = "https://www.yunzhi-soft.cn"
PAGES = [  # path, title, weight
    ("/", "云智软件 - 企业数字化转型伙伴", 20), ("/products/erp", "云智ERP 产品介绍", 10),
    ("/products/crm", "云智CRM 客户关系管理", 8), ("/products/bi", "数据分析与商业智能", 6),
    ("/solutions/manufacturing", "制造业解决方案", 6), ("/pricing", "价格与版本", 6),
    ("/cases", "客户案例", 5), ("/cases/sany", "案例: 智能制造工厂上线云智ERP", 3),
    ("/resources/whitepapers", "白皮书下载", 3), ("/blog/data-platform", "如何建设企业数据中台", 6),
    ("/trial", "免费试用申请", 2), ("/careers", "加入我们", 2), ("/about", "关于云智", 3),
    ("/contact", "联系我们", 2), ("/docs/getting-started", "快速入门", 4),
]
KINDS = [  # kind, weight
    ("page", 70), ("track", 6), ("download", 4), ("form", 2), ("email_open", 9),
    ("email_click", 4), ("identify", 2), ("call", 1), ("event", 1), ("visit", 1),
]
TRACK_EVENTS = ["Video Played", "Button Clicked", "Product Compared", "Trial Requested",
                "Webinar Registered"]
FILES = [("/cases/sany", "制造业数字化案例集.pdf"), ("/resources/whitepapers", "云智ERP白皮书.pdf"),
         ("/products/crm", "CRM产品手册.pdf")]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.47",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
]
REFERRERS = ["", "", "https://www.baidu.com/s?wd=ERP%E8%BD%AF%E4%BB%B6",
             "https://mp.weixin.qq.com/s/Xk3vQ9", SITE + "/"]
TITLES = ["CIO", "信息中心主任", "IT经理", "采购经理", "工程师", "财务总监", "实习生", "总经理",
          "CTO", "运维工程师", "销售代表", ""]
TIERS = [("hq_strategic", 1), ("regional_strategic", 4), ("regional_key", 15), ("ordinary", 80)]
BANDS = ["micro", "small", "medium", "large", "xlarge", ""]


def _weighted(rng: random.Random, pairs: list[tuple[Any, int]]) -> Any:
    return rng.choices([p[0] for p in pairs], [p[1] for p in pairs])[0]


def _copy_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def touchpoint_tails(rng: random.Random, count: int, source_id: int) -> list[str]:
    """Distinct touchpoint rows after (occurred_at, identity_id, message_id, received_at):
    source, kind, event, url, title, referrer, keyword, utm x3, properties, context."""
    tails = []
    for _ in range(count):
        kind = _weighted(rng, KINDS)
        path, title, _w = rng.choices(PAGES, [p[2] for p in PAGES])[0]
        url, event, properties = SITE + path, "", {}
        utm = ("", "", "")
        if rng.random() < 0.15:
            utm = ("baidu", "cpc", "2026-erp-spring")
            url += "?utm_source=baidu&utm_medium=cpc&utm_campaign=2026-erp-spring"
        if kind == "page":
            properties = {"path": path, "url": url, "title": title}
        elif kind == "track":
            event = rng.choice(TRACK_EVENTS)
            properties = {"category": "engagement", "label": title}
        elif kind == "download":
            path, file = rng.choice(FILES)
            url, event = SITE + path, "File Downloaded"
            properties = {"file_name": file, "url": url}
        elif kind == "form":
            event = "Form Submitted"
            properties = {"form_id": rng.choice(["trial", "contact", "summit"])}
        elif kind in {"email_open", "email_click"}:
            event = "Email Opened" if kind == "email_open" else "Email Link Clicked"
            properties = {"mailing": "crm-edm-0312", "touchpoint_kind": kind}
            url = "" if kind == "email_open" else url
            title = ""
        elif kind == "identify":
            properties = {"company": "华南精密制造有限公司"}
            url, title = "", ""
        else:
            event = {"call": "Hotline Call", "event": "Event Attended",
                     "visit": "Sales Visit"}[kind]
            properties = {"touchpoint_kind": kind}
            url, title = "", ""
        context = {"ip": f"113.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                   "library": {"name": "analytics.js", "version": "next-1.70.0"},
                   "locale": "zh-CN", "userAgent": rng.choice(AGENTS)}
        if url:
            context["page"] = {"path": path, "url": url, "title": title,
                               "referrer": rng.choice(REFERRERS)}
        referrer = context.get("page", {}).get("referrer", "")
        keyword = "ERP软件" if "baidu" in referrer else ""
        fields = [str(source_id), kind, event, url, title, referrer, keyword, *utm,
                  json.dumps(properties, ensure_ascii=False),
                  json.dumps(context, ensure_ascii=False)]
        tails.append("\t" + "\t".join(_copy_text(f) for f in fields) + "\n")
    return tails


def build(url: str, *, profiles: int, touchpoints: int, months: int = 12) -> dict[str, Any]:
    """Generate the data set by COPY over one psycopg connection; returns its figures."""
    import psycopg

    from marketloop.org.models import OrgUnit, UnitKind
    from marketloop.tracking.models import Source, SourceKind
    from marketloop.tracking.partitions import ensure_partitions, months_around

    rng = random.Random(SEED)
    now = datetime.now(UTC)
    ensure_partitions(months_around(now.date(), before=months + 1, after=1))
    source = Source.objects.create(name="bench rescore", kind=SourceKind.SERVER)
    provinces = list(OrgUnit.objects.filter(kind=UnitKind.PROVINCE).values_list("id", flat=True))
    sales = dict(OrgUnit.objects.filter(code__endswith="-sales").values_list("province_id", "id"))
    marketing = OrgUnit.objects.get(code="hq-marketing").id
    from marketloop.crm.models import Industry

    industries = list(Industry.objects.values_list("id", flat=True))
    n_accounts = max(1, int(profiles * ACCOUNTS_PER_PROFILE))
    n_contacts = int(profiles * CONTACTS_PER_PROFILE)
    n_absorbed = int(profiles * ABSORBED_PER_PROFILE)
    stamp = now.isoformat()
    started = time.monotonic()
    conn = psycopg.connect(url, autocommit=True)
    with conn:
        conn.execute("DROP INDEX IF EXISTS tracking_touchpoint_identity")
        account_units: list[tuple[int, int]] = []
        with conn.cursor().copy(
                "COPY crm_account (id, name, credit_code, revenue_band, tier, tier_reason, "
                "name_grams, created_at, updated_at, owner_unit_id, province_id, industry_id) "
                "FROM STDIN") as copy:
            for a in range(1, n_accounts + 1):
                province = rng.choice(provinces)
                unit = sales.get(province, marketing)
                account_units.append((unit, province))
                copy.write(f"{a}\t基准客户{a}有限公司\t\t{rng.choice(BANDS)}\t"
                           f"{_weighted(rng, TIERS)}\t\t{{}}\t{stamp}\t{stamp}\t{unit}\t"
                           f"{province}\t{rng.choice(industries)}\n")
        contact_accounts = [rng.randrange(1, n_accounts + 1) for _ in range(n_contacts)]
        with conn.cursor().copy(
                "COPY crm_contact (id, name, title, is_management, email, mobile, created_at, "
                "updated_at, account_id, owner_unit_id) FROM STDIN") as copy:
            for c, account in enumerate(contact_accounts, start=1):
                title = rng.choice(TITLES)
                management = "t" if title in {"CIO", "CTO", "总经理", "财务总监"} else "f"
                copy.write(f"{c}\t联系人{c}\t{title}\t{management}\t\t\t{stamp}\t{stamp}\t"
                           f"{account}\t{account_units[account - 1][0]}\n")
        # Profiles 1..P are live; the first N_contacts are the contacts' (same ids).
        with conn.cursor().copy(
                "COPY tracking_profile (id, traits, first_seen, last_seen, contact_id, "
                "account_id, merged_into_id, owner_unit_id) FROM STDIN") as copy:
            for p in range(1, profiles + n_absorbed + 1):
                contact, account, merged, unit = "\\N", "\\N", "\\N", marketing
                if p <= n_contacts:
                    contact, account = p, contact_accounts[p - 1]
                    unit = account_units[account - 1][0]
                elif p > profiles:
                    merged = rng.randrange(1, profiles + 1)
                copy.write(f"{p}\t{{}}\t{stamp}\t{stamp}\t{contact}\t{account}\t{merged}\t"
                           f"{unit}\n")
        # Identity p is profile p's anonymous id; some profiles have an email identity too.
        email_of: list[int] = []
        with conn.cursor().copy(
                "COPY tracking_identity (id, kind, value, shared, shared_reason, first_seen, "
                "last_seen, profile_id) FROM STDIN") as copy:
            for p in range(1, profiles + 1):
                copy.write(f"{p}\tanonymous\tanon-{p:08d}\tf\t\t{stamp}\t{stamp}\t{p}\n")
            next_id = profiles + 1
            for p in range(1, profiles + 1):
                if rng.random() < EMAIL_IDENTITIES:
                    copy.write(f"{next_id}\temail\tperson{p}@corp{p % 997}.cn\tf\t\t{stamp}\t"
                               f"{stamp}\t{p}\n")
                    email_of.append(next_id)
                    next_id += 1
                else:
                    email_of.append(0)
        for table in ("crm_account", "crm_contact", "tracking_profile", "tracking_identity"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT max(id) FROM {table}))")
        people_s = time.monotonic() - started
        log(f"  {n_accounts:,} accounts, {n_contacts:,} contacts, {profiles:,} profiles "
            f"(+{n_absorbed:,} absorbed) and their identities in {people_s:.1f} s")

        tails = touchpoint_tails(rng, 4000, source.id)
        span = months * 30 * 86400
        first = now - timedelta(seconds=span)
        day0 = first.date()
        days = [(day0 + timedelta(days=d)).isoformat() + " " for d in range(months * 31 + 2)]
        clock = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(86400)]
        base = int(first.timestamp()) - int(datetime.combine(day0, datetime.min.time(),
                                                             UTC).timestamp())
        step = span / touchpoints
        random_ = rng.random
        with conn.cursor().copy(
                "COPY tracking_touchpoint (occurred_at, identity_id, message_id, received_at, "
                "source_id, kind, event, url, title, referrer, keyword, utm_source, "
                "utm_medium, utm_campaign, properties, context) FROM STDIN") as copy:
            lines: list[str] = []
            for i in range(touchpoints):
                second = base + int(i * step)
                ts = days[second // 86400] + clock[second % 86400]
                # Busy people come back often (skewed towards low ids), most rarely.
                p = int(profiles * random_() ** 1.7) + 1
                identity = email_of[p - 1] if email_of[p - 1] and random_() < 0.4 else p
                lines.append(f"{ts}\t{identity}\tb{i}\t{ts}{tails[int(random_() * 4000)]}")
                if len(lines) == 20_000:
                    copy.write("".join(lines))
                    lines.clear()
                    if i % 2_000_000 < 20_000:
                        log(f"    {i:,} touchpoints ({time.monotonic() - started:.0f} s)")
            copy.write("".join(lines))
        copy_s = time.monotonic() - started - people_s
        log(f"  {touchpoints:,} touchpoints in {copy_s:.1f} s; indexing ...")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("CREATE INDEX tracking_touchpoint_identity ON tracking_touchpoint "
                     "(identity_id, occurred_at DESC)")
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
        size = conn.execute(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits "
            "WHERE inhparent = 'tracking_touchpoint'::regclass").fetchone()[0]
    seconds = time.monotonic() - started
    log(f"  indexed and analysed; {seconds:.0f} s in all, touchpoints take {size}")
    return {"seconds": round(seconds, 1), "touchpoint_size": size, "accounts": n_accounts,
            "contacts": n_contacts, "absorbed_profiles": n_absorbed}


def ensure_data(url: str, profiles: int, touchpoints: int) -> dict[str, Any] | None:
    """Build the data set unless this directory already holds one of this size."""
    from django.core.management import call_command
    from django.db import connection

    from marketloop.crm.reference import ensure_reference_data
    from marketloop.org.standard import ensure_standard_org

    call_command("migrate", "--no-input", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tracking_profile WHERE merged_into_id IS NULL")
        have_profiles = cursor.fetchone()[0]
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = "
                       "'tracking_touchpoint_identity'")
        row = cursor.fetchone()
    if have_profiles == profiles and row:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM tracking_touchpoint")
            if cursor.fetchone()[0] == touchpoints:
                log(f"Reusing the data set: {profiles:,} profiles, {touchpoints:,} touchpoints.")
                return None
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tracking_touchpoint, tracking_identity, tracking_profile, "
                       "crm_contact, crm_account, scoring_score, scoring_accountscore, "
                       "scoring_rescorerun, tracking_source RESTART IDENTITY CASCADE")
    ensure_reference_data()
    ensure_standard_org()
    log(f"Building the data set: {profiles:,} profiles, {touchpoints:,} touchpoints (once).")
    return build(url, profiles=profiles, touchpoints=touchpoints)


# --- the runs ------------------------------------------------------------------------------

class StepLog:
    """Collects the engine's step messages (logged at INFO) with their times."""

    def __init__(self) -> None:
        import logging

        self.steps: dict[str, float] = {}
        self.handler = logging.Handler()
        self.handler.emit = self.emit  # type: ignore[method-assign]
        self.logger = logging.getLogger("marketloop.scoring.engine")

    def emit(self, record: Any) -> None:
        step, seconds = record.args
        self.steps[step] = round(seconds, 1)

    def __enter__(self) -> StepLog:
        self.logger.addHandler(self.handler)
        self.previous = (self.logger.level, self.logger.propagate)
        self.logger.setLevel("INFO")
        self.logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self.handler)
        self.logger.setLevel(self.previous[0])
        self.logger.propagate = self.previous[1]


def timed_run(label: str, data: Path, at: datetime | None = None) -> dict[str, Any]:
    """One full re-score through the service the job calls (as of `at`: a later day)."""
    from marketloop.scoring import services
    from marketloop.scoring.models import RescoreRun

    run = RescoreRun.objects.create(cause=f"bench: {label}")
    busy, pg, ours = machine_busy(), postgres_cpu(data), time.process_time()
    started = time.perf_counter()
    with StepLog() as steps:
        services.run_rescore(run_id=run.pk, at=at)
    seconds = time.perf_counter() - started
    cpu = {"postgres": round(postgres_cpu(data) - pg, 1),
           "python": round(time.process_time() - ours, 1)}
    busy_s = machine_busy() - busy
    cpu["others"] = round(max(busy_s - cpu["postgres"] - cpu["python"], 0.0), 1)
    busy_pct = round(100 * busy_s / (seconds * (os.cpu_count() or 1)), 1)
    run.refresh_from_db()
    log(f"  {label}: {seconds:.1f} s, {run.profiles:,} profiles, {run.changed:,} changed; "
        f"CPU s {cpu}, machine {busy_pct}% busy; steps (s since start) {steps.steps}")
    assert run.status == RescoreRun.Status.DONE, run.error
    return {"seconds": round(seconds, 1), "profiles": run.profiles, "changed": run.changed,
            "cpu_s": cpu, "machine_busy_pct": busy_pct, "steps": steps.steps}


def explain_pass() -> str:
    """EXPLAIN ANALYZE of one month's pass as the full re-score runs it, to stderr."""
    from django.db import connection, transaction
    from django.utils import timezone

    from marketloop.scoring import engine
    from marketloop.scoring import sql as scoring_sql
    from marketloop.scoring.services import model_in_force

    model = model_in_force()
    compiled = scoring_sql.compile_model(model)
    window = scoring_sql.window_of(model, timezone.now())
    lower, upper = window.months()[len(window.months()) // 2]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        query = engine.pass_query(cursor, compiled, window, lower, upper)
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query.text, query.params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    log(f"\n--- EXPLAIN ANALYZE of the pass over {lower:%Y-%m} ---\n{plan}\n")
    return plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="20,000 profiles and 400,000 touchpoints")
    parser.add_argument("--profiles", type=int, default=None)
    parser.add_argument("--touchpoints", type=int, default=None)
    parser.add_argument("--no-explain", action="store_true")
    args = parser.parse_args()
    profiles = args.profiles or (20_000 if args.quick else 1_000_000)
    touchpoints = args.touchpoints or (400_000 if args.quick else 20_000_000)
    data = isolate(profiles)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    from marketloop.cli import _setup_django

    _setup_django()
    from django.db import connection

    url = os.environ["DATABASE_URL"]
    built = ensure_data(url, profiles, touchpoints)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE scoring_score, scoring_accountscore")
        cursor.execute("CHECKPOINT")
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
    plan = None if args.no_explain else explain_pass()
    load_before = load_now()
    if load_before > 15:
        log(f"WARNING: the machine is already {load_before}% busy with other work.")
    from django.utils import timezone

    runs = {"first": timed_run("first", data), "again": timed_run("again", data),
            "next_day": timed_run("next_day", data, at=timezone.now() + timedelta(days=1))}
    worst = max(r["seconds"] for r in runs.values())
    out = {
        "bench": "rescore",
        "profiles": profiles,
        "touchpoints": touchpoints,
        "built": built,
        "runs": runs,
        "target_seconds": TARGET_SECONDS,
        "target_scale": {"profiles": 1_000_000, "touchpoints": 20_000_000},
        "ok": worst < TARGET_SECONDS,
        "machine": {"cpus": os.cpu_count(), "busy_before_pct": load_before,
                    "python": platform.python_version(), "shared_buffers": shared_buffers},
    }
    if plan:
        out["pass_plan_top"] = plan.splitlines()[0][:160]
    if (profiles, touchpoints) != (1_000_000, 20_000_000):
        out["note"] = ("smaller than the target's scale: ok says whether this size is under "
                       "the target; a full re-score is linear in touchpoints and profiles")
    print(json.dumps(out, ensure_ascii=False, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
