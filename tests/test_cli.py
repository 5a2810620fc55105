"""The `marketloop run` lifecycle: it starts the web server, the worker and the embedded
database; Ctrl-C stops all three cleanly; a second start reuses the data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def embedded_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "MARKETLOOP_EMBEDDED_OWNER", "DJANGO_SETTINGS_MODULE"}}
    env["MARKETLOOP_DATA"] = str(data)
    return env


def wait_for(url: str, timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def manage(data: Path, code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "marketloop.cli", "manage", "shell", "-c", code],
        env=embedded_env(data), capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.strip()


def start_and_stop(data: Path) -> tuple[str, set[int]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "marketloop.cli", "run", "--no-demo", "--port", str(port)],
        env=embedded_env(data), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/healthz") == 200
        # Login page served with its static assets (no CDN).
        assert wait_for(f"http://127.0.0.1:{port}/login/") == 200
        children = {p.pid for p in psutil.Process(process.pid).children(recursive=True)}
        postmaster = (data / "pgdata" / "postmaster.pid").read_text().split()[0]
        children.add(int(postmaster))
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    return output, children


def test_run_prints_logins_stops_cleanly_and_reuses_data(tmp_path):
    data = tmp_path / "data"
    output, pids = start_and_stop(data)
    assert "marketloop is running at http://127.0.0.1:" in output
    assert "admin" in output
    time.sleep(1)
    assert not [pid for pid in pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE], output
    assert not (data / "pgdata" / "postmaster.pid").exists()

    manage(data, "from marketloop.org.standard import ensure_standard_org; ensure_standard_org()")
    start_and_stop(data)
    count = manage(data, "from marketloop.org.models import OrgUnit; "
                         "print(OrgUnit.objects.count())")
    assert int(count.splitlines()[-1]) > 60
