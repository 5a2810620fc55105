"""Notifications: a message to one person, in the app (the bell in the top bar) and by email.

`notify` stores the message and, in the same transaction, queues a job that mails it; a mail
that fails is recorded on the notification (`email_error`) and the job is retried."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from marketloop.org.errors import NotFound, OrgErrorCode
from marketloop.org.models import Notification, User

INBOX_LIMIT = 100
BELL_LIMIT = 99
NO_ADDRESS = "The person has no email address."


def notify(*, user: User, kind: str, title: str, body: str = "", url: str = "",
           email: bool = True) -> Notification:
    """Tell `user` something, in the app and (with `email`) by mail once this transaction
    commits. `url` is a path inside marketloop that the notification opens."""
    from marketloop.org.tasks import email_notification

    notification = Notification.objects.create(
        user=user, kind=kind, title=title[:200], body=body, url=url[:300], email=email,
        email_error="" if (not email or user.email) else NO_ADDRESS)
    if email and user.email:
        # procrastinate enqueues on this transaction's connection: no commit, no mail.
        email_notification.defer(notification_id=notification.pk)
    return notification


def absolute_url(path: str) -> str:
    if not path:
        return ""
    return settings.MARKETLOOP_SITE_URL.rstrip("/") + "/" + path.lstrip("/")


class EmailFailed(Exception):
    """The mail server refused or could not be reached; the job is retried."""


def send_email(*, notification_id: int) -> Notification | None:
    """Mail one notification (once: a sent one is not sent again). A failure is recorded on
    the notification and raised, so the job queue retries it."""
    with transaction.atomic():
        notification = (Notification.objects.select_for_update().select_related("user")
                        .filter(pk=notification_id).first())
        if notification is None or notification.emailed_at or not notification.email:
            return notification
        user = notification.user
        if not user.email:
            notification.email_error = NO_ADDRESS
            notification.save(update_fields=["email_error"])
            return notification
        link = absolute_url(notification.url)
        message = EmailMessage(
            subject=notification.title,
            body="\n\n".join(part for part in (notification.body, link) if part),
            from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email])
        try:
            message.send(fail_silently=False)
        except Exception as exc:  # SMTP errors, refused connections, timeouts
            error = f"{type(exc).__name__}: {exc}"[:2000]
            Notification.objects.filter(pk=notification_id).update(email_error=error)
            failure = EmailFailed(error)
        else:
            notification.emailed_at = timezone.now()
            notification.email_error = ""
            notification.save(update_fields=["emailed_at", "email_error"])
            return notification
    raise failure


# ---- reading and marking, always the caller's own ----------------------------------------


def inbox(user: User, *, unread_only: bool = False) -> QuerySet[Notification]:
    qs = Notification.objects.filter(user_id=user.pk)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")[:INBOX_LIMIT]


def unread_count(user: User) -> int:
    """Unread notifications, up to BELL_LIMIT + 1 (the bell shows "99+"): read off the unread
    index, never counting a long backlog."""
    if not getattr(user, "is_authenticated", False):
        return 0
    return len(Notification.objects.filter(user_id=user.pk, read_at__isnull=True)
               .values_list("id", flat=True)[:BELL_LIMIT + 1])


def own_notification(user: User, notification_id: int) -> Notification:
    notification = Notification.objects.filter(pk=notification_id, user_id=user.pk).first()
    if notification is None:
        raise NotFound(OrgErrorCode.NOT_FOUND, "No such notification.")
    return notification


def mark_read(*, user: User, notification_id: int) -> Notification:
    notification = own_notification(user, notification_id)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
    return notification


def mark_all_read(*, user: User) -> int:
    return Notification.objects.filter(user_id=user.pk, read_at__isnull=True).update(
        read_at=timezone.now())


def safe_target(notification: Notification) -> str | None:
    """The notification's link if it stays inside marketloop."""
    url = notification.url
    if url and url.startswith("/") and url_has_allowed_host_and_scheme(url, allowed_hosts=None):
        return url
    return None
