"""The campaign dashboard page, its HTMX model switcher, the Excel export and an activity's
results slot, through Django's full request stack (figures: tests/campaigns/report_world.py)."""

from __future__ import annotations

import io
import re
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from marketloop.campaigns.models import ActivityCredit
from tests.campaigns.report_world import (  # noqa: F401  (fixtures)
    Q1,
    World,
    organisation_once_fixture,
    world_fixture,
)

pytestmark = pytest.mark.usefixtures("organisation_once")

PARTIAL = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "dashboard-results"}


def client_of(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def dashboard(client: Client, headers: dict | None = None, **params: str):
    return client.get(f"{reverse('campaigns:dashboard')}?{urlencode({**Q1, **params})}",
                      **(headers or {}))


def activity_row(html: str, activity) -> str:
    """The dashboard table's row of one activity."""
    match = re.search(rf'<tr data-activity="{activity.pk}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {activity.code}"
    return match.group(1)


def figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert match, name
    return match.group(1).strip()


# ---- the page --------------------------------------------------------------------------------

def test_the_dashboard_shows_every_card_and_every_activity(world: World):
    response = dashboard(client_of(world.hq))
    assert response.status_code == 200
    html = response.content.decode()
    for card in ("dashboard-totals", "dashboard-groups", "dashboard-burn",
                 "dashboard-comparison", "dashboard-activities", "model-switcher",
                 "sankey-chart-data", "roi-chart-data", "cost-chart-data", "burn-chart-data",
                 "comparison-chart-data", "dashboard-export", "vendor/echarts/echarts.min.js"):
        assert card in html, card
    totals = html[html.index('id="dashboard-totals"'):]
    assert figure(totals, "spend") == "¥7,000.00"
    assert figure(totals, "revenue") == "¥165,000.00"
    assert figure(totals, "roi") == "23.57×"
    assert figure(totals, "cost-lead") == "¥1,076.92"
    row = activity_row(html, world.a)
    assert "rw-salon-a" in row
    assert figure(row, "roi") == "18.75×"
    assert figure(row, "revenue") == "75,000.00"
    assert "dashboard-unattributed" in html  # HQ sees the no-activity bucket


def test_the_model_switcher_swaps_the_cards_without_the_page(world: World):
    client = client_of(world.hq)
    linear = dashboard(client, PARTIAL, model="linear").content.decode()
    first = dashboard(client, PARTIAL, model="first_touch").content.decode()
    for html in (linear, first):
        assert "<html" not in html and "dashboard-filters\"" not in html.split("form=")[0]
        assert 'id="dashboard-totals"' in html
    assert figure(activity_row(linear, world.b), "roi") == "25.00×"
    assert figure(activity_row(first, world.b), "roi") == "50.00×"
    assert "Model: First touch" in first


def test_sorting_keeps_the_model_and_period(world: World):
    html = dashboard(client_of(world.hq), PARTIAL, model="first_touch",
                     sort="roi").content.decode()
    order = [int(pk) for pk in re.findall(r'<tr data-activity="(\d+)">', html)]
    assert order == [world.b.pk, world.c.pk, world.a.pk]  # first touch: 50×, then 0× by name
    # the form's hidden sort follows the swap, so the next model switch keeps this order
    assert re.search(r'id="dashboard-sort" value="roi"[^>]*hx-swap-oob="true"', html)
    spend_link = re.search(r'href="\?([^"]*)" data-sort="spend"', html).group(1)
    assert "model=first_touch" in spend_link and "from=2026-01" in spend_link


def test_grouping_by_region_puts_hq_first(world: World):
    html = dashboard(client_of(world.hq), PARTIAL, group="region").content.decode()
    groups = re.findall(r'<tr data-group="([^"]+)">\s*<td class="ml-name">([^<]+)</td>', html)
    assert [label for _key, label in groups] == ["HQ", "South China", "East China"]


def test_a_province_user_sees_only_their_activities(world: World):
    html = dashboard(client_of(world.gd)).content.decode()
    assert "rw-salon-a" in html
    assert "rw-webinar-b" not in html and "rw-edm-c" not in html
    assert "dashboard-unattributed" not in html
    assert "No activity" not in html
    assert figure(html[html.index('id="dashboard-totals"'):], "spend") == "¥4,000.00"


def test_a_bad_filter_says_so_and_shows_the_default(world: World):
    response = dashboard(client_of(world.hq), model="best_guess")
    assert response.status_code == 200
    assert "Unknown attribution model." in response.content.decode()


def test_before_any_attribution_run_the_dashboard_says_so(world: World):
    ActivityCredit.objects.all().delete()
    html = dashboard(client_of(world.hq)).content.decode()
    assert "No attribution run yet" in html
    assert 'id="dashboard-empty"' in html


def test_the_dashboard_is_in_the_marketing_navigation(world: World):
    html = client_of(world.gd).get(reverse("leads:funnel")).content.decode()
    assert f'href="{reverse("campaigns:dashboard")}"' in html


# ---- the Excel export ------------------------------------------------------------------------

def export(client: Client, **params: str):
    return client.get(f"{reverse('campaigns:dashboard_export')}?{urlencode({**Q1, **params})}")


def sheet_rows(sheet) -> list[tuple]:
    return list(sheet.iter_rows(values_only=True))


def test_the_excel_export_has_the_sheets_titles_and_numbers(world: World):
    response = export(client_of(world.hq))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames == ["Summary", "By activity", "By kind", "By level", "By region",
                               "Budget burn"]
    for sheet in book.worksheets:
        assert "model: Linear" in sheet["A1"].value
        assert "period: 2026-01 – 2026-03" in sheet["A1"].value
        assert any(str(r).startswith("A1:") for r in sheet.merged_cells.ranges)
    activities = book["By activity"]
    header = [c.value for c in activities[2]]
    rows = {row[0]: dict(zip(header, row, strict=True)) for row in sheet_rows(activities)[2:]}
    a = rows["rw-a"]
    assert (a["Activity"], a["Kind"], a["Region"]) == ("rw-salon-a", "Salon", "South China")
    assert (a["Leads"], a["MQLs"], a["SALs"], a["Won deals"]) == (3.5, 1, 0.5, 0.75)
    assert (a["Won revenue (CNY)"], a["Spend (CNY)"], a["ROI"]) == (75000, 4000, 18.75)
    assert a["Cost per lead (CNY)"] == pytest.approx(1142.86)
    assert rows["rw-b"]["Cost per SAL (CNY)"] is None
    money = header.index("Won revenue (CNY)")
    assert activities.cell(row=3, column=money + 1).number_format == "#,##0.00"
    assert activities.cell(row=3, column=header.index("Leads") + 1).number_format == "0.0"
    kinds = {row[0]: row for row in sheet_rows(book["By kind"])[2:]}
    assert kinds["Salon"][1] == 1 and kinds["Webinar"][2] == 2
    regions = [row[0] for row in sheet_rows(book["By region"])[2:]]
    assert regions == ["HQ", "South China", "East China"]
    summary = {row[0]: row[1] for row in sheet_rows(book["Summary"])[2:]}
    assert summary["Spend (CNY)"] == 7000
    assert summary["ROI"] == pytest.approx(23.5714)
    assert summary["No activity: Leads"] == 1
    burn = sheet_rows(book["Budget burn"])
    assert ("Guangdong", 100000, 20000, 9000, 9) in burn
    assert any(row[0] == "广东2026Q1 (2026 Q1)" for row in burn)


def test_the_excel_export_speaks_chinese_to_chinese_users(world: World):
    client = client_of(world.hq)
    response = client.get(f"{reverse('campaigns:dashboard_export')}?{urlencode(Q1)}",
                          HTTP_ACCEPT_LANGUAGE="zh-hans")
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert book.sheetnames == ["汇总", "按活动", "按类型", "按级别", "按区域", "预算消耗"]
    assert book["汇总"]["A1"].value.startswith("营销活动看板")
    header = [c.value for c in book["按活动"][2]]
    assert header[:2] == ["活动编码", "活动名称"] and "赢单收入(元)" in header


def test_a_province_users_export_holds_only_their_activities(world: World):
    response = export(client_of(world.gd))
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    codes = [row[0] for row in sheet_rows(book["By activity"])[2:]]
    assert codes == ["rw-a"]
    summary = [row[0] for row in sheet_rows(book["Summary"])[2:]]
    assert not any(str(label).startswith("No activity") for label in summary)


def test_exporting_needs_the_export_right(world: World):
    assert export(client_of(world.trainer)).status_code == 403


# ---- an activity's results slot ----------------------------------------------------------------

def results(client: Client, activity, **params: str):
    url = reverse("campaigns:activity_results", args=[activity.pk])
    return client.get(f"{url}?{urlencode(params)}" if params else url)


def stage_cell(html: str, stage: str, name: str) -> str:
    row = re.search(rf'<tr data-stage="{stage}">(.*?)</tr>', html, re.S).group(1)
    return re.search(rf'data-figure="{name}">([^<]*)<', row).group(1).strip()


def test_the_results_slot_shows_sourced_influenced_and_credited(world: World):
    response = results(client_of(world.hq), world.a)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "rw-salon-a" in html
    assert stage_cell(html, "lead", "sourced") == "3.0"
    assert stage_cell(html, "lead", "influenced") == "5"
    assert stage_cell(html, "lead", "credited") == "7.5"
    assert stage_cell(html, "lead", "cost") == "¥1,200.00"
    assert figure(html, "roi") == "8.33×"
    assert "results-chart-data" in html


def test_the_results_slot_switches_model_in_place(world: World):
    html = results(client_of(world.hq), world.a, model="first_touch").content.decode()
    assert stage_cell(html, "lead", "credited") == "3.0"
    assert 'hx-target="#activity-results"' in html
    assert re.search(r'class="btn btn-sm active" data-model="first_touch"', html)
    bad = results(client_of(world.hq), world.a, model="best_guess")
    assert bad.status_code == 200 and "Unknown attribution model." in bad.content.decode()


def test_the_results_slot_of_a_hidden_activity_is_not_found(world: World):
    client = client_of(world.gd)
    assert results(client, world.b).status_code == 404
    assert client.get(reverse("campaigns:activity_results", args=[10**9])).status_code == 404
    assert results(client, world.a).status_code == 200
