"""What the tracking context announces (marketloop.bus) for later contexts to react to:
scoring re-scores the profiles that got new touchpoints and moves scores on a merge."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TouchpointsRecorded:
    profile_ids: tuple[int, ...]
    count: int


@dataclass(frozen=True)
class ProfilesMerged:
    pairs: tuple[tuple[int, int], ...]  # (survivor, absorbed)
