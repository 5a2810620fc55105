"""Reactions to domain events of lower contexts (marketloop.bus)."""

from __future__ import annotations

from marketloop import bus
from marketloop.scoring.events import ScoresChanged
from marketloop.tracking.events import ProfilesMerged

INLINE_LIMIT = 500  # beyond this many profiles, the lifecycle runs in the worker
JOB_CHUNK = 2000


def on_scores_changed(event: ScoresChanged) -> None:
    """Profiles were (re)scored: the lifecycle makes and moves their leads."""
    from marketloop.leads import services, tasks

    ids = list(event.profile_ids)
    if len(ids) <= INLINE_LIMIT:
        services.apply_scores(profile_ids=ids)
        return
    for start in range(0, len(ids), JOB_CHUNK):
        tasks.apply_scores.defer(profile_ids=ids[start:start + JOB_CHUNK])


def on_profiles_merged(event: ProfilesMerged) -> None:
    """One person, one open lead: the absorbed profiles' leads move to the survivors."""
    from marketloop.leads import services

    services.merge_profiles(pairs=event.pairs)


def subscribe() -> None:
    bus.subscribe(ScoresChanged, on_scores_changed)
    bus.subscribe(ProfilesMerged, on_profiles_merged)
