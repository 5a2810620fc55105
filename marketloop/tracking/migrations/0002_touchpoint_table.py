"""The touchpoint table, partitioned by month of occurred_at, and its first partitions."""

from django.db import migrations
from django.utils import timezone

SQL = """
CREATE SEQUENCE tracking_touchpoint_id_seq;
CREATE TABLE tracking_touchpoint (
    id bigint NOT NULL DEFAULT nextval('tracking_touchpoint_id_seq'),
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    source_id bigint NOT NULL,
    identity_id bigint NOT NULL,
    kind varchar(12) NOT NULL,
    event varchar(200) NOT NULL DEFAULT '',
    message_id varchar(100) NOT NULL,
    url text NOT NULL DEFAULT '',
    title varchar(300) NOT NULL DEFAULT '',
    referrer text NOT NULL DEFAULT '',
    keyword varchar(200) NOT NULL DEFAULT '',
    utm_source varchar(200) NOT NULL DEFAULT '',
    utm_medium varchar(200) NOT NULL DEFAULT '',
    utm_campaign varchar(200) NOT NULL DEFAULT '',
    properties jsonb NOT NULL DEFAULT '{}',
    context jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (occurred_at, id)
) PARTITION BY RANGE (occurred_at);
ALTER SEQUENCE tracking_touchpoint_id_seq OWNED BY tracking_touchpoint.id;
CREATE INDEX tracking_touchpoint_identity ON tracking_touchpoint (identity_id, occurred_at DESC);
"""

REVERSE = "DROP TABLE tracking_touchpoint;"


def create_partitions(apps, schema_editor):
    from marketloop.tracking.partitions import ensure_partitions, months_around

    ensure_partitions(months_around(timezone.localdate(), before=12, after=3))


class Migration(migrations.Migration):
    dependencies = [("tracking", "0001_initial")]

    operations = [
        migrations.RunSQL(SQL, REVERSE),
        migrations.RunPython(create_partitions, migrations.RunPython.noop),
    ]
