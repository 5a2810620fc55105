"""The notification bell in the top bar: `{% unread_notifications as count %}`."""

from __future__ import annotations

from typing import Any

from django import template

from marketloop.org.notifications import unread_count

register = template.Library()


@register.simple_tag(takes_context=True)
def unread_notifications(context: dict[str, Any]) -> int:
    user = context.get("user")
    return unread_count(user) if user is not None else 0
