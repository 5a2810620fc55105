"""The `marketloop` command: run the product, the worker, load demo data, or manage Django."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

DEMO_PASSWORD = "marketloop-demo"


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketloop.settings")
    from marketloop.database import ensure_database_url

    ensure_database_url()
    import django

    django.setup()


def _manage(*args: str, **options: object) -> None:
    from django.core.management import call_command

    call_command(*args, **options)


def cmd_manage(argv: list[str]) -> int:
    _setup_django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["marketloop manage", *argv])
    return 0


def cmd_migrate() -> None:
    _setup_django()
    _manage("migrate", "--no-input", verbosity=0)


def cmd_demo(args: argparse.Namespace) -> int:
    started = time.monotonic()
    cmd_migrate()
    from marketloop.demo import build_demo

    build_demo(accounts=args.accounts, contacts=args.contacts, seed=args.seed,
               progress=lambda msg: print(msg, flush=True))
    print(f"marketloop demo took {time.monotonic() - started:.1f} s.", flush=True)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """One procrastinate worker in this process, plus `processes - 1` more as children: jobs
    that are mostly Python (tracking's inbox processing) then use more than one core."""
    extra = [
        subprocess.Popen([sys.executable, "-m", "marketloop.cli", "worker", "--processes", "1",
                          "--concurrency", str(args.concurrency)], env=dict(os.environ))
        for _ in range(max(0, args.processes - 1))
    ]
    try:
        _setup_django()
        _manage("procrastinate", "worker", "--concurrency", str(args.concurrency))
    finally:
        _stop(extra)
    return 0


def _stop(children: list[subprocess.Popen]) -> None:
    """SIGTERM (a graceful stop for gunicorn and procrastinate), then SIGKILL after 20 s."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()


def _print_welcome(url: str) -> None:
    from marketloop.demo import DEMO_LOGINS

    print(f"\nmarketloop is running at {url}", flush=True)
    print(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for username, description in DEMO_LOGINS:
        print(f"  {username:<22} {description}")
    print("API: token auth, schema at " + url.rstrip("/") + "/api/openapi.json")
    print("Press Ctrl-C to stop.\n", flush=True)


def cmd_run(args: argparse.Namespace) -> int:
    cmd_migrate()
    from marketloop.crm.models import Account

    if not Account.objects.exists() and not args.no_demo:
        print("Loading demo data (first start only)...", flush=True)
        from marketloop.demo import build_demo

        build_demo(progress=lambda msg: print(msg, flush=True))
    from django.core.management import call_command

    call_command("collectstatic", "--no-input", verbosity=0)
    env = dict(os.environ)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "marketloop.wsgi:application",
             "--bind", f"{args.host}:{args.port}", "--workers", str(args.web_workers),
             "--threads", "4", "--worker-class", "gthread", "--timeout", "120",
             "--access-logfile", "-" if args.access_log else "/dev/null"],
            env=env, start_new_session=True,
        ),
        subprocess.Popen([sys.executable, "-m", "marketloop.cli", "worker"], env=env,
                         start_new_session=True),
    ]
    _print_welcome(f"http://{args.host}:{args.port}/")

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(child.poll() is None for child in children):
            time.sleep(0.3)
    finally:
        print("\nStopping web server and worker...", flush=True)
        _stop(children)
        from django.db import connections

        connections.close_all()
        print("Stopping the database...", flush=True)
    # The embedded server is stopped by its own exit handler in this process.
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["manage"]:
        return cmd_manage(argv[1:])
    parser = argparse.ArgumentParser(prog="marketloop", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="web UI, API and worker on the (embedded) database")
    run.add_argument("--host", default=os.environ.get("MARKETLOOP_HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=int(os.environ.get("MARKETLOOP_PORT", 8000)))
    run.add_argument("--web-workers", type=int, default=2)
    run.add_argument("--no-demo", action="store_true", help="start empty")
    run.add_argument("--access-log", action="store_true")
    worker = sub.add_parser("worker", help="the background worker")
    worker.add_argument("--concurrency", type=int, default=2,
                        help="jobs at once in each process")
    worker.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes (default: 2, or 1 on a single core)")
    demo = sub.add_parser("demo", help="load the deterministic demo data set")
    demo.add_argument("--accounts", type=int, default=None, help="default: 20,000")
    demo.add_argument("--contacts", type=int, default=None,
                      help="default: three per account (with --large: 1,000,000)")
    demo.add_argument("--large", action="store_true",
                      help="1,000,000 accounts and 1,000,000 contacts, for benchmarks")
    demo.add_argument("--seed", type=int, default=20261125)
    sub.add_parser("manage", help="Django management commands: marketloop manage <command>")
    args = parser.parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    if args.command == "worker":
        return cmd_worker(args)
    if args.command == "demo":
        if args.large:
            args.accounts = args.accounts or 1_000_000
            args.contacts = args.contacts if args.contacts is not None else 1_000_000
        args.accounts = args.accounts if args.accounts is not None else 20_000
        if args.contacts is None:
            args.contacts = args.accounts * 3
        return cmd_demo(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
