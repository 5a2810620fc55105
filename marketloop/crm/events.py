"""What the crm context announces (marketloop.bus) for later contexts to react to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContactsChanged:
    """Contacts created, or their email, mobile, account, title or management level changed
    (what links them to profiles, and what their fit is scored on)."""

    contact_ids: tuple[int, ...]


@dataclass(frozen=True)
class AccountsRerouted:
    """Accounts (and so their contacts) moved to other owners."""

    account_ids: tuple[int, ...]
