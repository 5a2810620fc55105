"""The model every installation starts with: sensible B2B rules (the data migration and,
where a flushed database has none, `services.model_in_force` create it)."""

from __future__ import annotations

from typing import Any

NAME = "B2B default"

# (attribute, value, points)
FIT_RULES = [
    ("tier", "hq_strategic", 30),
    ("tier", "regional_strategic", 20),
    ("tier", "regional_key", 10),
    ("revenue_band", "xlarge", 15),
    ("revenue_band", "large", 10),
    ("revenue_band", "medium", 5),
    ("revenue_band", "micro", -5),
    ("management", "yes", 10),
    ("title", "CIO", 15),
    ("title", "CTO", 15),
    ("title", "信息中心", 10),
    ("title", "总监", 10),
    ("title", "经理", 5),
    ("title", "采购", 5),
    ("title", "实习", -10),
    ("industry", "manufacturing", 5),
    ("industry", "finance", 5),
]

# (label, kind, event, url_contains, points, daily cap)
ENGAGEMENT_RULES = [
    ("Page view", "page", "", "", 1, 10),
    ("Pricing page", "page", "", "/pricing", 10, 20),
    ("Free trial page", "page", "", "/trial", 5, 10),
    ("Careers page", "page", "", "/careers", -5, 5),
    ("Case-study download", "download", "", "/cases", 8, 16),
    ("White-paper download", "download", "", "/whitepapers", 6, 12),
    ("Form submitted", "form", "", "", 20, 40),
    ("Trial requested", "track", "Trial Requested", "", 25, 25),
    ("Email opened", "email_open", "", "", 1, 3),
    ("Email link clicked", "email_click", "", "", 3, 9),
    ("Hotline call", "call", "", "", 15, 30),
    ("Event attended", "event", "", "", 20, None),
    ("Sales visit", "visit", "", "", 10, 10),
]


def create_default_model(scoring_model: Any, fit_rule: Any, engagement_rule: Any) -> Any:
    """Create the default model, in force, with the model classes given (a migration passes
    its historical ones)."""
    model = scoring_model.objects.create(name=NAME, active=True, half_life_days=30,
                                         lookback_days=365, lead_engagement=10, mql_fit=30,
                                         mql_engagement=40)
    fit_rule.objects.bulk_create([
        fit_rule(model=model, attribute=attribute, value=value, points=points)
        for attribute, value, points in FIT_RULES])
    engagement_rule.objects.bulk_create([
        engagement_rule(model=model, label=label, kind=kind, event=event,
                        url_contains=url, points=points, daily_cap=cap)
        for label, kind, event, url, points, cap in ENGAGEMENT_RULES])
    return model
