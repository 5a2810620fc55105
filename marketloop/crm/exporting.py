"""Exporting accounts and contacts as CSV (streamed, UTF-8 with BOM so Excel reads Chinese) or
XLSX (openpyxl write-only, capped). Rows come only through the selectors, so an export shows
exactly what the user's lists show; they are read in keyset pages, never all at once.

Cell text that a spreadsheet would run as a formula (=, +, -, @, tab, carriage return at the
start) gets a leading single quote. The importer takes that quote off again, and the headers are
names the importer knows, so an exported file imports back unchanged.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone, translation

from marketloop.crm.importing import FORMULA_PREFIXES
from marketloop.crm.models import RevenueBand, Tier
from marketloop.crm.selectors import (
    ACCOUNT_SORTS,
    CONTACT_SORTS,
    AccountFilter,
    ContactFilter,
    account_queryset,
    contact_queryset,
    paginate,
)
from marketloop.org.models import User

PAGE = 2000
XLSX_MAX_ROWS = 100_000
CSV_BATCH = 500  # rows per streamed piece


def neutralise(value: Any) -> Any:
    """Text a spreadsheet would treat as a formula, made plain text with a leading quote."""
    if isinstance(value, str) and value and value[0] in FORMULA_PREFIXES:
        return "'" + value
    return value


def chinese() -> bool:
    return (translation.get_language() or "en").lower().startswith("zh")


def _unit(unit: Any) -> str:
    if unit is None:
        return ""
    return unit.name if chinese() or not unit.name_en else unit.name_en


def _when(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def _label(choices: Any, value: str) -> str:
    if not value:
        return ""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


Column = tuple[str, str, Callable[[Any], Any]]  # English header, Chinese header, value

ACCOUNT_COLUMNS: list[Column] = [
    ("Name", "客户名称", lambda a: a.name),
    ("Credit code", "统一社会信用代码", lambda a: a.credit_code),
    ("Industry", "行业", lambda a: a.industry.name if chinese() else a.industry.name_en),
    ("Industry rank", "行业排名", lambda a: a.industry_rank),
    ("Province", "省份", lambda a: _unit(a.province)),
    ("Revenue band", "营收规模", lambda a: _label(RevenueBand, a.revenue_band)),
    ("Parent credit code", "上级单位信用代码", lambda a: a.parent.credit_code if a.parent else ""),
    ("Tier", "客户分级", lambda a: _label(Tier, a.tier)),
    ("Owner unit", "归属单位", lambda a: _unit(a.owner_unit)),
    ("Owner", "负责人", lambda a: str(a.owner) if a.owner else ""),
    ("Partner", "合作伙伴", lambda a: _unit(a.partner)),
    ("Updated", "更新时间", lambda a: _when(a.updated_at)),
]

CONTACT_COLUMNS: list[Column] = [
    ("Name", "姓名", lambda c: c.name),
    ("Title", "职务", lambda c: c.title),
    ("Management", "管理层", lambda c: ("是" if c.is_management else "否") if chinese()
     else ("Yes" if c.is_management else "No")),
    ("Email", "邮箱", lambda c: c.email),
    ("Mobile", "手机", lambda c: c.mobile),
    ("Account credit code", "客户信用代码", lambda c: c.account.credit_code),
    ("Account", "客户名称", lambda c: c.account.name),
    ("Owner unit", "归属单位", lambda c: _unit(c.owner_unit)),
    ("Owner", "负责人", lambda c: str(c.owner) if c.owner else ""),
    ("Updated", "更新时间", lambda c: _when(c.updated_at)),
]


def _keyset(qs: QuerySet[Any], sort_fields: tuple[str, ...]) -> Iterator[Any]:
    """Every row of `qs` in the list's order, read PAGE rows at a time by keyset."""
    cursor: str | None = None
    while True:
        rows, cursor = paginate(qs, sort_fields, cursor, size=PAGE)
        yield from rows
        if cursor is None:
            return


class Export:
    def __init__(self, name: str, columns: list[Column], rows: Iterable[Any]) -> None:
        self.name = name
        self.columns = columns
        self.rows = rows

    @property
    def headers(self) -> list[str]:
        return [zh if chinese() else en for en, zh, _value in self.columns]

    def values(self) -> Iterator[list[Any]]:
        for obj in self.rows:
            yield [neutralise(value(obj)) for _en, _zh, value in self.columns]


def accounts(user: User, params: Any) -> Export:
    flt = AccountFilter.from_params(params)
    sort = flt.sort if flt.sort in ACCOUNT_SORTS else "name"
    qs = account_queryset(user, flt).select_related("industry", "province", "parent",
                                                     "owner_unit", "owner", "partner")
    return Export("accounts", ACCOUNT_COLUMNS, _keyset(qs, ACCOUNT_SORTS[sort]))


def contacts(user: User, params: Any) -> Export:
    flt = ContactFilter.from_params(params)
    sort = flt.sort if flt.sort in CONTACT_SORTS else "name"
    qs = contact_queryset(user, flt).select_related("account", "owner_unit", "owner")
    return Export("contacts", CONTACT_COLUMNS, _keyset(qs, CONTACT_SORTS[sort]))


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(headers: list[str], rows: Iterable[list[Any]]) -> Iterator[bytes]:
    writer = csv.writer(_Echo())
    yield ("\ufeff" + writer.writerow(headers)).encode()
    batch: list[str] = []
    for row in rows:
        batch.append(writer.writerow(["" if v is None else v for v in row]))
        if len(batch) >= CSV_BATCH:
            yield "".join(batch).encode()
            batch = []
    if batch:
        yield "".join(batch).encode()


def _stamp() -> str:
    return timezone.localtime().strftime("%Y%m%d-%H%M")


def csv_response(export: Export) -> StreamingHttpResponse:
    # Headers are read now, in the request's language; rows stream after the view returns.
    lines = csv_lines(export.headers, translation_bound(export.values()))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.name}-{_stamp()}.csv"'
    return response


def translation_bound(rows: Iterator[list[Any]]) -> Iterator[list[Any]]:
    """Keep the request's language while a streamed response is consumed (after the view and
    its locale middleware have returned)."""
    language = translation.get_language()

    def generate() -> Iterator[list[Any]]:
        with translation.override(language):
            yield from rows

    return generate()


def xlsx_response(export: Export, *, cap: int | None = None) -> FileResponse:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    cap = cap or XLSX_MAX_ROWS
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(export.name)
    sheet.freeze_panes = "A2"
    header = []
    for text in export.headers:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    capped = False
    for count, row in enumerate(export.values()):
        if count >= cap:
            capped = True
            break
        sheet.append(row)
    name = f"{export.name}-{_stamp()}"
    if capped:
        name = f"{export.name}-first-{cap}-{_stamp()}"
        note = (f"仅导出前 {cap:,} 行;请缩小筛选范围或改用 CSV 导出全部。" if chinese() else
                f"Only the first {cap:,} rows were exported; narrow the filter, or export "
                "CSV for all rows.")
        sheet.append([note])
    handle = tempfile.TemporaryFile(suffix=".xlsx")
    workbook.save(handle)
    handle.seek(0)
    response = FileResponse(handle, as_attachment=True, filename=f"{name}.xlsx",
                            content_type="application/vnd.openxmlformats-officedocument."
                                         "spreadsheetml.sheet")
    response["X-Export-Capped"] = "1" if capped else "0"
    return response


def response(export: Export, fmt: str) -> StreamingHttpResponse | FileResponse:
    return xlsx_response(export) if fmt == "xlsx" else csv_response(export)

