"""Benchmark: the account list at 1,000,000 accounts, through the selector, the page and the API.

For an HQ user (sees everything) and a province user (sees Guangdong), it times the first page,
a page 50 pages deep (following the cursor) and a page from the middle of the sort order
(a cursor taken from the median row), through

- the selector alone (`crm.selectors.account_page`, in this process),
- the page `/accounts/` (crm:account_list) over real HTTP, signed in with a session cookie,
- the API `GET /api/accounts` over real HTTP with `Authorization: Bearer <token>`,

the two over HTTP served by gunicorn (2 workers x 2 threads) started here. It also runs
EXPLAIN (ANALYZE, BUFFERS) on the selector's query for each user and position, printing the
plans to stderr. Prints ONE JSON line on stdout; the target is p95 < 150 ms everywhere.

    python bench/accounts_list.py            # 1,000,000 accounts in ./var/bench
    python bench/accounts_list.py --quick    # 20,000 accounts in ./var/bench-quick

It runs on its own embedded PostgreSQL in that directory, never on a developer's database
(DATABASE_URL is ignored). The demo data set is built there on the first run (the 1M build takes
several minutes) and reused afterwards. A page or API route that does not exist yet (404) is
reported as "missing" and skipped.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_MS = 150.0
HQ_USER, PROVINCE_USER = "hq.marketer", "gd.sales"
DEEP_PAGES = 50
# A case stops sampling after this long (with at least MIN_SAMPLES), so that a slow case
# reports its figures instead of running for many minutes.
CASE_BUDGET_S, MIN_SAMPLES = 30.0, 5


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def isolate(quick: bool) -> Path:
    data = ROOT / "var" / ("bench-quick" if quick else "bench")
    data.mkdir(parents=True, exist_ok=True)
    os.environ["MARKETLOOP_DATA"] = str(data)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MARKETLOOP_EMBEDDED_OWNER", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "marketloop.settings"
    os.environ.setdefault("MARKETLOOP_LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(ROOT))
    return data


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        # nearest rank
        index = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
        return round(ordered[index], 1)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "max_ms": round(ordered[-1], 1),
            "n": len(ordered)}


def ensure_data(accounts: int, contacts: int) -> tuple[int, float | None]:
    from django.core.management import call_command

    from marketloop.crm.models import Account

    call_command("migrate", "--no-input", verbosity=0)
    have = Account.objects.count()
    if have:
        log(f"Reusing the data set: {have:,} accounts.")
        return have, None
    from marketloop.demo import build_demo

    log(f"Building the demo data set: {accounts:,} accounts, {contacts:,} contacts (once).")
    result = build_demo(accounts=accounts, contacts=contacts, progress=log)
    return Account.objects.count(), round(result.seconds, 1)


def cursors_for(user: Any) -> dict[str, str | None]:
    """first: none; deep: after following DEEP_PAGES pages; middle: from the median row."""
    from marketloop.crm.selectors import (
        AccountFilter,
        account_page,
        accounts_visible,
        encode_cursor,
    )

    flt = AccountFilter()
    cursor = None
    for _ in range(DEEP_PAGES):
        page = account_page(user, flt, cursor)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    visible = accounts_visible(user).order_by("name", "id")
    total = visible.count()
    name, pk = visible.values_list("name", "id")[total // 2]
    return {"first": None, f"deep{DEEP_PAGES}": cursor, "middle": encode_cursor([name, pk])}


def time_selector(user: Any, cursor: str | None, n: int) -> dict[str, float]:
    from django.db import reset_queries

    from marketloop.crm.selectors import AccountFilter, account_page

    samples: list[float] = []
    budget = time.perf_counter() + CASE_BUDGET_S
    for i in range(n + 3):
        if len(samples) >= MIN_SAMPLES and time.perf_counter() > budget:
            break
        started = time.perf_counter()
        page = account_page(user, AccountFilter(), cursor)
        # What a page or API response reads from each row.
        touched = [(a.industry.name, a.province.name, a.owner_unit.name, a.owner_id)
                   for a in page.items]
        assert len(touched) == len(page.items)
        if i >= 3:
            samples.append((time.perf_counter() - started) * 1000)
        reset_queries()
    return percentiles(samples)


def explain(user: Any, cursor: str | None) -> tuple[float, str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from marketloop.crm.selectors import AccountFilter, account_page

    with CaptureQueriesContext(connection) as ctx:
        account_page(user, AccountFilter(), cursor)
    sql = next(q["sql"] for q in ctx.captured_queries
               if 'FROM "crm_account"' in q["sql"] and "LIMIT" in q["sql"])
    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = "\n".join(row[0] for row in cur.fetchall())
    match = re.search(r"Execution Time: ([\d.]+) ms", plan)
    return (float(match.group(1)) if match else -1.0), plan


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "marketloop.wsgi:application",
             "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--threads", "2",
             "--worker-class", "gthread", "--timeout", "120", "--log-level", "warning",
             "--access-logfile", "/dev/null"],
            cwd=ROOT, env=dict(os.environ), start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=sys.stderr,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _ = self.get("/healthz")
                if status == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("gunicorn exited at start")
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def time_http(server: Server, path: str, headers: dict[str, str], n: int) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    samples: list[float] = []
    budget = time.perf_counter() + CASE_BUDGET_S
    try:
        for i in range(n + 3):
            if len(samples) >= MIN_SAMPLES and time.perf_counter() > budget:
                break
            started = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status == 404:
                return {"missing": f"404 at {path.split('?')[0]}"}
            if response.status != 200:
                return {"error": f"HTTP {response.status} at {path.split('?')[0]}: "
                                 f"{body[:200].decode(errors='replace')}"}
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            if i >= 3:
                samples.append(elapsed)
    finally:
        conn.close()
    return percentiles(samples)


def session_cookie(user: Any) -> str:
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def page_path() -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("crm:account_list")
    except NoReverseMatch:
        return "/accounts/"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="20,000 accounts in ./var/bench-quick, under a minute once built")
    parser.add_argument("--requests", type=int, default=None,
                        help="timed requests per case (default 40, quick 20)")
    parser.add_argument("--no-explain", action="store_true")
    args = parser.parse_args()
    isolate(args.quick)
    # On SIGTERM, unwind (stopping gunicorn and the embedded database) instead of dying.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    accounts_wanted = 20_000 if args.quick else 1_000_000
    contacts_wanted = 60_000 if args.quick else 1_000_000
    n = args.requests or (20 if args.quick else 40)

    from marketloop.cli import _setup_django

    _setup_django()
    from urllib.parse import quote

    from marketloop.org.models import User
    from marketloop.org.services import issue_api_token

    accounts, built_seconds = ensure_data(accounts_wanted, contacts_wanted)
    users = {"hq": User.objects.select_related("unit").get(username=HQ_USER),
             "province": User.objects.select_related("unit").get(username=PROVINCE_USER)}
    results: dict[str, Any] = {}
    explains: dict[str, Any] = {}
    cursors = {key: cursors_for(user) for key, user in users.items()}

    for key, user in users.items():
        for position, cursor in cursors[key].items():
            results[f"selector_{key}_{position}"] = time_selector(user, cursor, n)
            if not args.no_explain:
                ms, plan = explain(user, cursor)
                first = next(line.strip() for line in plan.splitlines())
                explains[f"{key}_{position}"] = {"execution_ms": ms, "top": first[:160]}
                log(f"\n--- EXPLAIN ANALYZE: {key} user ({user.username}), {position} ---\n{plan}")

    server = Server()
    try:
        path = page_path()
        for key, user in users.items():
            cookie = {"Cookie": session_cookie(user)}
            _token, raw = issue_api_token(user=user, name="bench")
            bearer = {"Authorization": f"Bearer {raw}", "Accept": "application/json"}
            for position, cursor in cursors[key].items():
                query = f"?cursor={quote(cursor)}" if cursor else ""
                results[f"page_{key}_{position}"] = time_http(server, path + query, cookie, n)
                results[f"api_{key}_{position}"] = time_http(server, "/api/accounts" + query,
                                                             bearer, n)
    finally:
        server.stop()

    measured = {k: v for k, v in results.items() if "p95_ms" in v}
    skipped = {k: v for k, v in results.items() if "p95_ms" not in v}
    out = {
        "bench": "accounts_list",
        "accounts": accounts,
        "users": {"hq": HQ_USER, "province": PROVINCE_USER},
        "built_seconds": built_seconds,
        "machine": {"cpus": os.cpu_count()},
        "results": results,
        "explain": explains,
        "target_p95_ms": TARGET_P95_MS,
        "ok": bool(measured) and all(v["p95_ms"] < TARGET_P95_MS for v in measured.values()),
        "complete": not skipped,
    }
    if skipped:
        out["note"] = ("not measured: " + ", ".join(sorted(skipped))
                       + " (route missing or failing; rerun once it exists)")
    print(json.dumps(out, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
