"""Fixtures of the scoring tests: a small model in force whose numbers are easy to follow,
touchpoints made for real (through the inbox, processing and stitching), and a worker that
runs the scoring queue's jobs."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from django.conf import settings
from django.utils import timezone

from marketloop.scoring.models import EngagementRule, FitRule, ScoringModel
from marketloop.tracking import ingest
from marketloop.tracking.models import Source, SourceKind
from marketloop.tracking.processing import process_inbox


@pytest.fixture
def scoring_model(db) -> ScoringModel:
    """Half-life 10 days, look-back 30 days; the rules the hand-computed cases use."""
    ScoringModel.objects.filter(active=True).update(active=False)
    model = ScoringModel.objects.create(name="test model", active=True, half_life_days=10,
                                        lookback_days=30, lead_engagement=10, mql_fit=30,
                                        mql_engagement=40)
    rules = [("Page view", "page", "", "", "", "", 1, 3),
             ("Pricing page", "page", "", "/pricing", "", "", 10, 20),
             ("Careers page", "page", "", "/careers", "", "", -5, 5),
             ("Form", "form", "", "", "", "", 20, None),
             ("White paper", "download", "", "", "file", "wp.pdf", 8, None)]
    for label, kind, event, url, key, value, points, cap in rules:
        EngagementRule.objects.create(model=model, label=label, kind=kind, event=event,
                                      url_contains=url, property_key=key,
                                      property_value=value, points=points, daily_cap=cap)
    for attribute, value, points in [("tier", "hq_strategic", 30), ("title", "cio", 15),
                                     ("management", "yes", 10), ("management", "no", -3),
                                     ("industry", "manufacturing", 5), ("province", "gd", 7),
                                     ("revenue_band", "large", 10)]:
        FitRule.objects.create(model=model, attribute=attribute, value=value, points=points)
    return model


@pytest.fixture
def source(org) -> Source:
    return Source.objects.create(name="Website", kind=SourceKind.SERVER)


def local_noon(days_ago: int, now: datetime | None = None) -> datetime:
    """Noon, local time, `days_ago` days before today."""
    zone = ZoneInfo(settings.TIME_ZONE)
    today = (now or timezone.now()).astimezone(zone).date()
    return datetime.combine(today - timedelta(days=days_ago), time(12), zone)


def event(kind: str, *, person: str, at: datetime, contact_id: int | None = None,
          **fields: Any) -> dict:
    """A Segment event of `person` (an anonymous id), naming their CRM contact if given."""
    body: dict[str, Any] = {"type": "track", "anonymousId": person,
                            "messageId": str(uuid.uuid4()), "timestamp": at.isoformat()}
    if kind == "page":
        body["type"] = "page"
    else:
        body["event"] = fields.pop("event", kind.title())
        body.setdefault("properties", {})["touchpoint_kind"] = kind
    if fields:
        body.setdefault("properties", {}).update(fields)
    if contact_id:
        body["context"] = {"traits": {"contactId": str(contact_id)}}
    return body


def record(source: Source, events: list[dict]) -> None:
    """Store the events as the tracking API would, and process the inbox."""
    ingest.store(source_id=source.id, endpoint="batch",
                 body=orjson.dumps({"batch": events}), count=len(events), ip=None)
    while process_inbox():
        pass


@pytest.fixture
def run_scoring_jobs(transactional_db):
    """Run the queued jobs of the scoring queue in a real procrastinate worker."""
    from procrastinate.contrib.django import app

    def work() -> None:
        worker_app = app.with_connector(app.connector.get_worker_connector())
        worker_app.run_worker(queues=["scoring"], wait=False, install_signal_handlers=False,
                              listen_notify=False)

    def run() -> None:
        # In a thread of its own: the worker runs an event loop, and a browser test's thread
        # already has Playwright's.
        failures: list[BaseException] = []

        def target() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
                failures.append(exc)

        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        if failures:
            raise failures[0]

    return run
