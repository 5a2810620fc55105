"""Background jobs of the campaigns context. Each calls one service."""

from __future__ import annotations

from procrastinate.contrib.django import app


@app.task(queue="campaigns", name="campaigns.attach_touchpoints")
def attach_touchpoints(profile_ids: list[int]) -> None:
    from marketloop.campaigns.matching import attach_touchpoints_of_profiles

    attach_touchpoints_of_profiles(profile_ids=profile_ids)


@app.task(queue="campaigns", name="campaigns.attach_activity", lock="campaigns-attach-activity")
def attach_activity(activity_id: int) -> None:
    from marketloop.campaigns.matching import attach_touchpoints_of_activity

    attach_touchpoints_of_activity(activity_id=activity_id)


@app.task(queue="campaigns", name="campaigns.merge_members")
def merge_members(pairs: list[list[int]]) -> None:
    from marketloop.campaigns.members import merge_profiles

    merge_profiles(pairs=[(survivor, absorbed) for survivor, absorbed in pairs])


# Runs take turns (lock); a second queued run waits behind the first (queueing lock).
@app.task(queue="campaigns", name="campaigns.run_attribution", lock="campaigns-attribution",
          queueing_lock="campaigns-attribution-queued")
def run_attribution(run_id: int) -> None:
    from marketloop.campaigns.attribution.services import run_attribution as run

    run(run_id=run_id)


# Every night (03:30 in China; procrastinate's cron runs on UTC).
@app.periodic(cron="30 19 * * *", periodic_id="campaigns-nightly")
@app.task(queue="campaigns", name="campaigns.nightly_attribution",
          queueing_lock="campaigns-nightly", lock="campaigns-attribution")
def nightly_attribution(timestamp: int) -> None:
    from marketloop.campaigns.attribution.services import nightly_attribution as run

    run()
