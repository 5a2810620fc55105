"""The scoring context's API routes."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["scoring"])
