"""What the sales context announces (marketloop.bus) for later contexts to react to:
campaigns re-credits its activities when a deal is created, won or lost."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OpportunitiesChanged:
    """Deals were created, or moved to won or lost (or reopened from there)."""

    opportunity_ids: tuple[int, ...]
    stage: str
