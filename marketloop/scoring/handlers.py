"""Reactions to domain events of lower contexts (marketloop.bus)."""

from __future__ import annotations


def subscribe() -> None:
    pass
