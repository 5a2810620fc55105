"""Background jobs of the leads context. Each calls one service."""

from __future__ import annotations

from procrastinate.contrib.django import app


@app.task(queue="leads", name="leads.apply_scores", retry=2)
def apply_scores(profile_ids: list[int]) -> None:
    from marketloop.leads.services import apply_scores as apply

    apply(profile_ids=profile_ids)


@app.periodic(cron="* * * * *", periodic_id="leads-handoff-sweep")
@app.task(queue="leads", name="leads.handoff_sweep", queueing_lock="leads-handoff-sweep")
def handoff_sweep(timestamp: int) -> None:
    """Every minute: MQLs still waiting for an owner are routed, owners are reminded before
    their deadline and overdue leads escalate to the owner's manager."""
    from marketloop.leads.services import sweep

    sweep()
