"""Why a score is what it is: the contributions that add up to it.

An explanation runs the scoring SQL for one profile, grouped by rule instead of summed, as of
the day its stored score was computed; its contributions therefore add up exactly to the
stored score (engagement is counted in millionths, so no rounding gets in the way)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from marketloop.scoring.models import EngagementRule, FitRule, Score, ScoringModel
from marketloop.scoring.sql import (
    MICRO,
    Compiled,
    Sql,
    compile_model,
    engagement_by_rule,
    hits,
    profiles_source,
    use_local_days,
    window_of,
)


@dataclass
class EngagementLine:
    rule: EngagementRule
    count: int  # matching touchpoints in the look-back
    recent: int  # of which in the last week
    last_day: date
    raw: int  # points before the daily cap
    capped: int  # points after the daily cap
    micro: int  # capped points after decay, in millionths

    @property
    def amount(self) -> Decimal:
        return Decimal(self.micro) / MICRO

    @property
    def decay(self) -> Decimal:
        """What decay took away (negative for positive points)."""
        return self.amount - self.capped

    @property
    def cap_cut(self) -> int:
        return self.capped - self.raw


@dataclass
class FitLine:
    rule: FitRule

    @property
    def amount(self) -> int:
        return self.rule.points


@dataclass
class Explanation:
    model: ScoringModel
    as_of: datetime
    fit_lines: list[FitLine] = field(default_factory=list)
    engagement_lines: list[EngagementLine] = field(default_factory=list)

    @property
    def fit(self) -> int:
        return sum(line.amount for line in self.fit_lines)

    @property
    def engagement_micro(self) -> int:
        return sum(line.micro for line in self.engagement_lines)

    @property
    def engagement(self) -> float:
        # The same division the database makes when it stores the score.
        return self.engagement_micro / MICRO

    @property
    def total(self) -> float:
        return self.fit + self.engagement

    @property
    def decay(self) -> Decimal:
        return sum((line.decay for line in self.engagement_lines), Decimal(0))

    def matches(self, score: Score | None) -> bool:
        """Whether the stored score is what this explanation adds up to (it is not while a
        re-score after a model change is still running)."""
        return score is not None and score.fit == self.fit \
            and score.engagement == self.engagement


def _fit_lines(compiled: Compiled, source: str, where: Sql, *, people: bool) -> list[FitLine]:
    rules = {rule.id: rule for rule in compiled.fit_rules}
    if not rules:
        return []
    with connection.cursor() as cursor:
        sql = Sql(f"SELECT m.rule_id FROM {source} CROSS JOIN LATERAL unnest(") \
            + compiled.fit_matches(people=people) \
            + ") AS m(rule_id) WHERE m.rule_id IS NOT NULL AND " + where
        cursor.execute(sql.text, sql.params)
        ids = [row[0] for row in cursor.fetchall()]
    return sorted((FitLine(rules[pk]) for pk in ids),
                  key=lambda line: (-line.amount, line.rule.attribute, line.rule.id))


def explain_profile(profile_id: int, *, model: ScoringModel,
                    as_of: datetime | None = None) -> Explanation:
    """The contributions to a live profile's score as of `as_of` (default: when its stored
    score was computed, else now)."""
    if model.pk is None:  # no model in force yet: nothing counts
        return Explanation(model=model, as_of=as_of or timezone.now())
    if as_of is None:
        stored = Score.objects.filter(profile_id=profile_id).values_list("computed_at",
                                                                          flat=True).first()
        as_of = stored or timezone.now()
    compiled = compile_model(model)
    window = window_of(model, as_of)
    rules = dict(enumerate(compiled.engagement_rules, start=1))
    by_rule = engagement_by_rule(compiled, window,
                                 hits(compiled, window, profiles_source([profile_id])))
    with transaction.atomic(), connection.cursor() as cursor:
        use_local_days(cursor, window)
        cursor.execute(by_rule.text, by_rule.params)
        rows = cursor.fetchall()
    lines = [EngagementLine(rule=rules[position], count=n, raw=raw, capped=capped,
                            micro=int(micro), last_day=last_day, recent=recent or 0)
             for position, n, raw, capped, micro, last_day, recent in rows]
    lines.sort(key=lambda line: (-abs(line.micro), line.rule.id))
    fit = _fit_lines(compiled, "tracking_profile p LEFT JOIN crm_contact c ON c.id = "
                     "p.contact_id LEFT JOIN crm_account a ON a.id = p.account_id",
                     Sql("p.id = %s", [profile_id]), people=True)
    return Explanation(model=model, as_of=as_of, fit_lines=fit, engagement_lines=lines)


def explain_account_fit(account_id: int, *, model: ScoringModel) -> list[FitLine]:
    return _fit_lines(compile_model(model), "crm_account a", Sql("a.id = %s", [account_id]),
                      people=False)
