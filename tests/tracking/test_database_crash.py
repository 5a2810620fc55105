"""An accepted request survives a crash of the database: what got its 200 is in the inbox
after PostgreSQL is killed (no shutdown, no checkpoint) and started again, and is then
processed into touchpoints. Runs in its own data directory and process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("crash_database.py")


def test_accepted_events_survive_a_database_crash(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "MARKETLOOP_EMBEDDED_OWNER", "DJANGO_SETTINGS_MODULE"}}
    figures = {}
    for phase in ("before", "after"):
        result = subprocess.run([sys.executable, str(SCRIPT), phase, str(tmp_path / "data")],
                                env=env, capture_output=True, text=True, timeout=240,
                                cwd=Path(__file__).resolve().parents[2])
        assert result.returncode == 0, result.stderr[-3000:]
        figures.update(json.loads(result.stdout.strip().splitlines()[-1]))
    assert figures["accepted"] == 2000
    assert figures["inbox_after_crash"] == figures["accepted"]
    assert figures["touchpoints"] == figures["accepted"]
