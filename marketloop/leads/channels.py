"""The channel of a lead's first touch, read from its earliest touchpoint: the campaign medium
(utm_medium) where the link carried one, else what kind of touch it was, else where the visitor
came from (a search engine's referrer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from marketloop.leads.models import Channel
from marketloop.tracking.models import Identity, Touchpoint, TouchpointKind

MEDIUMS = {
    Channel.SEARCH: {"cpc", "ppc", "paid", "paidsearch", "paid_search", "sem", "search",
                     "organic", "seo"},
    Channel.EDM: {"email", "edm", "newsletter", "mail"},
    Channel.EVENT: {"event", "events", "offline", "salon", "forum", "webinar", "expo"},
    Channel.HOTLINE: {"phone", "call", "hotline", "400"},
    Channel.FORM: {"form"},
    Channel.SALES: {"sales", "visit"},
    Channel.WEB: {"referral", "web", "website", "social", "display", "banner"},
}
KINDS = {
    TouchpointKind.EMAIL_OPEN: Channel.EDM,
    TouchpointKind.EMAIL_CLICK: Channel.EDM,
    TouchpointKind.CALL: Channel.HOTLINE,
    TouchpointKind.EVENT: Channel.EVENT,
    TouchpointKind.FORM: Channel.FORM,
    TouchpointKind.VISIT: Channel.SALES,
}
WEB_KINDS = {TouchpointKind.PAGE, TouchpointKind.SCREEN, TouchpointKind.TRACK,
             TouchpointKind.DOWNLOAD}
SEARCH_ENGINES = ("baidu.", "google.", "bing.", "sogou.", "so.com", "sm.cn", "yandex.",
                  "duckduckgo.", "360.cn")


def channel_of(touch: Mapping[str, Any] | None) -> str:
    """The channel of one touchpoint (its kind, utm_medium and referrer)."""
    if not touch:
        return Channel.OTHER
    medium = (touch.get("utm_medium") or "").strip().lower()
    for channel, mediums in MEDIUMS.items():
        if medium in mediums:
            return channel
    kind = touch.get("kind") or ""
    if kind in KINDS:
        return KINDS[kind]
    host = urlsplit(touch.get("referrer") or "").hostname or ""
    if any(engine in host for engine in SEARCH_ENGINES):
        return Channel.SEARCH
    if kind in WEB_KINDS:
        return Channel.WEB
    return Channel.OTHER


def first_touch_channel(profile_id: int) -> str:
    """The channel of the profile's earliest touchpoint (other when it has none)."""
    identity_ids = list(Identity.objects.filter(profile_id=profile_id)
                        .values_list("id", flat=True))
    if not identity_ids:
        return Channel.OTHER
    first = (Touchpoint.objects.filter(identity_id__in=identity_ids)
             .order_by("occurred_at", "id")
             .values("kind", "utm_medium", "referrer").first())
    return channel_of(first)
