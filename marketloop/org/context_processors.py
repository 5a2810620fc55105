from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from marketloop.org.permissions import Action, can

NAVIGATION = [
    (_("Customers"), [
        ("crm:account_list", _("Accounts"), None),
        ("crm:contact_list", _("Contacts"), None),
        ("data:import_list", _("Imports"), Action.IMPORT),
    ]),
    (_("Marketing"), [
        ("leads:triage", _("Triage"), None),
        ("leads:funnel", _("Funnel"), None),
        ("campaigns:dashboard", _("Campaigns"), None),
        ("campaigns:plan_list", _("Plans"), None),
        ("campaigns:activity_list", _("Activities"), None),
        ("scoring:model", _("Scoring"), None),
    ]),
    (_("Sales"), [
        ("leads:lead_list", _("Leads"), None),
        ("sales:opportunity_list", _("Opportunities"), None),
        ("sales:kanban", _("Kanban"), None),
    ]),
    (_("Organisation"), [
        ("org:unit_list", _("Units"), None),
        ("org:tokens", _("API tokens"), None),
        ("crm:tier_rules", _("Tier rules"), Action.ADMINISTER),
        ("tracking:source_list", _("Sources"), Action.ADMINISTER),
        ("leads:policies", _("Hand-off policies"), Action.ADMINISTER),
        ("sales:settings", _("Sales settings"), Action.ADMINISTER),
        ("campaigns:attribution_settings", _("Attribution"), Action.ADMINISTER),
    ]),
]


def navigation(request: HttpRequest) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"navigation": []}
    sections = []
    for title, items in NAVIGATION:
        visible = [(name, label) for name, label, action in items
                   if action is None or can(user, action)]
        if visible:
            sections.append((title, visible))
    return {"navigation": sections}
