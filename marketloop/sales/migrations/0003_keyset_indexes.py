# The list pages by (-updated_at, -id) within each part of the visibility scope.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('sales', '0002_seed_reference_data'),
    ]

    operations = [
        migrations.RemoveIndex(model_name='opportunity', name='opp_unit_updated'),
        migrations.RemoveIndex(model_name='opportunity', name='opp_partner_updated'),
        migrations.RemoveIndex(model_name='opportunity', name='opp_owner_updated'),
        migrations.RemoveIndex(model_name='opportunity', name='opp_stage_updated'),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(fields=['owner_unit', '-updated_at', '-id'], name='opp_unit_updated'),
        ),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(fields=['partner', '-updated_at', '-id'], name='opp_partner_updated'),
        ),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(fields=['owner', '-updated_at', '-id'], name='opp_owner_updated'),
        ),
        migrations.AddIndex(
            model_name='opportunity',
            index=models.Index(fields=['stage', '-updated_at', '-id'], name='opp_stage_updated'),
        ),
    ]
