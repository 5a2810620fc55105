"""The company's standard organisation: HQ and its departments, 7 regions, 31 provinces, each
with a key-account and a sales department. Partners are added per province separately."""

from __future__ import annotations

from django.db import transaction

from marketloop.org.models import Function, OrgUnit, UnitKind
from marketloop.org.services import create_unit

HQ_DEPARTMENTS = [
    ("hq-marketing", "市场营销部", "Marketing department", Function.MARKETING),
    ("hq-research", "研究院", "Research institute", Function.RESEARCH),
    ("hq-key-account", "大客户经营部", "Key-account department", Function.KEY_ACCOUNT),
    ("hq-sales-management", "销售管理部", "Sales management", Function.SALES_MANAGEMENT),
    ("hq-supervision", "督查部", "Supervision department", Function.SUPERVISION),
    ("hq-academy", "合作伙伴培训认证部", "Partner academy", Function.ACADEMY),
    ("hq-service-line", "服务业务线", "Service line", Function.SERVICE_LINE),
]

# (region code, Chinese, English, [(province code, Chinese, English), ...])
REGIONS: list[tuple[str, str, str, list[tuple[str, str, str]]]] = [
    ("north", "华北区", "North China", [
        ("bj", "北京", "Beijing"), ("tj", "天津", "Tianjin"), ("he", "河北", "Hebei"),
        ("sx", "山西", "Shanxi"), ("nm", "内蒙古", "Inner Mongolia")]),
    ("northeast", "东北区", "Northeast China", [
        ("ln", "辽宁", "Liaoning"), ("jl", "吉林", "Jilin"), ("hl", "黑龙江", "Heilongjiang")]),
    ("east", "华东区", "East China", [
        ("sh", "上海", "Shanghai"), ("js", "江苏", "Jiangsu"), ("zj", "浙江", "Zhejiang"),
        ("ah", "安徽", "Anhui"), ("fj", "福建", "Fujian"), ("jx", "江西", "Jiangxi"),
        ("sd", "山东", "Shandong")]),
    ("central", "华中区", "Central China", [
        ("ha", "河南", "Henan"), ("hb", "湖北", "Hubei"), ("hn", "湖南", "Hunan")]),
    ("south", "华南区", "South China", [
        ("gd", "广东", "Guangdong"), ("gx", "广西", "Guangxi"), ("hi", "海南", "Hainan")]),
    ("southwest", "西南区", "Southwest China", [
        ("cq", "重庆", "Chongqing"), ("sc", "四川", "Sichuan"), ("gz", "贵州", "Guizhou"),
        ("yn", "云南", "Yunnan"), ("xz", "西藏", "Tibet")]),
    ("northwest", "西北区", "Northwest China", [
        ("sn", "陕西", "Shaanxi"), ("gs", "甘肃", "Gansu"), ("qh", "青海", "Qinghai"),
        ("nx", "宁夏", "Ningxia"), ("xj", "新疆", "Xinjiang")]),
]


@transaction.atomic
def ensure_standard_org() -> OrgUnit:
    """Create the standard tree if it is not there yet; return HQ."""
    existing = OrgUnit.objects.filter(code="hq").first()
    if existing:
        return existing
    hq = create_unit(name="总部", name_en="Headquarters", code="hq", kind=UnitKind.HQ)
    for code, name, name_en, function in HQ_DEPARTMENTS:
        create_unit(name=name, name_en=name_en, code=code, kind=UnitKind.HQ_DEPARTMENT,
                    function=function, parent=hq)
    for region_code, region_name, region_en, provinces in REGIONS:
        region = create_unit(name=region_name, name_en=region_en, code=f"region-{region_code}",
                             kind=UnitKind.REGION, parent=hq)
        for code, name, name_en in provinces:
            province = create_unit(name=name, name_en=name_en, code=code,
                                   kind=UnitKind.PROVINCE, parent=region)
            create_unit(name=f"{name}大客户经营部", name_en=f"{name_en} key-account department",
                        code=f"{code}-key-account", kind=UnitKind.PROVINCE_DEPARTMENT,
                        function=Function.KEY_ACCOUNT, parent=province)
            create_unit(name=f"{name}销售部", name_en=f"{name_en} sales department",
                        code=f"{code}-sales", kind=UnitKind.PROVINCE_DEPARTMENT,
                        function=Function.SALES, parent=province)
    return hq


def add_partner(*, province_code: str, name: str, name_en: str = "") -> OrgUnit:
    province = OrgUnit.objects.get(code=province_code, kind=UnitKind.PROVINCE)
    return create_unit(name=name, name_en=name_en, code=f"{province_code}-partner",
                       kind=UnitKind.PARTNER, parent=province)
