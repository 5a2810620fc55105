"""Reading spreadsheets of accounts and contacts: formats, encodings, header rows, and the
validation of one row at a time. Nothing here writes; `import_services` does the work.

- CSV in UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode text") or GB18030/GBK (what
  Chinese Excel saves): UTF-8 is tried strictly first, then GB18030, never a lossy decode.
- XLSX through openpyxl in read-only mode: the first sheet, or a chosen one.
- The header is the first row, among the first ten, that names at least two known columns, so a
  merged title row and blank rows above it do no harm. Headers may be English or Chinese.
- Row numbers are the ones the user sees in Excel (the first record of the file is row 1).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from marketloop.crm.models import Industry, RevenueBand
from marketloop.crm.validation import normalise_credit_code, normalise_email, normalise_mobile
from marketloop.org.models import OrgUnit, UnitKind

HEADER_SEARCH_ROWS = 10
CSV_FIELD_LIMIT = 1024 * 1024
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Field -> the column names it is known by (matched after `header_key`).
ACCOUNT_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "account name", "account", "company", "company name", "客户名称",
             "公司名称", "单位名称", "企业名称"),
    "credit_code": ("credit_code", "credit code", "unified social credit code", "uscc",
                    "统一社会信用代码", "信用代码", "社会信用代码"),
    "industry": ("industry", "行业", "所属行业"),
    "industry_rank": ("industry_rank", "industry rank", "rank", "行业排名", "排名"),
    "province": ("province", "省份", "省", "所在省份"),
    "revenue_band": ("revenue_band", "revenue band", "revenue", "营收规模", "营收"),
    "parent_credit_code": ("parent_credit_code", "parent credit code", "上级单位信用代码",
                           "上级单位统一社会信用代码", "上级信用代码"),
}
CONTACT_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("name", "contact", "contact name", "姓名", "联系人", "联系人姓名"),
    "title": ("title", "job title", "position", "职务", "职位"),
    "is_management": ("is_management", "management", "management level", "管理层"),
    "email": ("email", "e-mail", "email address", "邮箱", "电子邮箱", "电子邮件"),
    "mobile": ("mobile", "mobile phone", "phone", "手机", "手机号", "手机号码"),
    "account_credit_code": ("account_credit_code", "account credit code", "客户信用代码",
                            "客户统一社会信用代码"),
    "account_name": ("account_name", "account name", "account", "company", "客户名称",
                     "公司名称", "客户"),
    "consent_purpose": ("consent_purpose", "consent purpose", "consent", "授权用途"),
}
COLUMNS = {"accounts": ACCOUNT_COLUMNS, "contacts": CONTACT_COLUMNS}

FIELD_LABELS = {
    "name": ("Name", "名称"), "credit_code": ("Credit code", "统一社会信用代码"),
    "industry": ("Industry", "行业"), "industry_rank": ("Industry rank", "行业排名"),
    "province": ("Province", "省份"), "revenue_band": ("Revenue band", "营收规模"),
    "parent_credit_code": ("Parent credit code", "上级单位信用代码"),
    "title": ("Title", "职务"), "is_management": ("Management", "管理层"),
    "email": ("Email", "邮箱"), "mobile": ("Mobile", "手机"),
    "account_credit_code": ("Account credit code", "客户信用代码"),
    "account_name": ("Account", "客户名称"), "consent_purpose": ("Consent purpose", "授权用途"),
}

MAX_LENGTHS = {
    "accounts": {"name": 200},
    "contacts": {"name": 80, "title": 120, "email": 254, "account_name": 200,
                 "consent_purpose": 60},
}

TRUE_WORDS = {"是", "y", "yes", "true", "1", "t", "√", "✓", "管理层"}
FALSE_WORDS = {"否", "n", "no", "false", "0", "f", "×", "✗"}

PROVINCE_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")
REVENUE_ALIASES = {
    RevenueBand.MICRO: ("微型", "1千万以下", "一千万以下", "under 10m"),
    RevenueBand.SMALL: ("小型", "1千万-1亿", "10m-100m"),
    RevenueBand.MEDIUM: ("中型", "1亿-10亿", "100m-1b"),
    RevenueBand.LARGE: ("大型", "10亿-100亿", "1b-10b"),
    RevenueBand.XLARGE: ("特大型", "100亿以上", "over 10b"),
}


class ImportFileError(Exception):
    """The file cannot be read at all (the message is for the person who uploaded it)."""


def header_key(text: str) -> str:
    """Column names compared without case, spaces, underscores, hyphens, a required-marker
    asterisk or a trailing remark in brackets: '*客户名称（必填）' -> '客户名称'."""
    text = (text or "").replace("\ufeff", "").strip().lower()
    text = re.sub(r"[(（\[【].*?[)）\]】]\s*$", "", text)
    return re.sub(r"[\s_\-*:：]+", "", text)


def _alias_index(columns: dict[str, tuple[str, ...]]) -> dict[str, str]:
    index: dict[str, str] = {}
    for name, aliases in columns.items():
        for alias in aliases:
            index.setdefault(header_key(alias), name)
    return index


ALIASES = {kind: _alias_index(columns) for kind, columns in COLUMNS.items()}


def undo_formula_guard(text: str) -> str:
    """Our exports put a quote before text that a spreadsheet would run as a formula; take it
    off again so an exported file imports as it was."""
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_PREFIXES:
        return text[1:]
    return text


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------------------------------------
# Reading files


@dataclass
class SourceInfo:
    format: str  # "csv" or "xlsx"
    encoding: str = ""
    delimiter: str = ""
    sheet: str = ""
    sheets: list[str] = field(default_factory=list)
    estimated_rows: int | None = None  # rows in the sheet, as the file declares them


def sniff_format(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(_("This is an old Excel (.xls) file. Save it as .xlsx or CSV "
                                "and upload it again."))
    return "csv"


def detect_encoding(path: Path) -> str:
    """utf-16 if the file starts with its BOM; utf-8-sig if every byte decodes strictly as
    UTF-8; else gb18030 (which is what Chinese Excel writes) if that decodes strictly."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        try:
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise ImportFileError(_("The file is neither UTF-8 nor GBK/GB18030 text. Save it from "
                            "Excel as 'CSV UTF-8' or as .xlsx."))


def detect_delimiter(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, newline="") as fh:
        lines = [line for _i, line in zip(range(HEADER_SEARCH_ROWS + 2), fh, strict=False)]
    best, best_count = ",", 0
    for delimiter in (",", "\t", ";", "|"):
        count = max((line.count(delimiter) for line in lines), default=0)
        if count > best_count:
            best, best_count = delimiter, count
    return best


class Table:
    """A file's rows as lists of strings, numbered as the user sees them; re-iterable."""

    def __init__(self, path: str | Path, *, sheet: str = "") -> None:
        self.path = Path(path)
        fmt = sniff_format(self.path)
        if fmt == "xlsx":
            self.info = self._xlsx_info(sheet)
        else:
            encoding = detect_encoding(self.path)
            self.info = SourceInfo(format="csv", encoding=encoding,
                                   delimiter=detect_delimiter(self.path, encoding))

    def _xlsx_info(self, sheet: str) -> SourceInfo:
        import openpyxl

        try:
            workbook = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a broken file
            raise ImportFileError(_("The Excel file cannot be opened: %(error)s")
                                  % {"error": exc}) from exc
        try:
            names = list(workbook.sheetnames)
            if not names:
                raise ImportFileError(_("The Excel file has no sheets."))
            chosen = sheet if sheet in names else names[0]
            if sheet and sheet not in names:
                raise ImportFileError(_("The file has no sheet named “%(sheet)s”.")
                                      % {"sheet": sheet})
            max_row = workbook[chosen].max_row
        finally:
            workbook.close()
        return SourceInfo(format="xlsx", sheet=chosen, sheets=names, estimated_rows=max_row)

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        if self.info.format == "xlsx":
            yield from self._xlsx_rows()
        else:
            yield from self._csv_rows()

    def _csv_rows(self) -> Iterator[tuple[int, list[str]]]:
        csv.field_size_limit(CSV_FIELD_LIMIT)
        with open(self.path, encoding=self.info.encoding, newline="") as fh:
            reader = csv.reader(fh, delimiter=self.info.delimiter)
            try:
                yield from enumerate(reader, start=1)
            except csv.Error as exc:
                raise ImportFileError(_("The CSV file is malformed near line %(line)s: "
                                        "%(error)s") % {"line": reader.line_num,
                                                        "error": exc}) from exc

    def _xlsx_rows(self) -> Iterator[tuple[int, list[str]]]:
        import openpyxl

        workbook = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        try:
            sheet = workbook[self.info.sheet]
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                yield number, [cell_text(v) for v in values]
        finally:
            workbook.close()


# ---------------------------------------------------------------------------------------------
# Header


@dataclass
class Column:
    index: int
    header: str
    field: str | None  # None: ignored
    note: str = ""


@dataclass
class Header:
    row_number: int
    columns: list[Column]

    @property
    def fields(self) -> dict[str, Column]:
        return {c.field: c for c in self.columns if c.field}

    @property
    def ignored(self) -> list[Column]:
        return [c for c in self.columns if c.field is None and c.header]


def match_header(kind: str, cells: list[str]) -> list[Column]:
    aliases = ALIASES[kind]
    taken: set[str] = set()
    columns = []
    for index, cell in enumerate(cells):
        header = cell.replace("\ufeff", "").strip()
        name = aliases.get(header_key(header)) if header else None
        note = ""
        if name in taken:
            name, note = None, _("a second column for the same field")
        if name:
            taken.add(name)
        columns.append(Column(index=index, header=header, field=name, note=note))
    return columns


def find_header(kind: str, rows: list[tuple[int, list[str]]]) -> Header:
    """The first row (of those given, normally the first ten) naming two known columns."""
    for number, cells in rows:
        columns = match_header(kind, cells)
        if sum(1 for c in columns if c.field) >= 2:
            return Header(row_number=number, columns=columns)
    expected = ", ".join(f"{aliases[0]}/{aliases[-1] if len(aliases) > 1 else ''}"
                         for aliases in COLUMNS[kind].values())
    raise ImportFileError(_("No header row found in the first %(n)s rows: a header names at "
                            "least two known columns (%(expected)s).")
                          % {"n": HEADER_SEARCH_ROWS, "expected": expected})


# ---------------------------------------------------------------------------------------------
# Rows


@dataclass(slots=True)
class Row:
    number: int
    values: dict[str, str]  # field -> text as in the file (stripped)
    raw: dict[str, str]  # header -> text, every column, for the error report


def data_rows(header: Header, rows: Iterator[tuple[int, list[str]]]) -> Iterator[Row]:
    """Rows below the header, blank rows skipped (they are not data)."""
    mapped = [(c.index, c.field) for c in header.columns if c.field]
    named = [(c.index, c.header or f"#{c.index + 1}") for c in header.columns]
    width = len(header.columns)
    for number, cells in rows:
        if number <= header.row_number:
            continue
        if not any(cell.strip() for cell in cells):
            continue
        values = {}
        for index, name in mapped:
            text = cells[index].strip() if index < len(cells) else ""
            values[name] = undo_formula_guard(text)
        raw = {name: (cells[index] if index < len(cells) else "") for index, name in named}
        for extra, cell in enumerate(cells[width:], start=width + 1):
            if cell.strip():
                raw[f"#{extra}"] = cell
        yield Row(number=number, values=values, raw=raw)


class Reference:
    """Industries and provinces by every name a spreadsheet may use for them."""

    def __init__(self) -> None:
        self.industries: dict[str, int] = {}
        self.industry_names: dict[int, str] = {}
        for industry in Industry.objects.all():
            self.industry_names[industry.id] = industry.name
            for key in (industry.code, industry.name, industry.name_en):
                if key:
                    self.industries[key.strip().lower()] = industry.id
        self.provinces: dict[str, int] = {}
        self.province_names: dict[int, str] = {}
        for unit in OrgUnit.objects.filter(kind=UnitKind.PROVINCE):
            self.province_names[unit.id] = unit.name
            for key in (unit.code, unit.name, unit.name_en):
                if key:
                    self.provinces[key.strip().lower()] = unit.id
        self.revenue_bands: dict[str, str] = {}
        for language in ("en", "zh-hans"):  # labels as exported in either language
            with translation.override(language):
                for band in RevenueBand:
                    for key in (band.value, str(band.label), *REVENUE_ALIASES.get(band, ())):
                        self.revenue_bands[key.strip().lower()] = band.value

    def industry(self, text: str) -> int | None:
        return self.industries.get(text.strip().lower())

    def province(self, text: str) -> int | None:
        key = text.strip().lower()
        if key in self.provinces:
            return self.provinces[key]
        for suffix in PROVINCE_SUFFIXES:
            if key.endswith(suffix) and key[: -len(suffix)] in self.provinces:
                return self.provinces[key[: -len(suffix)]]
        for suffix in (" province", " municipality", " autonomous region", " sar"):
            if key.endswith(suffix) and key[: -len(suffix)].strip() in self.provinces:
                return self.provinces[key[: -len(suffix)].strip()]
        return None

    def revenue_band(self, text: str) -> str | None:
        return self.revenue_bands.get(text.strip().lower())


Errors = list[tuple[str, str]]  # (field, message)


@dataclass(slots=True)
class AccountRecord:
    """A valid account row. Empty or None means the file does not say (nothing changes)."""

    row: int
    name: str
    credit_code: str
    industry_id: int | None
    industry_rank: int | None
    province_id: int | None
    revenue_band: str
    parent_credit_code: str


@dataclass(slots=True)
class ContactRecord:
    row: int
    name: str
    title: str
    is_management: bool | None
    email: str
    mobile: str
    account_credit_code: str
    account_name: str
    consent_purpose: str

    @property
    def account_key(self) -> str:
        return f"code:{self.account_credit_code}" if self.account_credit_code \
            else f"name:{self.account_name}"


def _too_long(kind: str, values: dict[str, str], errors: Errors) -> None:
    for name, limit in MAX_LENGTHS[kind].items():
        if len(values.get(name, "")) > limit:
            errors.append((name, _("Longer than %(limit)s characters.") % {"limit": limit}))


def _rank(text: str, errors: Errors) -> int | None:
    if not text:
        return None
    try:
        number = Decimal(text.replace(",", ""))
    except ArithmeticError:
        number = None
    if number is None or number != number.to_integral_value() or not 1 <= number < 2**31:
        errors.append(("industry_rank",
                       _("'%(value)s' is not a rank (a whole number from 1).") % {"value": text}))
        return None
    return int(number)


def _code(text: str, name: str, errors: Errors) -> str:
    try:
        return normalise_credit_code(text)
    except ValueError as exc:
        errors.append((name, f"{exc} ({text})"))
        return ""


def validate_account(row: Row, ref: Reference) -> tuple[AccountRecord | None, Errors]:
    v = row.values
    errors: Errors = []
    _too_long("accounts", v, errors)
    name = v.get("name", "")
    code = _code(v.get("credit_code", ""), "credit_code", errors)
    if not name and not code and not v.get("credit_code"):
        errors.append(("name", _("The name is missing (and there is no credit code to find "
                                 "the account by).")))
    industry_id = None
    if v.get("industry"):
        industry_id = ref.industry(v["industry"])
        if industry_id is None:
            errors.append(("industry", _("Unknown industry '%(value)s'. Known: %(known)s.") % {
                "value": v["industry"], "known": "、".join(ref.industry_names.values())}))
    rank = _rank(v.get("industry_rank", ""), errors)
    province_id = None
    if v.get("province"):
        province_id = ref.province(v["province"])
        if province_id is None:
            errors.append(("province", _("Unknown province '%(value)s'.")
                           % {"value": v["province"]}))
    band = ""
    if v.get("revenue_band"):
        band = ref.revenue_band(v["revenue_band"]) or ""
        if not band:
            errors.append(("revenue_band", _("Unknown revenue band '%(value)s'. Known: "
                                             "%(known)s.") % {
                "value": v["revenue_band"], "known": ", ".join(RevenueBand.values)}))
    parent = _code(v.get("parent_credit_code", ""), "parent_credit_code", errors)
    if parent and parent == code:
        errors.append(("parent_credit_code", _("An account cannot be its own parent.")))
    if errors:
        return None, errors
    return AccountRecord(row=row.number, name=name, credit_code=code, industry_id=industry_id,
                         industry_rank=rank, province_id=province_id, revenue_band=band,
                         parent_credit_code=parent), []


def parse_bool(text: str) -> bool | None:
    key = text.strip().lower()
    if key in TRUE_WORDS:
        return True
    if key in FALSE_WORDS:
        return False
    raise ValueError(text)


def validate_contact(row: Row, ref: Reference | None = None) -> tuple[ContactRecord | None,
                                                                       Errors]:
    v = row.values
    errors: Errors = []
    _too_long("contacts", v, errors)
    name = v.get("name", "")
    if not name:
        errors.append(("name", _("The name is missing.")))
    management = None
    if v.get("is_management"):
        try:
            management = parse_bool(v["is_management"])
        except ValueError:
            errors.append(("is_management", _("'%(value)s' is not yes or no (是/否, Y/N, 1/0).")
                           % {"value": v["is_management"]}))
    email = mobile = ""
    try:
        email = normalise_email(v.get("email", ""))
    except ValueError as exc:
        errors.append(("email", str(exc)))
    try:
        mobile = normalise_mobile(v.get("mobile", ""))
    except ValueError as exc:
        errors.append(("mobile", str(exc)))
    account_code = _code(v.get("account_credit_code", ""), "account_credit_code", errors)
    account_name = v.get("account_name", "")
    if not account_code and not account_name and not v.get("account_credit_code"):
        errors.append(("account_name", _("Say which account: its credit code or its name.")))
    if errors:
        return None, errors
    return ContactRecord(row=row.number, name=name, title=v.get("title", ""),
                         is_management=management, email=email, mobile=mobile,
                         account_credit_code=account_code, account_name=account_name,
                         consent_purpose=v.get("consent_purpose", "")), []


class DuplicateCheck:
    """Rows that repeat an earlier row of the same file (by the keys imports match on)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.seen: dict[tuple[str, ...], int] = {}

    def check(self, record: AccountRecord | ContactRecord) -> Errors:
        """An error if the record repeats an earlier one; else remember it."""
        check, remember = self._keys(record)
        for key, field_name in check:
            earlier = self.seen.get(key)
            if earlier is not None:
                label = FIELD_LABELS[field_name]
                what = label[1] if (translation.get_language() or "").startswith("zh") \
                    else label[0].lower()
                return [(field_name, _("Duplicate of row %(row)s (same %(what)s).") % {
                    "row": earlier, "what": what})]
        for key in remember:
            self.seen.setdefault(key, record.row)
        return []

    def _keys(self, r: Any) -> tuple[list[tuple[tuple[str, ...], str]], list[tuple[str, ...]]]:
        if self.kind == "accounts":
            by_name = ("name", r.name, str(r.province_id))
            if r.credit_code:
                by_code = ("code", r.credit_code)
                return [(by_code, "credit_code")], [by_code, by_name]
            return [(by_name, "name")], [by_name]
        if r.email:
            key = ("email", r.email)
            return [(key, "email")], [key]
        if r.mobile:
            key = ("mobile", r.account_key, r.mobile)
            return [(key, "mobile")], [key]
        key = ("contact", r.account_key, r.name)
        return [(key, "name")], [key]


VALIDATORS = {"accounts": validate_account, "contacts": validate_contact}
