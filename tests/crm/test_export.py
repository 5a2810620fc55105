"""Exports hold exactly the rows the user may see, stream CSV that Excel reads, cap Excel
files, and never hand a spreadsheet a formula."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest
from django.urls import reverse
from django.utils import translation

from marketloop.crm import exporting
from marketloop.crm.models import Account, ImportJob
from marketloop.org.models import Role
from tests.factories import AccountFactory, ContactFactory


@pytest.fixture(autouse=True)
def english():
    """Headers are asserted in English unless a test asks otherwise."""
    with translation.override("en"):
        yield


def csv_rows(response) -> list[list[str]]:
    assert response.streaming
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens the Chinese right
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def xlsx_rows(response) -> list[list[object]]:
    body = b"".join(response.streaming_content)
    sheet = openpyxl.load_workbook(io.BytesIO(body), read_only=True).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


@pytest.fixture
def data(org, gd_rep):
    gd = AccountFactory(name="=cmd()|' /C calc'!A0", credit_code="", owner_unit=org.gd_sales,
                        owner=gd_rep, province=org.gd)
    gd_plain = AccountFactory(name="广州普通客户有限公司", owner_unit=org.gd_sales,
                              province=org.gd, industry_rank=7)
    zj = AccountFactory(name="杭州看不见的公司", owner_unit=org.zj_sales, province=org.zj)
    contacts = {
        "gd": ContactFactory(account=gd, name="+张三", title="@SUM(A1)",
                             mobile="+8613812345678", email="zhang@example.cn"),
        "gd_tab": ContactFactory(account=gd_plain, name="李四", title="\t隐藏", email=""),
        "zj": ContactFactory(account=zj, name="王五", email="wang@example.cn"),
    }
    return {"gd": gd, "gd_plain": gd_plain, "zj": zj, "contacts": contacts}


def test_account_csv_holds_only_visible_rows_neutralised(client, data, gd_rep):
    client.force_login(gd_rep)
    response = client.get(reverse("data:account_export"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert rows[0][:3] == ["Name", "Credit code", "Industry"]
    names = [row[0] for row in rows[1:]]
    assert "'=cmd()|' /C calc'!A0" in names  # a formula no more
    assert "广州普通客户有限公司" in names
    assert "杭州看不见的公司" not in names  # zj account: not visible to a gd sales user
    assert len(rows) == 3


def test_contact_csv_holds_only_visible_rows_neutralised(client, data, gd_rep):
    client.force_login(gd_rep)
    rows = csv_rows(client.get(reverse("data:contact_export")))
    header, body = rows[0], rows[1:]
    by_email = {row[header.index("Email")]: row for row in body}
    assert set(by_email) == {"zhang@example.cn", ""}
    zhang = by_email["zhang@example.cn"]
    assert zhang[header.index("Name")] == "'+张三"
    assert zhang[header.index("Title")] == "'@SUM(A1)"
    assert zhang[header.index("Mobile")] == "'+8613812345678"
    assert by_email[""][header.index("Title")] == "'\t隐藏"
    assert "王五" not in str(body)


def test_headers_are_chinese_when_the_request_is(client, data, gd_rep):
    client.force_login(gd_rep)
    rows = csv_rows(client.get(reverse("data:account_export"),
                               HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert rows[0][:5] == ["客户名称", "统一社会信用代码", "行业", "行业排名", "省份"]
    assert "广东" in {row[4] for row in rows[1:]}


def test_export_takes_the_list_filters(client, data, gd_rep, org):
    client.force_login(gd_rep)
    rows = csv_rows(client.get(reverse("data:account_export"), {"q": "普通", "sort": "rank"}))
    assert [row[0] for row in rows[1:]] == ["广州普通客户有限公司"]
    rows = csv_rows(client.get(reverse("data:contact_export"),
                               {"account": data["gd_plain"].pk}))
    assert [row[0] for row in rows[1:]] == ["李四"]


def test_csv_reads_every_row_once_across_keyset_pages(client, org, admin_user, monkeypatch):
    monkeypatch.setattr(exporting, "PAGE", 3)
    for i in range(10):
        AccountFactory(name=f"同名公司{i % 4}", owner_unit=org.gd_sales)
    client.force_login(admin_user)
    rows = csv_rows(client.get(reverse("data:account_export"), {"sort": "-name"}))
    names = [row[0] for row in rows[1:]]
    assert len(names) == 10
    assert names == sorted(names, reverse=True)


def test_xlsx_opens_with_openpyxl_and_has_the_visible_rows(client, data, gd_rep):
    client.force_login(gd_rep)
    response = client.get(reverse("data:account_export"), {"format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert ".xlsx" in response["Content-Disposition"]
    rows = xlsx_rows(response)
    assert rows[0][0] == "Name"
    names = [row[0] for row in rows[1:]]
    assert sorted(names) == sorted(["'=cmd()|' /C calc'!A0", "广州普通客户有限公司"])
    ranks = {row[0]: row[3] for row in rows[1:]}
    assert ranks["广州普通客户有限公司"] == 7  # numbers stay numbers

    rows = xlsx_rows(client.get(reverse("data:contact_export"), {"format": "xlsx"}))
    mobiles = {row[4] for row in rows[1:]}
    assert "'+8613812345678" in mobiles


def test_xlsx_is_capped_and_says_so(client, org, admin_user, monkeypatch):
    monkeypatch.setattr(exporting, "XLSX_MAX_ROWS", 3)
    for i in range(5):
        AccountFactory(name=f"公司{i}", owner_unit=org.gd_sales)
    client.force_login(admin_user)
    response = client.get(reverse("data:account_export"), {"format": "xlsx"})
    assert "first-3" in response["Content-Disposition"]
    rows = xlsx_rows(response)
    assert len(rows) == 1 + 3 + 1
    assert "Only the first 3 rows" in rows[-1][0]


def test_export_needs_the_export_permission(client, data, gd_partner_user, make_user, org):
    client.force_login(gd_partner_user)  # partner staff may not export
    assert client.get(reverse("data:account_export")).status_code == 403
    assert client.get(reverse("data:contact_export"), {"format": "xlsx"}).status_code == 403
    trainer = make_user(org.hq, Role.TRAINER)
    client.force_login(trainer)
    assert client.get(reverse("data:account_export")).status_code == 403


def test_an_exported_file_imports_back_unchanged(client, org, settings, tmp_path, admin_user):
    """The export's headers are ones the importer knows, and its formula guard comes off."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from marketloop.crm.import_services import confirm_import, run_import, start_import

    settings.MEDIA_ROOT = tmp_path
    AccountFactory(name="-负号开头的公司", owner_unit=org.gd_sales, province=org.gd,
                   industry_rank=900, revenue_band="micro")
    AccountFactory(name="普通公司", owner_unit=org.gd_sales, province=org.gd)
    client.force_login(admin_user)
    for language in ("en", "zh-hans"):
        body = b"".join(client.get(reverse("data:account_export"),
                                   HTTP_ACCEPT_LANGUAGE=language).streaming_content)
        job = start_import(actor=admin_user, kind="accounts",
                           upload=SimpleUploadedFile("export.csv", body))
        assert job.summary["invalid"] == 0, job.summary["rows"]
        confirm_import(actor=admin_user, job=job)
        job = run_import(job_id=job.pk)
        assert (job.unchanged_count, job.created_count, job.error_count) == (2, 0, 0)
        assert ImportJob.objects.filter(pk=job.pk, status="done").exists()
    assert Account.objects.count() == 2
