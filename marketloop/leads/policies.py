"""How long the owner of a lead of each tier has to accept or reject it, in working hours,
and when they are reminded. A data migration seeds one row per tier; where a row is missing
these defaults apply."""

from __future__ import annotations

from marketloop.crm.models import Tier
from marketloop.leads.models import HandoffPolicy

DEFAULT_HOURS = {Tier.HQ_STRATEGIC: 4, Tier.REGIONAL_STRATEGIC: 8, Tier.REGIONAL_KEY: 16,
                 Tier.ORDINARY: 24}
DEFAULT_REMIND_BEFORE = 2


def policy_for(tier: str) -> HandoffPolicy:
    """The policy of a tier (an account without one counts as ordinary)."""
    tier = tier if tier in Tier.values else Tier.ORDINARY
    policy = HandoffPolicy.objects.filter(tier=tier).first()
    if policy is None:
        policy = HandoffPolicy(tier=tier, accept_within_hours=DEFAULT_HOURS[Tier(tier)],
                               remind_before_hours=DEFAULT_REMIND_BEFORE)
    return policy


def all_policies() -> list[HandoffPolicy]:
    stored = {policy.tier: policy for policy in HandoffPolicy.objects.all()}
    return [stored.get(tier) or policy_for(tier) for tier in Tier.values]
