"""The hand-off time limits per tier, in working hours (editable on the policies page)."""

from django.db import migrations

DEFAULTS = {"hq_strategic": 4, "regional_strategic": 8, "regional_key": 16, "ordinary": 24}


def seed(apps, schema_editor):
    HandoffPolicy = apps.get_model("leads", "HandoffPolicy")
    for tier, hours in DEFAULTS.items():
        HandoffPolicy.objects.get_or_create(
            tier=tier, defaults={"accept_within_hours": hours, "remind_before_hours": 2})


class Migration(migrations.Migration):

    dependencies = [
        ("leads", "0002_routing_and_handoff"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
