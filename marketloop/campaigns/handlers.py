"""Reactions to domain events of lower contexts (marketloop.bus): new touchpoints are matched
to activities; deals created, won or lost queue a new attribution run."""

from __future__ import annotations

from marketloop import bus
from marketloop.sales.events import OpportunitiesChanged
from marketloop.tracking.events import ProfilesMerged, TouchpointsRecorded

JOB_CHUNK = 1000


def on_touchpoints_recorded(event: TouchpointsRecorded) -> None:
    from marketloop.campaigns import tasks

    ids = sorted(set(event.profile_ids))
    for start in range(0, len(ids), JOB_CHUNK):
        tasks.attach_touchpoints.defer(profile_ids=ids[start:start + JOB_CHUNK])


def on_profiles_merged(event: ProfilesMerged) -> None:
    from marketloop.campaigns import tasks

    tasks.merge_members.defer(pairs=[list(pair) for pair in event.pairs])


def on_opportunities_changed(event: OpportunitiesChanged) -> None:
    from marketloop.campaigns.attribution import services

    services.queue_attribution(reason="deals changed")


def subscribe() -> None:
    bus.subscribe(TouchpointsRecorded, on_touchpoints_recorded)
    bus.subscribe(ProfilesMerged, on_profiles_merged)
    bus.subscribe(OpportunitiesChanged, on_opportunities_changed)
