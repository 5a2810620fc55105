"""Calling the JSON API over HTTP, as an integration would: a bearer token per user."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from marketloop.org.models import User
from marketloop.org.services import issue_api_token


class ApiClient:
    """Django's test client with a bearer token; JSON in, JSON out."""

    def __init__(self, user: User | None = None, token: str | None = None) -> None:
        self.client = Client()
        self.user = user
        if token is None and user is not None:
            _, token = issue_api_token(user=user, name="tests")
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}

    def get(self, path: str, params: dict[str, Any] | None = None, **extra: Any):
        return self.client.get(path, params or {}, **self.headers, **extra)

    def post(self, path: str, body: Any = None, **extra: Any):
        return self.client.post(path, json.dumps(body if body is not None else {}),
                                content_type="application/json", **self.headers, **extra)

    def patch(self, path: str, body: Any = None, **extra: Any):
        return self.client.patch(path, json.dumps(body if body is not None else {}),
                                 content_type="application/json", **self.headers, **extra)

    def pages(self, path: str, params: dict[str, Any] | None = None) -> list[list[dict]]:
        """Every page of a list route, following `next_cursor` to the end."""
        params = dict(params or {})
        pages: list[list[dict]] = []
        while True:
            response = self.get(path, params)
            assert response.status_code == 200, response.content
            body = response.json()
            pages.append(body["items"])
            if not body["next_cursor"]:
                return pages
            assert len(pages) < 1000, "pagination does not end"
            params["cursor"] = body["next_cursor"]


def assert_problem(response, status: int, code: str | None = None) -> dict:
    """An RFC 9457 problem with the given status (and stable code)."""
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://marketloop.dev/problems/")
    assert body["title"]
    if code is not None:
        assert body["code"] == code, body
    return body
