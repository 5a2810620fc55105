"""Background jobs of the tracking context. Each calls one service."""

from __future__ import annotations

import time

from procrastinate.contrib.django import app

# A processing job drains the inbox, then lingers a little for stragglers. It must linger
# longer than ingest.WAKE_EVERY, the interval in which a web process does not re-queue it.
LINGER_SECONDS = 2.0
MAX_SECONDS = 300.0


@app.task(queue="tracking", name="tracking.process_inbox")
def process_inbox() -> None:
    from marketloop.tracking.processing import drain

    drain(linger=LINGER_SECONDS, deadline=time.monotonic() + MAX_SECONDS)


@app.periodic(cron="* * * * *", periodic_id="tracking-sweep")
@app.task(queue="tracking", name="tracking.sweep_inbox", queueing_lock="tracking-sweep")
def sweep_inbox(timestamp: int) -> None:
    """Every minute: anything left in the inbox (a wake-up lost to a crash) is processed, and
    next months' partitions exist before their first event."""
    from marketloop.tracking.processing import drain
    from marketloop.tracking.services import ensure_upcoming_partitions

    ensure_upcoming_partitions()
    drain(linger=0.0, deadline=time.monotonic() + 50)


@app.task(queue="tracking", name="tracking.link_contacts")
def link_contacts(contact_ids: list[int]) -> None:
    from marketloop.tracking.services import link_contacts as link

    link(contact_ids=contact_ids)
