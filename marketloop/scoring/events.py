"""What the scoring context announces (marketloop.bus): the lifecycle (leads) re-reads the
scores of these profiles and moves them forward where a threshold is crossed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScoresChanged:
    profile_ids: tuple[int, ...]
