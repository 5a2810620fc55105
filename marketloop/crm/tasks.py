"""Background jobs of the crm context. Each calls one service."""

from __future__ import annotations

from procrastinate.contrib.django import app


@app.task(queue="crm", name="crm.reroute_accounts")
def reroute_accounts(run_id: int) -> None:
    from marketloop.crm.services import run_reroute

    run_reroute(run_id=run_id)


@app.task(queue="crm", name="crm.import_file", retry=2)
def import_file(job_id: int) -> None:
    """Import an uploaded file; a retry continues after the last committed chunk."""
    from marketloop.crm.import_services import run_import

    run_import(job_id=job_id)
