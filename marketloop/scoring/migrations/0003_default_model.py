"""The model every installation starts with (marketloop.scoring.defaults)."""

from django.db import migrations

from marketloop.scoring.defaults import create_default_model


def create(apps, schema_editor):
    ScoringModel = apps.get_model("scoring", "ScoringModel")
    if not ScoringModel.objects.exists():
        create_default_model(ScoringModel, apps.get_model("scoring", "FitRule"),
                             apps.get_model("scoring", "EngagementRule"))


class Migration(migrations.Migration):
    dependencies = [("scoring", "0002_rescorerun_changed_alter_rescorerun_status")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
