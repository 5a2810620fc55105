"""Tracking links: a landing page with an activity's UTM parameters, utm_campaign always the
activity's code, so a visit through the link is attached to the activity."""

from __future__ import annotations

from urllib.parse import quote, unquote_plus, urlencode, urlsplit

from django.db import transaction
from django.utils.translation import gettext as _

from marketloop.audit import services as audit
from marketloop.campaigns import member_selectors as selectors
from marketloop.campaigns.errors import CampaignError
from marketloop.campaigns.errors import CampaignErrorCode as Code
from marketloop.campaigns.models import TrackingLink
from marketloop.org.models import User
from marketloop.org.permissions import Action, require

LINK_AUDIT_FIELDS = ("destination", "utm_source", "utm_medium", "utm_content")
UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_content")
MAX_DESTINATION = 1000
MAX_UTM = 100


def tagged_url(destination: str, params: dict[str, str]) -> str:
    """`destination` with `params` added to its query: its own parameters are kept as they
    are (but any of the same names, which the new ones replace), the fragment stays last."""
    parts = urlsplit(destination)
    kept = [pair for pair in parts.query.split("&")
            if pair and unquote_plus(pair.split("=", 1)[0]) not in params]
    query = "&".join([*kept, urlencode(params, quote_via=quote)])
    url = f"{parts.scheme}://{parts.netloc}{parts.path or '/'}?{query}"
    return f"{url}#{parts.fragment}" if parts.fragment else url


def link_url(link: TrackingLink) -> str:
    params = {"utm_source": link.utm_source, "utm_medium": link.utm_medium,
              "utm_campaign": link.activity.code}
    if link.utm_content:
        params["utm_content"] = link.utm_content
    return tagged_url(link.destination, params)


def _clean_destination(destination: str) -> str:
    text = (destination or "").strip()
    if not text:
        raise CampaignError(Code.INVALID, _("Enter the landing page's address."),
                            field="destination")
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme.lower() not in {"http", "https"} or not host \
            or any(c.isspace() for c in text):
        raise CampaignError(Code.INVALID, _("Enter a full web address starting with http:// or "
                                            "https://."), field="destination")
    if len(text) > MAX_DESTINATION:
        raise CampaignError(Code.INVALID, _("At most %(n)s characters.") % {"n": MAX_DESTINATION},
                            field="destination")
    return text


def _clean_utm(value: str, field: str, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise CampaignError(Code.INVALID, _("This field is required."), field=field)
    if len(text) > MAX_UTM:
        raise CampaignError(Code.INVALID, _("At most %(n)s characters.") % {"n": MAX_UTM},
                            field=field)
    return text


@transaction.atomic
def create_link(*, user: User, activity_id: int, destination: str, utm_source: str,
                utm_medium: str, utm_content: str = "") -> TrackingLink:
    """A tracking link of an activity the user may see and whose roles allow editing."""
    activity = selectors.activity_of(user, activity_id)
    require(user, Action.EDIT)
    link = TrackingLink(
        activity=activity, destination=_clean_destination(destination),
        utm_source=_clean_utm(utm_source, "utm_source", required=True),
        utm_medium=_clean_utm(utm_medium, "utm_medium", required=True),
        utm_content=_clean_utm(utm_content, "utm_content", required=False),
        created_by=user)
    link.save()
    audit.record(actor=user, obj=link, action="created",
                 changes=audit.diff({}, audit.snapshot(link, LINK_AUDIT_FIELDS)))
    return link


@transaction.atomic
def delete_link(*, user: User, link_id: int, activity_id: int | None = None) -> None:
    """Delete a tracking link (of `activity_id`, when given). Visits already made through it
    stay attached: they carry the activity's code, not the link."""
    link = selectors.link_of(user, link_id) if activity_id is None else None
    if activity_id is not None:
        activity = selectors.activity_of(user, activity_id)
        link = TrackingLink.objects.filter(pk=link_id, activity=activity).first()
    require(user, Action.EDIT)
    if link is None:
        raise CampaignError(Code.UNKNOWN_LINK, _("This activity has no such tracking link."),
                            field="link")
    audit.record(actor=user, obj=link, action="deleted",
                 changes=audit.diff(audit.snapshot(link, LINK_AUDIT_FIELDS), {}))
    link.delete()
