"""Job-queue housekeeping shared by every context: jobs of a worker that died (killed, out of
memory, machine lost) are stuck in 'doing'; procrastinate notices dead workers by their
missing heartbeat but does not retry their jobs, so this periodic task does."""

from __future__ import annotations

import logging

from procrastinate import jobs
from procrastinate.contrib.django import app

log = logging.getLogger(__name__)

STALLED_AFTER_SECONDS = 60  # no heartbeat for this long: the worker is gone


@app.periodic(cron="* * * * *", periodic_id="retry-stalled-jobs")
@app.task(queue="housekeeping", name="marketloop.retry_stalled_jobs",
          queueing_lock="retry-stalled-jobs")
async def retry_stalled_jobs(timestamp: int) -> None:
    manager = app.job_manager
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS):
        assert job.id is not None
        try:
            await manager.retry_job(job)
            log.warning("retried job %s (%s) of a dead worker", job.id, job.task_name)
        except Exception:
            # A job with a queueing lock cannot go back to 'todo' while another one with the
            # same lock waits there; that one does the same work, so this one is closed.
            await manager.finish_job_by_id_async(job.id, status=jobs.Status.FAILED,
                                                 delete_job=False)
            log.warning("closed job %s (%s) of a dead worker: a queued twin takes over",
                        job.id, job.task_name)
