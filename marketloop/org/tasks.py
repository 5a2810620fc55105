"""Background jobs of the org context. Each calls one service."""

from __future__ import annotations

from procrastinate import RetryStrategy
from procrastinate.contrib.django import app

# A mail server that is down for a while: tried again after 30 s, 2.5 min, 4.5 min, ...
EMAIL_RETRY = RetryStrategy(max_attempts=8, wait=30, linear_wait=120)


@app.task(queue="notifications", name="org.email_notification", retry=EMAIL_RETRY)
def email_notification(notification_id: int) -> None:
    from marketloop.org.notifications import send_email

    send_email(notification_id=notification_id)
