"""Scores change in place every night (decay): room on each page lets PostgreSQL rewrite a
row beside itself without touching the indexes (a HOT update)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scoring", "0003_default_model")]
    operations = [
        migrations.RunSQL(
            "ALTER TABLE scoring_score SET (fillfactor = 60); "
            "ALTER TABLE scoring_accountscore SET (fillfactor = 60)",
            "ALTER TABLE scoring_score RESET (fillfactor); "
            "ALTER TABLE scoring_accountscore RESET (fillfactor)"),
    ]
