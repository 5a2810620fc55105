"""A scoring model's rules as SQL expressions, and the window of days a score counts.

The rules are compiled once per computation into expressions over the columns of one
touchpoint (`t`), contact (`c`) and account (`a`): each engagement rule's conditions become
one CASE that yields the rule's position when the touchpoint matches, each fit rule one CASE
that yields its points. The same compiled text serves the full re-score, the incremental one and
the explanation, so all three give the same numbers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from marketloop.scoring.models import EngagementRule, FitAttribute, FitRule, ScoringModel

# Engagement is kept in millionths (integers held in float8): their sums are exact in any
# order, so a parallel full run, an incremental run and an explanation agree to the last digit.
MICRO = 1_000_000
RECENT_DAYS = 7  # "this week" in explanations


@dataclass
class Sql:
    """A piece of SQL with its %s parameters, in order."""

    text: str
    params: list[Any] = field(default_factory=list)

    def __add__(self, other: Sql | str) -> Sql:
        if isinstance(other, str):
            return Sql(self.text + other, list(self.params))
        return Sql(self.text + other.text, self.params + other.params)

    @staticmethod
    def join(parts: list[Sql], separator: str) -> Sql:
        return Sql(separator.join(p.text for p in parts),
                   [param for p in parts for param in p.params])


@dataclass(frozen=True)
class Window:
    """The days a score counts: from `first_day` to `today` (local dates), as of `at`."""

    at: datetime
    today: date
    first_day: date
    start: datetime  # local midnight of first_day
    end: datetime  # local midnight after today
    half_life_days: int
    tz: str

    def months(self) -> list[tuple[datetime, datetime]]:
        """[start, end) split at local month boundaries: one pass of the full run each."""
        zone = ZoneInfo(self.tz)
        parts = []
        lower = self.start
        while lower < self.end:
            local = lower.astimezone(zone)
            month = date(local.year + (local.month == 12), local.month % 12 + 1, 1)
            upper = min(datetime.combine(month, time.min, zone), self.end)
            parts.append((lower, upper))
            lower = upper
        return parts


def window_of(model: ScoringModel, at: datetime) -> Window:
    tz = settings.TIME_ZONE
    zone = ZoneInfo(tz)
    today = at.astimezone(zone).date()
    first_day = today - timedelta(days=max(model.lookback_days, 1) - 1)
    return Window(at=at, today=today, first_day=first_day,
                  start=datetime.combine(first_day, time.min, zone),
                  end=datetime.combine(today + timedelta(days=1), time.min, zone),
                  half_life_days=max(model.half_life_days, 1), tz=tz)


@dataclass
class Compiled:
    model: ScoringModel
    engagement_rules: list[EngagementRule]
    fit_rules: list[FitRule]
    industry_ids: dict[str, int]
    province_ids: dict[str, int]

    # ---- engagement ---------------------------------------------------------------------

    def _condition(self, rule: EngagementRule) -> Sql:
        parts: list[Sql] = []
        if rule.kind:
            parts.append(Sql("t.kind = %s", [rule.kind]))
        if rule.event:
            parts.append(Sql("t.event = %s", [rule.event]))
        if rule.url_contains:
            parts.append(Sql("strpos(t.url, %s) > 0", [rule.url_contains]))
        if rule.property_key:
            if rule.property_value:
                parts.append(Sql("t.properties ->> %s = %s",
                                 [rule.property_key, rule.property_value]))
            else:
                parts.append(Sql("t.properties ? %s", [rule.property_key]))
        return Sql.join(parts, " AND ") if parts else Sql("true")

    def matches(self) -> Sql:
        """The positions (1, 2, ...) in `engagement_rules` of the rules touchpoint `t`
        matches, nulls for the others. Positions rather than ids: the points and caps are
        then looked up in arrays, which keeps the rows in the order they were grouped in."""
        if not self.engagement_rules:
            return Sql("ARRAY[]::int[]")
        cases = [Sql("CASE WHEN ") + self._condition(rule) + f" THEN {position} END"
                 for position, rule in enumerate(self.engagement_rules, start=1)]
        return Sql("ARRAY[") + Sql.join(cases, ", ") + "]::int[]"

    def points(self, position: str) -> Sql:
        return Sql(f"(%s::int[])[{position}]", [[r.points for r in self.engagement_rules]])

    def caps(self, position: str) -> Sql:
        return Sql(f"(%s::int[])[{position}]", [[r.daily_cap for r in self.engagement_rules]])

    # ---- fit ----------------------------------------------------------------------------

    def _fit_condition(self, rule: FitRule) -> Sql:
        value = rule.value
        match rule.attribute:
            case FitAttribute.TIER:
                return Sql("a.tier = %s", [value])
            case FitAttribute.REVENUE_BAND:
                return Sql("a.revenue_band = %s", [value])
            case FitAttribute.INDUSTRY:
                return Sql("a.industry_id = %s", [self.industry_ids.get(value, -1)])
            case FitAttribute.PROVINCE:
                return Sql("a.province_id = %s", [self.province_ids.get(value, -1)])
            case FitAttribute.TITLE:
                return Sql("strpos(lower(c.title), lower(%s)) > 0", [value])
            case FitAttribute.MANAGEMENT:
                return Sql("c.is_management" if value == "yes" else "NOT c.is_management")
        return Sql("false")

    def fit(self, *, people: bool = True) -> Sql:
        """The fit points of contact `c` at account `a` (either may be null); with
        `people=False` only the account's own attributes count (an account's roll-up)."""
        rules = [r for r in self.fit_rules if people or r.attribute not in PERSON_ATTRIBUTES]
        if not rules:
            return Sql("0")
        cases = [Sql("CASE WHEN ") + self._fit_condition(r) + Sql(" THEN %s ELSE 0 END",
                                                                  [r.points])
                 for r in rules]
        return Sql("(") + Sql.join(cases, " + ") + ")"

    def fit_matches(self, *, people: bool = True) -> Sql:
        rules = [r for r in self.fit_rules if people or r.attribute not in PERSON_ATTRIBUTES]
        if not rules:
            return Sql("ARRAY[]::bigint[]")
        cases = [Sql("CASE WHEN ") + self._fit_condition(r) + Sql(" THEN %s::bigint END",
                                                                  [r.id])
                 for r in rules]
        return Sql("ARRAY[") + Sql.join(cases, ", ") + "]"


PERSON_ATTRIBUTES = {FitAttribute.TITLE, FitAttribute.MANAGEMENT}


def compile_model(model: ScoringModel) -> Compiled:
    from marketloop.crm.models import Industry
    from marketloop.org.models import OrgUnit, UnitKind

    fit_rules = list(model.fit_rules.order_by("id"))
    codes = {r.value for r in fit_rules}
    return Compiled(
        model=model,
        engagement_rules=list(model.engagement_rules.order_by("id")),
        fit_rules=fit_rules,
        industry_ids=dict(Industry.objects.filter(code__in=codes).values_list("code", "id")),
        province_ids=dict(OrgUnit.objects.filter(code__in=codes, kind=UnitKind.PROVINCE)
                          .values_list("code", "id")),
    )


# ---- the engagement pipeline -----------------------------------------------------------------

def use_local_days(cursor, window: Window) -> None:
    """Make `timestamptz::date` the local date for the rest of the caller's transaction: a
    plain cast per touchpoint costs a third of `AT TIME ZONE '<name>'` (measured)."""
    cursor.execute("SELECT set_config('TimeZone', %s, true)", [window.tz])


def hits(compiled: Compiled, window: Window, source: Sql, lower: datetime | None = None,
         upper: datetime | None = None) -> Sql:
    """One row (profile, day, rule position) per touchpoint and engagement rule it matches.
    `source` is a FROM clause that names touchpoints `t` and their identities `i`; the
    transaction runs `use_local_days` first."""
    return (Sql("SELECT i.profile_id, t.occurred_at::date AS day, m.rule_pos FROM ") + source
            + Sql(" CROSS JOIN LATERAL unnest(") + compiled.matches()
            + Sql(") AS m(rule_pos) WHERE t.occurred_at >= %s AND t.occurred_at < %s "
                  "AND i.profile_id IS NOT NULL AND m.rule_pos IS NOT NULL",
                  [lower or window.start, upper or window.end]))


def scored_days(compiled: Compiled, window: Window, hits_sql: Sql) -> Sql:
    """Per (profile, rule, day): the touchpoints, their raw points, and the points after the
    rule's daily cap (for negative points the cap bounds what is taken away)."""
    points, cap = compiled.points("d.rule_pos"), compiled.caps("d.rule_pos")
    return (Sql("SELECT d.profile_id, d.rule_pos, d.day, d.n, d.n * ") + points + " AS raw, "
            "CASE WHEN " + cap + " IS NULL THEN d.n * " + points + " ELSE sign(" + points
            + ")::int * LEAST(d.n * abs(" + points + "), " + cap + ") END AS capped, "
            + Sql("%s::date - d.day AS age FROM (SELECT profile_id, rule_pos, day, "
                  "count(*) AS n FROM (", [window.today])
            + hits_sql + ") h GROUP BY 1, 2, 3) d")


def decayed(window: Window, capped: str = "capped", age: str = "age") -> Sql:
    """Capped points decayed by 0.5 ** (age / half-life), in whole millionths."""
    return Sql(f"round({capped} * power(0.5, {age}::float8 / %s) * {MICRO})::float8",
               [window.half_life_days])


def engagement_by_profile(compiled: Compiled, window: Window, hits_sql: Sql) -> Sql:
    """(profile_id, micro): each profile's engagement, in millionths."""
    return (Sql("SELECT profile_id, sum(") + decayed(window) + ") AS micro FROM ("
            + scored_days(compiled, window, hits_sql) + ") s GROUP BY profile_id")


def engagement_by_rule(compiled: Compiled, window: Window, hits_sql: Sql) -> Sql:
    """Per rule (position) of one profile's touchpoints: count, raw, capped, decayed
    (millionths), the last day, and how many in the last week."""
    return (Sql("SELECT rule_pos, sum(n)::bigint, sum(raw)::bigint, sum(capped)::bigint, sum(")
            + decayed(window) + Sql("), max(day), (sum(n) FILTER (WHERE age < %s))::bigint "
                                    "FROM (", [RECENT_DAYS])
            + scored_days(compiled, window, hits_sql) + ") s GROUP BY rule_pos")


def profiles_source(profile_ids: list[int]) -> Sql:
    """Touchpoints of some profiles: their identities, then each identity's touchpoints on
    the (identity_id, occurred_at) index of every partition."""
    return Sql("tracking_identity i JOIN tracking_touchpoint t ON t.identity_id = i.id "
               "AND i.profile_id = ANY(%s::bigint[])", [list(profile_ids)])


def range_source() -> Sql:
    """All touchpoints (the caller's time range picks the partitions)."""
    return Sql("tracking_touchpoint t JOIN tracking_identity i ON i.id = t.identity_id")
