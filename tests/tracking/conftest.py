from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson
import pytest

from marketloop.tracking import ingest
from marketloop.tracking.models import Source, SourceKind


@pytest.fixture(autouse=True)
def _fresh_caches():
    ingest.forget_sources()
    yield
    ingest.forget_sources()


@pytest.fixture
def source(org) -> Source:
    return Source.objects.create(name="Website", kind=SourceKind.SERVER)


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def event(kind: str = "track", **fields: Any) -> dict:
    body: dict[str, Any] = {"type": kind, "messageId": str(uuid.uuid4()),
                            "timestamp": "2026-11-20T08:00:00Z"}
    if kind == "track":
        body["event"] = "Pricing Viewed"
    body.update(fields)
    if "userId" not in body and "anonymousId" not in body and kind != "alias":
        body["anonymousId"] = "anon-1"
    return body


def post_batch(client, source: Source, events: list[dict], **extra: Any):
    return client.post("/v1/batch", data=orjson.dumps({"batch": events, **extra}),
                       content_type="application/json",
                       HTTP_AUTHORIZATION=basic(source.write_key))
