"""Reference data every installation starts with: the product modules sold, the usual
competitors, and the sales settings' defaults (seeded by migration 0002)."""

from __future__ import annotations

# (code, Chinese, English): the modules of an enterprise-software suite.
PRODUCTS = [
    ("finance", "财务", "Finance"),
    ("hr", "人力资源", "Human resources"),
    ("supply-chain", "供应链", "Supply chain"),
    ("collaboration", "协同办公", "Collaboration and office automation"),
    ("data-platform", "数据平台", "Data platform"),
    ("crm", "客户关系管理", "Customer relationship management"),
    ("manufacturing", "生产制造", "Manufacturing"),
    ("procurement", "采购管理", "Procurement"),
    ("tax", "税务管理", "Tax management"),
    ("group-control", "集团管控", "Group management and control"),
    ("assets", "资产管理", "Asset management"),
    ("projects", "项目管理", "Project management"),
]

COMPETITORS = ["用友", "金蝶", "SAP", "Oracle", "浪潮", "鼎捷", "泛微", "致远互联",
               "Microsoft Dynamics", "Salesforce", "Workday"]


def ensure_reference_data() -> None:
    """Idempotent: the products, the competitors and the one settings row."""
    from marketloop.sales.models import Competitor, Product, SalesSettings, default_settings

    for code, name, name_en in PRODUCTS:
        Product.objects.get_or_create(code=code, defaults={"name": name, "name_en": name_en})
    for name in COMPETITORS:
        Competitor.objects.get_or_create(name=name)
    if not SalesSettings.objects.exists():
        default_settings().save()
