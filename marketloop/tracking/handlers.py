"""How tracking reacts to the crm context's events."""

from __future__ import annotations

from marketloop import bus
from marketloop.crm.events import AccountsRerouted, ContactsChanged

INLINE_LIMIT = 500  # beyond this many contacts, linking runs in the worker


def on_contacts_changed(event: ContactsChanged) -> None:
    from marketloop.tracking import services, tasks

    ids = list(event.contact_ids)
    if len(ids) <= INLINE_LIMIT:
        services.link_contacts(contact_ids=ids)
        return
    for start in range(0, len(ids), 5000):
        tasks.link_contacts.defer(contact_ids=ids[start:start + 5000])


def on_accounts_rerouted(event: AccountsRerouted) -> None:
    from marketloop.tracking import services

    services.sync_profile_scope(account_ids=list(event.account_ids))


def subscribe() -> None:
    bus.subscribe(ContactsChanged, on_contacts_changed)
    bus.subscribe(AccountsRerouted, on_accounts_rerouted)
