"""A tiny in-process domain-event bus. A lower context publishes what happened; higher
contexts subscribe at start-up (in their AppConfig.ready). Handlers run after the publishing
transaction commits, so they never see, or act on, work that was rolled back."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import transaction

E = TypeVar("E")
Handler = Callable[[Any], None]

_handlers: dict[type, list[Handler]] = defaultdict(list)


def subscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    if handler not in _handlers[event_type]:
        _handlers[event_type].append(handler)


def unsubscribe(event_type: type[E], handler: Callable[[E], None]) -> None:
    if handler in _handlers[event_type]:
        _handlers[event_type].remove(handler)


def publish(event: object) -> None:
    """Deliver `event` to its subscribers once the current transaction commits (at once when
    there is none)."""
    handlers = list(_handlers.get(type(event), ()))
    for handler in handlers:
        transaction.on_commit(lambda handler=handler: handler(event), robust=False)
