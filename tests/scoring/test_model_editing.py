"""Editing the scoring model: who may, what is refused, and that every change is audited and
re-scores everyone in the background, with its progress on the page."""

from __future__ import annotations

import pytest
from django.test import Client

from marketloop.audit.models import AuditEntry
from marketloop.org.errors import NotAllowed
from marketloop.org.models import Role
from marketloop.scoring import services
from marketloop.scoring.errors import ScoringError, ScoringErrorCode
from marketloop.scoring.models import EngagementRule, FitRule, RescoreRun, ScoringModel


@pytest.fixture(autouse=True)
def default_model(db) -> ScoringModel:
    """The default model (the data migration makes it; a flushed test database lost it)."""
    return services.model_in_force()


def test_the_default_model_is_in_force_with_b2b_rules(default_model):
    model = ScoringModel.objects.get(active=True)
    assert model == default_model
    assert (model.lead_engagement, model.mql_fit, model.mql_engagement) == (10, 30, 40)
    rules = {(r.kind, r.url_contains): (r.points, r.daily_cap)
             for r in model.engagement_rules.all()}
    assert rules[("page", "")] == (1, 10)
    assert rules[("page", "/pricing")] == (10, 20)
    assert rules[("page", "/careers")][0] < 0
    assert rules[("form", "")][0] == 20 and rules[("email_open", "")] == (1, 3)
    titles = set(model.fit_rules.filter(attribute="title").values_list("value", flat=True))
    assert {"总监", "经理", "CIO", "CTO", "信息中心"} <= titles


@pytest.mark.parametrize(("unit", "roles", "allowed"), [
    ("hq", [Role.ADMINISTRATOR], True),
    ("gd_sales", [Role.ADMINISTRATOR], True),
    ("hq_marketing", [Role.MARKETER], True),
    ("hq_marketing", [Role.MANAGER], True),
    ("hq_marketing", [Role.SALES_REP], False),
    ("hq_key_account", [Role.MANAGER], False),  # HQ, but not marketing
    ("region_south", [Role.MARKETER], False),  # marketing, but not HQ
    ("gd_partner", [Role.PARTNER_STAFF, Role.MANAGER], False),
])
def test_administrators_and_hq_marketing_managers_and_marketers_edit_the_model(
        org, make_user, unit, roles, allowed):
    user = make_user(getattr(org, unit), *roles)
    assert services.can_edit_model(user) is allowed
    model = services.model_in_force()
    if allowed:
        services.update_model(actor=user, model=model, mql_fit=35)
        assert ScoringModel.objects.get(pk=model.pk).mql_fit == 35
    else:
        with pytest.raises(NotAllowed):
            services.update_model(actor=user, model=model, mql_fit=35)


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"attribute": "tier", "value": "platinum", "points": 10}, "unknown_value", "value"),
    ({"attribute": "industry", "value": "mining", "points": 10}, "unknown_value", "value"),
    ({"attribute": "province", "value": "xx", "points": 10}, "unknown_value", "value"),
    ({"attribute": "revenue_band", "value": "huge", "points": 10}, "unknown_value", "value"),
    ({"attribute": "management", "value": "maybe", "points": 10}, "unknown_value", "value"),
    ({"attribute": "title", "value": " ", "points": 10}, "invalid", "value"),
    ({"attribute": "title", "value": "总监", "points": 0}, "zero_points", "points"),
    ({"attribute": "colour", "value": "red", "points": 1}, "invalid", "attribute"),
])
def test_a_fit_rule_names_real_values_and_non_zero_points(org, admin_user, fields, code, field):
    with pytest.raises(ScoringError) as caught:
        services.save_fit_rule(actor=admin_user, model=services.model_in_force(), **fields)
    assert caught.value.code == ScoringErrorCode(code)
    assert field in caught.value.errors


def test_valid_fit_rules_name_a_tier_industry_and_province_by_code(org, admin_user):
    model = services.model_in_force()
    for attribute, value in [("tier", "regional_key"), ("industry", "energy"),
                             ("province", "gd"), ("management", "no")]:
        services.save_fit_rule(actor=admin_user, model=model, attribute=attribute,
                               value=value, points=-2)
    assert FitRule.objects.filter(model=model, points=-2).count() == 4


@pytest.mark.parametrize(("fields", "code", "field"), [
    ({"label": "x", "points": 0}, "zero_points", "points"),
    ({"label": "x", "points": 5, "daily_cap": 0}, "bad_cap", "daily_cap"),
    ({"label": "x", "points": 5, "daily_cap": -3}, "bad_cap", "daily_cap"),
    ({"label": "x", "points": 5, "kind": "fax"}, "unknown_value", "kind"),
    ({"label": "", "points": 5}, "invalid", "label"),
    ({"label": "x", "points": 5, "property_value": "pdf"}, "invalid", "property_key"),
])
def test_an_engagement_rule_needs_points_and_a_positive_cap(org, admin_user, fields, code,
                                                           field):
    with pytest.raises(ScoringError) as caught:
        services.save_engagement_rule(actor=admin_user, model=services.model_in_force(),
                                      **fields)
    assert caught.value.code == ScoringErrorCode(code)
    assert field in caught.value.errors


def test_every_change_is_audited_and_queues_a_rescore(org, hq_marketer,
                                                      django_capture_on_commit_callbacks):
    model = services.model_in_force()
    with django_capture_on_commit_callbacks() as queued:
        rule = services.save_engagement_rule(actor=hq_marketer, model=model, label="Webinar",
                                             kind="event", points=12, daily_cap=12)
        services.save_engagement_rule(actor=hq_marketer, model=model, rule=rule,
                                      label="Webinar", kind="event", points=15, daily_cap=15)
        services.delete_engagement_rule(actor=hq_marketer, rule=rule)
        services.update_model(actor=hq_marketer, model=model, half_life_days=45)
        services.update_model(actor=hq_marketer, model=model, lead_engagement=12)
    trail = list(AuditEntry.objects.filter(actor=hq_marketer).order_by("id")
                 .values_list("object_type", "action", "changes"))
    assert [(t, a) for t, a, _ in trail] == [
        ("scoring.engagementrule", "created"), ("scoring.engagementrule", "updated"),
        ("scoring.engagementrule", "deleted"), ("scoring.scoringmodel", "updated"),
        ("scoring.scoringmodel", "updated")]
    assert trail[1][2] == {"points": [12, 15], "daily_cap": [12, 15]}
    assert trail[3][2] == {"half_life_days": [30, 45]}
    # Rule changes and a new half-life re-score everyone; a new threshold changes no score.
    runs = list(RescoreRun.objects.order_by("id").values_list("cause", "status"))
    assert [status for _, status in runs] == ["queued"] * 4
    assert "Webinar" in runs[0][0] and "half_life_days" in runs[3][0]
    assert len(queued) == 4  # each run's job is deferred once its transaction commits


def test_a_run_queued_before_a_newer_one_is_skipped(org, admin_user):
    older = services.request_rescore(actor=admin_user, cause="first edit")
    newer = services.request_rescore(actor=admin_user, cause="second edit")
    assert services.run_rescore(run_id=older.pk).status == RescoreRun.Status.SKIPPED
    done = services.run_rescore(run_id=newer.pk)
    assert done.status == RescoreRun.Status.DONE and done.processed == done.total


# ---- the pages --------------------------------------------------------------------------


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_others_read_the_model_but_cannot_change_it(org, gd_rep):
    client = _client(gd_rep)
    page = client.get("/settings/scoring/").content.decode()
    assert 'id="read-only"' in page and "Pricing page" in page
    assert 'id="new-fit-rule"' not in page and 'id="edit-model"' not in page
    assert client.get("/settings/scoring/edit/").status_code == 403
    assert client.post("/settings/scoring/fit-rules/new/",
                       {"attribute": "tier", "value": "ordinary", "points": 1}
                       ).status_code == 403
    rule = EngagementRule.objects.filter(model__active=True).first()
    assert client.post(f"/settings/scoring/engagement-rules/{rule.pk}/delete/"
                       ).status_code == 403
    assert EngagementRule.objects.filter(pk=rule.pk).exists()


def test_a_marketer_adds_a_rule_and_watches_the_rescore(org, hq_marketer):
    client = _client(hq_marketer)
    refused = client.post("/settings/scoring/engagement-rules/new/",
                          {"label": "Webinar", "kind": "event", "points": "0"})
    assert refused.status_code == 422
    assert "must not be zero" in refused.content.decode()

    saved = client.post("/settings/scoring/engagement-rules/new/",
                        {"label": "Webinar", "kind": "event", "points": "12",
                         "daily_cap": "12"})
    assert saved.status_code == 302
    page = client.get("/settings/scoring/").content.decode()
    assert "Webinar" in page
    assert 'data-polling="true"' in page and 'hx-get="/settings/scoring/runs/"' in page
    runs = client.get("/settings/scoring/runs/").content.decode()
    assert "Engagement rule “Webinar” added" in runs

    run = RescoreRun.objects.get()
    services.run_rescore(run_id=run.pk)
    runs = client.get("/settings/scoring/runs/").content.decode()
    assert 'data-polling="false"' in runs and 'data-status="done"' in runs
