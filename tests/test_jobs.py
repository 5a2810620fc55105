"""Job-queue housekeeping: jobs of a dead worker are retried, not left 'doing' for ever."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection

from marketloop.jobs import retry_stalled_jobs

pytestmark = pytest.mark.django_db(transaction=True)


def _job(task: str, worker_id: int, lock: str | None = None) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args, "
            "status, worker_id) VALUES ('q', %s, NULL, %s, '{}', 'doing', %s) RETURNING id",
            [task, lock, worker_id])
        return cursor.fetchone()[0]


def _status(job_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", [job_id])
        return cursor.fetchone()[0]


@pytest.fixture
def dead_worker() -> int:
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO procrastinate_workers (last_heartbeat) "
                       "VALUES (now() - interval '5 minutes') RETURNING id")
        worker = cursor.fetchone()[0]
    yield worker
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE queue_name = 'q'")
        cursor.execute("DELETE FROM procrastinate_workers WHERE id = %s", [worker])


def _run() -> None:
    from procrastinate.contrib.django import app

    async def main() -> None:
        async with app.open_async():
            await retry_stalled_jobs.func(timestamp=0)

    asyncio.run(main())


def test_a_dead_workers_job_goes_back_to_the_queue(dead_worker):
    job = _job("crm.import_file", dead_worker)
    _run()
    assert _status(job) == "todo"


def test_a_dead_workers_job_whose_twin_waits_is_closed(dead_worker):
    stalled = _job("tracking.process_inbox", dead_worker, lock="test-twin")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, queueing_lock, args, status) "
            "VALUES ('q', 'tracking.process_inbox', 'test-twin', '{}', 'todo') "
            "RETURNING id")
        twin = cursor.fetchone()[0]
    _run()
    assert _status(stalled) == "failed"
    assert _status(twin) == "todo"
