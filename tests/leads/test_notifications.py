"""Notifications by email, through a real SMTP server on this machine (aiosmtpd) and a real
procrastinate worker: assignments, reminders and escalations are mailed; a mail that fails is
recorded on the notification and retried until it goes through."""

from __future__ import annotations

import email
import email.message
import socket
from datetime import timedelta
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.utils import timezone

from marketloop.leads.models import Lead
from marketloop.leads.tasks import handoff_sweep
from marketloop.org.models import Notification
from marketloop.org.notifications import NO_ADDRESS, notify
from tests.leads.conftest import person, score_to_mql

pytestmark = pytest.mark.usefixtures("fast_passwords", "model")

SITE = "https://marketloop.example.cn"


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd)
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"

    def by_recipient(self) -> dict[str, list[email.message.EmailMessage]]:
        found: dict[str, list[email.message.EmailMessage]] = {}
        for message in self.messages:
            found.setdefault(str(message["To"]), []).append(message)
        return found


def subject(message: email.message.EmailMessage) -> str:
    return str(message["Subject"]).strip()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_settings(settings):
    """Mail through SMTP to 127.0.0.1 on a free port (nothing listens there yet)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = free_port()
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "marketloop@corp.example.cn"
    settings.MARKETLOOP_SITE_URL = SITE
    return settings


@pytest.fixture
def smtp_server(smtp_settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_settings.EMAIL_PORT)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


def run_all(run_jobs) -> None:
    """Run jobs until none is due: a job may queue another (a sweep, its mails) after the
    worker's other slot found the queue empty and the run ended."""
    for _round in range(10):
        run_jobs()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo' "
                           "AND (scheduled_at IS NULL OR scheduled_at <= now())")
            if not cursor.fetchone()[0]:
                return
    raise AssertionError("jobs keep coming")


def email_jobs() -> list[tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, attempts FROM procrastinate_jobs "
                       "WHERE task_name = 'org.email_notification' ORDER BY id")
        return [tuple(row) for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_assignment_reminder_and_escalation_are_mailed_by_the_minute_job(
        org, gd_team, smtp_server, run_jobs):
    lead = score_to_mql(person(org.gd_sales, "孙晓")[1])
    owner, manager = lead.owner, gd_team.manager
    manager.email = "boss@corp.example.cn"
    manager.save(update_fields=["email"])
    # The reminder is due (the deadline still ahead): the minute's job reminds.
    Lead.objects.filter(pk=lead.pk).update(remind_at=timezone.now() - timedelta(hours=1))
    handoff_sweep.defer(timestamp=0)
    run_all(run_jobs)
    # Then the deadline passes: the next minute's job escalates.
    Lead.objects.filter(pk=lead.pk).update(accept_due_at=timezone.now() - timedelta(minutes=1))
    handoff_sweep.defer(timestamp=60)
    run_all(run_jobs)

    mail = smtp_server.by_recipient()
    assigned, reminder = mail[owner.email]
    assert subject(assigned).startswith("New lead for you: 孙晓")
    assert assigned["From"] == "marketloop@corp.example.cn"
    link = f"{SITE}/leads/{lead.pk}/"
    assert link in assigned.get_content()
    assert subject(reminder).startswith("Reminder") and link in reminder.get_content()
    (escalation,) = mail["boss@corp.example.cn"]
    assert subject(escalation).startswith("Overdue lead") and str(owner) in \
        escalation.get_content()
    sent = Notification.objects.filter(emailed_at__isnull=False)
    assert sorted(sent.values_list("kind", flat=True)) == ["lead_assigned", "lead_escalated",
                                                           "lead_reminder"]
    assert not Notification.objects.exclude(email_error="").exists()


@pytest.mark.django_db(transaction=True)
def test_a_mail_that_fails_is_recorded_and_retried_until_it_goes_through(
        org, gd_team, smtp_settings, run_jobs):
    rep = gd_team.reps[0]
    note = notify(user=rep, kind="test", title="Lead for you", body="Please look",
                  url="/leads/1/")

    run_jobs()  # nothing listens on the port

    note.refresh_from_db()
    assert note.emailed_at is None and "Connection" in note.email_error
    assert email_jobs() == [("todo", 1)]  # queued again, for later

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_settings.EMAIL_PORT)
    controller.start()
    try:
        with connection.cursor() as cursor:  # "later" is now
            cursor.execute("UPDATE procrastinate_jobs SET scheduled_at = now() "
                           "WHERE task_name = 'org.email_notification'")
        run_all(run_jobs)
    finally:
        controller.stop()

    note.refresh_from_db()
    assert note.emailed_at is not None and note.email_error == ""
    (message,) = inbox.messages
    assert message["To"] == rep.email and subject(message) == "Lead for you"
    assert "Please look" in message.get_content() and f"{SITE}/leads/1/" in \
        message.get_content()
    assert email_jobs() == [("succeeded", 2)]


@pytest.mark.django_db(transaction=True)
def test_a_person_without_an_address_is_told_in_the_app_only(org, make_user, run_jobs):
    from marketloop.org.models import Role

    user = make_user(org.gd_sales, Role.SALES_REP)
    note = notify(user=user, kind="test", title="Hello")
    run_jobs()
    note.refresh_from_db()
    assert note.email_error == NO_ADDRESS and note.emailed_at is None
    assert email_jobs() == []
