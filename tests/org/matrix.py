"""The visibility matrix: people in every kind of unit with every role, rows owned all over the
organisation, an oracle that says from DESIGN.md's rules (not from `scope.visible`) who may see
what, and ROUTES: how every route of the product is checked against it.

A new route must get a line in ROUTES (tests/org/test_visibility_matrix.py fails until it has
one): `Lists(...)` or `Shows(...)` for a route that shows scoped rows, which the matrix then
checks for every person and row, or `Exempt("why")` for a route that holds no scoped rows.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.test import Client
from django.urls import reverse

from marketloop.campaigns.models import Activity, BudgetRequest, MarketingPlan, RequestStatus
from marketloop.crm.models import Account, Contact, Industry
from marketloop.crm.reference import ensure_reference_data
from marketloop.crm.validation import name_bigrams
from marketloop.leads.models import Lead, Stage
from marketloop.org.models import OrgUnit, Role, UnitKind, User
from marketloop.org.permissions import Action
from marketloop.org.standard import REGIONS, add_partner, ensure_standard_org
from marketloop.sales.models import (
    OPEN_OPPORTUNITY_STAGES,
    DealRole,
    DealTeamMember,
    Opportunity,
)
from marketloop.tracking.models import Profile
from tests.api.client import ApiClient

MISSING_ID = 10**9  # an id that exists nowhere: a hidden row must answer exactly like it

# ------------------------------------------------------------------------------------------
# How each route is checked
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lists:
    """The route lists rows of `model`: exactly the rows the person may see, none missing and
    none more. `output`: "html" (names in the page, following rel="next" links), "api" (JSON
    pages followed by next_cursor), "csv" or "xlsx" (the file's cells). `needs`: the action
    the person's roles must allow; without it the answer is 403 and lists nothing."""

    model: str
    output: str = "html"
    needs: Action | None = None
    query: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Shows:
    """The route is about one row of `model`, named by its id in the path (`via="path"`), in a
    query parameter (`via="query:account"`) or in the body (`via="body:parent_id"`).

    For a row the person may see, the route works (a GET page shows the row's name); for a row
    they may not see it answers exactly as for an id that does not exist (404, or `hidden` for
    a body field, e.g. 422), so nobody learns that the row exists. `needs`: the action the
    roles must allow, else 403 (for visible rows; hidden rows still answer as missing ones)."""

    model: str
    method: str = "GET"
    via: str = "path"
    needs: Action | None = None
    body: Callable[[World], dict[str, Any]] | None = None
    hidden: int = 404


@dataclass(frozen=True)
class Exempt:
    """The route shows no scoped rows; `reason` says why (and where else it is tested)."""

    reason: str


Check = Lists | Shows | Exempt

ATTRIBUTION_SETTINGS = ("company-wide attribution settings and runs (counts, no rows); changed "
                        "by administrators only: tests/campaigns/test_attribution_runs.py")
ADMIN_ONLY = "company-wide tier-rule settings; administrators only (ADMINISTER), no scoped rows"
IMPORTS = ("import jobs are the uploader's own (administrators see all): "
           "import_services.import_jobs; tests/crm/test_import.py")
SOURCES = ("tracking sources are company-wide settings; administrators only (ADMINISTER), "
           "no scoped rows; tests/tracking/test_sources_ui.py")
FUNNEL = ("counts of leads, not rows, through leads.funnel (the scope first); each count's "
          "list is leads:funnel_leads, checked here; the counts: tests/leads/test_funnel.py::"
          "test_a_province_user_counts_only_their_provinces_leads, ::test_a_partner_counts_only_"
          "their_own_leads, ::test_every_count_on_the_page_opens_a_list_of_exactly_that_many_leads")
FUNNEL_ALL_TIME = "2000-01-01..2100-12-31"
# A tracking link the services refuse (not a web address): POSTs of it write nothing.
MATRIX_LINK = {"destination": "ftp://mx.example.cn/", "utm_source": "mx", "utm_medium": "mx"}
CAMPAIGNS_ALL_TIME = (("from", "2000-01"), ("to", "2100-12"))
CAMPAIGN_REPORT = ("the figures of campaigns.reports.dashboard, the selector behind "
                   "campaigns:dashboard and its export (both checked here); "
                   "tests/campaigns/test_report_api.py::"
                   "test_a_province_user_gets_only_their_activities_and_no_bucket")
PLAN_CREATE = ("makes a plan in a unit within the caller's reach (units are not scoped rows; "
               "the form lists only those): tests/campaigns/test_plans.py::"
               "test_a_province_user_plans_only_within_their_province")
SPEND_FILE = ("two ids in the path (the matrix fills one): the file is read through its "
              "activity's scope first (hidden -> 404): tests/campaigns/test_views.py::"
              "test_a_file_of_an_activity_out_of_sight_is_not_found")
NOTIFICATIONS = ("the caller's own notifications (filtered by user in "
                 "org.notifications); tests/leads/test_notifications.py")
TRIAGE = ("lists only leads in triage, which HQ marketing owns (so only HQ sees them), through "
          "leads.selectors.triage_page (the scope first); "
          "tests/leads/test_triage.py::test_only_hq_sees_the_triage_queue")
POLICIES = ("company-wide hand-off time limits per tier; administrators only (ADMINISTER), "
            "no scoped rows; tests/leads/test_handoff.py")


def _lead_post(**fields: str) -> Callable[[World], dict[str, Any]]:
    return lambda world: dict(fields)


SALES_SETTINGS = ("company-wide sales settings (big-deal band, probabilities, rates); "
                  "administrators only (ADMINISTER), no scoped rows; "
                  "tests/sales/test_views.py::test_only_administrators_see_the_sales_settings")
SCORING_MODEL = ("the scoring model is a company-wide setting, readable by everyone and "
                 "changed only by administrators and HQ marketing (scoring.services."
                 "can_edit_model); no scoped rows; tests/scoring/test_model_editing.py")
EMAIL_LINKS = ("email pixel and click redirect: a signed token records a touchpoint and "
               "shows no rows; tests/tracking/test_email_links.py")


def _new_account_form(world: World) -> dict[str, Any]:
    return {"name": "mx-new-account", "industry": world.industry.pk, "province": world.province.pk}


def _new_opportunity(world: World) -> dict[str, Any]:
    return {"name": "mx-new-opp", "amount": "100000", "currency": "CNY",
            "stage": "qualification", "expected_close": "2031-06-30"}


ROUTES: dict[str, Check | tuple[Check, ...]] = {
    # ---- pages (Django URL names)
    "crm:home": Exempt("redirects to the account list"),
    "crm:account_list": (Lists("account"), Lists("account", query=(("q", "mx-acct"),))),
    "crm:account_detail": Shows("account"),
    "crm:account_create": Shows("account", method="POST", via="body:parent",
                                needs=Action.CREATE, body=_new_account_form, hidden=422),
    "crm:account_edit": (Shows("account", needs=Action.EDIT),
                         Shows("account", method="POST", needs=Action.EDIT,
                               body=lambda w: {"name": "mx-renamed"}, hidden=404)),
    "crm:contact_list": (Lists("contact"), Lists("contact", query=(("q", "mx-pers"),))),
    "crm:contact_detail": Shows("contact"),
    "crm:contact_create": (Shows("account", via="query:account", needs=Action.CREATE),
                           Shows("account", method="POST", via="body:account",
                                 needs=Action.CREATE, body=lambda w: {"name": "mx-new-person"},
                                 hidden=422)),
    "crm:contact_edit": Shows("contact", needs=Action.EDIT),
    "crm:contact_consent": Shows("contact", method="POST", needs=Action.EDIT,
                                 body=lambda w: {"purpose": "matrix", "granted": "1",
                                                 "method": "paper"}),
    "crm:tier_rules": Exempt(ADMIN_ONLY),
    "crm:tier_rule_create": Exempt(ADMIN_ONLY),
    "crm:tier_rule_edit": Exempt(ADMIN_ONLY),
    "crm:tier_rule_delete": Exempt(ADMIN_ONLY),
    "crm:reroute_runs": Exempt(ADMIN_ONLY + "; re-routing runs are counts, not rows"),
    "data:account_export": (Lists("account", output="csv", needs=Action.EXPORT),
                            Lists("account", output="xlsx", needs=Action.EXPORT)),
    "data:contact_export": (Lists("contact", output="csv", needs=Action.EXPORT),
                            Lists("contact", output="xlsx", needs=Action.EXPORT)),
    "data:import_list": Exempt(IMPORTS),
    "data:import_upload": Exempt(IMPORTS),
    "data:import_detail": Exempt(IMPORTS),
    "data:import_progress": Exempt(IMPORTS),
    "data:import_confirm": Exempt(IMPORTS),
    "data:import_cancel": Exempt(IMPORTS),
    "data:import_sheet": Exempt(IMPORTS),
    "data:import_errors": Exempt(IMPORTS),
    "org:unit_list": Exempt("the organisation chart is public inside the company"),
    "org:tokens": Exempt("the caller's own API tokens (org.selectors.api_tokens(user))"),
    "org:token_revoke": Exempt("revokes only the caller's own token (filtered by user)"),
    **{f"tracking:v1_{kind}": Exempt(
        "Segment tracking API: a source's write key stores events and reads nothing; "
        "tests/tracking/test_ingest.py")
       for kind in ("batch", "identify", "track", "page", "screen", "group", "alias")},
    "tracking:contact_touchpoints": Shows("contact"),
    "tracking:account_touchpoints": Shows("account"),
    "tracking:profile_detail": Shows("profile"),
    "tracking:profile_touchpoints": Shows("profile"),
    "tracking:source_list": Exempt(SOURCES),
    "tracking:source_create": Exempt(SOURCES),
    "tracking:source_detail": Exempt(SOURCES),
    "tracking:source_edit": Exempt(SOURCES),
    "tracking:source_rotate": Exempt(SOURCES),
    "tracking:email_open": Exempt(EMAIL_LINKS),
    "tracking:email_click": Exempt(EMAIL_LINKS),
    "tracking:hotline_calls": Exempt("call webhook: a hotline source's write key stores calls "
                                     "and reads nothing; tests/tracking/test_hotline.py"),
    "tracking:demo_site": Exempt("public demo page of a customer website: static content and "
                                 "the demo source's write key; "
                                 "tests/tracking/test_tracker_browser.py"),
    "leads:funnel": Exempt(FUNNEL),
    "leads:funnel_leads": (Lists("lead", query=(("period", FUNNEL_ALL_TIME),)),
                           Lists("lead", query=(("period", FUNNEL_ALL_TIME), ("stage", "sal"),
                                                ("dimension", "owner_unit")))),
    "leads:funnel_trend": Exempt(FUNNEL),
    "leads:lead_list": (Lists("lead"), Lists("lead", query=(("q", "mx-lead"),))),
    "leads:lead_detail": Shows("lead"),
    "leads:lead_accept": Shows("lead", method="POST", needs=Action.EDIT),
    "leads:lead_reject": Shows("lead", method="POST", needs=Action.EDIT,
                               body=_lead_post(reason="no_need")),
    "leads:lead_qualify": Shows("lead", method="POST", needs=Action.EDIT),
    "leads:lead_disqualify": Shows("lead", method="POST", needs=Action.EDIT,
                                   body=_lead_post(reason="matrix")),
    "leads:lead_reassign": Shows("lead", method="POST", needs=Action.APPROVE),
    "leads:triage": Exempt(TRIAGE),
    "leads:triage_link": Shows("lead", method="POST", needs=Action.EDIT),
    "leads:triage_assign": Shows("lead", method="POST", needs=Action.EDIT),
    "leads:handoff": (Shows("contact", via="query:contact", needs=Action.CREATE),
                      Shows("contact", method="POST", via="body:contact", needs=Action.CREATE,
                            body=_lead_post(need="new_module"), hidden=422)),
    "leads:policies": Exempt(POLICIES),
    "leads:profile_lead": Shows("profile"),
    "org:notification_list": Exempt(NOTIFICATIONS),
    "org:notification_open": Exempt(NOTIFICATIONS),
    "org:notification_read": Exempt(NOTIFICATIONS),
    "org:notification_read_all": Exempt(NOTIFICATIONS),
    "scoring:model": Exempt(SCORING_MODEL),
    "scoring:model_edit": Exempt(SCORING_MODEL),
    "scoring:fit_rule_create": Exempt(SCORING_MODEL),
    "scoring:fit_rule_edit": Exempt(SCORING_MODEL),
    "scoring:fit_rule_delete": Exempt(SCORING_MODEL),
    "scoring:engagement_rule_create": Exempt(SCORING_MODEL),
    "scoring:engagement_rule_edit": Exempt(SCORING_MODEL),
    "scoring:engagement_rule_delete": Exempt(SCORING_MODEL),
    "scoring:rescore": Exempt(SCORING_MODEL + "; queues a re-score of everyone"),
    "scoring:rescore_runs": Exempt(SCORING_MODEL + "; re-score runs are counts, not rows"),
    "scoring:profile_score": Shows("profile"),
    "scoring:contact_score": Shows("contact"),
    "scoring:account_score": Shows("account"),
    # ---- JSON API (ninja operations, as in /api/openapi.json)
    "GET /api/accounts": (Lists("account", output="api"),
                          Lists("account", output="api", query=(("q", "mx-acct"),))),
    "GET /api/accounts/{id}": Shows("account"),
    "POST /api/accounts": Shows("account", method="POST", via="body:parent_id",
                                needs=Action.CREATE, hidden=422,
                                body=lambda w: {"name": "mx-new-account",
                                                "industry": "manufacturing", "province": "gd"}),
    "PATCH /api/accounts/{id}": Shows("account", method="PATCH", needs=Action.EDIT,
                                      body=lambda w: {}),
    "GET /api/contacts": (Lists("contact", output="api"),
                          Lists("contact", output="api", query=(("q", "mx-pers"),))),
    "GET /api/contacts/{id}": Shows("contact"),
    "POST /api/contacts": Shows("account", method="POST", via="body:account",
                                needs=Action.CREATE, hidden=422,
                                body=lambda w: {"name": "mx-new-person"}),
    "PATCH /api/contacts/{id}": Shows("contact", method="PATCH", needs=Action.EDIT,
                                      body=lambda w: {}),
    "GET /api/contacts/{id}/consents": Shows("contact"),
    "POST /api/contacts/{id}/consents": Shows("contact", method="POST", needs=Action.EDIT,
                                              body=lambda w: {"purpose": "matrix",
                                                              "method": "paper"}),
    "GET /api/contacts/{id}/touchpoints": Shows("contact"),
    "GET /api/accounts/{id}/touchpoints": Shows("account"),
    "GET /api/profiles/{id}": Shows("profile"),
    "GET /api/industries": Exempt("reference data, the same for everyone"),
    "GET /api/tier-rules": Exempt("company-wide routing rules, the same for everyone"),
    "GET /api/org/units": Exempt("the organisation chart is public inside the company"),
    "GET /api/org/me": Exempt("the caller's own user"),
    "GET /api/profiles/{id}/score": Shows("profile"),
    "GET /api/accounts/{id}/score": Shows("account"),
    "GET /api/scoring/model": Exempt(SCORING_MODEL),
    # ---- sales: writes to a deal answer 404 for a hidden one, then check the roles (403),
    # then the request (422, what these bodies get), then the deal team (403: sales.permissions,
    # tests/sales/test_services.py); deal-team members: tests/sales/test_deal_team_visibility.py
    "sales:opportunity_list": (Lists("opportunity"),
                               Lists("opportunity", query=(("q", "mx-opp"),)),
                               Lists("opportunity", query=(("status", "open"),))),
    "sales:kanban": Lists("opportunity"),
    "sales:opportunity_detail": Shows("opportunity"),
    "sales:opportunity_create": (Shows("account", via="query:account", needs=Action.CREATE),
                                 Shows("account", method="POST", via="body:account",
                                       needs=Action.CREATE, body=_new_opportunity, hidden=422)),
    "sales:opportunity_edit": Shows("opportunity", method="POST", needs=Action.EDIT,
                                    body=lambda w: {"name": ""}),
    "sales:opportunity_stage": Shows("opportunity", method="POST", needs=Action.EDIT,
                                     body=lambda w: {"stage": "lost"}),
    "sales:team_add": Shows("opportunity", method="POST", needs=Action.EDIT,
                            body=lambda w: {"username": "mx-nobody", "role": "presales"}),
    "sales:team_remove": Shows("opportunity", method="POST", needs=Action.EDIT,
                               body=lambda w: {"member": str(MISSING_ID)}),
    "sales:account_opportunities": Shows("account"),
    "sales:settings": Exempt(SALES_SETTINGS),
    "GET /api/opportunities": (Lists("opportunity", output="api"),
                               Lists("opportunity", output="api", query=(("q", "mx-opp"),))),
    "GET /api/opportunities/{id}": Shows("opportunity"),
    "POST /api/opportunities": Shows("account", method="POST", via="body:account",
                                     needs=Action.CREATE, hidden=422,
                                     body=lambda w: {"name": "mx-new-opp", "amount": "100000",
                                                     "expected_close": "2031-06-30"}),
    "PATCH /api/opportunities/{id}": Shows("opportunity", method="PATCH", needs=Action.EDIT,
                                           body=lambda w: {"name": " "}),
    "POST /api/opportunities/{id}/stage": Shows("opportunity", method="POST", needs=Action.EDIT,
                                                body=lambda w: {"stage": "lost"}),
    "POST /api/opportunities/{id}/team": Shows("opportunity", method="POST", needs=Action.EDIT,
                                               body=lambda w: {"user_id": MISSING_ID,
                                                               "role": "presales"}),
    "DELETE /api/opportunities/{id}/team/{member_id}": Exempt(
        "two ids in the path (the matrix fills one): the deal is read through the scope first "
        "(hidden -> 404 like a missing one): tests/sales/test_api.py::"
        "test_removing_a_seat_of_a_hidden_deal_answers_like_a_missing_deal"),
    "GET /api/leads": (Lists("lead", output="api"),
                       Lists("lead", output="api", query=(("q", "mx-lead"),))),
    "GET /api/leads/{id}": Shows("lead"),
    "POST /api/leads/{id}/accept": Shows("lead", method="POST", needs=Action.EDIT),
    "POST /api/leads/{id}/reject": Shows("lead", method="POST", needs=Action.EDIT,
                                         body=_lead_post(reason="no_need")),
    "POST /api/leads/{id}/qualify": Shows("lead", method="POST", needs=Action.EDIT),
    "POST /api/leads": Shows("contact", method="POST", via="body:contact",
                             needs=Action.CREATE, hidden=422,
                             body=_lead_post(need="new_module")),
    "GET /api/funnel": Exempt(FUNNEL),
    # ---- campaigns: plans, activities and their budgets. A plan has no partner, so partner
    # people see only the plans they own (World.expected's model). Writes answer 404 for a
    # hidden row, then check the roles (403), then the request (422: what these bodies get,
    # so the matrix writes nothing); deciding a budget request is for the plan's owner, after
    # the request's own checks (the matrix's requests are decided already: 422).
    "campaigns:plan_list": Lists("plan"),
    "campaigns:plan_create": Exempt(PLAN_CREATE),
    "campaigns:plan_detail": Shows("plan"),
    "campaigns:plan_edit": (Shows("plan", needs=Action.EDIT),
                            Shows("plan", method="POST", needs=Action.EDIT,
                                  body=lambda w: {"name": ""})),
    "campaigns:activity_list": (Lists("activity"),
                                Lists("activity", query=(("q", "mx-act"),))),
    "campaigns:activity_create": (Shows("plan", via="query:plan", needs=Action.CREATE),
                                  Shows("plan", method="POST", via="body:plan",
                                        needs=Action.CREATE, hidden=422,
                                        body=lambda w: {"name": "mx-new-activity"})),
    "campaigns:activity_detail": Shows("activity"),
    "campaigns:activity_edit": (Shows("activity", needs=Action.EDIT),
                                Shows("activity", method="POST", needs=Action.EDIT,
                                      body=lambda w: {"name": ""})),
    "campaigns:activity_status": Shows("activity", method="POST", needs=Action.EDIT,
                                       body=lambda w: {"status": "mx"}),
    "campaigns:budget_request": Shows("activity", method="POST", needs=Action.EDIT,
                                      body=lambda w: {"amount": "0", "reason": ""}),
    "campaigns:budget_decide": Shows("activity", method="POST",
                                     body=lambda w: {"request": str(MISSING_ID),
                                                     "decision": "approve"}),
    "campaigns:spend_create": Shows("activity", method="POST", needs=Action.EDIT,
                                    body=lambda w: {"amount": "0"}),
    "campaigns:spend_attachment": Exempt(SPEND_FILE),
    "GET /api/plans": Lists("plan", output="api"),
    "GET /api/plans/{id}": Shows("plan"),
    "POST /api/plans": Exempt(PLAN_CREATE),
    "PATCH /api/plans/{id}": Shows("plan", method="PATCH", needs=Action.EDIT,
                                   body=lambda w: {}),
    "GET /api/activities": (Lists("activity", output="api"),
                            Lists("activity", output="api", query=(("q", "mx-act"),))),
    "GET /api/activities/{id}": Shows("activity"),
    "POST /api/activities": Shows("plan", method="POST", via="body:plan", needs=Action.CREATE,
                                  hidden=422, body=lambda w: {
                                      "name": "mx-new-activity", "kind": "salon",
                                      "level": "customer_group", "owner_unit": MISSING_ID,
                                      "starts_on": "2031-01-01", "ends_on": "2031-01-01"}),
    "PATCH /api/activities/{id}": Shows("activity", method="PATCH", needs=Action.EDIT,
                                        body=lambda w: {}),
    "POST /api/activities/{id}/budget-requests": Shows("activity", method="POST",
                                                       needs=Action.EDIT,
                                                       body=lambda w: {"amount": "1",
                                                                       "reason": " "}),
    "POST /api/budget-requests/{id}/decision": Shows("budget_request", method="POST",
                                                     body=lambda w: {"approve": True}),
    "GET /api/activities/{id}/spend": Shows("activity"),
    "POST /api/activities/{id}/spend": Shows("activity", method="POST", needs=Action.EDIT,
                                             body=lambda w: {"amount": "1",
                                                             "spent_on": "2031-01-01",
                                                             "description": " "}),
    # ---- campaigns: the dashboard and activity results (campaigns.reports, through the
    # activities the person may see; credit of no activity only for those who see everything)
    "campaigns:dashboard": (Lists("activity", query=CAMPAIGNS_ALL_TIME),
                            Lists("activity", query=(*CAMPAIGNS_ALL_TIME, ("group", "region"),
                                                     ("model", "first_touch")))),
    "campaigns:dashboard_export": Lists("activity", output="xlsx", needs=Action.EXPORT,
                                        query=CAMPAIGNS_ALL_TIME),
    "campaigns:activity_results": Shows("activity"),
    "GET /api/activities/{id}/results": Shows("activity"),
    "GET /api/campaigns/report": Exempt(CAMPAIGN_REPORT),
    # ---- campaigns: tracking links, members and attached touchpoints, seen through their
    # activity (campaigns.member_selectors.activity_of first); the POST bodies are refused (422)
    # after the scope and role checks, so the matrix writes nothing
    "campaigns:activity_links": (Shows("activity"),
                                 Shows("activity", method="POST", needs=Action.EDIT,
                                       body=lambda w: dict(MATRIX_LINK))),
    "campaigns:link_delete": Shows("activity", method="POST", needs=Action.EDIT,
                                   body=lambda w: {"link": str(MISSING_ID)}),
    "campaigns:activity_members": Shows("activity"),
    "campaigns:member_add": Shows("activity", method="POST", needs=Action.EDIT,
                                  body=lambda w: {"contact_id": str(MISSING_ID),
                                                  "status": "invited"}),
    "campaigns:member_import": Shows("activity", method="POST", needs=Action.IMPORT),
    "campaigns:activity_touches": Shows("activity"),
    "campaigns:registration": Exempt(
        "public registration page of a planned or running activity, found by its code: it "
        "shows that activity's name and dates to anyone (its purpose) and stores a form "
        "touchpoint; tests/campaigns/test_members.py"),
    "GET /api/activities/{id}/members": Shows("activity"),
    "POST /api/activities/{id}/members": Shows("activity", method="POST", needs=Action.EDIT,
                                               body=lambda w: {"contact_id": MISSING_ID,
                                                               "status": "invited"}),
    "GET /api/activities/{id}/links": Shows("activity"),
    "POST /api/activities/{id}/links": Shows("activity", method="POST", needs=Action.EDIT,
                                             body=lambda w: dict(MATRIX_LINK)),
    "DELETE /api/links/{id}": Exempt(
        "the id is a tracking link's, read through its activity's scope first (hidden -> 404 "
        "like a missing one): tests/campaigns/test_member_api.py::"
        "test_deleting_a_link_of_a_hidden_activity_answers_like_a_missing_link"),
    # ---- campaigns: attribution. Settings and runs are company-wide; journeys are read through
    # the deal's or the lead's scope (activities the person cannot see stay anonymous in them:
    # tests/campaigns/test_attribution_runs.py)
    "campaigns:attribution_settings": Exempt(ATTRIBUTION_SETTINGS),
    "campaigns:attribution_run_now": Exempt(ATTRIBUTION_SETTINGS),
    "campaigns:attribution_runs": Exempt(ATTRIBUTION_SETTINGS),
    "campaigns:opportunity_journey": Shows("opportunity"),
    "campaigns:lead_journey": Shows("lead"),
    "GET /api/attribution/settings": Exempt(ATTRIBUTION_SETTINGS),
    "PUT /api/attribution/settings": Exempt(ATTRIBUTION_SETTINGS),
    "POST /api/attribution/runs": Exempt(ATTRIBUTION_SETTINGS),
    "GET /api/attribution/runs/{id}": Exempt(ATTRIBUTION_SETTINGS),
    "GET /api/opportunities/{id}/journey": Shows("opportunity"),
    "GET /api/leads/{id}/journey": Shows("lead"),
}


def checks_of(key: str) -> tuple[Check, ...]:
    value = ROUTES[key]
    return value if isinstance(value, tuple) else (value,)


# ------------------------------------------------------------------------------------------
# People and rows
# ------------------------------------------------------------------------------------------

# Units the matrix places people in (by code), one or more of each kind.
UNITS = {
    "hq": "hq",                               # HQ itself
    "hq_marketing": "hq-marketing",           # HQ departments
    "hq_key_account": "hq-key-account",
    "hq_supervision": "hq-supervision",
    "hq_academy": "hq-academy",
    "region_south": "region-south",           # a region
    "gd": "gd",                               # a province itself
    "gd_key_account": "gd-key-account",       # province departments
    "gd_sales": "gd-sales",
    "gx_sales": "gx-sales",
    "gd_partner": "gd-partner",               # partners
    "zj_partner": "zj-partner",
}


@dataclass(frozen=True)
class Person:
    key: str
    unit: str
    roles: tuple[str, ...]
    superuser: bool = False


# People for the HTTP surfaces: every role at least once, every kind of unit at least once.
PEOPLE = [
    Person("hq-admin", "hq", (Role.ADMINISTRATOR,)),
    Person("hq-marketer", "hq_marketing", (Role.MARKETER,)),
    Person("hq-ka-manager", "hq_key_account", (Role.ACCOUNT_MANAGER,)),
    Person("hq-supervisor", "hq_supervision", (Role.SUPERVISOR,)),
    Person("hq-trainer", "hq_academy", (Role.TRAINER,)),
    Person("south-manager", "region_south", (Role.MANAGER,)),
    Person("south-marketer", "region_south", (Role.MARKETER,)),
    Person("gd-manager", "gd", (Role.MANAGER,)),
    Person("gd-ka-manager", "gd_key_account", (Role.ACCOUNT_MANAGER,)),
    Person("gd-ka-presales", "gd_key_account", (Role.PRESALES,)),
    Person("gd-sales-rep", "gd_sales", (Role.SALES_REP,)),
    Person("gd-sales-pm", "gd_sales", (Role.PROJECT_MANAGER,)),
    Person("gx-sales-rep", "gx_sales", (Role.SALES_REP,)),
    Person("gd-partner-staff", "gd_partner", (Role.PARTNER_STAFF,)),
    Person("gd-partner-boss", "gd_partner", (Role.PARTNER_STAFF, Role.MANAGER)),
    Person("zj-partner-staff", "zj_partner", (Role.PARTNER_STAFF,)),
    Person("gd-superuser", "gd_sales", (Role.SALES_REP,), superuser=True),
]

# Everyone for the selectors (cheap): every role in every unit above, and a superuser.
EVERYONE = [Person(f"all-{unit}-{role}", unit, (role,)) for unit in UNITS for role in Role.values]
EVERYONE.append(Person("all-superuser", "gd_partner", (Role.PARTNER_STAFF,), superuser=True))

# Rows owned around the organisation: key -> (owning unit, partner). Seen from Guangdong
# (gd_*): own unit, sibling department, the province itself, own partner, the parent region,
# a sibling province and its partner (gx), another region and its partner (zj), HQ.
ROWS: dict[str, tuple[str, str | None]] = {
    "hq": ("hq", None),
    "hq-key-account": ("hq-key-account", None),
    "hq-marketing": ("hq-marketing", None),
    "region-south": ("region-south", None),
    "region-east": ("region-east", None),
    "gd": ("gd", None),
    "gd-key-account": ("gd-key-account", None),
    "gd-sales": ("gd-sales", None),
    "gd-sales-with-partner": ("gd-sales", "gd-partner"),
    "gd-partner": ("gd-partner", "gd-partner"),
    "gx-sales": ("gx-sales", None),
    "gx-partner": ("gx-partner", "gx-partner"),
    "zj-sales": ("zj-sales", None),
    "zj-partner": ("zj-partner", "zj-partner"),
}
# And for each person a row they own themselves, in a unit far from theirs.
OWN_ROW_UNIT = "zj-sales"

# Routes about one row are tried row by row (one request each), so on fewer people and rows
# than the lists, which show all rows to all PEOPLE at once. Still: HQ, a region, a province,
# a department, partners, with and without the roles that writes need; rows owned by HQ, the
# region, a sibling department, the own partner, a sibling province, another region's partner,
# the person themselves.
# MARKETLOOP_MATRIX=full tries every person on every row (a few minutes).
FULL = os.environ.get("MARKETLOOP_MATRIX") == "full"
ROW_PEOPLE = [p.key for p in PEOPLE] if FULL else [
    "hq-trainer", "south-manager", "gd-manager", "gd-ka-presales", "gd-partner-staff",
    "zj-partner-staff"]
CORE_ROWS = list(ROWS) if FULL else [
    "hq-key-account", "region-south", "gd-key-account", "gd-sales-with-partner", "gd-partner",
    "gx-sales", "zj-partner"]


def account_name(row: str) -> str:
    return f"mx-acct-{row}-end"


def contact_name(row: str) -> str:
    return f"mx-pers-{row}-end"


def lead_name(row: str) -> str:
    return f"mx-lead-{row}-end"


def opportunity_name(row: str) -> str:
    return f"mx-opp-{row}-end"


def plan_name(row: str) -> str:
    return f"mx-plan-{row}-end"


def activity_name(row: str) -> str:
    return f"mx-act-{row}-end"


# Marketing plans have no partner (their scope_fields): a partner's people see only the plans
# they own themselves.
NO_PARTNER_MODELS = {"plan"}


# Deal-team cases (row -> person -> roles), for with_deal_teams(): people on the teams of deals
# owned far outside their scope; one holds two roles on the same deal (listed once).
DEAL_TEAMS: dict[str, dict[str, tuple[str, ...]]] = {
    "zj-partner": {"gd-ka-presales": (DealRole.PRESALES,)},
    "gx-sales": {"gd-partner-staff": (DealRole.PROJECT_MANAGER,)},
    "hq-key-account": {"zj-partner-staff": (DealRole.ACCOUNT_MANAGER,)},
    "gd-key-account": {"gx-sales-rep": (DealRole.ACCOUNT_MANAGER,),
                       "zj-partner-staff": (DealRole.PRESALES,)},
    "region-east": {"gd-sales-rep": (DealRole.ACCOUNT_MANAGER, DealRole.PROJECT_MANAGER)},
}


@dataclass
class World:
    people: dict[str, User]
    accounts: dict[str, Account]
    contacts: dict[str, Contact]
    industry: Industry
    province: OrgUnit
    units: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)  # one per contact, its scope
    leads: dict[str, Lead] = field(default_factory=dict)  # one per row (an MQL), its scope
    opportunities: dict[str, Opportunity] = field(default_factory=dict)  # one per row
    # A marketing plan per row (owned in the row's unit, by the row's owner or else the plan
    # owner nobody in PEOPLE is), an activity in it owned like the row, and a decided budget
    # request of that activity.
    plans: dict[str, MarketingPlan] = field(default_factory=dict)
    activities: dict[str, Activity] = field(default_factory=dict)
    budget_requests: dict[str, BudgetRequest] = field(default_factory=dict)
    # Deal-team cases: row -> the people on its deal team (with_deal_teams). A deal team shows
    # the deal, never its account: a world with teams answers for opportunity routes only.
    teams: dict[str, set[str]] = field(default_factory=dict)
    _ui: dict[str, Client] = field(default_factory=dict)
    _api: dict[str, ApiClient] = field(default_factory=dict)

    def rows(self) -> list[str]:
        return list(self.accounts)

    def rows_for(self, person: str) -> list[str]:
        """The rows tried one by one for a person: the core rows and their own (in full mode,
        every row)."""
        if FULL:
            return list(self.accounts)
        return [*CORE_ROWS, f"own-{person}"]

    def ids(self, model: str) -> dict[str, int]:
        objects = {"account": self.accounts, "contact": self.contacts,
                   "profile": self.profiles, "lead": self.leads,
                   "opportunity": self.opportunities, "plan": self.plans,
                   "activity": self.activities, "budget_request": self.budget_requests}[model]
        return {row: obj.pk for row, obj in objects.items()}

    def names(self, model: str) -> dict[str, str]:
        # a profile: its contact's name
        # a budget request: its activity's name
        namer = {"account": account_name, "lead": lead_name,
                 "opportunity": opportunity_name, "plan": plan_name,
                 "activity": activity_name, "budget_request": activity_name,
                 }.get(model, contact_name)
        return {row: namer(row) for row in self.accounts}

    def forget_clients(self) -> None:
        """Sessions and tokens live in one test's transaction: new ones for each test."""
        self._ui.clear()
        self._api.clear()

    def ui(self, person: str) -> Client:
        if person not in self._ui:
            client = Client()
            client.force_login(self.people[person],
                               backend="django.contrib.auth.backends.ModelBackend")
            self._ui[person] = client
        return self._ui[person]

    def api(self, person: str) -> ApiClient:
        if person not in self._api:
            self._api[person] = ApiClient(self.people[person])
        return self._api[person]

    # ---- the oracle -----------------------------------------------------------------------

    def _ancestry(self, unit_id: int) -> list[int]:
        chain = []
        current: int | None = unit_id
        while current is not None:
            chain.append(current)
            current = self.units[current][1]
        return chain

    def expected(self, person: str, model: str | None = None) -> set[str]:
        """The rows `person` may see, from the rules in DESIGN.md, with no help from
        marketloop.org.scope: the unit tree is walked here through parent links. `model`:
        the rows' model, where its rows have no partner (NO_PARTNER_MODELS)."""
        user = self.people[person]
        if user.is_superuser:
            return set(self.accounts)
        kind = self.units[user.unit_id][0]
        seen = set()
        for row, account in self.accounts.items():
            if account.owner_id == user.pk:                       # anyone: what they own
                seen.add(row)
            elif kind in {UnitKind.HQ, UnitKind.HQ_DEPARTMENT}:   # HQ: everything
                seen.add(row)
            elif kind == UnitKind.PARTNER:                        # partner: their partner's
                if account.partner_id == user.unit_id and model not in NO_PARTNER_MODELS:
                    seen.add(row)
            else:                                                 # the anchor's subtree
                anchor = user.unit_id
                if kind == UnitKind.PROVINCE_DEPARTMENT:
                    anchor = next(u for u in self._ancestry(user.unit_id)
                                  if self.units[u][0] == UnitKind.PROVINCE)
                if anchor in self._ancestry(account.owner_unit_id):
                    seen.add(row)
        seen |= {row for row, members in self.teams.items() if person in members}
        return seen


def build_world(people: Iterable[Person], base: World | None = None) -> World:
    """The people, one own row per person, a contact at every account, and (unless `base`
    already has them) the shared rows. With `base`, the result holds both."""
    people = list(people)
    units = {u.code: u for u in OrgUnit.objects.all()}
    industry = Industry.objects.get(code="manufacturing")
    users = User.objects.bulk_create([
        User(username=f"mx-{p.key}", display_name=f"mx-user-{p.key}", unit=units[UNITS[p.unit]],
             roles=list(p.roles), is_superuser=p.superuser, is_staff=p.superuser,
             password="!")  # unusable: the matrix logs in with force_login
        for p in people])
    by_key = {p.key: user for p, user in zip(people, users, strict=True)}
    specs: dict[str, tuple[OrgUnit, OrgUnit | None, User | None]] = {}
    if base is None:
        specs = {row: (units[unit], units[partner] if partner else None, None)
                 for row, (unit, partner) in ROWS.items()}
    for key, user in by_key.items():
        specs[f"own-{key}"] = (units[OWN_ROW_UNIT], None, user)
    accounts = Account.objects.bulk_create([
        Account(name=account_name(row), name_grams=name_bigrams(account_name(row)),
                industry=industry, province=unit.province or units["gd"], owner_unit=unit,
                partner=partner, owner=owner)
        for row, (unit, partner, owner) in specs.items()])
    by_row = dict(zip(specs, accounts, strict=True))
    contacts = Contact.objects.bulk_create([
        Contact(name=contact_name(row), email=f"{row}@mx.example", account=account,
                owner_unit_id=account.owner_unit_id, owner_id=account.owner_id,
                partner_id=account.partner_id)
        for row, account in by_row.items()])
    by_contact = dict(zip(by_row, contacts, strict=True))
    # A tracking profile per contact, with the contact's scope (as stitching links them).
    profiles = Profile.objects.bulk_create([
        Profile(contact=contact, account_id=contact.account_id,
                owner_unit_id=contact.owner_unit_id, partner_id=contact.partner_id,
                owner_id=contact.owner_id)
        for contact in contacts])
    by_profile = dict(zip(by_row, profiles, strict=True))
    # An accepted lead per row, owned like its account (as routing hands them out). Accepted,
    # so that the POST checks change no one's rows but the person's own (a disqualified or
    # rejected lead goes back to HQ marketing).
    leads = Lead.objects.bulk_create([
        Lead(name=lead_name(row), profile=by_profile[row], contact=by_contact[row],
             account=account, stage=Stage.SAL, owner_unit_id=account.owner_unit_id,
             partner_id=account.partner_id, owner_id=account.owner_id, tier=account.tier,
             province_id=account.province_id, lead_at=account.created_at,
             mql_at=account.created_at, sal_at=account.created_at)  # for the funnel's lists
        for row, account in by_row.items()])
    by_lead = dict(zip(by_row, leads, strict=True))
    # A deal at every account, owned where the account is, at the open stages in turn.
    opportunities = Opportunity.objects.bulk_create([
        Opportunity(account=account, name=opportunity_name(row), amount=Decimal(100000 + i),
                    amount_cny=Decimal(100000 + i), expected_close=date(2031, 1, 1),
                    stage=OPEN_OPPORTUNITY_STAGES[i % len(OPEN_OPPORTUNITY_STAGES)],
                    owner_unit_id=account.owner_unit_id, partner_id=account.partner_id,
                    owner_id=account.owner_id)
        for i, (row, account) in enumerate(by_row.items())])
    by_opportunity = dict(zip(by_row, opportunities, strict=True))
    by_plan, by_activity, by_request = _campaigns(by_row)
    if base is not None:
        by_key, by_row = {**base.people, **by_key}, {**base.accounts, **by_row}
        by_contact = {**base.contacts, **by_contact}
        by_profile = {**base.profiles, **by_profile}
        by_lead = {**base.leads, **by_lead}
        by_opportunity = {**base.opportunities, **by_opportunity}
        by_plan, by_activity = {**base.plans, **by_plan}, {**base.activities, **by_activity}
        by_request = {**base.budget_requests, **by_request}
    return World(people=by_key, accounts=by_row, contacts=by_contact, industry=industry,
                 province=units["gd"], profiles=by_profile, leads=by_lead,
                 opportunities=by_opportunity, plans=by_plan, activities=by_activity,
                 budget_requests=by_request,
                 units={u.pk: (u.kind, u.parent_id) for u in units.values()})


def _campaigns(by_row: dict[str, Account]) -> tuple[dict[str, MarketingPlan],
                                                    dict[str, Activity],
                                                    dict[str, BudgetRequest]]:
    """A plan, an activity and a decided budget request per row. Plans are one per unit and
    quarter, and many rows share a unit: each row's plan gets a quarter of its own."""
    plan_owner, _ = User.objects.get_or_create(
        username="mx-plan-owner", defaults={"display_name": "mx-plan-owner", "password": "!",
                                            "unit": OrgUnit.objects.get(code="hq")})
    taken = MarketingPlan.objects.count()
    quarters = [(2030 + (taken + i) // 4, (taken + i) % 4 + 1) for i in range(len(by_row))]
    plans = MarketingPlan.objects.bulk_create([
        MarketingPlan(name=plan_name(row), year=year, quarter=quarter,
                      owner_unit_id=account.owner_unit_id,
                      owner_id=account.owner_id or plan_owner.pk, budget=Decimal(100000))
        for (row, account), (year, quarter) in zip(by_row.items(), quarters, strict=True)])
    by_plan = dict(zip(by_row, plans, strict=True))
    activities = Activity.objects.bulk_create([
        Activity(plan=by_plan[row], code=f"mx-act-{row}", name=activity_name(row),
                 kind="salon", level="customer_group", owner_unit_id=account.owner_unit_id,
                 partner_id=account.partner_id, owner_id=account.owner_id,
                 starts_on=date(year, 3 * quarter - 2, 1), ends_on=date(year, 3 * quarter - 2, 1))
        for (row, account), (year, quarter) in zip(by_row.items(), quarters, strict=True)])
    by_activity = dict(zip(by_row, activities, strict=True))
    requests = BudgetRequest.objects.bulk_create([
        BudgetRequest(activity=activity, amount=Decimal(1), reason="mx",
                      status=RequestStatus.REJECTED)
        for activity in activities])
    return by_plan, by_activity, dict(zip(by_row, requests, strict=True))


def with_deal_teams(world: World) -> World:
    """The world with the DEAL_TEAMS people on those deals' teams (for opportunity checks)."""
    DealTeamMember.objects.bulk_create([
        DealTeamMember(opportunity=world.opportunities[row], user=world.people[person],
                       role=role)
        for row, members in DEAL_TEAMS.items() for person, roles in members.items()
        for role in roles])
    return replace(world, teams={row: set(members) for row, members in DEAL_TEAMS.items()})


@contextmanager
def module_transaction(django_db_blocker: Any) -> Iterator[None]:
    """A transaction around a whole test module, rolled back at its end: rows made once for
    the module (the organisation, the matrix) are there in every test, whose own writes roll
    back to a savepoint inside it. Not for modules with transactional_db tests."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
    try:
        yield
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def standard_org() -> None:
    """What tests.conftest's `org` fixture makes (which then finds it all there, quickly)."""
    ensure_reference_data()
    ensure_standard_org()
    for _region, _name, _en, provinces in REGIONS:
        for code, name, name_en in provinces:
            if not OrgUnit.objects.filter(code=f"{code}-partner").exists():
                add_partner(province_code=code, name=f"{name}伙伴科技有限公司",
                            name_en=f"{name_en} Partner Ltd")


# ------------------------------------------------------------------------------------------
# Reading what a surface showed
# ------------------------------------------------------------------------------------------

NEXT_LINK = re.compile(r"<a\b[^>]*\brel=\"next\"[^>]*>")
HREF = re.compile(r"\bhref=\"([^\"]+)\"")


def names_in(text: str, names: dict[str, str]) -> set[str]:
    return {row for row, name in names.items() if name in text}


def csv_cells(content: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    return "\n".join("\t".join(row) for row in csv.reader(io.StringIO(text)))


def xlsx_cells(content: bytes) -> str:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(content), read_only=True)
    return "\n".join("\t".join("" if v is None else str(v) for v in row)
                     for sheet in book.worksheets for row in sheet.iter_rows(values_only=True))


def body_of(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def html_pages(client: Client, url: str, limit: int = 50) -> tuple[int, str]:
    """GET a page and every rel="next" page after it; the first status and all the HTML."""
    from html import unescape

    response = client.get(url)
    status, text = response.status_code, body_of(response).decode()
    pages = [text]
    while status == 200 and len(pages) < limit:
        link = NEXT_LINK.search(pages[-1])
        href = HREF.search(link.group(0)) if link else None
        if not href:
            break
        following = client.get(unescape(href.group(1)))
        assert following.status_code == 200, following.status_code
        pages.append(body_of(following).decode())
    return status, "\n".join(pages)


def url_for(key: str, check: Shows | Lists, pk: int | None = None) -> tuple[str, str]:
    """(method, url) for a route key: a Django URL name or "METHOD /api/path"."""
    if " " in key:
        method, template = key.split(" ", 1)
        path = template.replace("{id}", str(pk)) if "{id}" in template else template
        return method, path
    method = check.method if isinstance(check, Shows) else "GET"
    if isinstance(check, Shows) and check.via == "path":
        return method, reverse(key, args=[pk])
    return method, reverse(key)
