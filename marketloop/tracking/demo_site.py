"""The demo customer website (/t/demo/): a vendor's article page that embeds tracker.js, so a
demo shows touchpoints arriving from a real browser. Its events come from one website source."""

from __future__ import annotations

from django.db import transaction

from marketloop.tracking.models import Source, SourceKind

DEMO_SOURCE_NAME = "Demo website"


@transaction.atomic
def demo_website_source() -> Source:
    """The demo website's source, created the first time it is needed. It tracks only after
    consent, so the demo shows the consent banner at work."""
    source = (Source.objects.filter(kind=SourceKind.WEBSITE, name=DEMO_SOURCE_NAME)
              .order_by("id").first())
    if source is None:
        source = Source.objects.create(kind=SourceKind.WEBSITE, name=DEMO_SOURCE_NAME,
                                       require_consent=True)
    return source
