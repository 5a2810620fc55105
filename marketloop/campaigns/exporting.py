"""The campaign dashboard as an Excel workbook: Summary, By activity, By kind, By level, By
region and Budget burn. Each table has a merged title row naming the model and the period above
its header (as spreadsheets in China usually do); counts, money and ratios are numbers with
their number format, never text. Headers in Chinese or English by the user's language.

The rows come from campaigns.reports only, so the file holds exactly what the dashboard shows
the user (their activities; the no-activity bucket only for those who see everything).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.http import FileResponse

from marketloop.campaigns.models import ActivityKind, ActivityLevel
from marketloop.campaigns.reports import Burn, Figures, Report, group_rows, model_label
from marketloop.crm.exporting import chinese, neutralise

COUNT, MONEY, RATIO, PERCENT, TEXT, WHOLE = "0.0", "#,##0.00", "0.00", "0.0", "@", "0"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    en: str
    zh: str
    value: Callable[[Any], Any]
    number_format: str = TEXT

    @property
    def header(self) -> str:
        return self.zh if chinese() else self.en


def _count(value: Decimal) -> float:
    """An attributed count as a number (the cell's format shows one decimal)."""
    return float(value)


def _label(choices: Any, value: str) -> str:
    return str(choices(value).label) if value in choices.values else value


def figure_columns(get: Callable[[Any], Figures]) -> list[Column]:
    """The figures' columns, reading each row's Figures through `get`."""
    return [
        Column("Leads", "线索", lambda r: _count(get(r).leads), COUNT),
        Column("MQLs", "MQL", lambda r: _count(get(r).mqls), COUNT),
        Column("SALs", "SAL", lambda r: _count(get(r).sals), COUNT),
        Column("Opportunities", "商机", lambda r: _count(get(r).opportunities), COUNT),
        Column("Won deals", "赢单", lambda r: _count(get(r).won_deals), COUNT),
        Column("Pipeline (CNY)", "商机金额(元)", lambda r: get(r).pipeline, MONEY),
        Column("Won revenue (CNY)", "赢单收入(元)", lambda r: get(r).revenue, MONEY),
        Column("Spend (CNY)", "花费(元)", lambda r: get(r).spend, MONEY),
        Column("ROI", "投资回报率", lambda r: get(r).roi, RATIO),
        Column("Cost per lead (CNY)", "单条线索成本(元)", lambda r: get(r).cost_per("lead"),
               MONEY),
        Column("Cost per MQL (CNY)", "单个MQL成本(元)", lambda r: get(r).cost_per("mql"), MONEY),
        Column("Cost per SAL (CNY)", "单个SAL成本(元)", lambda r: get(r).cost_per("sal"), MONEY),
        Column("Cost per won deal (CNY)", "单个赢单成本(元)", lambda r: get(r).cost_per("won"),
               MONEY),
    ]


def activity_columns() -> list[Column]:
    return [
        Column("Activity code", "活动编码", lambda r: r.activity.code),
        Column("Activity", "活动名称", lambda r: r.activity.name),
        Column("Kind", "活动类型", lambda r: _label(ActivityKind, r.activity.kind)),
        Column("Level", "活动级别", lambda r: _label(ActivityLevel, r.activity.level)),
        Column("Region", "区域", lambda r: r.region_label),
        Column("Owner unit", "归属单位", lambda r: r.activity.owner_unit.display_name),
        Column("Starts", "开始日期", lambda r: r.activity.starts_on.isoformat()),
        *figure_columns(lambda r: r.figures),
    ]


def group_columns(en: str, zh: str) -> list[Column]:
    return [Column(en, zh, lambda g: g.label),
            Column("Activities", "活动数", lambda g: g.activities, WHOLE),
            *figure_columns(lambda g: g.figures)]


def burn_columns(en: str, zh: str) -> list[Column]:
    return [Column(en, zh, lambda b: b.label),
            Column("Budget (CNY)", "预算(元)", lambda b: b.budget, MONEY),
            Column("Approved (CNY)", "已批准(元)", lambda b: b.approved, MONEY),
            Column("Spent (CNY)", "已花费(元)", lambda b: b.spent, MONEY),
            Column("Burnt (% of budget)", "消耗率(%)", lambda b: b.burnt, PERCENT)]


SUMMARY_ROWS: list[tuple[str, str, Callable[[Figures], Any], str]] = [
    ("Spend (CNY)", "花费(元)", lambda f: f.spend, MONEY),
    ("Leads", "线索", lambda f: _count(f.leads), COUNT),
    ("MQLs", "MQL", lambda f: _count(f.mqls), COUNT),
    ("SALs", "SAL", lambda f: _count(f.sals), COUNT),
    ("Opportunities", "商机", lambda f: _count(f.opportunities), COUNT),
    ("Won deals", "赢单", lambda f: _count(f.won_deals), COUNT),
    ("Pipeline (CNY)", "商机金额(元)", lambda f: f.pipeline, MONEY),
    ("Won revenue (CNY)", "赢单收入(元)", lambda f: f.revenue, MONEY),
    ("ROI", "投资回报率", lambda f: f.roi, RATIO),
    ("Cost per lead (CNY)", "单条线索成本(元)", lambda f: f.cost_per("lead"), MONEY),
    ("Cost per MQL (CNY)", "单个MQL成本(元)", lambda f: f.cost_per("mql"), MONEY),
    ("Cost per SAL (CNY)", "单个SAL成本(元)", lambda f: f.cost_per("sal"), MONEY),
    ("Cost per won deal (CNY)", "单个赢单成本(元)", lambda f: f.cost_per("won"), MONEY),
]

SHEETS = {"summary": ("Summary", "汇总"), "activities": ("By activity", "按活动"),
          "kind": ("By kind", "按类型"), "level": ("By level", "按级别"),
          "region": ("By region", "按区域"), "burn": ("Budget burn", "预算消耗")}


def sheet_name(key: str) -> str:
    en, zh = SHEETS[key]
    return zh if chinese() else en


def title(report: Report, what_en: str, what_zh: str) -> str:
    model, period = model_label(report.query.model), report.query.period.label
    if chinese():
        return f"营销活动看板 · {what_zh} · 归因模型:{model} · 期间:{period}"
    return f"Campaign dashboard · {what_en} · model: {model} · period: {period}"


class Writer:
    """Tables on openpyxl worksheets: a merged, bold title row, a bold header, then rows."""

    def __init__(self) -> None:
        from openpyxl import Workbook

        self.book = Workbook()
        self.book.remove(self.book.active)

    def sheet(self, name: str) -> Any:
        return self.book.create_sheet(name)

    def table(self, sheet: Any, heading: str, columns: list[Column], rows: Iterable[Any]) -> None:
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter

        top = sheet.max_row + 2 if sheet.max_row > 1 else 1
        sheet.cell(row=top, column=1, value=heading).font = Font(bold=True, size=12)
        if len(columns) > 1:
            sheet.merge_cells(start_row=top, start_column=1, end_row=top,
                              end_column=len(columns))
        for index, column in enumerate(columns, start=1):
            cell = sheet.cell(row=top + 1, column=index, value=column.header)
            cell.font = Font(bold=True)
            letter = get_column_letter(index)
            width = max(len(column.header) * (2 if chinese() else 1) + 2, 12)
            sheet.column_dimensions[letter].width = max(
                sheet.column_dimensions[letter].width or 0, min(width, 40))
        line = top + 2
        for row in rows:
            for index, column in enumerate(columns, start=1):
                value = column.value(row)
                cell = sheet.cell(row=line, column=index, value=neutralise(value))
                if value is not None and column.number_format != TEXT:
                    cell.number_format = column.number_format
            line += 1

    def response(self, filename: str) -> FileResponse:
        handle = tempfile.TemporaryFile(suffix=".xlsx")
        self.book.save(handle)
        handle.seek(0)
        return FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX)


def _summary_rows(report: Report) -> list[tuple[str, Any, str]]:
    rows: list[tuple[str, Any, str]] = [
        ("Activities" if not chinese() else "活动数", len(report.activities), WHOLE)]
    rows += [(zh if chinese() else en, value(report.totals), fmt)
             for en, zh, value, fmt in SUMMARY_ROWS]
    if report.unattributed is not None:
        prefix = "无活动转化:" if chinese() else "No activity: "
        rows += [(prefix + (zh if chinese() else en), value(report.unattributed), fmt)
                 for en, zh, value, fmt in SUMMARY_ROWS[1:8]]
    return rows


def workbook(report: Report, burn: Burn) -> Writer:
    writer = Writer()
    summary = writer.sheet(sheet_name("summary"))
    writer.table(summary, title(report, "Summary", "汇总"), [
        Column("Figure", "指标", lambda r: r[0]),
        Column("Value", "数值", lambda r: r[1]),
    ], _summary_rows(report))
    # Each figure has its own format: rows from the third (under the title and the header).
    for line, (_name, value, fmt) in enumerate(_summary_rows(report), start=3):
        if value is not None:
            summary.cell(row=line, column=2).number_format = fmt
    writer.table(writer.sheet(sheet_name("activities")), title(report, "By activity", "按活动"),
                 activity_columns(), report.activities)
    for key, en, zh in (("kind", "Kind", "活动类型"), ("level", "Level", "活动级别"),
                        ("region", "Region", "区域")):
        sheet_en, sheet_zh = SHEETS[key]
        writer.table(writer.sheet(sheet_name(key)), title(report, sheet_en, sheet_zh),
                     group_columns(en, zh), group_rows(report.activities, key))
    burn_sheet = writer.sheet(sheet_name("burn"))
    writer.table(burn_sheet, title(report, "Budget burn by unit", "各单位预算消耗"),
                 burn_columns("Owner unit", "归属单位"), burn.units)
    writer.table(burn_sheet, title(report, "Budget burn by plan", "各计划预算消耗"),
                 burn_columns("Plan", "营销计划"), burn.plans)
    return writer


def xlsx_response(report: Report, burn: Burn) -> FileResponse:
    period = report.query.period
    name = f"campaign-dashboard-{report.query.model}-{period.first:%Y%m}-{period.last:%Y%m}.xlsx"
    return workbook(report, burn).response(name)

