"""Run by test_database_crash.py in processes and a data directory of their own. `before`:
accept events over HTTP, then crash PostgreSQL (SIGKILL of the postmaster: no shutdown, no
checkpoint). `after`: start it again (crash recovery), process the inbox, report what
survived. Each prints one JSON line."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

REQUESTS, EVENTS = 20, 100


def setup(data: Path) -> None:
    os.environ["MARKETLOOP_DATA"] = str(data)
    for name in ("DATABASE_URL", "MARKETLOOP_EMBEDDED_OWNER"):
        os.environ.pop(name, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "marketloop.settings"
    import django

    django.setup()  # starts the embedded server in `data` (again, after a crash)


def before(data: Path) -> None:
    setup(data)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from marketloop.tracking.models import Source

    key = Source.objects.create(name="crash", kind="server").write_key
    port = _free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "marketloop.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "1", "--threads", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        accepted = _send(port, key)
    finally:
        os.killpg(web.pid, signal.SIGKILL)
    postmaster = int((data / "pgdata" / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)  # a crash: no checkpoint, no clean shutdown
    while _alive(postmaster):
        time.sleep(0.1)
    print(json.dumps({"accepted": accepted}), flush=True)
    os._exit(0)  # the server is gone: skip the exit handler that would stop it


def after(data: Path) -> None:
    setup(data)
    from marketloop.tracking.models import InboxBatch, Touchpoint
    from marketloop.tracking.processing import process_inbox

    inbox = sum(InboxBatch.objects.values_list("event_count", flat=True))
    while process_inbox():
        pass
    print(json.dumps({"inbox_after_crash": inbox, "touchpoints": Touchpoint.objects.count()}),
          flush=True)


def _send(port: int, key: str) -> int:
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            break
        except OSError:
            time.sleep(0.2)
    accepted = 0
    for _ in range(REQUESTS):
        batch = [{"type": "track", "event": "Crash Test", "anonymousId": f"a{n % 7}",
                  "messageId": str(uuid.uuid4())} for n in range(EVENTS)]
        conn.request("POST", "/v1/batch", body=json.dumps({"batch": batch}),
                     headers={"Authorization": auth, "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status == 200:
            accepted += EVENTS
    return accepted


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":
    {"before": before, "after": after}[sys.argv[1]](Path(sys.argv[2]))
