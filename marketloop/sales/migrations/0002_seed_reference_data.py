from django.db import migrations

from marketloop.sales.models import (
    DEFAULT_BIG_DEAL_BAND_CNY,
    DEFAULT_CNY_RATES,
    DEFAULT_PROBABILITIES,
)
from marketloop.sales.reference import COMPETITORS, PRODUCTS


def seed(apps, schema_editor):
    Product = apps.get_model("sales", "Product")
    Competitor = apps.get_model("sales", "Competitor")
    SalesSettings = apps.get_model("sales", "SalesSettings")
    for code, name, name_en in PRODUCTS:
        Product.objects.get_or_create(code=code, defaults={"name": name, "name_en": name_en})
    for name in COMPETITORS:
        Competitor.objects.get_or_create(name=name)
    if not SalesSettings.objects.exists():
        SalesSettings.objects.create(big_deal_band_cny=DEFAULT_BIG_DEAL_BAND_CNY,
                                     probabilities=dict(DEFAULT_PROBABILITIES),
                                     cny_rates=dict(DEFAULT_CNY_RATES))


class Migration(migrations.Migration):
    dependencies = [("sales", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
