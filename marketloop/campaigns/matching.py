"""Attaching touchpoints to activities: a touchpoint belongs to the activity whose code is its
utm_campaign (how="utm") or its properties.activity_code (how="code"), compared lower-cased
and trimmed. Each is attached once (ActivityTouch, unique per touchpoint) in set-based SQL,
and the people behind the new touches become (or move up as) the activity's members.

The touchpoint table is partitioned by month and indexed by (identity_id, occurred_at), so a
profile's touchpoints are read through its identities; an activity's are found by scanning
the months from LOOKBACK_DAYS before it starts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

from marketloop.campaigns import members
from marketloop.campaigns.models import Activity
from marketloop.tracking.stitching import ints

LOOKBACK_DAYS = 90
IMPORTED_EVENT = "Campaign Member Imported"
STATUS_NAMES = "ARRAY['invited','registered','attended','responded']::text[]"

# The member status a touchpoint `t` reaches (NULL: none). An import's marker carries the
# status of the imported row instead.
TOUCH_STATUS = f"""CASE
  WHEN t.kind = 'track' AND t.event = '{IMPORTED_EVENT}' THEN
    CASE WHEN array_position({STATUS_NAMES}, t.properties->>'member_status') IS NOT NULL
         THEN t.properties->>'member_status' ELSE 'invited' END
  WHEN t.kind = 'event' THEN 'attended'
  WHEN t.kind = 'form' AND (lower(t.event) IN ('registration', 'register')
       OR lower(t.properties->>'form') IN ('registration', 'register')) THEN 'registered'
  WHEN t.kind IN ('email_open', 'email_click', 'page', 'download', 'call', 'track', 'form')
    THEN 'responded'
END"""

# An import's marker is how an imported person who is not yet known becomes a member once
# tracking has made their profile; it is not something the person did, so it is never
# attached as a touch (journeys and attribution would count it). It is read again whenever
# its profile has new touchpoints, which changes nothing the second time.
IS_IMPORT = f"(t.kind = 'track' AND t.event = '{IMPORTED_EVENT}')"

# From the candidate touchpoints `found` (with their activity and how): attach the new ones
# and return, per activity and person, what they mean for membership. The first column is
# the number attached; a statement with nothing to report still returns one row.
ATTACH_AND_SUMMARISE = f"""
, attached AS (
  INSERT INTO campaigns_activitytouch (touchpoint_id, occurred_at, identity_id, activity_id,
                                       kind, how)
  SELECT t.id, t.occurred_at, t.identity_id, t.activity_id, t.kind, t.how FROM found t
  WHERE NOT {IS_IMPORT}
  ON CONFLICT (touchpoint_id) DO NOTHING
  RETURNING touchpoint_id
),
people AS (
  SELECT t.activity_id, p.id AS profile_id, p.contact_id, t.occurred_at,
         {TOUCH_STATUS} AS status,
         COALESCE(btrim(t.properties->>'name'), '') AS name,
         COALESCE(lower(btrim(t.context->'traits'->>'email')), '') AS email,
         COALESCE(btrim(t.context->'traits'->>'mobile'), '') AS mobile,
         {IS_IMPORT} AS imported,
         (t.kind = 'form' AND lower(t.event) IN ('registration', 'register')) AS registration
  FROM found t
  JOIN tracking_identity i ON i.id = t.identity_id
  JOIN tracking_profile p ON p.id = i.profile_id
  WHERE {IS_IMPORT} OR t.id IN (SELECT touchpoint_id FROM attached)
),
grouped AS (
  SELECT activity_id, contact_id, max(profile_id) AS profile_id,
         max(array_position({STATUS_NAMES}, status)) AS rank,
         min(occurred_at) FILTER (WHERE status = 'invited') AS invited_at,
         min(occurred_at) FILTER (WHERE status = 'registered') AS registered_at,
         min(occurred_at) FILTER (WHERE status = 'attended') AS attended_at,
         min(occurred_at) FILTER (WHERE status = 'responded') AS responded_at,
         (array_agg(name ORDER BY occurred_at DESC) FILTER (WHERE name <> ''))[1] AS name,
         (array_agg(email ORDER BY occurred_at DESC) FILTER (WHERE email <> ''))[1] AS email,
         (array_agg(mobile ORDER BY occurred_at DESC) FILTER (WHERE mobile <> ''))[1]
           AS mobile,
         CASE WHEN bool_or(imported) THEN 'import' WHEN bool_or(registration)
              THEN 'registration' ELSE 'touchpoint' END AS source
  FROM people WHERE status IS NOT NULL
  GROUP BY activity_id, contact_id, CASE WHEN contact_id IS NULL THEN profile_id END
)
SELECT (SELECT count(*) FROM attached), g.activity_id, g.contact_id, g.profile_id,
       ({STATUS_NAMES})[g.rank], g.source, g.invited_at, g.registered_at, g.attended_at,
       g.responded_at, g.name, g.email, g.mobile
FROM (SELECT 1) AS one LEFT JOIN grouped g ON true
"""

CODES = "codes AS (SELECT id, lower(code) AS code FROM campaigns_activity)"


@transaction.atomic
def attach_touchpoints_of_profiles(*, profile_ids: Iterable[int]) -> int:
    """Attach the not yet attached touchpoints of these profiles' identities that carry an
    activity's code, and update the activities' members; return how many were attached."""
    ids = sorted(set(profile_ids))
    if not ids:
        return 0
    with connection.cursor() as cursor:  # members of profiles that found their contact
        members.lock(cursor)
        members.settle(cursor, ids)
    sql = f"""
WITH {CODES},
found AS (
  SELECT t.id, t.occurred_at, t.identity_id, t.kind, t.event, t.properties, t.context,
         COALESCE(u.id, c.id) AS activity_id,
         CASE WHEN u.id IS NOT NULL THEN 'utm' ELSE 'code' END AS how
  FROM tracking_identity i
  JOIN tracking_touchpoint t ON t.identity_id = i.id
  LEFT JOIN codes u ON t.utm_campaign <> '' AND u.code = lower(btrim(t.utm_campaign))
  LEFT JOIN codes c ON t.properties ? 'activity_code'
                   AND c.code = lower(btrim(t.properties->>'activity_code'))
  WHERE i.profile_id = ANY(%s::bigint[]) AND (u.id IS NOT NULL OR c.id IS NOT NULL)
    AND NOT EXISTS (SELECT 1 FROM campaigns_activitytouch a WHERE a.touchpoint_id = t.id)
)""" + ATTACH_AND_SUMMARISE
    return _run(sql, [ints(ids)])


@transaction.atomic
def attach_touchpoints_of_activity(*, activity_id: int) -> int:
    """For a new activity or a changed code: attach the touchpoints carrying its code from
    LOOKBACK_DAYS before it starts on (to now: with no upper bound, as a client's clock may
    run a little ahead), and update its members; return how many were attached."""
    activity = Activity.objects.filter(pk=activity_id).first()
    if activity is None:
        return 0
    zone = timezone.get_current_timezone()
    since = datetime.combine(activity.starts_on - timedelta(days=LOOKBACK_DAYS), time.min, zone)
    sql = """
WITH found AS (
  SELECT t.id, t.occurred_at, t.identity_id, t.kind, t.event, t.properties, t.context,
         %s::bigint AS activity_id,
         CASE WHEN lower(btrim(t.utm_campaign)) = %s THEN 'utm' ELSE 'code' END AS how
  FROM tracking_touchpoint t
  WHERE t.occurred_at >= %s
    AND (lower(btrim(t.utm_campaign)) = %s OR lower(btrim(t.properties->>'activity_code')) = %s)
    AND NOT EXISTS (SELECT 1 FROM campaigns_activitytouch a WHERE a.touchpoint_id = t.id)
)""" + ATTACH_AND_SUMMARISE
    code = activity.code.strip().lower()
    return _run(sql, [activity.pk, code, since, code, code])


def _run(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        members.lock(cursor)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    attached = int(rows[0][0]) if rows else 0
    changes = [members.TouchChange(*row[1:]) for row in rows if row[1] is not None]
    members.apply_touches(changes)
    return attached
