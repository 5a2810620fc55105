"""Every score is explainable: the contributions (per engagement rule with its count, raw
points, capped points and decay; per fit rule) add up exactly to the stored score, and the
page, the fragments and the API show them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from marketloop.crm.models import Industry, Tier
from marketloop.scoring import selectors
from marketloop.scoring.explain import explain_profile
from marketloop.scoring.models import Score
from marketloop.tracking.models import Profile
from tests.api.client import ApiClient
from tests.factories import AccountFactory, ContactFactory
from tests.scoring.conftest import event, local_noon, record
from tests.scoring.test_scores import cio_events

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scored_cio(org, scoring_model, source, run_scoring_jobs):
    account = AccountFactory(name="华南精密制造有限公司", owner_unit=org.gd_sales, province=org.gd,
                             tier=Tier.HQ_STRATEGIC, revenue_band="medium",
                             industry=Industry.objects.get(code="manufacturing"))
    contact = ContactFactory(account=account, name="李信息", title="CIO 信息中心",
                             is_management=True)
    record(source, cio_events(contact.pk))
    run_scoring_jobs()
    return Profile.objects.get(contact=contact)


def test_contributions_add_up_exactly_to_the_stored_score(scored_cio, scoring_model):
    score = Score.objects.get(profile_id=scored_cio.pk)
    explanation = explain_profile(scored_cio.pk, model=scoring_model)

    assert explanation.fit == score.fit == 67
    assert explanation.engagement == score.engagement
    assert explanation.total == score.total
    assert explanation.matches(score)
    assert sorted((f.rule.attribute, f.rule.value) for f in explanation.fit_lines) == [
        ("industry", "manufacturing"), ("management", "yes"), ("province", "gd"),
        ("tier", "hq_strategic"), ("title", "cio")]

    lines = {line.rule.label: line for line in explanation.engagement_lines}
    assert set(lines) == {"Page view", "Pricing page", "Careers page", "Form", "White paper"}
    pricing = lines["Pricing page"]
    assert (pricing.count, pricing.recent, pricing.raw, pricing.capped, pricing.decay) == \
        (5, 5, 50, 20, 0)
    page_views = lines["Page view"]
    # 5 today (capped at 3), 1 ten days ago, 1 on the last day the look-back counts.
    assert (page_views.count, page_views.raw, page_views.capped) == (7, 7, 5)
    careers = lines["Careers page"]
    assert (careers.count, careers.raw, careers.capped, careers.decay) == (1, -5, -5,
                                                                          Decimal("2.5"))
    assert (lines["Form"].capped, lines["Form"].amount) == (20, 10)
    assert (lines["White paper"].count, lines["White paper"].amount) == (1, 2)
    assert sum(line.capped for line in lines.values()) + explanation.decay \
        == sum(line.amount for line in lines.values())


def test_the_profile_fragment_reads_as_sentences_with_a_chart(scored_cio, hq_marketer):
    client = Client()
    client.force_login(hq_marketer)
    page = client.get(f"/profiles/{scored_cio.pk}/").content.decode()
    assert f'hx-get="/profiles/{scored_cio.pk}/score/"' in page

    html = client.get(f"/profiles/{scored_cio.pk}/score/").content.decode()
    assert 'data-subject="李信息"' in html
    assert "+20</span>" in html and "Pricing page" in html and "5 times this week" in html
    assert "capped at 20 a day" in html
    assert "+30</span>" in html and "Tier: HQ strategic" in html
    assert "−" in html and "Decay" in html  # the decay line, with a true minus sign
    assert "data-score-chart" in html and "score_chart.js" in html


def test_the_api_gives_the_score_and_its_contributions(scored_cio, hq_marketer):
    score = Score.objects.get(profile_id=scored_cio.pk)
    body = ApiClient(hq_marketer).get(f"/api/profiles/{scored_cio.pk}/score").json()
    assert (body["fit"], body["engagement"], body["total"]) == (score.fit, score.engagement,
                                                               score.total)
    assert body["current"] is True
    assert sum(c["amount"] for c in body["contributions"] if c["kind"] == "fit") == body["fit"]
    engagement = [c for c in body["contributions"] if c["kind"] == "engagement"]
    assert sum(Decimal(str(c["amount"])) for c in engagement) == Decimal(str(body["engagement"]))
    pricing = next(c for c in engagement if c["label"] == "Pricing page")
    assert (pricing["count"], pricing["raw"], pricing["capped"], pricing["decay"]) == \
        (5, 50, 20, 0)


def test_an_account_rolls_up_its_people_and_shows_only_visible_ones(
        org, scoring_model, source, run_scoring_jobs, make_user):
    account = AccountFactory(name="浙江远航物流", owner_unit=org.gd_sales, province=org.gd,
                             tier=Tier.REGIONAL_KEY, industry=Industry.objects.get(code="finance"))
    seen = ContactFactory(account=account, name="王可见")
    hidden = ContactFactory(account=account, name="赵隐藏", owner_unit=org.zj_sales)
    today = local_noon(0)
    record(source, [event("form", person="a", at=today, contact_id=seen.pk),
                    event("form", person="b", at=today, contact_id=hidden.pk),
                    event("form", person="b", at=today)])
    run_scoring_jobs()

    gd_user = make_user(org.gd_sales)
    view = selectors.account_score(gd_user, account.pk)
    assert (view.roll_up.engagement, view.roll_up.profiles) == (60, 2)
    assert [p.contact.name for p in view.people] == ["王可见"]

    body = ApiClient(gd_user).get(f"/api/accounts/{account.pk}/score").json()
    assert (body["engagement"], body["profiles"], body["fit"]) == (60, 2, 7)  # Guangdong
    assert [p["name"] for p in body["top_people"]] == ["王可见"]
    html = Client()
    html.force_login(gd_user)
    fragment = html.get(f"/accounts/{account.pk}/score/").content.decode()
    assert "王可见" in fragment and "赵隐藏" not in fragment


def test_the_api_gives_the_model_in_force_to_everyone(org, scoring_model, gd_partner_user):
    body = ApiClient(gd_partner_user).get("/api/scoring/model").json()
    assert (body["name"], body["half_life_days"], body["mql_fit"]) == ("test model", 10, 30)
    pricing = next(r for r in body["engagement_rules"] if r["label"] == "Pricing page")
    assert (pricing["points"], pricing["daily_cap"]) == (10, 20)
    assert pricing["description"] == "Page view, URL contains /pricing"
    province = next(r for r in body["fit_rules"] if r["attribute"] == "province")
    assert (province["value"], province["points"]) == ("gd", 7)
