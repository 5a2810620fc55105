"""Tier and ownership: which rule an account matches and which unit and person own it.

`Router` loads the rules, the owning units and the candidate owners once, so a re-routing job
can decide for many accounts without a query per account.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Count
from django.utils.translation import gettext as _

from marketloop.crm.models import Account, OwnerKind, Tier, TierRule
from marketloop.org.models import Function, OrgUnit, UnitKind, User

UNRANKED = 10**9


@dataclass(frozen=True)
class Routing:
    tier: str
    owner_unit_id: int
    partner_id: int | None
    rule_id: int | None
    reason: str


def rule_matches(rule: TierRule, rank: int | None, revenue_band: str) -> bool:
    effective = rank if rank is not None else UNRANKED
    if rule.rank_min is not None and effective < rule.rank_min:
        return False
    if rule.rank_max is not None and effective > rule.rank_max:
        return False
    return not rule.revenue_bands or revenue_band in rule.revenue_bands


def describe_rule(rule: TierRule) -> str:
    if rule.rank_min is not None and rule.rank_max is not None:
        ranks = _("rank %(low)s–%(high)s") % {"low": rule.rank_min, "high": rule.rank_max}
    elif rule.rank_min is not None:
        ranks = _("rank %(low)s or beyond (or unranked)") % {"low": rule.rank_min}
    elif rule.rank_max is not None:
        ranks = _("rank up to %(high)s") % {"high": rule.rank_max}
    else:
        ranks = _("any rank")
    if rule.revenue_bands:
        ranks += _(", revenue %(bands)s") % {"bands": "/".join(rule.revenue_bands)}
    return ranks


class Router:
    def __init__(self) -> None:
        self.rules = list(TierRule.objects.filter(active=True).order_by("priority", "id"))
        units = list(OrgUnit.objects.filter(
            kind__in=[UnitKind.HQ_DEPARTMENT, UnitKind.PROVINCE_DEPARTMENT, UnitKind.PARTNER]))
        self.hq_key_account = next(
            (u for u in units if u.kind == UnitKind.HQ_DEPARTMENT
             and u.function == Function.KEY_ACCOUNT), None)
        self.province_units: dict[tuple[int, str], OrgUnit] = {}
        for unit in units:
            if unit.kind == UnitKind.PARTNER:
                self.province_units[(unit.province_id, "partner")] = unit
            elif unit.kind == UnitKind.PROVINCE_DEPARTMENT:
                self.province_units[(unit.province_id, unit.function)] = unit
        self.unit_names = dict(OrgUnit.objects.values_list("id", "name"))
        self._owners: dict[int, list[int]] | None = None
        self._load: Counter[int] = Counter()
        self._user_names: dict[int, str | None] = {}

    def unit_for(self, owner_kind: str, province_id: int) -> OrgUnit | None:
        if owner_kind == OwnerKind.HQ_KEY_ACCOUNT:
            return self.hq_key_account
        key = {
            OwnerKind.PROVINCE_KEY_ACCOUNT: Function.KEY_ACCOUNT,
            OwnerKind.PROVINCE_SALES: Function.SALES,
            OwnerKind.PROVINCE_PARTNER: "partner",
        }[OwnerKind(owner_kind)]
        return self.province_units.get((province_id, key))

    def route(self, *, rank: int | None, revenue_band: str, province_id: int,
              industry_name: str = "") -> Routing | None:
        for rule in self.rules:
            if not rule_matches(rule, rank, revenue_band):
                continue
            unit = self.unit_for(rule.owner_kind, province_id)
            fallback = ""
            if unit is None and rule.owner_kind == OwnerKind.PROVINCE_PARTNER:
                unit = self.unit_for(OwnerKind.PROVINCE_SALES, province_id)
                fallback = " " + _("(the province has no partner, so its sales department)")
            if unit is None:
                continue
            rank_text = str(rank) if rank is not None else _("unranked")
            reason = _("Rank %(rank)s%(industry)s matched rule “%(rule)s” (%(rule_text)s): "
                       "%(tier)s, owned by %(unit)s%(fallback)s.") % {
                "rank": rank_text,
                "industry": f" ({industry_name})" if industry_name else "",
                "rule": rule.name, "rule_text": describe_rule(rule),
                "tier": str(Tier(rule.tier).label), "unit": unit.name, "fallback": fallback,
            }
            return Routing(tier=rule.tier, owner_unit_id=unit.id,
                           partner_id=unit.id if unit.kind == UnitKind.PARTNER else None,
                           rule_id=rule.id, reason=reason)
        return None

    def pick_owner(self, unit_id: int) -> int | None:
        """The candidate in the unit owning the fewest accounts (ties: lowest id)."""
        if self._owners is None:
            self._owners = {}
            for user_id, unit in User.objects.filter(
                is_active=True,
                roles__overlap=["account_manager", "sales_rep", "partner_staff"],
            ).values_list("id", "unit_id").order_by("id"):
                self._owners.setdefault(unit, []).append(user_id)
            self._load = Counter(dict(
                Account.objects.filter(owner__isnull=False).values_list("owner")
                .annotate(n=Count("id")).values_list("owner", "n")))
        candidates = self._owners.get(unit_id)
        if not candidates:
            return None
        chosen = min(candidates, key=lambda uid: (self._load[uid], uid))
        self._load[chosen] += 1
        return chosen

    def release(self, user_id: int | None) -> None:
        if user_id is not None and self._load[user_id] > 0:
            self._load[user_id] -= 1

    def describe(self, account: Account) -> dict[str, str | None]:
        """Routing fields as people read them, for audit entries, without extra queries."""
        return {
            "tier": account.tier or None,
            "owner_unit": self.unit_names.get(account.owner_unit_id),
            "owner": self.user_name(account.owner_id),
            "partner": self.unit_names.get(account.partner_id) if account.partner_id else None,
        }

    def user_name(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        if user_id not in self._user_names:
            user = User.objects.filter(pk=user_id).first()
            self._user_names[user_id] = str(user) if user else None
        return self._user_names[user_id]
