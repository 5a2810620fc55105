"""The organisation tree: HQ departments, regions, 31 provinces, one partner per province."""

from __future__ import annotations

import pytest

from marketloop.org.errors import DomainError, OrgErrorCode
from marketloop.org.models import Function, OrgUnit, UnitKind
from marketloop.org.services import create_unit
from marketloop.org.standard import HQ_DEPARTMENTS


def test_standard_tree_has_hq_departments_regions_and_31_provinces(org):
    assert {u.function for u in OrgUnit.objects.filter(kind=UnitKind.HQ_DEPARTMENT)} == {
        f for _c, _n, _e, f in HQ_DEPARTMENTS}
    assert OrgUnit.objects.filter(kind=UnitKind.REGION).count() == 7
    provinces = OrgUnit.objects.filter(kind=UnitKind.PROVINCE)
    assert provinces.count() == 31
    for province in provinces:
        departments = OrgUnit.objects.filter(parent=province, kind=UnitKind.PROVINCE_DEPARTMENT)
        assert {d.function for d in departments} == {Function.KEY_ACCOUNT, Function.SALES}
        assert all(d.province_id == province.id for d in departments)
        assert province.parent.kind == UnitKind.REGION


def test_paths_are_materialised_from_the_root(org):
    assert org.gd_sales.path == f"/{org.hq.id}/{org.region_south.id}/{org.gd.id}/{org.gd_sales.id}/"
    subtree = OrgUnit.objects.filter(path__startswith=org.gd.path)
    assert set(subtree) == {org.gd, org.gd_key_account, org.gd_sales, org.gd_partner}


def test_a_second_partner_in_a_province_is_refused(org):
    with pytest.raises(DomainError) as caught:
        create_unit(name="第二家伙伴", code="gd-partner-2", kind=UnitKind.PARTNER, parent=org.gd)
    assert caught.value.code == OrgErrorCode.PARTNER_TERRITORY_TAKEN
    assert caught.value.status == 409
    assert OrgUnit.objects.filter(kind=UnitKind.PARTNER, province=org.gd).count() == 1


def test_a_partner_must_sit_under_a_province(org):
    with pytest.raises(DomainError):
        create_unit(name="无省伙伴", code="loose-partner", kind=UnitKind.PARTNER, parent=org.hq)
