"""The hotline's call webhook: the call-centre system POSTs each finished call (or a list of
them) to /v1/hotline/calls with a hotline source's write key, exactly as clients of the
tracking API do. Each call becomes a `call` touchpoint of whoever rang, found by their number.

    {"callId": "c-1", "caller": "13912345678", "agent": "王工", "queue": "presales",
     "waitSeconds": 12, "talkSeconds": 340, "outcome": "answered",
     "startedAt": "2026-11-20T09:30:00+08:00"}
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from marketloop.tracking import ingest, segment, services
from marketloop.tracking.errors import TrackingErrorCode
from marketloop.tracking.http import body_within, problem
from marketloop.tracking.identifiers import phone_of
from marketloop.tracking.models import SourceKind, TouchpointKind
from marketloop.tracking.segment import RequestError


class Call(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True,
                              str_strip_whitespace=True, extra="ignore")

    call_id: str = Field(min_length=1, max_length=95)
    caller: str
    agent: str = Field("", max_length=100)
    queue: str = Field("", max_length=100)
    wait_seconds: int = Field(0, ge=0, le=86_400)
    talk_seconds: int = Field(0, ge=0, le=86_400)
    outcome: Literal["answered", "abandoned", "voicemail", "callback"]
    started_at: datetime

    @field_validator("call_id", mode="before")
    @classmethod
    def _numeric_ids_too(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("caller", mode="before")
    @classmethod
    def _phone_number(cls, value: Any) -> str:
        phone = phone_of(value)
        if not phone:
            raise ValueError(f"{value!r} is not a phone number (a Chinese mobile or landline "
                             "number, or E.164).")
        return phone

    @field_validator("started_at", mode="before")
    @classmethod
    def _iso_time(cls, value: Any) -> datetime:
        if not isinstance(value, str):
            raise ValueError("must be an ISO-8601 date-time string.")
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an ISO-8601 date-time.") from exc
        if timezone.is_naive(moment):  # call-centre systems here send local time
            moment = timezone.make_aware(moment)
        now = timezone.now()
        # Beyond these the processor would replace the time with the time of receipt.
        if moment > now + segment.MAX_AHEAD:
            raise ValueError("is in the future.")
        if moment < now - segment.MAX_AGE:
            raise ValueError("is too far in the past.")
        return moment


def _problems(exc: ValidationError, prefix: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "call"
        message = error["msg"].removeprefix("Value error, ")
        errors.setdefault(prefix + name, []).append(message)
    return errors


def parse_calls(body: Any) -> list[Call]:
    """The calls of a webhook body (one call object, or a list of them); RequestError (422)
    naming every bad field ("caller", or "[3].caller" in a list) when any call is invalid."""
    many = isinstance(body, list)
    if not many and not isinstance(body, dict):
        raise RequestError(TrackingErrorCode.INVALID,
                           "The body is a call object or a list of call objects.", 422,
                           errors={"body": ["must be an object or a list."]})
    calls: list[Call] = []
    errors: dict[str, list[str]] = {}
    for index, item in enumerate(body if many else [body]):
        prefix = f"[{index}]." if many else ""
        if not isinstance(item, dict):
            errors[prefix.rstrip(".")] = ["must be an object."]
            continue
        try:
            calls.append(Call.model_validate(item))
        except ValidationError as exc:
            errors.update(_problems(exc, prefix))
    if errors:
        raise RequestError(TrackingErrorCode.INVALID, "The call is not valid; nothing was stored."
                           if not many else f"Calls are not valid ({len(errors)} fields); "
                           "nothing was stored.", 422, errors=errors)
    return calls


def call_event(call: Call) -> dict[str, Any]:
    """A call as a Segment track event: re-sending a call gives the same messageId, which the
    processor stores once per source."""
    return services.touchpoint_event(
        kind=TouchpointKind.CALL, event="Hotline Call", message_id=f"call-{call.call_id}",
        occurred_at=call.started_at, traits={"phone": call.caller},
        properties={"call_id": call.call_id, "agent": call.agent, "queue": call.queue,
                    "wait_seconds": call.wait_seconds, "talk_seconds": call.talk_seconds,
                    "outcome": call.outcome})


def accept_calls(*, authorization: str, raw: bytes, content_encoding: str) -> int:
    """Authenticate, validate and durably store one webhook request; return how many calls it
    carried. RequestError (401/403/413/415/400/422; counted against a known source)."""
    write_key = ingest.write_key_from_header(authorization)
    source = ingest.source_for_key(write_key) if write_key else None
    if source is None:
        raise RequestError(TrackingErrorCode.UNAUTHENTICATED, "A hotline source's write key is "
                           "required (HTTP Basic user name).", 401)
    try:
        if not source.active:
            raise RequestError(TrackingErrorCode.SOURCE_INACTIVE, "This source is switched off.",
                               403)
        if source.kind != SourceKind.HOTLINE:
            raise RequestError(TrackingErrorCode.WRONG_SOURCE_KIND,
                               "This write key is not a hotline source's.", 403)
        data = segment.decode_body(raw, content_encoding, segment.BATCH_LIMIT)
        calls = parse_calls(segment.parse_json(data))
    except RequestError as exc:
        services.count_source_error(source_id=source.id, code=exc.code, message=exc.message)
        raise
    if calls:
        # ip=None: the request comes from the call centre's server, which says nothing about
        # where the caller is (the processor would copy it into each touchpoint's context).
        ingest.store(source_id=source.id, endpoint="batch", count=len(calls), ip=None,
                     body=orjson.dumps({"batch": [call_event(call) for call in calls]}))
    return len(calls)


@csrf_exempt
def calls_webhook(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        response = problem(request, RequestError("method_not_allowed", "Use POST.", 405))
        response["Allow"] = "POST"
        return response
    try:
        count = accept_calls(authorization=request.META.get("HTTP_AUTHORIZATION", ""),
                             raw=body_within(request, segment.BATCH_LIMIT),
                             content_encoding=request.META.get("HTTP_CONTENT_ENCODING", ""))
    except RequestError as exc:
        return problem(request, exc)
    return HttpResponse(orjson.dumps({"success": True, "calls": count}),
                        content_type="application/json")
