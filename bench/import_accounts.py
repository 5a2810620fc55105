"""Benchmark: import 100,000 accounts from a GB18030 CSV (as Chinese Excel saves it) with 1% bad
rows of mixed kinds, through start_import (preview), confirm_import and the real procrastinate
worker; then import the same file again. Prints one JSON line.

    python bench/import_accounts.py            # 100,000 rows
    python bench/import_accounts.py --quick    # 5,000 rows, well under a minute

It runs on its own embedded PostgreSQL in a fresh directory under ./var/bench-import (removed
afterwards unless --keep), never on a developer's database: DATABASE_URL is ignored.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = "every good row once, every bad row reported, second import creates nothing"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def isolate(keep: bool) -> Path:
    base = ROOT / "var" / "bench-import"
    base.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    os.environ["MARKETLOOP_DATA"] = str(data)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MARKETLOOP_EMBEDDED_OWNER", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "marketloop.settings"
    if not keep:
        # Registered before the database starts, so it runs after the database has stopped.
        atexit.register(shutil.rmtree, data, True)
    return data


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--no-input", verbosity=0)


def build_org():
    from django.test.utils import override_settings

    from marketloop.crm.reference import ensure_reference_data
    from marketloop.org.models import OrgUnit, Role
    from marketloop.org.services import create_user
    from marketloop.org.standard import REGIONS, add_partner, ensure_standard_org

    ensure_reference_data()
    ensure_standard_org()
    # Throw-away users: a fast hasher, so setting up does not dominate the run.
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
    fast.enable()
    provinces = [p for _r, _n, _e, items in REGIONS for p in items]
    for code, name, name_en in provinces[::3]:  # a partner in every third province
        add_partner(province_code=code, name=f"{name}伙伴科技有限公司",
                    name_en=f"{name_en} Partner Ltd")
    password = "bench-password-not-secret"
    create_user(username="ka-hq", password=password, unit=OrgUnit.objects.get(
        code="hq-key-account"), roles=[Role.ACCOUNT_MANAGER], display_name="HQ KAM")
    for code, _name, _en in provinces:
        for suffix, role in (("key-account", Role.ACCOUNT_MANAGER), ("sales", Role.SALES_REP)):
            for n in range(2):
                create_user(username=f"{code}-{suffix}-{n}", password=password,
                            unit=OrgUnit.objects.get(code=f"{code}-{suffix}"), roles=[role],
                            display_name=f"{code} {suffix} {n}")
    importer = create_user(username="importer", password=password,
                           unit=OrgUnit.objects.get(code="hq-marketing"), roles=[Role.MARKETER],
                           display_name="Importer")
    fast.disable()
    return importer


def credit_code(n: int) -> str:
    from stdnum.cn import uscc

    base = f"91{110000 + (n % 650000):06d}{n:09d}"
    return base + uscc.calc_check_digit(base)


def write_file(path: Path, rows: int, bad_every: int, seed: int) -> int:
    """A GB18030 CSV like a Chinese Excel export: a title row, a blank row, the header, rows.
    Every `bad_every`-th row is bad, for one of several reasons."""
    from marketloop.crm.reference import INDUSTRIES
    from marketloop.org.standard import REGIONS

    rng = random.Random(seed)
    provinces = [p for _r, _n, _e, items in REGIONS for p in items]
    industries = [(code, name, en) for code, name, en in INDUSTRIES]
    bands = ["", "micro", "small", "中型", "large", "特大型", "Under ¥10M"]
    bad_kinds = ["check_digit", "industry", "province", "rank", "duplicate", "no_name",
                 "revenue_band"]
    bad = 0
    good_codes: list[str] = []
    with open(path, "w", encoding="gb18030", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([f"{rows}家客户导出", "", "", "", "", "", ""])
        out.writerow([])
        out.writerow(["客户名称", "统一社会信用代码", "行业", "行业排名", "省份", "营收规模",
                      "备注"])
        for i in range(1, rows + 1):
            p_code, p_name, p_en = provinces[i % len(provinces)]
            province = rng.choice([p_code, p_name, f"{p_name}省" if len(p_name) == 2
                                   else p_name, p_en])
            code, name, en = industries[i % len(industries)]
            industry = rng.choice([code, name, en])
            rank = str(rng.randint(1, 2000)) if rng.random() < 0.3 else ""
            row = [f"{p_name}{name}示例{i:06d}有限公司", credit_code(i), industry, rank,
                   province, rng.choice(bands), "导入测试"]
            if i % bad_every == 0:
                kind = bad_kinds[bad % len(bad_kinds)]
                bad += 1
                if kind == "check_digit":
                    row[1] = row[1][:-1] + ("1" if row[1][-1] != "1" else "2")
                elif kind == "industry":
                    row[2] = "挖矿"
                elif kind == "province":
                    row[4] = "火星"
                elif kind == "rank":
                    row[3] = "第一"
                elif kind == "duplicate":
                    row[1] = rng.choice(good_codes)
                elif kind == "no_name":
                    row[0] = ""
                else:
                    row[5] = "巨大"
            else:
                good_codes.append(row[1])
            out.writerow(row)
    return bad


def run_import(importer, path: Path) -> tuple[object, float]:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from procrastinate.contrib.django import app

    from marketloop.crm.import_services import confirm_import, start_import

    started = time.perf_counter()
    upload = SimpleUploadedFile(path.name, path.read_bytes())
    job = start_import(actor=importer, kind="accounts", upload=upload)
    preview = time.perf_counter() - started
    log(f"  preview: {preview:.1f}s, {job.summary['validated_rows']} rows checked, "
        f"encoding {job.summary['encoding']}")
    confirm_import(actor=importer, job=job)  # queues the job on commit
    worker = app.with_connector(app.connector.get_worker_connector())
    worker.run_worker(wait=False, install_signal_handlers=False, listen_notify=False)
    job.refresh_from_db()
    return job, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="5,000 rows")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--seed", type=int, default=20250101)
    args = parser.parse_args()
    rows = 5_000 if args.quick else args.rows
    data = isolate(args.keep)
    log(f"bench data in {data}")
    setup_django()
    importer = build_org()

    from marketloop.crm.models import Account, ImportRowError

    path = data / "accounts-gb18030.csv"
    bad = write_file(path, rows, bad_every=100, seed=args.seed)
    log(f"file: {rows} rows, {bad} bad, {path.stat().st_size / 1e6:.1f} MB")

    first, seconds_first = run_import(importer, path)
    log(f"  first: {first.status} {first.created_count} created, {first.error_count} errors "
        f"in {seconds_first:.1f}s")
    accounts_after_first = Account.objects.count()
    second, seconds_second = run_import(importer, path)
    log(f"  second: {second.status} {second.created_count} created, {second.unchanged_count} "
        f"unchanged in {seconds_second:.1f}s")

    reasons = sorted(set(ImportRowError.objects.filter(job=first).values_list(
        "field", flat=True)))
    ok = (first.status == second.status == "done"
          and first.created_count == rows - bad == accounts_after_first
          and first.error_count == bad
          and first.created_count + first.updated_count + first.unchanged_count
          + first.error_count == first.total_rows == rows
          and second.created_count == 0 and second.unchanged_count == rows - bad
          and second.error_count == bad and Account.objects.count() == accounts_after_first)
    print(json.dumps({
        "rows": rows, "bad_rows": bad, "created": first.created_count,
        "errors": first.error_count, "error_fields": reasons,
        "second_run_created": second.created_count,
        "second_run_unchanged": second.unchanged_count,
        "seconds_first": round(seconds_first, 2), "seconds_second": round(seconds_second, 2),
        "rows_per_second": round(rows / seconds_first), "via":
        "start_import (preview) + confirm_import + procrastinate worker", "encoding": "gb18030",
        "target": TARGET, "ok": ok,
    }, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
