from django.db import migrations

from marketloop.crm.reference import INDUSTRIES, RULES

def seed(apps, schema_editor):
    Industry = apps.get_model("crm", "Industry")
    TierRule = apps.get_model("crm", "TierRule")
    for code, name, name_en in INDUSTRIES:
        Industry.objects.get_or_create(code=code, defaults={"name": name, "name_en": name_en})
    if not TierRule.objects.exists():
        for name, priority, low, high, bands, tier, owner_kind in RULES:
            TierRule.objects.create(name=name, priority=priority, rank_min=low, rank_max=high,
                                    revenue_bands=bands, tier=tier, owner_kind=owner_kind)


class Migration(migrations.Migration):
    dependencies = [("crm", "0002_initial")]
    operations = [
        migrations.RunSQL("CREATE EXTENSION IF NOT EXISTS pg_trgm",
                          reverse_sql=migrations.RunSQL.noop),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
