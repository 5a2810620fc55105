"""Background jobs of the scoring context. Each calls one service."""

from __future__ import annotations

from procrastinate.contrib.django import app


@app.task(queue="scoring", name="scoring.rescore_profiles")
def rescore_profiles(profile_ids: list[int]) -> None:
    from marketloop.scoring.services import rescore_profiles as rescore

    rescore(profile_ids=profile_ids)


@app.task(queue="scoring", name="scoring.rescore_people")
def rescore_people(contact_ids: list[int], account_ids: list[int]) -> None:
    from marketloop.scoring.services import rescore_people as rescore

    rescore(contact_ids=contact_ids, account_ids=account_ids)


# Full runs take turns (lock): two at once would only slow each other down.
@app.task(queue="scoring", name="scoring.rescore_everyone", lock="scoring-full-rescore")
def rescore_everyone(run_id: int) -> None:
    from marketloop.scoring.services import run_rescore

    run_rescore(run_id=run_id)


# Every night (02:30 in China; procrastinate's cron runs on UTC): decay moves every score.
@app.periodic(cron="30 18 * * *", periodic_id="scoring-nightly")
@app.task(queue="scoring", name="scoring.nightly_rescore", queueing_lock="scoring-nightly",
          lock="scoring-full-rescore")
def nightly_rescore(timestamp: int) -> None:
    from django.utils.translation import gettext as _

    from marketloop.scoring.services import nightly_rescore as rescore

    rescore(cause=_("Nightly re-score (decay)"))
