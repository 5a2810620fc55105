"""Shared fixtures: the standard organisation with a partner in every province, and one user
per role in the units the visibility rules talk about."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from marketloop.crm.reference import ensure_reference_data
from marketloop.org.models import OrgUnit, Role, User
from marketloop.org.services import create_user
from marketloop.org.standard import REGIONS, add_partner, ensure_standard_org

PASSWORD = "correct-horse-battery-staple"


@dataclass
class Org:
    hq: OrgUnit
    hq_key_account: OrgUnit
    hq_marketing: OrgUnit
    hq_supervision: OrgUnit
    region_south: OrgUnit
    region_east: OrgUnit
    gd: OrgUnit
    gd_key_account: OrgUnit
    gd_sales: OrgUnit
    gd_partner: OrgUnit
    gx: OrgUnit
    gx_sales: OrgUnit
    gx_partner: OrgUnit
    zj: OrgUnit
    zj_sales: OrgUnit
    zj_partner: OrgUnit

    def unit(self, code: str) -> OrgUnit:
        return OrgUnit.objects.get(code=code)


@pytest.fixture
def org(db) -> Org:
    ensure_reference_data()
    ensure_standard_org()
    for _region, _name, _en, provinces in REGIONS:
        for code, name, name_en in provinces:
            if not OrgUnit.objects.filter(code=f"{code}-partner").exists():
                add_partner(province_code=code, name=f"{name}伙伴科技有限公司",
                            name_en=f"{name_en} Partner Ltd")
    get = lambda code: OrgUnit.objects.get(code=code)  # noqa: E731
    return Org(
        hq=get("hq"), hq_key_account=get("hq-key-account"), hq_marketing=get("hq-marketing"),
        hq_supervision=get("hq-supervision"),
        region_south=get("region-south"), region_east=get("region-east"),
        gd=get("gd"), gd_key_account=get("gd-key-account"), gd_sales=get("gd-sales"),
        gd_partner=get("gd-partner"), gx=get("gx"), gx_sales=get("gx-sales"),
        gx_partner=get("gx-partner"), zj=get("zj"), zj_sales=get("zj-sales"),
        zj_partner=get("zj-partner"),
    )


@pytest.fixture
def make_user(org):
    counter = iter(range(1, 10_000))

    def make(unit: OrgUnit, *roles: str, username: str | None = None) -> User:
        name = username or f"user{next(counter)}-{unit.code}"
        return create_user(username=name, password=PASSWORD, unit=unit,
                           roles=list(roles) or [Role.SALES_REP], display_name=name)

    return make


@pytest.fixture
def admin_user(org, make_user) -> User:
    return make_user(org.hq, Role.ADMINISTRATOR, username="admin")


@pytest.fixture
def hq_marketer(org, make_user) -> User:
    return make_user(org.hq_marketing, Role.MARKETER, username="hq-marketer")


@pytest.fixture
def gd_rep(org, make_user) -> User:
    return make_user(org.gd_sales, Role.SALES_REP, Role.ACCOUNT_MANAGER, username="gd-rep")


@pytest.fixture
def gd_partner_user(org, make_user) -> User:
    return make_user(org.gd_partner, Role.PARTNER_STAFF, username="gd-partner")


@pytest.fixture
def run_jobs(transactional_db):
    """Run every queued background job to completion in a real procrastinate worker."""
    from procrastinate.contrib.django import app

    def run() -> None:
        worker_app = app.with_connector(app.connector.get_worker_connector())
        worker_app.run_worker(wait=False, install_signal_handlers=False, listen_notify=False)

    return run


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.fixture
def browser(monkeypatch):
    """Debian's Chromium through Playwright (Playwright's own browser download is out of
    reach here); skipped where chromium is not installed."""
    import shutil

    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test still reads and
    # writes rows through the ORM while the browser is open.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _truncate_unmanaged_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tracking_touchpoint, procrastinate_jobs, procrastinate_workers "
                       "CASCADE")


@pytest.fixture(autouse=True)
def _empty_unmanaged_tables(request):
    """Django's flush around a transactional test skips unmanaged tables (the partitioned
    touchpoints, procrastinate's queue), so their rows would leak into other tests."""
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or "live_server" in \
        request.fixturenames or bool(marker and marker.kwargs.get("transaction"))
    if transactional:
        request.getfixturevalue("transactional_db")
        _truncate_unmanaged_tables()
    yield
    if transactional:
        _truncate_unmanaged_tables()


@pytest.fixture(autouse=True)
def _english_again():
    """A request in Chinese switches the thread's language; the next test starts in English."""
    yield
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
