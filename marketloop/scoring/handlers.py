"""Reactions to domain events of lower contexts (marketloop.bus): new touchpoints and merges
re-score their profiles, changed contacts and accounts the fit of their people, each in a job
of the "scoring" queue."""

from __future__ import annotations

from marketloop import bus
from marketloop.crm.events import AccountsRerouted, ContactsChanged
from marketloop.tracking.events import ProfilesMerged, TouchpointsRecorded

JOB_CHUNK = 1000  # profiles per job: a job of a thousand active profiles takes about a second


def _defer(profile_ids: list[int]) -> None:
    from marketloop.scoring import tasks

    ids = sorted(set(profile_ids))
    for start in range(0, len(ids), JOB_CHUNK):
        tasks.rescore_profiles.defer(profile_ids=ids[start:start + JOB_CHUNK])


def on_touchpoints_recorded(event: TouchpointsRecorded) -> None:
    _defer(list(event.profile_ids))


def on_profiles_merged(event: ProfilesMerged) -> None:
    _defer([pk for pair in event.pairs for pk in pair])


def on_contacts_changed(event: ContactsChanged) -> None:
    from marketloop.scoring import tasks

    ids = sorted(set(event.contact_ids))
    for start in range(0, len(ids), JOB_CHUNK):
        tasks.rescore_people.defer(contact_ids=ids[start:start + JOB_CHUNK], account_ids=[])


def on_accounts_rerouted(event: AccountsRerouted) -> None:
    from marketloop.scoring import tasks

    ids = sorted(set(event.account_ids))
    for start in range(0, len(ids), JOB_CHUNK):
        tasks.rescore_people.defer(contact_ids=[], account_ids=ids[start:start + JOB_CHUNK])


def subscribe() -> None:
    bus.subscribe(TouchpointsRecorded, on_touchpoints_recorded)
    bus.subscribe(ProfilesMerged, on_profiles_merged)
    bus.subscribe(ContactsChanged, on_contacts_changed)
    bus.subscribe(AccountsRerouted, on_accounts_rerouted)
