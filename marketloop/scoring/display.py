"""How scores read to people: rules and contributions as sentences, and the waterfall chart's
data. Used by the pages and the API alike."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from marketloop.crm.models import Industry, RevenueBand, Tier
from marketloop.org.models import OrgUnit, UnitKind
from marketloop.scoring.explain import EngagementLine, Explanation, FitLine
from marketloop.scoring.models import EngagementRule, FitAttribute, FitRule
from marketloop.tracking.models import TouchpointKind


def points(value: Decimal | float | int, places: int = 1) -> str:
    """A signed amount as people read it: +15, −2.5 (a true minus sign)."""
    amount = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if amount == amount.to_integral():
        amount = amount.to_integral()
    text = f"{abs(amount)}"
    return ("−" if amount < 0 else "+") + text


class Names:
    """Names of the codes fit rules use (industries, provinces), loaded once per page."""

    def __init__(self) -> None:
        self._industries: dict[str, str] | None = None
        self._provinces: dict[str, str] | None = None

    def industry(self, code: str) -> str:
        if self._industries is None:
            english = (get_language() or "en").startswith("en")
            self._industries = {i.code: i.name_en if english and i.name_en else i.name
                                for i in Industry.objects.all()}
        return self._industries.get(code, code)

    def province(self, code: str) -> str:
        if self._provinces is None:
            self._provinces = {u.code: u.display_name
                               for u in OrgUnit.objects.filter(kind=UnitKind.PROVINCE)}
        return self._provinces.get(code, code)


def fit_rule_text(rule: FitRule, names: Names) -> str:
    value = rule.value
    match rule.attribute:
        case FitAttribute.TIER:
            shown = str(Tier(value).label) if value in Tier.values else value
            return _("Tier: %(value)s") % {"value": shown}
        case FitAttribute.REVENUE_BAND:
            shown = str(RevenueBand(value).label) if value in RevenueBand.values else value
            return _("Revenue band: %(value)s") % {"value": shown}
        case FitAttribute.INDUSTRY:
            return _("Industry: %(value)s") % {"value": names.industry(value)}
        case FitAttribute.PROVINCE:
            return _("Province: %(value)s") % {"value": names.province(value)}
        case FitAttribute.TITLE:
            return _("Job title contains “%(value)s”") % {"value": value}
        case FitAttribute.MANAGEMENT:
            return _("Management level") if value == "yes" else _("Not management level")
    return f"{rule.attribute}: {value}"


def engagement_rule_text(rule: EngagementRule) -> str:
    """What a rule matches, e.g. "Page view, URL contains /pricing"."""
    parts = [str(TouchpointKind(rule.kind).label) if rule.kind in TouchpointKind.values
             else _("Any touchpoint")]
    if rule.event:
        parts.append(_("event “%(value)s”") % {"value": rule.event})
    if rule.url_contains:
        parts.append(_("URL contains %(value)s") % {"value": rule.url_contains})
    if rule.property_key:
        parts.append(_("%(key)s = %(value)s") % {"key": rule.property_key,
                                                  "value": rule.property_value}
                     if rule.property_value else _("has %(key)s") % {"key": rule.property_key})
    return ", ".join(parts)


def _times(line: EngagementLine) -> str:
    text = ngettext("%(count)s time", "%(count)s times", line.count) % {"count": line.count}
    if line.recent == line.count:
        text = ngettext("%(count)s time this week", "%(count)s times this week",
                        line.count) % {"count": line.count}
    elif line.recent:
        text += ", " + _("%(count)s this week") % {"count": line.recent}
    if line.cap_cut:
        text += ", " + _("capped at %(cap)s a day") % {"cap": line.rule.daily_cap}
    return text


@dataclass
class Line:
    kind: str  # fit, engagement, decay
    amount: Decimal
    text: str
    detail: str = ""

    @property
    def shown(self) -> str:
        return points(self.amount)


def lines_of(explanation: Explanation, names: Names | None = None) -> list[Line]:
    """"+30 Tier: HQ strategic", "+23 Pricing page (5 times this week, capped ...)", then
    one "−8 Decay" line: together exactly the score."""
    names = names or Names()
    lines = [Line("fit", Decimal(f.amount), fit_rule_text(f.rule, names))
             for f in explanation.fit_lines]
    lines += [Line("engagement", Decimal(e.capped), e.rule.label, _times(e))
              for e in explanation.engagement_lines if e.capped]
    if explanation.decay:
        lines.append(Line("decay", explanation.decay, _("Decay"), ngettext(
            "half-life %(days)s day", "half-life %(days)s days",
            explanation.model.half_life_days) % {"days": explanation.model.half_life_days}))
    return lines


def fit_lines_of(fit_lines: list[FitLine], names: Names | None = None) -> list[Line]:
    names = names or Names()
    return [Line("fit", Decimal(f.amount), fit_rule_text(f.rule, names)) for f in fit_lines]


COLOURS = {"fit": "#ae3ec9", "engagement": "#2fb344", "decay": "#f76707", "negative": "#d63939",
           "total": "#066fd1"}


def waterfall(lines: list[Line], total: float) -> dict[str, Any]:
    """Data of a waterfall bar chart: each contribution floats from the running sum."""
    labels, base, bars, colours = [], [], [], []
    running = Decimal(0)
    for line in lines:
        low = min(running, running + line.amount)
        labels.append(line.text)
        base.append(float(low))
        bars.append(float(abs(line.amount)))
        colours.append(COLOURS["negative"] if line.amount < 0 and line.kind != "decay"
                       else COLOURS[line.kind])
        running += line.amount
    labels.append(_("Total"))
    base.append(min(0.0, total))
    bars.append(abs(total))
    colours.append(COLOURS["total"])
    return {"labels": labels, "base": base, "bars": bars, "colours": colours,
            "signed": [line.shown for line in lines] + [points(total)]}
