"""Reference data every installation starts with: the industries and the seeds' tier rules."""

from __future__ import annotations

INDUSTRIES = [
    ("manufacturing", "制造", "Manufacturing"),
    ("finance", "金融", "Finance"),
    ("energy", "能源", "Energy"),
    ("telecom", "电信", "Telecommunications"),
    ("government", "政府", "Government"),
    ("healthcare", "医疗", "Healthcare"),
    ("education", "教育", "Education"),
    ("retail", "零售", "Retail"),
    ("logistics", "交通物流", "Transport and logistics"),
    ("construction", "建筑地产", "Construction and real estate"),
    ("internet", "互联网", "Internet"),
    ("agriculture", "农业", "Agriculture"),
]

# The seeds' rules (source article 000): industry top 100 to HQ, ranks 101-500 to the province's
# key-account department, the rest by revenue to the province's sales department, the smallest
# to the province's partner.
RULES = [
    ("行业百强 Industry top 100", 10, 1, 100, [], "hq_strategic", "hq_key_account"),
    ("区域战略客户 Regional strategic", 20, 101, 500, [], "regional_strategic",
     "province_key_account"),
    ("区域重点客户 Regional key", 30, 501, None, ["large", "xlarge"], "regional_key",
     "province_sales"),
    ("普通客户(伙伴) Ordinary, partner", 40, 501, None, ["micro"], "ordinary",
     "province_partner"),
    ("普通客户 Ordinary", 50, 501, None, [], "ordinary", "province_sales"),
]



def ensure_reference_data() -> None:
    """Idempotent: create the industries and, when there are no rules at all, the default rules."""
    from marketloop.crm.models import Industry, TierRule

    for code, name, name_en in INDUSTRIES:
        Industry.objects.get_or_create(code=code, defaults={"name": name, "name_en": name_en})
    if not TierRule.objects.exists():
        for name, priority, low, high, bands, tier, owner_kind in RULES:
            TierRule.objects.create(name=name, priority=priority, rank_min=low, rank_max=high,
                                    revenue_bands=bands, tier=tier, owner_kind=owner_kind)
