"""The funnel report: exact counts, conversion, median days and leakage on a hand-made cohort;
the period's boundaries in local time; grouping; the monthly trend; what each user's funnel
counts (the visibility scope); and every number's drill-down list holding exactly its leads."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from marketloop.leads import funnel
from marketloop.leads.errors import LeadError
from marketloop.leads.models import Lead, Stage
from marketloop.org.models import Role
from tests.api.client import ApiClient, assert_problem

Q1 = "2025-01-01..2025-03-31"
AFTER_Q1 = date(2025, 6, 30)  # "today" for the trend: the period is over


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
       year: int = 2025) -> datetime:
    """A moment in the local time zone (Asia/Shanghai)."""
    return timezone.make_aware(datetime(year, month, day, hour, minute, second))


def days(start: datetime, n: float) -> datetime:
    return start + timedelta(days=n)


def make_lead(name: str, unit, *, province, tier: str = "ordinary", channel: str = "web",
              partner=None, owner=None, lead: datetime, mql: datetime | None = None,
              sal: datetime | None = None, sql: datetime | None = None,
              won: datetime | None = None, recycled: datetime | None = None,
              disqualified: datetime | None = None, reason: str = "") -> Lead:
    stage = (Stage.DISQUALIFIED if disqualified else Stage.RECYCLED if recycled
             else Stage.CUSTOMER if won else Stage.SQL if sql else Stage.SAL if sal
             else Stage.MQL if mql else Stage.LEAD)
    return Lead.objects.create(
        name=name, stage=stage, owner_unit=unit, partner=partner, owner=owner,
        province=province, tier=tier, channel=channel, lead_at=lead, mql_at=mql, sal_at=sal,
        sql_at=sql, won_at=won, recycled_at=recycled, disqualified_at=disqualified,
        reject_reason=reason, times_recycled=1 if recycled else 0)


@pytest.fixture
def cohort(org):
    """Q1 2025: seven leads in Guangdong (one the partner's), two in Zhejiang; and two just
    outside the quarter."""
    gd, zj = org.gd, org.zj
    g1 = at(1, 1)  # the very first moment of the quarter, local time
    make_lead("g1", org.gd_sales, province=gd, lead=g1, mql=days(g1, 2), sal=days(g1, 5),
              sql=days(g1, 15), won=days(g1, 45))
    make_lead("g2", org.gd_sales, province=gd, channel="edm", lead=at(1, 10), mql=at(1, 14),
              sal=at(1, 15), sql=at(1, 25))
    make_lead("g3", org.gd_sales, province=gd, lead=at(2, 1), mql=at(2, 5), recycled=at(2, 10),
              reason="no_budget")
    make_lead("g4", org.gd_sales, province=gd, lead=at(3, 31, 23, 59, 59))  # the last second
    make_lead("g5", org.gd_sales, province=gd, lead=at(2, 1), mql=at(2, 2), recycled=at(2, 20))
    make_lead("g6", org.gd_key_account, province=gd, lead=at(2, 3), disqualified=at(2, 4),
              reason="duplicate")
    make_lead("p1", org.gd_partner, partner=org.gd_partner, province=gd, tier="regional_key",
              channel="event", lead=at(1, 20), mql=at(1, 21), sal=at(1, 31), recycled=at(2, 5),
              reason="no_need")
    make_lead("z1", org.zj_sales, province=zj, tier="hq_strategic", lead=at(1, 5), mql=at(1, 7),
              sal=at(1, 8), sql=at(1, 9), won=at(1, 19))
    make_lead("z2", org.zj_sales, province=zj, tier="hq_strategic", lead=at(3, 1),
              mql=at(3, 11))
    # Outside: the last second of 2024 and the first of the next quarter (local time).
    make_lead("before", org.gd_sales, province=gd, lead=at(12, 31, 23, 59, 59, year=2024),
              mql=at(1, 2))
    make_lead("after", org.gd_sales, province=gd, lead=at(4, 1))


def query(**params: str) -> funnel.FunnelQuery:
    return funnel.FunnelQuery.from_params({"period": Q1, **params})


def counts(row: funnel.FunnelRow) -> tuple[int, ...]:
    return tuple(row.counts[s] for s in (*funnel.STAGES, *funnel.LEAKS))


# ---- the numbers ---------------------------------------------------------------------------


def test_counts_leads_that_reached_each_stage_in_the_quarter(cohort, hq_marketer):
    total = funnel.funnel_total(hq_marketer, query())
    #                        lead mql sal sql won  recycled rejected disqualified
    assert counts(total) == (9, 7, 4, 3, 2, 3, 2, 1)


def test_the_period_is_whole_local_days_first_to_last(cohort, hq_marketer):
    names = set(funnel.cohort(hq_marketer, query()).values_list("name", flat=True))
    assert {"g1", "g4"} <= names  # 00:00:00 of the first day, 23:59:59 of the last
    assert not {"before", "after"} & names
    # Local midnight divides the days: a two-day period across it holds both.
    march = funnel.FunnelQuery.from_params({"period": "2025-03-31..2025-04-01"})
    assert set(funnel.cohort(hq_marketer, march).values_list("name", flat=True)) == {
        "g4", "after"}


def test_conversion_of_each_step_and_overall(cohort, hq_marketer):
    rates = funnel.funnel_total(hq_marketer, query()).rates
    assert rates == {"lead_mql": 7 / 9, "mql_sal": 4 / 7, "sal_sql": 3 / 4, "sql_won": 2 / 3,
                     "lead_won": 2 / 9}


def test_median_days_between_stages_over_the_leads_that_reached_both(cohort, hq_marketer):
    medians = funnel.funnel_total(hq_marketer, query()).median_days
    assert medians == pytest.approx({
        "lead_mql": 2.0,    # 1, 1, 2, 2, 4, 4, 10
        "mql_sal": 2.0,     # 1, 1, 3, 10: between the middle two
        "sal_sql": 10.0,    # 1, 10, 10
        "sql_won": 20.0,    # 10, 30
        "lead_won": 29.5,   # 14, 45
    })


def test_no_leads_means_no_rates_and_no_medians(org, hq_marketer):
    total = funnel.funnel_total(hq_marketer, query())
    assert counts(total) == (0,) * 8
    assert set(total.rates.values()) == {None}
    assert set(total.median_days.values()) == {None}


def test_leakage_by_reason_separates_rules_from_rejections(cohort, hq_marketer):
    rows = funnel.leakage(hq_marketer, query())
    assert [(r.reason, r.recycled, r.disqualified) for r in rows] == [
        ("no_need", 1, 0), ("no_budget", 1, 0), ("duplicate", 0, 1), ("none", 1, 0)]
    total = funnel.funnel_total(hq_marketer, query())
    assert total.counts["rejected"] == sum(r.recycled for r in rows if r.reason != "none")


def test_grouped_by_province(cohort, org, hq_marketer):
    groups = funnel.funnel_groups(hq_marketer, query(dimension="province"))
    assert [(g.value, g.label, counts(g)) for g in groups] == [
        (str(org.gd.pk), org.gd.display_name, (7, 5, 3, 2, 1, 3, 2, 1)),
        (str(org.zj.pk), org.zj.display_name, (2, 2, 1, 1, 1, 0, 0, 0)),
    ]
    assert groups[1].median_days["lead_won"] == 14.0


def test_grouped_by_tier_in_the_tiers_order(cohort, hq_marketer):
    groups = funnel.funnel_groups(hq_marketer, query(dimension="tier"))
    assert [(g.value, counts(g)[:5]) for g in groups] == [
        ("hq_strategic", (2, 2, 1, 1, 1)), ("regional_key", (1, 1, 1, 0, 0)),
        ("ordinary", (6, 4, 2, 2, 1))]


def test_filters_narrow_the_cohort(cohort, org, hq_marketer):
    assert counts(funnel.funnel_total(hq_marketer, query(channel="edm")))[:5] == (1, 1, 1, 1, 0)
    assert funnel.funnel_total(hq_marketer, query(province=str(org.zj.pk))).counts["lead"] == 2
    assert funnel.funnel_total(hq_marketer, query(tier="regional_key")).counts["lead"] == 1


def test_unknown_parameters_are_errors_not_ignored(org):
    for params in ({"period": "next_decade"}, {"period": "2025-03-01..2025-01-01"},
                   {"dimension": "colour"}, {"tier": "gold"}, {"channel": "fax"},
                   {"province": "gd"}, {"period": "custom", "from": "2025-01-01"}):
        with pytest.raises(LeadError) as exc:
            funnel.FunnelQuery.from_params(params)
        assert exc.value.errors


def test_presets_are_calendar_quarters_and_years():
    may = date(2025, 5, 10)
    assert funnel.preset_period("this_quarter", may).token == "2025-04-01..2025-06-30"
    assert funnel.preset_period("last_quarter", date(2025, 2, 1)).token == \
        "2024-10-01..2024-12-31"
    assert funnel.preset_period("this_year", may).token == "2025-01-01..2025-12-31"
    assert funnel.preset_period("last_year", may).label == "2024"
    assert funnel.preset_period("this_quarter", may).label == "2025 Q2"


# ---- the trend ---------------------------------------------------------------------------------


def test_trend_counts_each_stage_in_the_month_it_was_reached(cohort, hq_marketer):
    trend = funnel.trend(hq_marketer, query(), today=AFTER_Q1)
    assert trend.months[0] == date(2024, 4, 1) and trend.months[-1] == date(2025, 3, 1)
    assert len(trend.months) == 12
    by_month = {stage: dict(zip([m.strftime("%Y-%m") for m in trend.months], series,
                                strict=True))
                for stage, series in trend.series.items()}
    # Not a cohort: "before" became a lead in December (local time) and an MQL in January;
    # g1 became a lead at local midnight on 1 January (16:00 on 31 December in UTC).
    assert by_month["lead"]["2024-12"] == 1
    assert (by_month["lead"]["2025-01"], by_month["lead"]["2025-02"],
            by_month["lead"]["2025-03"]) == (4, 3, 2)
    assert (by_month["mql"]["2025-01"], by_month["mql"]["2025-02"],
            by_month["mql"]["2025-03"]) == (5, 2, 1)
    assert (by_month["won"]["2025-01"], by_month["won"]["2025-02"]) == (1, 1)
    assert sum(trend.series["sql"]) == 3


def test_trend_of_the_current_quarter_ends_this_month():
    months = funnel.trend_months(funnel.preset_period("this_quarter", date(2025, 5, 10)),
                                 today=date(2025, 5, 10))
    assert months[0] == date(2024, 6, 1) and months[-1] == date(2025, 5, 1)


# ---- visibility --------------------------------------------------------------------------------


def test_a_province_user_counts_only_their_provinces_leads(cohort, gd_rep):
    total = funnel.funnel_total(gd_rep, query())
    assert counts(total) == (7, 5, 3, 2, 1, 3, 2, 1)
    groups = funnel.funnel_groups(gd_rep, query(dimension="province"))
    assert [g.counts["lead"] for g in groups] == [7]
    trend = funnel.trend(gd_rep, query(), today=AFTER_Q1)
    assert sum(trend.series["lead"]) == 8  # g1..g6, p1 and "before" ("after" is in April)
    assert sum(r.recycled + r.disqualified for r in funnel.leakage(gd_rep, query())) == 4


def test_a_partner_counts_only_their_own_leads(cohort, gd_partner_user):
    total = funnel.funnel_total(gd_partner_user, query())
    assert counts(total) == (1, 1, 1, 0, 0, 1, 1, 0)
    assert [r.reason for r in funnel.leakage(gd_partner_user, query())] == ["no_need"]
    assert sum(funnel.trend(gd_partner_user, query(), today=AFTER_Q1).series["lead"]) == 1


def test_another_province_sees_none_of_it_and_the_page_says_so(cohort, org, make_user, client):
    gx_rep = make_user(org.gx_sales, Role.SALES_REP)
    assert counts(funnel.funnel_total(gx_rep, query())) == (0,) * 8
    client.force_login(gx_rep)
    response = client.get(reverse("leads:funnel"), {"period": Q1})
    assert response.status_code == 200
    assert 'id="funnel-empty"' in response.content.decode()


# ---- the page and the drill-down --------------------------------------------------------------


CELL = re.compile(r'<a href="([^"]+)" data-cell="([^"]+)">(\d+)</a>')
LEAK_CELL = re.compile(r'<td>([^<]+)</td>\s*<td class="text-end"><a href="([^"]+)" '
                       r'data-drill="recycled">(\d+)</a></td>')


def cells(content: str) -> dict[str, tuple[str, int]]:
    return {key: (html.unescape(href), int(n)) for href, key, n in CELL.findall(content)}


def listed(client, url: str) -> list[int]:
    """Every lead id on the drill-down list, following its "Next" links."""
    ids: list[int] = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        content = response.content.decode()
        ids += [int(pk) for pk in re.findall(r'<tr data-lead="(\d+)"', content)]
        match = re.search(r'id="next-page" rel="next"\s+href="([^"]+)"', content)
        url = html.unescape(match.group(1)) if match else ""
    return ids


@pytest.mark.parametrize("who", ["hq_marketer", "gd_rep"])
def test_every_count_on_the_page_opens_a_list_of_exactly_that_many_leads(cohort, org, client,
                                                                          request, who):
    client.force_login(request.getfixturevalue(who))
    response = client.get(reverse("leads:funnel"), {"period": Q1, "dimension": "province"})
    assert response.status_code == 200
    content = response.content.decode()
    found = cells(content)
    gd = str(org.gd.pk)
    assert found[f"{gd}:lead"][1] == 7 and found[f"{gd}:won"][1] == 1
    assert found["total:lead"][1] == (9 if who == "hq_marketer" else 7)
    for key in ("total:lead", "total:mql", "total:sal", "total:sql", "total:won",
                "total:recycled", "total:rejected", "total:disqualified", f"{gd}:mql",
                f"{gd}:sal", f"{gd}:rejected"):
        url, shown = found[key]
        ids = listed(client, url)
        assert len(ids) == len(set(ids)) == shown, key
    leaks = LEAK_CELL.findall(content)
    assert len(leaks) == 4  # no need, no budget, duplicate, and recycled by a rule
    for label, url, shown in leaks:
        assert len(listed(client, html.unescape(url))) == int(shown), label


def test_the_drill_down_lists_the_right_leads_and_says_how_many(cohort, client, hq_marketer):
    client.force_login(hq_marketer)
    url = reverse("leads:funnel_leads")
    response = client.get(url, {"period": Q1, "stage": "won"})
    content = response.content.decode()
    assert ">g1<" in content and ">z1<" in content and ">g2<" not in content
    assert "2 leads" in content
    rejected = client.get(url, {"period": Q1, "stage": "recycled", "reason": "none"})
    assert ">g5<" in rejected.content.decode() and ">g3<" not in rejected.content.decode()


def test_the_trend_card_counts_only_what_the_user_may_see(cohort, client, gd_partner_user):
    import json

    client.force_login(gd_partner_user)
    response = client.get(reverse("leads:funnel_trend"), {"period": Q1})
    assert response.status_code == 200
    data = json.loads(re.search(r'<script id="trend-chart-data" type="application/json">'
                                r"(.*?)</script>", response.content.decode()).group(1))
    assert data["months"][0] == "2024-04" and data["months"][-1] == "2025-03"
    lead, mql, sal = ([point["value"] for point in series["data"]]
                      for series in data["series"][:3])
    assert (sum(lead), sum(mql), sum(sal)) == (1, 1, 1)  # p1, the partner's one lead
    january = data["months"].index("2025-01")
    assert len(listed(client, html.unescape(data["series"][0]["data"][january]["url"]))) == 1


def test_a_trend_point_opens_the_leads_that_reached_the_stage_that_month(cohort, client,
                                                                         hq_marketer):
    client.force_login(hq_marketer)
    trend = funnel.trend(hq_marketer, query(), today=AFTER_Q1)
    january = trend.months.index(date(2025, 1, 1))
    ids = listed(client, reverse("leads:funnel_leads") + "?stage=mql&month=2025-01")
    assert len(ids) == trend.series["mql"][january] == 5


def test_the_drill_down_pages_by_lead_time_without_gaps_or_repeats(org, client, hq_marketer):
    start = at(2, 1)
    Lead.objects.bulk_create([
        Lead(name=f"bulk{i}", stage=Stage.MQL, owner_unit=org.gd_sales, province=org.gd,
             lead_at=start + timedelta(hours=i // 3), mql_at=start + timedelta(days=1))
        for i in range(130)])  # three at each moment: the id breaks the ties
    client.force_login(hq_marketer)
    ids = listed(client, reverse("leads:funnel_leads") + f"?period={Q1}&stage=mql")
    expected = list(Lead.objects.order_by("lead_at", "id").values_list("id", flat=True))
    assert ids == expected


def test_a_bad_drill_down_link_is_refused(org, client, hq_marketer):
    client.force_login(hq_marketer)
    response = client.get(reverse("leads:funnel_leads"), {"stage": "lost"})
    assert response.status_code == 422
    assert 'id="drill-error"' in response.content.decode()


def test_the_page_filters_and_groups_and_swaps_with_htmx(cohort, org, client, hq_marketer):
    client.force_login(hq_marketer)
    params = {"period": "custom", "from": "2025-01-01", "to": "2025-03-31", "dimension": "tier",
              "channel": "web"}
    page = client.get(reverse("leads:funnel"), params)
    assert page.status_code == 200
    content = page.content.decode()
    assert 'id="funnel-filters"' in content and "echarts.min.js" in content
    assert cells(content)["total:lead"][1] == 7  # g1, g3..g6, z1, z2: not g2 (EDM), p1
    partial = client.get(reverse("leads:funnel"), params, HTTP_HX_REQUEST="true",
                         HTTP_HX_TARGET="funnel-results")
    assert 'id="funnel-filters"' not in partial.content.decode()
    assert 'id="funnel-table"' in partial.content.decode()


def test_a_bad_filter_on_the_page_is_said_not_ignored(org, client, hq_marketer):
    client.force_login(hq_marketer)
    response = client.get(reverse("leads:funnel"), {"tier": "gold"})
    assert response.status_code == 200
    assert 'id="funnel-error"' in response.content.decode()


# ---- the API -------------------------------------------------------------------------------------


def test_the_api_gives_the_same_numbers(cohort, org, gd_rep):
    response = ApiClient(gd_rep).get("/api/funnel", {"period": Q1, "dimension": "tier"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["period"] == {"first": "2025-01-01", "last": "2025-03-31", "label": "2025 Q1",
                              "token": Q1}
    assert body["total"]["counts"] == {"lead": 7, "mql": 5, "sal": 3, "sql": 2, "won": 1,
                                       "recycled": 3, "rejected": 2, "disqualified": 1}
    assert body["total"]["rates"]["lead_won"] == pytest.approx(1 / 7)
    assert [g["value"] for g in body["groups"]] == ["regional_key", "ordinary"]
    assert [r["reason"] for r in body["leakage"]] == ["no_need", "no_budget", "duplicate",
                                                      "none"]
    assert set(body["trend"]["series"]) == {"lead", "mql", "sal", "sql", "won"}


def test_the_api_refuses_a_bad_period(org, gd_rep):
    response = ApiClient(gd_rep).get("/api/funnel", {"period": "2025-13-01..2025-12-31"})
    body = assert_problem(response, 422, "invalid")
    assert "period" in body["errors"]


# ---- in a browser ----------------------------------------------------------------------------

CHARTS_DRAWN = """() => Array.from(document.querySelectorAll('[data-funnel-chart]'))
    .filter(el => window.echarts && window.echarts.getInstanceByDom(el)
                  && el.querySelector('canvas')).length"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_page_draws_its_charts_and_redraws_them_on_a_filter_change(cohort, org, gd_rep,
                                                                       live_server, browser):
    import os

    from tests.conftest import PASSWORD

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{live_server.url}/login/?next=/funnel/%3Fperiod%3D{Q1}%26dimension%3Dprovince")
    page.fill("#id_username", "gd-rep")
    page.fill("#id_password", PASSWORD)
    page.click("#sign-in")
    page.wait_for_selector("#funnel-table")
    page.wait_for_function(f"({CHARTS_DRAWN})() === 3")  # funnel, trend, leakage
    page.select_option("#id_dimension", "tier")
    page.wait_for_function("location.search.includes('dimension=tier')")  # pushed by HTMX
    page.wait_for_selector("#funnel-table tr[data-group='regional_key']")
    page.wait_for_function(f"({CHARTS_DRAWN})() === 3")
    assert page.locator("#funnel-filters").count() == 1  # only the results were swapped
    page.screenshot(path=f"{os.environ.get('MARKETLOOP_SCREENSHOTS', '/tmp')}"
                         "/marketloop-funnel.png", full_page=True)
    page.click("a[data-cell='total:sal']")
    page.wait_for_selector("#drill-table")
    assert page.locator("#drill-table tbody tr[data-lead]").count() == 3
