"""Benchmark: Segment events through the tracking API, against a raw COPY of the same rows.

Sends N spec events (default 1,000,000) as /v1/batch requests of ~500 events with C concurrent
keep-alive clients (default 8) to gunicorn (2 gthread workers x 4 threads, as `marketloop run`)
while the background worker (`marketloop worker`) turns the inbox into touchpoints. Then, with
the web server and worker stopped, it COPYs the same N rows (processing.COPY_COLUMNS, one
identity id per row) with psycopg's `cursor.copy()` / `write_row` into a fresh copy of
tracking_touchpoint (same columns, partitions and indexes), and into an unindexed plain table.

    accepted events/s   N / (first request sent -> last 200 received)
    processed events/s  N / (first request sent -> all N touchpoints stored, inbox empty)
    copy events/s       N / (one COPY of the N rows, committed)

Target on a 2-core machine: accepted >= 0.5 and processed >= 0.25 of the raw COPY rate.
Afterwards (unless --no-profile) it profiles ingest.accept and processing.process_inbox
in this process on a fresh sample with cProfile, timing every SQL statement, and prints the
top entries to stderr. Prints ONE JSON line on stdout; everything else goes to stderr.

    python bench/ingest.py            # 1,000,000 events in ./var/bench-ingest
    python bench/ingest.py --quick    # 20,000 events in ./var/bench-ingest-quick

It runs on its own embedded PostgreSQL in that directory, never on a developer's database
(DATABASE_URL is ignored). The tracking tables and the job queue are emptied at the start of
every run. The events are generated from a seed (same seed, same events) and serialised into
request bodies before the clock starts.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import gc
import http.client
import io
import json
import os
import platform
import pstats
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
TARGET = {"accepted_ratio": 0.5, "processed_ratio": 0.25}
BODY_LIMIT = 450 * 1024  # a batch body stays well under the API's 500 KB
POLL_SECONDS = 0.25
STALL_SECONDS = 180.0  # no processing progress this long after the last request: give up
TRACKING_TABLES = ("tracking_touchpoint", "tracking_seenmessage", "tracking_identitylink",
                   "tracking_profilechange", "tracking_identity", "tracking_profile",
                   "tracking_inboxbatch", "tracking_sourceerror", "tracking_source")
QUEUE_TABLES = ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs",
                "procrastinate_workers")
COPY_TABLE, PLAIN_TABLE, COPY_SEQ = "bench_copy_touchpoint", "bench_copy_plain", "bench_copy_seq"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def isolate(quick: bool) -> Path:
    data = ROOT / "var" / ("bench-ingest-quick" if quick else "bench-ingest")
    data.mkdir(parents=True, exist_ok=True)
    os.environ["MARKETLOOP_DATA"] = str(data)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MARKETLOOP_EMBEDDED_OWNER", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "marketloop.settings"
    os.environ.setdefault("MARKETLOOP_LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(ROOT))
    return data


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank, as bench/accounts_list.py."""
    index = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return round(ordered[index], 1)


# --- the events ----------------------------------------------------------------------------

SITE = "https://www.yunzhi-soft.cn"
PAGES = [  # path, page name, title
    ("/", "Home", "云智软件 - 企业数字化转型伙伴"),
    ("/products/erp", "ERP", "云智ERP 产品介绍"),
    ("/products/crm", "CRM", "云智CRM 客户关系管理"),
    ("/products/hr", "HR", "云智HR 人力资源管理"),
    ("/products/bi", "BI", "数据分析与商业智能"),
    ("/solutions/manufacturing", "Manufacturing", "制造业解决方案"),
    ("/solutions/retail", "Retail", "零售行业解决方案"),
    ("/solutions/finance", "Finance", "金融行业解决方案"),
    ("/pricing", "Pricing", "价格与版本"),
    ("/cases", "Cases", "客户案例"),
    ("/cases/sany", "Case", "案例: 智能制造工厂上线云智ERP"),
    ("/resources/whitepapers", "Whitepapers", "白皮书下载"),
    ("/events/2026-summit", "Summit", "2026 数字化峰会报名"),
    ("/blog/data-platform", "Blog", "如何建设企业数据中台"),
    ("/blog/erp-selection", "Blog", "ERP 选型的十个问题"),
    ("/contact", "Contact", "联系我们"),
    ("/trial", "Trial", "免费试用申请"),
    ("/partners", "Partners", "合作伙伴计划"),
    ("/about", "About", "关于云智"),
    ("/docs/getting-started", "Docs", "快速入门"),
]
KEYWORDS = ["ERP软件", "云ERP", "CRM系统", "数据中台", "制造业ERP", "人力资源系统", "商业智能",
            "ERP价格", "企业数字化转型", "供应链管理软件"]
SEARCH_REFERRERS = [  # url prefix for a search results page, then the keyword
    "https://www.baidu.com/s?wd=", "https://www.so.com/s?q=", "https://www.sogou.com/web?query=",
    "https://cn.bing.com/search?q=", "https://m.baidu.com/s?word=",
]
OTHER_REFERRERS = ["https://mp.weixin.qq.com/s/Xk3vQ9", "https://www.zhihu.com/question/3319",
                   "https://www.36kr.com/p/2648", "https://www.linkedin.com/"]
CAMPAIGNS = [
    {"name": "2026-erp-spring", "source": "baidu", "medium": "cpc", "term": "ERP软件"},
    {"name": "summit-2026", "source": "wechat", "medium": "social"},
    {"name": "crm-edm-0312", "source": "edm", "medium": "email"},
    {"name": "bi-whitepaper", "source": "zhihu", "medium": "content"},
]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.47",
    "Mozilla/5.0 (Linux; Android 14; V2309A) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.6099.193 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/118.0.0.0 Safari/537.36 Edg/118.0.2088.76",
]
TRACKS = [  # event name, weight, properties maker
    ("File Downloaded", 8), ("Form Submitted", 5), ("Video Played", 5), ("Button Clicked", 6),
    ("Trial Requested", 1), ("Webinar Registered", 2), ("Product Compared", 3),
]
FILES = ["云智ERP白皮书2026.pdf", "制造业数字化案例集.pdf", "CRM产品手册.pdf", "价格清单.xlsx"]
COMPANIES = ["华南精密制造有限公司", "江苏远航物流股份有限公司", "浙江青禾食品有限公司",
             "成都星河电子科技有限公司", "北京中科智联信息技术有限公司"]
BUSINESS_DOMAINS = ["hnprecision.com.cn", "yuanhang-logistics.com", "qinghefood.cn",
                    "xinghe-tech.com", "zkzl.com.cn", "sinolink-group.com"]
FREE_DOMAINS = ["qq.com", "163.com", "126.com", "foxmail.com"]
LIBRARY = {"name": "analytics.js", "version": "next-1.70.0"}


@dataclass(slots=True)
class Visitor:
    anonymous_id: str
    identity_id: int  # the id a touchpoint of this anonymous visitor gets in the COPY rows
    ip: str
    agent: str
    email: str
    phone: str | None
    user_id: str | None  # becomes known after their first identify
    user_identity_id: int
    identified: bool = False


@dataclass
class Workload:
    bodies: list[bytes]
    counts: list[int]
    rows: list[tuple]
    events: int
    bytes: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class Generator:
    """Deterministic Segment events, as analytics.js sends them, and the touchpoint row each one
    becomes (what processing._store COPYs)."""

    def __init__(self, *, events: int, seed: int, source_id: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.source_id = source_id
        self.now = now
        self.start = now - timedelta(days=60)
        self.step = timedelta(days=60) / max(events, 1)
        self.sent_at = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.position = 0
        rng = self.rng
        count = max(events // 10, 1)
        self.visitors: list[Visitor] = []
        users = 0
        for v in range(count):
            known = rng.random() < 0.3
            second_device = known and v > 0 and self.visitors[-1].user_id is not None \
                and rng.random() < 0.15
            if second_device:  # the same person on a second device: same user, email, phone
                prev = self.visitors[-1]
                user_id, user_identity, email, phone = (prev.user_id, prev.user_identity_id,
                                                        prev.email, prev.phone)
            else:
                users += 1
                user_id = f"usr_{v:07d}{rng.getrandbits(24):06x}" if known else None
                user_identity = count + users
                domain = rng.choice(BUSINESS_DOMAINS if rng.random() < 0.6 else FREE_DOMAINS)
                email = f"user{v}.{rng.getrandbits(16):04x}@{domain}"
                phone = f"1{rng.choice('3589')}{rng.randrange(10)}{v:08d}" \
                    if rng.random() < 0.5 else None
            self.visitors.append(Visitor(
                anonymous_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                identity_id=v + 1, ip=f"{rng.choice((36, 58, 101, 113, 117, 183, 223))}."
                f"{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                agent=rng.choice(USER_AGENTS), email=email, phone=phone, user_id=user_id,
                user_identity_id=user_identity))
        self.track_names = [name for name, weight in TRACKS for _ in range(weight)]
        import orjson

        from marketloop.tracking.segment import fields_of

        self.fields_of, self.dumps = fields_of, orjson.dumps

    def _page(self) -> tuple[dict, dict, dict | None]:
        """properties, context.page, context.campaign of a page view."""
        rng = self.rng
        path, _name, title = rng.choice(PAGES)
        url, referrer, campaign = SITE + path, "", None
        roll = rng.random()
        if roll < 0.3:
            referrer = rng.choice(SEARCH_REFERRERS) + quote(rng.choice(KEYWORDS))
        elif roll < 0.45:
            campaign = rng.choice(CAMPAIGNS)
            url += (f"?utm_source={campaign['source']}&utm_medium={campaign['medium']}"
                    f"&utm_campaign={campaign['name']}")
        elif roll < 0.55:
            referrer = rng.choice(OTHER_REFERRERS)
        elif roll < 0.85:
            referrer = SITE + rng.choice(PAGES)[0]
        search = url[url.index("?"):] if "?" in url else ""
        page = {"path": path, "referrer": referrer, "search": search, "title": title, "url": url}
        return page, page, campaign

    def event(self) -> tuple[dict, tuple]:
        rng = self.rng
        i = self.position
        self.position += 1
        # Busy visitors come back more often (skewed), the rest once or twice.
        visitor = self.visitors[int(len(self.visitors) * rng.random() ** 1.6)]
        at = self.start + self.step * i + timedelta(seconds=rng.uniform(-30, 30))
        at = min(at, self.now)
        page, context_page, campaign = self._page()
        context: dict[str, Any] = {"ip": visitor.ip, "library": LIBRARY, "locale": "zh-CN",
                                   "page": context_page, "userAgent": visitor.agent}
        if campaign:
            context["campaign"] = campaign
        event: dict[str, Any] = {"anonymousId": visitor.anonymous_id, "context": context,
                                 "integrations": {},
                                 "messageId": f"ajs-next-{rng.getrandbits(128):032x}",
                                 "timestamp": at.isoformat(timespec="milliseconds")
                                 .replace("+00:00", "Z")}
        roll = rng.random()
        if roll < 0.10:
            traits: dict[str, Any] = {"email": visitor.email}
            if visitor.phone:
                traits["phone"] = visitor.phone
            if visitor.user_id:
                event["userId"] = visitor.user_id
                visitor.identified = True
                traits.update(name=f"访客{visitor.identity_id}", company=rng.choice(COMPANIES))
            event.update(type="identify", traits=traits)
        elif roll < 0.40:
            name = rng.choice(self.track_names)
            properties: dict[str, Any] = {"category": "engagement", "label": page["title"]}
            if name == "File Downloaded":
                properties = {"file_name": rng.choice(FILES), "url": page["url"]}
            elif name == "Form Submitted":
                properties = {"form_id": rng.choice(("trial", "contact", "summit")),
                              "email": visitor.email, "company": rng.choice(COMPANIES)}
                if visitor.phone:
                    properties["phone"] = visitor.phone
            event.update(type="track", event=name, properties=properties)
        else:
            event.update(type="page", name=page["title"], properties=page)
        if visitor.identified and "userId" not in event:
            event["userId"] = visitor.user_id
        return event, self.row(event, at, visitor)

    def row(self, event: dict, at: datetime, visitor: Visitor) -> tuple:
        """The touchpoint row processing._store writes for `event` (COPY_COLUMNS order)."""
        f = self.fields_of(event)
        dumps = self.dumps
        properties = event.get("traits") if event["type"] == "identify" else \
            event.get("properties")
        identity = visitor.user_identity_id if event.get("userId") else visitor.identity_id
        return (at, self.now, self.source_id, identity, f.kind, f.event, event["messageId"],
                f.url, f.title, f.referrer, f.keyword, f.utm.get("source", ""),
                f.utm.get("medium", ""), f.utm.get("campaign", ""),
                dumps(properties or {}).decode(), dumps(event["context"]).decode())

    def workload(self, events: int, batch_size: int, *, keep_rows: bool = True) -> Workload:
        import orjson

        head = b'{"sentAt":"' + self.sent_at.encode() + b'","batch":['
        bodies: list[bytes] = []
        counts: list[int] = []
        rows: list[tuple] = []
        kinds: dict[str, int] = defaultdict(int)
        parts: list[bytes] = []
        size = 0
        started = time.monotonic()
        for n in range(events):
            event, row = self.event()
            kinds[row[4]] += 1
            if keep_rows:
                rows.append(row)
            part = orjson.dumps(event)
            if parts and (len(parts) >= batch_size or size + len(part) + 64 > BODY_LIMIT):
                bodies.append(head + b",".join(parts) + b"]}")
                counts.append(len(parts))
                parts, size = [], 0
            parts.append(part)
            size += len(part) + 1
            if n and n % 200_000 == 0:
                log(f"  generated {n:,} events ({time.monotonic() - started:.0f} s)")
        if parts:
            bodies.append(head + b",".join(parts) + b"]}")
            counts.append(len(parts))
        return Workload(bodies=bodies, counts=counts, rows=rows, events=events,
                        bytes=sum(len(b) for b in bodies), kinds=dict(kinds))


# --- the database --------------------------------------------------------------------------

def prepare_database() -> tuple[int, str]:
    """Migrate, empty the tracking tables and the job queue, create the organisation (profiles
    need an owning unit) and one server source. Returns (source id, write key)."""
    from django.core.management import call_command
    from django.db import connection

    from marketloop.crm.reference import ensure_reference_data
    from marketloop.org.standard import ensure_standard_org
    from marketloop.tracking.models import Source, SourceKind

    call_command("migrate", "--no-input", verbosity=0)
    ensure_reference_data()
    ensure_standard_org()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}, {PLAIN_TABLE}")
        cursor.execute(f"DROP SEQUENCE IF EXISTS {COPY_SEQ}")
        cursor.execute("SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relkind IN "
                       "('r', 'p')", [list(TRACKING_TABLES + QUEUE_TABLES)])
        present = {row[0] for row in cursor.fetchall()}
        tables = [t for t in TRACKING_TABLES + QUEUE_TABLES if t in present]
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    from marketloop.tracking import ingest

    ingest.forget_sources()
    source = Source.objects.create(name="bench ingest", kind=SourceKind.SERVER)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")
    return source.id, source.write_key


def pg_facts(conn: Any) -> dict[str, Any]:
    names = ("server_version", "shared_buffers", "max_wal_size", "synchronous_commit",
             "wal_compression", "default_toast_compression")
    facts = {}
    for name in names:
        facts[name] = conn.execute(f"SHOW {name}").fetchone()[0]
    return facts


def postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "pgdata" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def tree_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a process and its live children."""
    import psutil

    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all processes, all cores)."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def load_now(seconds: float = 1.0) -> float:
    """Percent of the machine's CPUs busy over the next `seconds` (other work, since nothing
    of this benchmark runs yet)."""
    before = machine_busy()
    time.sleep(seconds)
    return round(100 * (machine_busy() - before) / (seconds * (os.cpu_count() or 1)), 1)


# --- the processes -------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Child:
    """A subprocess in its own session, stopped with its children (SIGTERM, then SIGKILL)."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name = name
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ),
                                     start_new_session=True, stdout=subprocess.DEVNULL,
                                     stderr=sys.stderr)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop within 30 s; killing it")
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass


def start_web(port: int) -> Child:
    web = Child("gunicorn", [
        sys.executable, "-m", "gunicorn", "marketloop.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
        "--worker-class", "gthread", "--timeout", "120", "--log-level", "warning",
        "--access-logfile", "/dev/null"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return web
        except OSError:
            pass
        if not web.alive():
            raise RuntimeError("gunicorn exited at start")
        time.sleep(0.2)
    web.stop()
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def start_worker(conn: Any) -> Child:
    worker = Child("worker", [sys.executable, "-m", "marketloop.cli", "worker"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError("the worker exited at start")
        if conn.execute("SELECT count(*) FROM procrastinate_workers").fetchone()[0]:
            return worker
        time.sleep(0.2)
    log("the worker did not register within 60 s; carrying on")
    return worker


# --- sending -------------------------------------------------------------------------------

@dataclass
class ClientStats:
    latencies: list[float] = field(default_factory=list)
    accepted: int = 0  # events answered with 200
    refused: int = 0  # events answered otherwise (or not at all)
    refused_requests: int = 0
    retries: int = 0
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    sample_error: str = ""
    last_ok: float = 0.0


def send_all(port: int, write_key: str, work: Workload, clients: int,
             stats: list[ClientStats]) -> list[threading.Thread]:
    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": auth,
               "User-Agent": "bench-ingest (analytics.js batch replay)"}
    todo: queue.SimpleQueue[int] = queue.SimpleQueue()
    for i in range(len(work.bodies)):
        todo.put(i)

    def client(mine: ClientStats) -> None:
        conn: http.client.HTTPConnection | None = None
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                break
            body, count = work.bodies[i], work.counts[i]
            started = time.perf_counter()
            status, answer = 0, b""
            for attempt in (1, 2):  # a keep-alive connection the server closed: once more
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                try:
                    conn.request("POST", "/v1/batch", body=body, headers=headers)
                    response = conn.getresponse()
                    answer = response.read()
                    status = response.status
                    if response.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = None
                    answer = repr(exc).encode()
                    if attempt == 1:
                        mine.retries += 1
            finished = time.perf_counter()
            mine.latencies.append((finished - started) * 1000)
            mine.statuses[status] += 1
            if status == 200:
                mine.accepted += count
                mine.last_ok = finished
            else:
                mine.refused += count
                mine.refused_requests += 1
                mine.sample_error = mine.sample_error or \
                    f"HTTP {status}: {answer[:300].decode(errors='replace')}"
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, args=(stats[c],), daemon=True,
                                name=f"client-{c}") for c in range(clients)]
    for thread in threads:
        thread.start()
    return threads


# --- the raw COPY --------------------------------------------------------------------------

COPY_DDL_NOTE = ("LIKE tracking_touchpoint INCLUDING ALL, partitioned by range (occurred_at) "
                 "with the same partitions")


def copy_rate(url: str, rows: list[tuple], *, plain: bool,
              pg_pid: int | None) -> tuple[float, float, str, float]:
    """COPY `rows` into a fresh copy of tracking_touchpoint (or an unindexed plain table) in
    one transaction; return (rows/s, seconds, table size, CPU seconds others used meanwhile)."""
    import psycopg

    from marketloop.tracking.processing import COPY_COLUMNS

    table = PLAIN_TABLE if plain else COPY_TABLE
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE SEQUENCE IF NOT EXISTS {COPY_SEQ}")
        if plain:
            conn.execute(f"CREATE TABLE {table} (LIKE tracking_touchpoint INCLUDING DEFAULTS)")
        else:
            conn.execute(f"CREATE TABLE {table} (LIKE tracking_touchpoint INCLUDING ALL) "
                         "PARTITION BY RANGE (occurred_at)")
            parts = conn.execute(
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                "JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'tracking_touchpoint'::regclass ORDER BY 1").fetchall()
            for name, bound in parts:
                suffix = name.removeprefix("tracking_touchpoint")
                conn.execute(f"CREATE TABLE {table}{suffix} PARTITION OF {table} {bound}")
        conn.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{COPY_SEQ}')")
        conn.execute("CHECKPOINT")
        ours_before = tree_cpu(pg_pid) + time.process_time()
        busy_before = machine_busy()
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cursor, cursor.copy(
                f"COPY {table} ({', '.join(COPY_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        seconds = time.perf_counter() - started
        others = (machine_busy() - busy_before) - (tree_cpu(pg_pid) + time.process_time()
                                                   - ours_before)
        size = conn.execute(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c "
            "WHERE c.relname = %s OR c.oid IN (SELECT inhrelid FROM pg_inherits "
            "WHERE inhparent = %s::regclass)", [table, table]).fetchone()[0]
        count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if count != len(rows):
            raise RuntimeError(f"COPY stored {count} of {len(rows)} rows in {table}")
        conn.execute(f"DROP TABLE {table}")
    return len(rows) / seconds, seconds, size, max(others, 0.0)


# --- profiling in this process -------------------------------------------------------------

def top_functions(profile: cProfile.Profile, limit: int, sort: str) -> list[dict[str, Any]]:
    stats = pstats.Stats(profile, stream=io.StringIO())
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items():
        where = filename
        for marker in ("/site-packages/", str(ROOT) + "/"):
            if marker in where:
                where = where.split(marker, 1)[1]
        rows.append({"function": f"{where}:{line}({name})", "calls": calls,
                     "self_s": round(tottime, 3), "cum_s": round(cumtime, 3)})
    key = "self_s" if sort == "tottime" else "cum_s"
    rows.sort(key=lambda r: r[key], reverse=True)
    return rows[:limit]


class SqlTimer:
    """A Django execute_wrapper: total time per statement (its first 110 characters)."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = self.stats[" ".join(sql.split())[:110]]
            entry[0] += 1
            entry[1] += time.perf_counter() - started

    def top(self, limit: int) -> list[dict[str, Any]]:
        ordered = sorted(self.stats.items(), key=lambda kv: kv[1][1], reverse=True)
        return [{"sql": sql, "calls": int(n), "total_s": round(t, 3)}
                for sql, (n, t) in ordered[:limit]]


def profile_in_process(gen: Generator, write_key: str, events: int,
                       batch_size: int) -> dict[str, Any]:
    """Accept and process two fresh samples in this process: one timed plainly, one under
    cProfile with every SQL statement timed. Returns a summary; prints the detail to stderr."""
    from django.db import connection

    from marketloop.tracking import ingest
    from marketloop.tracking.processing import process_inbox

    auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
    out: dict[str, Any] = {"sample_events": events}
    for label in ("plain", "profiled"):
        work = gen.workload(events, batch_size, keep_rows=False)
        profile = cProfile.Profile() if label == "profiled" else None
        timer = SqlTimer()
        started = time.perf_counter()
        if profile:
            profile.enable()
        with connection.execute_wrapper(timer) if profile else _nothing():
            for body in work.bodies:
                ingest.accept(endpoint="batch", authorization=auth, raw=body,
                              content_encoding="", ip="127.0.0.1")
        accept_s = time.perf_counter() - started
        if profile:
            profile.disable()
            accept_top = top_functions(profile, 15, "tottime")
            accept_sql = timer.top(5)
            profile = cProfile.Profile()
            timer = SqlTimer()
        started = time.perf_counter()
        if profile:
            profile.enable()
        with connection.execute_wrapper(timer) if profile else _nothing():
            while process_inbox():
                pass
        process_s = time.perf_counter() - started
        out[f"{label}_accept_per_s"] = round(events / accept_s)
        out[f"{label}_process_per_s"] = round(events / process_s)
        if profile:
            profile.disable()
            process_self = top_functions(profile, 25, "tottime")
            process_cum = top_functions(profile, 30, "cumtime")
            process_sql = timer.top(15)
            sql_total = sum(t for _n, t in timer.stats.values())
            log(f"\n--- cProfile: ingest.accept, {len(work.bodies)} requests, {events:,} events, "
                f"{accept_s:.2f} s (self time) ---")
            for r in accept_top:
                log(f"  {r['self_s']:8.3f} {r['cum_s']:8.3f} {r['calls']:9,}  {r['function']}")
            for r in accept_sql:
                log(f"  SQL {r['total_s']:7.3f} s {r['calls']:6,}x  {r['sql']}")
            log(f"\n--- cProfile: process_inbox, {events:,} events, {process_s:.2f} s; "
                f"SQL through Django {sql_total:.2f} s ---")
            log("  self time:")
            for r in process_self:
                log(f"  {r['self_s']:8.3f} {r['cum_s']:8.3f} {r['calls']:9,}  {r['function']}")
            log("  cumulative:")
            for r in process_cum:
                log(f"  {r['self_s']:8.3f} {r['cum_s']:8.3f} {r['calls']:9,}  {r['function']}")
            log("  SQL (through Django's cursor; the COPY itself is not in here):")
            for r in process_sql:
                log(f"  SQL {r['total_s']:7.3f} s {r['calls']:6,}x  {r['sql']}")
            wanted = ("processing.py", "stitching.py", "segment.py", "identifiers.py",
                      "copy.py", "partitions.py")
            out["process_cum_s"] = {r["function"]: r["cum_s"] for r in process_cum
                                    if any(w in r["function"] for w in wanted)}
            out["process_sql_s"] = {r["sql"][:80]: r["total_s"] for r in process_sql[:6]}
            out["process_sql_total_s"] = round(sql_total, 3)
            out["process_profiled_s"] = round(process_s, 3)
    return out


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# --- main ----------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="20,000 events in ./var/bench-ingest-quick")
    parser.add_argument("--events", type=int, default=None,
                        help="events to send (default 1,000,000, quick 20,000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--batch-size", type=int, default=500, help="events per request")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the in-process cProfile of accept and process_inbox")
    parser.add_argument("--profile-events", type=int, default=None,
                        help="events per profiling sample (default 10,000, quick 5,000)")
    args = parser.parse_args()
    data = isolate(args.quick)
    # On SIGTERM, unwind (stopping gunicorn, the worker and the database) instead of dying.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    n = args.events or (20_000 if args.quick else 1_000_000)
    profile_events = args.profile_events or (5_000 if args.quick else 10_000)

    from marketloop.cli import _setup_django

    _setup_django()
    import psycopg
    from django.db import connections

    url = os.environ["DATABASE_URL"]
    children: list[Child] = []
    try:
        source_id, write_key = prepare_database()
        poll = psycopg.connect(url, autocommit=True)
        facts = pg_facts(poll)
        log(f"PostgreSQL {facts['server_version']} in {data / 'pgdata'}; "
            f"{os.cpu_count()} CPUs; {n:,} events, {args.clients} clients.")

        started = time.monotonic()
        gc.disable()  # a million rows of small objects: the collector would rescan them all
        gen = Generator(events=n, seed=args.seed, source_id=source_id, now=datetime.now(UTC))
        work = gen.workload(n, args.batch_size)
        gc.freeze()
        gc.enable()
        generate_s = time.monotonic() - started
        log(f"Generated {n:,} events in {len(work.bodies):,} requests "
            f"({work.bytes / len(work.bodies) / 1024:.0f} KB and "
            f"{n / len(work.bodies):.0f} events a request on average, "
            f"{work.bytes / n:.0f} bytes an event) in {generate_s:.1f} s; kinds {work.kinds}.")

        load_before = load_now()
        if load_before > 15:
            log(f"WARNING: the machine is already {load_before}% busy with other work; the "
                "figures will be lower than on an idle machine.")
        port = free_port()
        children.append(start_worker(poll))
        children.append(start_web(port))
        worker, web = children
        pg_pid = postmaster_pid(data)
        time.sleep(1.0)  # let both settle (first connections, the worker's first poll)

        cpu_before = {"gunicorn": tree_cpu(web.pid), "worker": tree_cpu(worker.pid),
                      "postgres": tree_cpu(pg_pid)}
        machine_before = machine_busy()
        client_before = time.process_time()
        stats = [ClientStats() for _ in range(args.clients)]
        t0 = time.perf_counter()
        threads = send_all(port, write_key, work, args.clients, stats)

        expected = n
        processed_at: float | None = None
        accepted_at: float | None = None
        cpu_at_accept: dict[str, float] = {}
        processed_at_accept = 0
        last_progress, last_done, next_log = t0, -1, t0 + 5
        max_inbox, done, inbox = 0, 0, 0
        while True:
            time.sleep(POLL_SECONDS)
            now = time.perf_counter()
            sending = any(t.is_alive() for t in threads)
            if not sending and accepted_at is None:
                accepted_at = max(s.last_ok for s in stats) or now
                expected = sum(s.accepted for s in stats)
                client_cpu = time.process_time() - client_before
                cpu_at_accept = {"gunicorn": tree_cpu(web.pid) - cpu_before["gunicorn"]}
                processed_at_accept = poll.execute(
                    "SELECT events_received FROM tracking_source WHERE id = %s",
                    [source_id]).fetchone()[0]
                log(f"  all requests answered at {accepted_at - t0:.1f} s")
            done = poll.execute("SELECT events_received FROM tracking_source WHERE id = %s",
                                [source_id]).fetchone()[0]
            inbox = poll.execute("SELECT count(*) FROM tracking_inboxbatch").fetchone()[0]
            max_inbox = max(max_inbox, inbox)
            if done != last_done:
                last_done, last_progress = done, now
            if now >= next_log:
                sent = sum(s.accepted for s in stats)
                log(f"  {now - t0:6.1f} s: accepted {sent:,}, processed {done:,}, "
                    f"inbox {inbox} requests")
                next_log = now + 5
            if not sending and done >= expected and inbox == 0:
                processed_at = now
                break
            if not sending and now - last_progress > STALL_SECONDS:
                log(f"Processing made no progress for {STALL_SECONDS:.0f} s; giving up.")
                break
            for child in children:
                if not child.alive():
                    raise RuntimeError(f"{child.name} exited during the run")
        cpu = {name: round(tree_cpu(child.pid) - cpu_before[name], 1)
               for name, child in (("gunicorn", web), ("worker", worker))}
        cpu["postgres"] = round(tree_cpu(pg_pid) - cpu_before["postgres"], 1)
        cpu["gunicorn_while_accepting"] = round(cpu_at_accept.get("gunicorn", 0.0), 1)
        cpu["client"] = round(client_cpu, 1)
        busy = machine_busy() - machine_before
        wall = (processed_at or time.perf_counter()) - t0
        cpu["machine_busy_pct"] = round(100 * busy / (wall * (os.cpu_count() or 1)), 1)
        # CPU time of processes that are not part of this benchmark (other jobs on the machine)
        cpu["other"] = round(max(busy - sum(cpu[k] for k in ("gunicorn", "worker", "postgres"))
                                 - (time.process_time() - client_before), 0.0), 1)
        for child in reversed(children):
            child.stop()
        children.clear()

        latencies = sorted(x for s in stats for x in s.latencies)
        refused = sum(s.refused for s in stats)
        statuses: dict[int, int] = defaultdict(int)
        for s in stats:
            for status, count in s.statuses.items():
                statuses[status] += count
        errors = [s.sample_error for s in stats if s.sample_error]
        accept_s = (accepted_at or time.perf_counter()) - t0
        process_s = processed_at - t0 if processed_at else None
        stored = {
            "touchpoints": poll.execute("SELECT count(*) FROM tracking_touchpoint").fetchone()[0],
            "identities": poll.execute("SELECT count(*) FROM tracking_identity").fetchone()[0],
            "profiles": poll.execute("SELECT count(*) FROM tracking_profile "
                                     "WHERE merged_into_id IS NULL").fetchone()[0],
            "merges": poll.execute("SELECT count(*) FROM tracking_profilechange "
                                   "WHERE kind = 'merge'").fetchone()[0],
            "shared_identities": poll.execute("SELECT count(*) FROM tracking_identity "
                                              "WHERE shared").fetchone()[0],
            "inbox": inbox,
            "max_inbox_requests": max_inbox,
            "touchpoint_size": poll.execute(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) "
                "FROM pg_inherits WHERE inhparent = 'tracking_touchpoint'::regclass"
            ).fetchone()[0],
        }
        log(f"HTTP part: accepted in {accept_s:.1f} s, processed in "
            f"{process_s if process_s is None else round(process_s, 1)} s; stored {stored}; "
            f"CPU seconds {cpu}")

        log("Raw COPY into a fresh copy of tracking_touchpoint (" + COPY_DDL_NOTE + ") ...")
        copy_per_s, copy_s, copy_size, copy_other = copy_rate(url, work.rows, plain=False,
                                                              pg_pid=pg_pid)
        log(f"  {copy_per_s:,.0f} rows/s ({copy_s:.1f} s, {copy_size}; other processes used "
            f"{copy_other:.1f} CPU s meanwhile)")
        plain_per_s, plain_s, plain_size, plain_other = copy_rate(url, work.rows, plain=True,
                                                                  pg_pid=pg_pid)
        log(f"  unindexed plain table: {plain_per_s:,.0f} rows/s ({plain_s:.1f} s, "
            f"{plain_size}; other processes used {plain_other:.1f} CPU s meanwhile)")
        cpu["other_during_copy"] = round(copy_other, 1)
        work.rows.clear()

        profile = None
        if not args.no_profile:
            profile = profile_in_process(gen, write_key, profile_events, args.batch_size)

        accepted_per_s = expected / accept_s if expected else 0.0
        processed_per_s = expected / process_s if process_s else 0.0
        out = {
            "bench": "ingest",
            "events": n,
            "clients": args.clients,
            "batch_size": args.batch_size,
            "requests": len(work.bodies),
            "avg_request_kb": round(work.bytes / len(work.bodies) / 1024, 1),
            "accepted_per_s": round(accepted_per_s),
            "processed_per_s": round(processed_per_s),
            "processed_while_accepting": processed_at_accept,
            "p50_ms": percentile(latencies, 0.50) if latencies else None,
            "p99_ms": percentile(latencies, 0.99) if latencies else None,
            "max_ms": round(latencies[-1], 1) if latencies else None,
            "copy_per_s": round(copy_per_s),
            "copy_plain_per_s": round(plain_per_s),
            "accepted_ratio": round(accepted_per_s / copy_per_s, 3),
            "processed_ratio": round(processed_per_s / copy_per_s, 3),
            "refused": refused,
            "refused_requests": sum(s.refused_requests for s in stats),
            "retries": sum(s.retries for s in stats),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "seconds": {"generate": round(generate_s, 1), "accept": round(accept_s, 2),
                        "process": round(process_s, 2) if process_s else None,
                        "copy": round(copy_s, 2), "copy_plain": round(plain_s, 2)},
            "cpu_s": cpu,
            "stored": stored,
            "kinds": work.kinds,
            "target": TARGET,
            "machine": {"cpus": os.cpu_count(), "busy_before_pct": load_before,
                        "python": platform.python_version(),
                        "postgresql": facts.pop("server_version"), **facts},
        }
        if errors:
            out["sample_error"] = errors[0]
        if profile:
            out["profile"] = profile
        problems = []
        if refused:
            problems.append(f"{refused} events refused")
        if process_s is None:
            problems.append("processing did not finish")
        if stored["touchpoints"] != expected:
            problems.append(f"{stored['touchpoints']} touchpoints stored, {expected} expected")
        if problems:
            out["problems"] = problems
        out["ok"] = (not problems and out["accepted_ratio"] >= TARGET["accepted_ratio"]
                     and out["processed_ratio"] >= TARGET["processed_ratio"])
        poll.close()
        print(json.dumps(out, ensure_ascii=False), flush=True)
        return 0
    finally:
        for child in reversed(children):
            child.stop()
        connections.close_all()
        # The embedded server is stopped by its own exit handler in this process.


if __name__ == "__main__":
    sys.exit(main())
