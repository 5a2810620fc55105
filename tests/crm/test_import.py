"""Importing accounts and contacts from CSV and Excel: every row ends created, updated,
unchanged or in error (with its reason and row number), nothing is created twice, and new
accounts are owned as the tier rules say."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation
from stdnum.cn import uscc

from marketloop.audit.models import AuditEntry
from marketloop.audit.selectors import trail_of
from marketloop.crm import import_services
from marketloop.crm.import_services import (
    cancel_import,
    choose_sheet,
    confirm_import,
    run_import,
    start_import,
)
from marketloop.crm.models import (
    Account,
    Consent,
    ConsentMethod,
    Contact,
    ImportJob,
    ImportRowError,
    Tier,
)
from marketloop.org.errors import NotAllowed, NotFound
from marketloop.org.models import Role
from tests.factories import AccountFactory, ContactFactory

ACCOUNT_HEADER = ("客户名称", "统一社会信用代码", "行业", "行业排名", "省份", "营收规模")


def code(n: int, region: str = "440300") -> str:
    base = f"91{region}{n:09d}"
    return base + uscc.calc_check_digit(base)


def bad_check_digit(value: str) -> str:
    return value[:-1] + ("1" if value[-1] != "1" else "2")


def csv_bytes(rows: list[list[object]], encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(sheets: dict[str, list[list[object]]], merge_title: str | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
        if merge_title and title == next(iter(sheets)):
            sheet.merge_cells(merge_title)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(data: bytes, name: str = "accounts.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def import_file(actor, data: bytes, *, kind: str = "accounts", name: str = "accounts.csv"
                ) -> ImportJob:
    """Upload, confirm and run the job in this process (on-commit queueing is not needed)."""
    job = start_import(actor=actor, kind=kind, upload=upload(data, name))
    confirm_import(actor=actor, job=job)
    return run_import(job_id=job.pk)


def counts(job: ImportJob) -> dict[str, int]:
    return {"created": job.created_count, "updated": job.updated_count,
            "unchanged": job.unchanged_count, "error": job.error_count,
            "total": job.total_rows}


def assert_adds_up(job: ImportJob) -> None:
    assert job.status == ImportJob.Status.DONE, job.error
    assert job.processed_rows == job.total_rows
    assert (job.created_count + job.updated_count + job.unchanged_count + job.error_count
            == job.total_rows)
    assert job.summary["result"]["adds_up"] is True


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English, whatever an earlier request left active."""
    with translation.override("en"):
        yield


@pytest.fixture
def owners(org, make_user):
    return {
        "hq": make_user(org.hq_key_account, Role.ACCOUNT_MANAGER),
        "gd_ka": make_user(org.gd_key_account, Role.ACCOUNT_MANAGER),
        "gd_sales": make_user(org.gd_sales, Role.SALES_REP),
        "zj_sales": make_user(org.zj_sales, Role.SALES_REP),
        "gd_partner": make_user(org.gd_partner, Role.PARTNER_STAFF),
    }


def three_accounts() -> list[list[object]]:
    return [
        list(ACCOUNT_HEADER),
        ["广州百强制造有限公司", code(1), "制造", 42, "广东省", "xlarge"],
        ["深圳区域金融有限公司", code(2), "finance", 150, "gd", ""],
        ["杭州小微零售有限公司", code(3, "330100"), "Retail", "", "Zhejiang", "micro"],
    ]


# --- formats ----------------------------------------------------------------------------------


def test_utf8_csv_with_bom_imports_and_routes_new_accounts(org, owners, hq_marketer):
    job = import_file(hq_marketer, csv_bytes(three_accounts()))

    assert_adds_up(job)
    assert counts(job) == {"created": 3, "updated": 0, "unchanged": 0, "error": 0, "total": 3}
    assert job.summary["encoding"] == "utf-8-sig"
    top = Account.objects.get(credit_code=code(1))
    assert (top.tier, top.owner_unit, top.owner) == (Tier.HQ_STRATEGIC, org.hq_key_account,
                                                     owners["hq"])
    regional = Account.objects.get(credit_code=code(2))
    assert (regional.tier, regional.owner_unit) == (Tier.REGIONAL_STRATEGIC,
                                                    org.gd_key_account)
    small = Account.objects.get(credit_code=code(3, "330100"))
    assert (small.province, small.owner_unit, small.partner) == (org.zj, org.zj_partner,
                                                                 org.zj_partner)
    # Owned by the routing result, not by the importer; the creation is audited with why.
    assert not Account.objects.filter(owner=hq_marketer).exists()
    created = trail_of(top).get(action="created")
    assert created.actor == hq_marketer
    assert "Industry top 100" in created.reason and f"Import #{job.pk}" in created.reason
    assert created.changes["tier"] == [None, "hq_strategic"]
    assert top.name_grams and "广州" in top.name_grams


def test_utf8_csv_without_bom_imports(org, owners, hq_marketer):
    job = import_file(hq_marketer, csv_bytes(three_accounts(), encoding="utf-8"))
    assert job.summary["encoding"] == "utf-8-sig"  # reads both, BOM or not
    assert job.created_count == 3


def test_gb18030_csv_with_title_and_blank_rows_above_the_header(org, owners, hq_marketer):
    rows = [["2025年重点客户名单", "", "", "", "", ""], ["", "", "", "", "", ""],
            *three_accounts(), ["", "", "", "", "", ""]]
    data = csv_bytes(rows, encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really not UTF-8

    job = import_file(hq_marketer, data)

    assert job.summary["encoding"] == "gb18030"
    assert job.summary["header_row"] == 3
    assert_adds_up(job)
    assert job.created_count == 3 and job.total_rows == 3  # blank rows are not data
    assert Account.objects.filter(name="广州百强制造有限公司").exists()


def test_xlsx_with_merged_title_row_imports(org, owners, hq_marketer):
    data = xlsx_bytes({"客户": [["2025年客户名单"], *three_accounts()], "说明": [["随便"]]},
                      merge_title="A1:F1")
    job = import_file(hq_marketer, data, name="客户.xlsx")

    assert (job.summary["format"], job.summary["sheet"]) == ("xlsx", "客户")
    assert job.summary["sheets"] == ["客户", "说明"]
    assert job.summary["header_row"] == 2
    assert_adds_up(job)
    assert job.created_count == 3
    # Excel stored the rank as a number; it still counts as a rank.
    assert Account.objects.get(credit_code=code(1)).industry_rank == 42


def test_xlsx_reads_the_chosen_sheet(org, owners, hq_marketer):
    data = xlsx_bytes({"封面": [["nothing here"]], "客户": three_accounts()})
    with pytest.raises(Exception) as error:
        start_import(actor=hq_marketer, kind="accounts", upload=upload(data, "a.xlsx"))
    assert "header" in str(error.value)

    job = start_import(actor=hq_marketer, kind="accounts", upload=upload(data, "a.xlsx"),
                       sheet="客户")
    assert job.summary["sheet"] == "客户" and job.summary["valid"] == 3
    confirm_import(actor=hq_marketer, job=job)
    assert run_import(job_id=job.pk).created_count == 3


def test_choose_sheet_rereads_the_preview(org, owners, hq_marketer):
    data = xlsx_bytes({"客户": three_accounts(), "更多": three_accounts()[:2]})
    job = start_import(actor=hq_marketer, kind="accounts", upload=upload(data, "a.xlsx"))
    assert job.total_rows == 3
    job = choose_sheet(actor=hq_marketer, job=job, sheet="更多")
    assert (job.summary["sheet"], job.total_rows) == ("更多", 1)


def test_the_preview_page_offers_the_other_sheets_and_cancel(client, org, owners, hq_marketer):
    data = xlsx_bytes({"客户": three_accounts(), "更多": three_accounts()[:2]})
    client.force_login(hq_marketer)
    response = client.post(reverse("data:import_upload"), {
        "kind": "accounts", "file": upload(data, "book.xlsx")})
    job = ImportJob.objects.get()
    page = client.get(response["Location"]).content.decode()
    assert 'id="import-sheet">客户<' in page and '<option value="更多">' in page
    client.post(reverse("data:import_sheet", args=[job.pk]), {"sheet": "更多"})
    page = client.get(response["Location"]).content.decode()
    assert 'id="import-sheet">更多<' in page and 'id="import-total">1<' in page
    assert client.post(reverse("data:import_cancel", args=[job.pk])).status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CANCELLED
    assert "Cancelled" in client.get(response["Location"]).content.decode()


def test_unreadable_file_is_refused_with_a_reason(org, hq_marketer):
    from marketloop.org.errors import DomainError

    with pytest.raises(DomainError) as error:
        start_import(actor=hq_marketer, kind="accounts",
                     upload=upload(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old", "old.xls"))
    assert ".xls" in error.value.message
    with pytest.raises(DomainError) as error:
        start_import(actor=hq_marketer, kind="accounts",
                     upload=upload(csv_bytes([["a", "b"], ["1", "2"]])))
    assert "No header row" in error.value.message
    assert not ImportJob.objects.exists()


# --- preview ----------------------------------------------------------------------------------


def test_preview_maps_columns_shows_rows_and_counts_but_writes_nothing(org, owners,
                                                                       hq_marketer):
    rows = three_accounts()
    rows[0].append("备注")
    rows[1].append("老客户")
    rows.append(["坏公司", bad_check_digit(code(9)), "制造", "", "广东", ""])
    job = start_import(actor=hq_marketer, kind="accounts", upload=upload(csv_bytes(rows)))

    s = job.summary
    assert job.status == ImportJob.Status.PREVIEW
    assert {c["header"]: c["field"] for c in s["columns"]} == {
        "客户名称": "name", "统一社会信用代码": "credit_code", "行业": "industry",
        "行业排名": "industry_rank", "省份": "province", "营收规模": "revenue_band",
        "备注": None}
    assert s["ignored"] == ["备注"]
    assert (s["total_rows"], s["validated_rows"], s["valid"], s["invalid"]) == (4, 4, 3, 1)
    assert s["validated_all"] is True
    assert s["would_create"] == 3
    assert [r["row"] for r in s["rows"]] == [2, 3, 4, 5]
    assert s["rows"][3]["status"] == "error"
    assert "check digit" in s["rows"][3]["errors"][0][1]
    assert not Account.objects.exists()
    assert not ImportRowError.objects.exists()


def test_preview_of_a_large_file_checks_only_the_first_rows_and_says_so(
        org, owners, hq_marketer, monkeypatch):
    monkeypatch.setattr(import_services, "FULL_VALIDATION_LIMIT", 10)
    monkeypatch.setattr(import_services, "PARTIAL_VALIDATION_ROWS", 5)
    rows = [list(ACCOUNT_HEADER)] + [[f"公司{i}", code(i), "制造", "", "广东", ""]
                               for i in range(1, 13)]
    job = start_import(actor=hq_marketer, kind="accounts", upload=upload(csv_bytes(rows)))
    assert (job.summary["total_rows"], job.summary["validated_rows"]) == (12, 5)
    assert job.summary["validated_all"] is False
    assert len(job.summary["rows"]) == 5


# --- row errors -------------------------------------------------------------------------------


def test_row_errors_carry_reason_field_and_the_row_number_seen_in_the_file(org, owners,
                                                                           hq_marketer):
    rows = [
        ["客户导入"],  # title row 1
        ACCOUNT_HEADER,  # header row 2
        ["好公司", code(10), "制造", "", "广东", ""],  # 3
        ["校验位错", bad_check_digit(code(11)), "制造", "", "广东", ""],  # 4
        ["未知行业", code(12), "挖矿", "", "广东", ""],  # 5
        ["未知省份", code(13), "制造", "", "火星", ""],  # 6
        ["", code(14), "制造", "", "广东", ""],  # 7: new account without a name
        ["重复", code(10), "制造", "", "广东", ""],  # 8: duplicate of row 3
        ["排名错", code(15), "制造", "第一", "广东", ""],  # 9
        [],  # blank line, not a row
        ["", "", "", "", "", "x"],  # 11: nothing to find or name it by
    ]
    job = import_file(hq_marketer, csv_bytes(rows))

    assert_adds_up(job)
    assert counts(job) == {"created": 1, "updated": 0, "unchanged": 0, "error": 7,
                           "total": 8}
    errors = {e.row_number: e for e in ImportRowError.objects.filter(job=job)}
    assert set(errors) == {4, 5, 6, 7, 8, 9, 11}
    assert errors[4].field == "credit_code" and "check digit" in errors[4].message
    assert errors[5].field == "industry" and "挖矿" in errors[5].message
    assert errors[6].field == "province" and "火星" in errors[6].message
    assert errors[7].field == "name" and "needs a name" in errors[7].message
    assert errors[8].field == "credit_code" and "Duplicate of row 3" in errors[8].message
    assert errors[9].field == "industry_rank"
    row_11 = ImportRowError.objects.filter(job=job, row_number=11)
    assert {e.field for e in row_11} == {"name", "revenue_band"}  # every problem of a row
    assert "missing" in row_11.get(field="name").message
    assert errors[5].values["客户名称"] == "未知行业"  # the raw row, for the report
    assert Account.objects.count() == 1


def test_row_errors_are_in_the_language_of_the_uploader(org, owners, hq_marketer):
    rows = [list(ACCOUNT_HEADER), ["校验位错", bad_check_digit(code(11)), "制造", "", "广东", ""]]
    with translation.override("zh-hans"):
        job = start_import(actor=hq_marketer, kind="accounts", upload=upload(csv_bytes(rows)))
        expected = translation.gettext(
            "The check digit of the unified social credit code is wrong.")
    confirm_import(actor=hq_marketer, job=job)
    run_import(job_id=job.pk)  # the worker runs in the default language
    assert expected in ImportRowError.objects.get(job=job).message


def test_error_report_downloads_as_csv(client, org, owners, hq_marketer):
    rows = [list(ACCOUNT_HEADER), ["=HYPERLINK(\"x\")", bad_check_digit(code(20)), "制造", "",
                             "广东", ""]]
    job = import_file(hq_marketer, csv_bytes(rows))
    client.force_login(hq_marketer)
    response = client.get(reverse("data:import_errors", args=[job.pk]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(body)))
    assert lines[0][:3] == ["Row", "Column", "Error"] and "客户名称" in lines[0]
    assert lines[1][0] == "2" and lines[1][1] == "统一社会信用代码"
    assert "check digit" in lines[1][2]
    assert "'=HYPERLINK(\"x\")" in lines[1]  # user data in the report is neutralised


# --- dedupe and re-import ---------------------------------------------------------------------


def test_second_import_of_the_same_file_creates_nothing(org, owners, hq_marketer):
    rows = three_accounts() + [["坏", "123", "制造", "", "广东", ""]]
    first = import_file(hq_marketer, csv_bytes(rows))
    audits = AuditEntry.objects.count()

    second = import_file(hq_marketer, csv_bytes(rows))

    assert counts(first) == {"created": 3, "updated": 0, "unchanged": 0, "error": 1,
                             "total": 4}
    assert counts(second) == {"created": 0, "updated": 0, "unchanged": 3, "error": 1,
                              "total": 4}
    assert_adds_up(second)
    assert Account.objects.count() == 3
    assert AuditEntry.objects.count() == audits


def test_a_changed_value_on_reimport_updates_reroutes_and_audits(org, owners, hq_marketer):
    rows = [list(ACCOUNT_HEADER), ["东莞制造有限公司", code(30), "制造", 700, "广东", "medium"],
            ["佛山制造有限公司", code(31), "制造", 800, "广东", "medium"]]
    import_file(hq_marketer, csv_bytes(rows))
    account = Account.objects.get(credit_code=code(30))
    assert account.owner_unit == org.gd_sales

    rows[1][3] = 42  # the 2026 ranking
    rows[1][0] = "东莞制造集团有限公司"
    job = import_file(hq_marketer, csv_bytes(rows))

    assert counts(job) == {"created": 0, "updated": 1, "unchanged": 1, "error": 0, "total": 2}
    account.refresh_from_db()
    assert (account.name, account.industry_rank) == ("东莞制造集团有限公司", 42)
    assert (account.tier, account.owner_unit) == (Tier.HQ_STRATEGIC, org.hq_key_account)
    assert "集团" in account.name_grams
    entry = trail_of(account).get(action="updated")
    assert entry.changes["industry_rank"] == [700, 42]
    assert entry.changes["name"] == ["东莞制造有限公司", "东莞制造集团有限公司"]
    assert entry.changes["tier"] == ["ordinary", "hq_strategic"]
    assert entry.actor == hq_marketer and "Industry top 100" in entry.reason


def test_empty_cells_leave_existing_values_alone(org, owners, hq_marketer):
    import_file(hq_marketer, csv_bytes(three_accounts()))
    rows = [["统一社会信用代码", "行业排名"], [code(1), ""], [code(2), 160]]
    job = import_file(hq_marketer, csv_bytes(rows))
    assert counts(job) == {"created": 0, "updated": 1, "unchanged": 1, "error": 0, "total": 2}
    assert Account.objects.get(credit_code=code(1)).industry_rank == 42
    assert Account.objects.get(credit_code=code(2)).industry_rank == 160


def test_rows_without_credit_code_match_by_name_and_province(org, owners, hq_marketer):
    rows = [list(ACCOUNT_HEADER), ["无代码公司", "", "制造", "", "广东", ""],
            ["无代码公司", "", "制造", "", "浙江", ""]]
    first = import_file(hq_marketer, csv_bytes(rows))
    second = import_file(hq_marketer, csv_bytes(rows))
    assert first.created_count == 2  # same name, another province: another company
    assert (second.created_count, second.unchanged_count) == (0, 2)
    assert Account.objects.filter(name="无代码公司").count() == 2


def test_accounts_the_importer_cannot_see_are_not_changed(org, owners, make_user):
    gd_marketer = make_user(org.gd_sales, Role.MARKETER)
    zj_account = AccountFactory(owner_unit=org.zj_sales, province=org.zj, credit_code=code(40))
    rows = [list(ACCOUNT_HEADER), ["改名", code(40), "制造", "", "浙江", ""]]
    job = import_file(gd_marketer, csv_bytes(rows))
    assert job.error_count == 1
    assert "not one you can see" in ImportRowError.objects.get(job=job).message
    zj_account.refresh_from_db()
    assert zj_account.name != "改名"


def test_parents_link_even_when_they_come_later_in_the_file(org, owners, hq_marketer,
                                                            monkeypatch):
    monkeypatch.setattr(import_services, "CHUNK_SIZE", 2)
    header = [*ACCOUNT_HEADER, "上级单位信用代码"]
    rows = [header,
            ["子公司甲", code(51), "制造", "", "广东", "", code(50)],
            ["子公司乙", code(52), "制造", "", "广东", "", code(53)],
            ["母公司", code(50), "制造", "", "广东", "", ""],
            ["另一母公司", code(53), "制造", "", "广东", "", ""],
            ["孤儿", code(54), "制造", "", "广东", "", code(99)]]
    job = import_file(hq_marketer, csv_bytes(rows))
    assert counts(job) == {"created": 4, "updated": 0, "unchanged": 0, "error": 1, "total": 5}
    assert Account.objects.get(credit_code=code(51)).parent.credit_code == code(50)
    assert Account.objects.get(credit_code=code(52)).parent.credit_code == code(53)
    assert "parent credit code" in ImportRowError.objects.get(job=job, row_number=6).message
    again = import_file(hq_marketer, csv_bytes(rows))
    assert counts(again)["unchanged"] == 4


# --- restartability ---------------------------------------------------------------------------


def test_a_killed_job_continues_without_duplicating(org, owners, hq_marketer, monkeypatch):
    monkeypatch.setattr(import_services, "CHUNK_SIZE", 3)
    rows = [list(ACCOUNT_HEADER)] + [[f"公司{i:02d}", code(100 + i), "制造", "", "广东", ""]
                               for i in range(10)]
    rows.append(["坏", "bad", "制造", "", "广东", ""])
    job = start_import(actor=hq_marketer, kind="accounts", upload=upload(csv_bytes(rows)))
    confirm_import(actor=hq_marketer, job=job)

    real = import_services.AccountBatch.process
    calls = {"n": 0}

    def dies_on_the_second_chunk(self, items):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return real(self, items)

    monkeypatch.setattr(import_services.AccountBatch, "process", dies_on_the_second_chunk)
    with pytest.raises(RuntimeError):
        run_import(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.created_count) == ("failed", 3, 3)
    assert "worker killed" in job.error
    assert Account.objects.count() == 3

    monkeypatch.setattr(import_services.AccountBatch, "process", real)
    job = run_import(job_id=job.pk)  # the retry
    assert_adds_up(job)
    assert counts(job) == {"created": 10, "updated": 0, "unchanged": 0, "error": 1,
                           "total": 11}
    assert Account.objects.count() == 10
    assert ImportRowError.objects.filter(job=job).count() == 1
    assert AuditEntry.objects.filter(action="created", object_type="crm.account").count() == 10

    # Running it again changes nothing; even from scratch nothing is created twice.
    assert run_import(job_id=job.pk).created_count == 10
    ImportJob.objects.filter(pk=job.pk).update(status="running", processed_rows=0,
                                               created_count=0, error_count=0)
    ImportRowError.objects.filter(job=job).delete()
    job = run_import(job_id=job.pk)
    assert counts(job) == {"created": 0, "updated": 0, "unchanged": 10, "error": 1,
                           "total": 11}
    assert Account.objects.count() == 10


def test_a_cancelled_job_does_not_run(org, owners, hq_marketer):
    job = start_import(actor=hq_marketer, kind="accounts",
                       upload=upload(csv_bytes(three_accounts())))
    confirm_import(actor=hq_marketer, job=job)
    cancel_import(actor=hq_marketer, job=job)
    assert run_import(job_id=job.pk).status == ImportJob.Status.CANCELLED
    assert not Account.objects.exists()


# --- contacts ---------------------------------------------------------------------------------


CONTACT_HEADER = ["姓名", "职务", "管理层", "邮箱", "手机", "客户信用代码", "客户名称", "授权用途"]


@pytest.fixture
def gd_account(org, owners):
    return AccountFactory(name="广州联系人测试有限公司", credit_code=code(200),
                          owner_unit=org.gd_sales, owner=owners["gd_sales"], province=org.gd)


def test_contacts_import_with_scope_from_their_account_and_consent(org, gd_account,
                                                                   hq_marketer):
    rows = [CONTACT_HEADER,
            ["张伟", "CIO", "是", "Zhang.Wei@Example.cn", "13812345678", code(200), "", "EDM"],
            ["李娜", "采购经理", "否", "", "+86 139 1234 5678", "", "广州联系人测试有限公司", ""]]
    job = import_file(hq_marketer, csv_bytes(rows), kind="contacts", name="contacts.csv")

    assert_adds_up(job)
    assert job.created_count == 2
    zhang = Contact.objects.get(name="张伟")
    assert (zhang.email, zhang.mobile, zhang.is_management) == (
        "zhang.wei@example.cn", "+8613812345678", True)
    assert (zhang.account, zhang.owner_unit, zhang.owner) == (
        gd_account, org.gd_sales, gd_account.owner)
    consent = Consent.objects.get(contact=zhang)
    assert (consent.purpose, consent.method, consent.granted) == ("EDM", ConsentMethod.IMPORT,
                                                                  True)
    assert consent.recorded_by == hq_marketer and f"#{job.pk}" in consent.evidence
    assert trail_of(zhang).filter(action="consent").exists()
    assert not Consent.objects.filter(contact__name="李娜").exists()

    again = import_file(hq_marketer, csv_bytes(rows), kind="contacts", name="contacts.csv")
    assert counts(again) == {"created": 0, "updated": 0, "unchanged": 2, "error": 0,
                             "total": 2}
    assert Consent.objects.count() == 1


def test_contacts_dedupe_by_email_case_insensitively(org, gd_account, hq_marketer):
    existing = ContactFactory(account=gd_account, name="王芳", email="Wang.Fang@Example.CN")
    rows = [["name", "email", "title", "account_credit_code"],
            ["王芳", "wang.fang@example.cn", "CTO", code(200)]]
    job = import_file(hq_marketer, csv_bytes(rows), kind="contacts", name="c.csv")
    assert counts(job) == {"created": 0, "updated": 1, "unchanged": 0, "error": 0, "total": 1}
    assert Contact.objects.count() == 1
    existing.refresh_from_db()
    assert existing.title == "CTO"
    assert trail_of(existing).get(action="updated").changes["title"] == ["", "CTO"]

    rows[1][1] = "WANG.FANG@EXAMPLE.CN"
    job = import_file(hq_marketer, csv_bytes(rows), kind="contacts", name="c.csv")
    assert counts(job)["unchanged"] == 1


def test_contacts_without_email_match_by_mobile_within_the_account(org, gd_account,
                                                                   hq_marketer):
    other = AccountFactory(name="另一家", credit_code=code(201), owner_unit=org.gd_sales)
    ContactFactory(account=gd_account, name="赵六", email="", mobile="+8613700000001")
    rows = [["姓名", "手机", "客户信用代码", "职务"],
            ["赵六", "13700000001", code(200), "总监"],
            ["赵六", "13700000001", code(201), "总监"]]
    job = import_file(hq_marketer, csv_bytes(rows), kind="contacts", name="c.csv")
    assert (job.updated_count, job.created_count) == (1, 1)
    assert Contact.objects.filter(account=other, name="赵六").count() == 1


def test_contact_rows_report_their_problems(org, gd_account, hq_marketer):
    rows = [CONTACT_HEADER,
            ["甲", "", "", "not-an-email", "", code(200), "", ""],  # 2
            ["乙", "", "", "", "12345", code(200), "", ""],  # 3
            ["丙", "", "也许", "", "", code(200), "", ""],  # 4
            ["丁", "", "", "", "", code(202), "", ""],  # 5 unknown account
            ["戊", "", "", "", "", "", "没有这家公司", ""],  # 6
            ["", "", "", "x@example.cn", "", code(200), "", ""],  # 7 no name
            ["己", "", "", "dup@example.cn", "", code(200), "", ""],  # 8
            ["庚", "", "", "DUP@example.cn", "", code(200), "", ""],  # 9 duplicate of 8
            ]
    job = import_file(hq_marketer, csv_bytes(rows), kind="contacts", name="c.csv")
    assert_adds_up(job)
    assert counts(job) == {"created": 1, "updated": 0, "unchanged": 0, "error": 7, "total": 8}
    errors = {e.row_number: (e.field, e.message) for e in ImportRowError.objects.filter(job=job)}
    assert errors[2][0] == "email"
    assert errors[3][0] == "mobile"
    assert errors[4][0] == "is_management"
    assert errors[5][0] == "account_credit_code" and code(202) in errors[5][1]
    assert errors[6][0] == "account_name" and "没有这家公司" in errors[6][1]
    assert errors[7][0] == "name"
    assert errors[9] == ("email", "Duplicate of row 8 (same email).")


# --- permissions ------------------------------------------------------------------------------


def test_only_users_allowed_to_import_may_import(client, org, gd_rep, hq_marketer):
    with pytest.raises(NotAllowed):
        start_import(actor=gd_rep, kind="accounts", upload=upload(csv_bytes(three_accounts())))
    client.force_login(gd_rep)
    assert client.get(reverse("data:import_list")).status_code == 403
    assert client.get(reverse("data:import_upload")).status_code == 403
    response = client.post(reverse("data:import_upload"), {
        "kind": "accounts", "file": upload(csv_bytes(three_accounts()))})
    assert response.status_code == 403
    job = start_import(actor=hq_marketer, kind="accounts",
                       upload=upload(csv_bytes(three_accounts())))
    assert client.post(reverse("data:import_confirm", args=[job.pk])).status_code == 403
    assert not ImportJob.objects.exclude(status="preview").exists()


def test_importers_see_their_own_jobs_and_administrators_all(client, org, make_user,
                                                             hq_marketer, admin_user):
    other = make_user(org.hq_marketing, Role.MARKETER)
    job = start_import(actor=hq_marketer, kind="accounts",
                       upload=upload(csv_bytes(three_accounts())))
    with pytest.raises(NotFound):
        confirm_import(actor=other, job=job)
    client.force_login(other)
    assert client.get(reverse("data:import_detail", args=[job.pk])).status_code == 404
    assert job.file_name not in client.get(reverse("data:import_list")).content.decode()
    client.force_login(admin_user)
    assert client.get(reverse("data:import_detail", args=[job.pk])).status_code == 200
    assert job.file_name in client.get(reverse("data:import_list")).content.decode()


# --- through the pages and the real worker ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_upload_preview_confirm_worker_result_through_the_pages(client, org, owners,
                                                                hq_marketer, run_jobs):
    rows = [["2025年客户名单"], *three_accounts(), ["坏公司", "91440300MA5XXXXXX1", "制造", "",
                                               "广东", ""]]
    client.force_login(hq_marketer)
    page = client.get(reverse("data:import_upload"))
    assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.content.decode()

    response = client.post(reverse("data:import_upload"), {
        "kind": "accounts", "file": upload(csv_bytes(rows, "gb18030"), "客户.csv")})
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert response["Location"] == reverse("data:import_detail", args=[job.pk])

    preview = client.get(response["Location"]).content.decode()
    assert "gb18030" in preview
    assert 'id="import-mapping"' in preview and "统一社会信用代码" in preview
    assert 'id="check-invalid">1<' in preview and 'id="check-valid">3<' in preview
    assert 'id="import-confirm"' in preview
    assert not Account.objects.exists()

    response = client.post(reverse("data:import_confirm", args=[job.pk]))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.QUEUED
    queued = client.get(reverse("data:import_detail", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in queued
    assert reverse("data:import_progress", args=[job.pk]) in queued

    run_jobs()

    job.refresh_from_db()
    assert_adds_up(job)
    assert counts(job) == {"created": 3, "updated": 0, "unchanged": 0, "error": 1, "total": 4}
    partial = client.get(reverse("data:import_progress", args=[job.pk])).content.decode()
    assert "hx-trigger" not in partial  # finished: polling stops
    assert 'id="count-created">3<' in partial and 'id="count-errors">1<' in partial
    assert 'id="import-errors"' in partial and "check digit" in partial
    assert reverse("data:import_errors", args=[job.pk]) in partial
    listing = client.get(reverse("data:import_list")).content.decode()
    assert "客户.csv" in listing
    assert Account.objects.count() == 3
    # A second confirmation is refused.
    assert client.post(reverse("data:import_confirm", args=[job.pk])).status_code == 409


def test_upload_of_a_bad_file_shows_the_reason(client, org, hq_marketer):
    client.force_login(hq_marketer)
    response = client.post(reverse("data:import_upload"), {
        "kind": "accounts", "file": upload(b"just,some\n1,2\n", "x.csv")})
    assert response.status_code == 422
    assert "No header row" in response.content.decode()
