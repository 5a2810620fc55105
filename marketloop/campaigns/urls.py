from django.urls import path

from marketloop.campaigns import (
    member_views,  # tracking links, members, registrations, touches
    report_views,  # dashboard, activity results
    views,  # plans, activities, budget
)
from marketloop.campaigns.attribution import views as attribution_views

app_name = "campaigns"

urlpatterns = [
    # plans, activities, budget (views.py)
    path("campaigns/plans/", views.plan_list, name="plan_list"),
    path("campaigns/plans/new/", views.plan_create, name="plan_create"),
    path("campaigns/plans/<int:pk>/", views.plan_detail, name="plan_detail"),
    path("campaigns/plans/<int:pk>/edit/", views.plan_edit, name="plan_edit"),
    path("campaigns/activities/", views.activity_list, name="activity_list"),
    path("campaigns/activities/new/", views.activity_create, name="activity_create"),
    path("campaigns/activities/<int:pk>/", views.activity_detail, name="activity_detail"),
    path("campaigns/activities/<int:pk>/edit/", views.activity_edit, name="activity_edit"),
    path("campaigns/activities/<int:pk>/status/", views.activity_status,
         name="activity_status"),
    path("campaigns/activities/<int:pk>/budget/request/", views.budget_request,
         name="budget_request"),
    path("campaigns/activities/<int:pk>/budget/decide/", views.budget_decide,
         name="budget_decide"),
    path("campaigns/activities/<int:pk>/spend/", views.spend_create, name="spend_create"),
    path("campaigns/activities/<int:pk>/spend/files/<int:attachment_id>/",
         views.spend_attachment, name="spend_attachment"),
    # tracking links, members, registrations, touches (member_views.py)
    path("campaigns/activities/<int:pk>/links/", member_views.activity_links,
         name="activity_links"),
    path("campaigns/activities/<int:pk>/links/delete/", member_views.link_delete,
         name="link_delete"),
    path("campaigns/activities/<int:pk>/members/", member_views.activity_members,
         name="activity_members"),
    path("campaigns/activities/<int:pk>/members/add/", member_views.member_add,
         name="member_add"),
    path("campaigns/activities/<int:pk>/members/import/", member_views.member_import,
         name="member_import"),
    path("campaigns/activities/<int:pk>/touches/", member_views.activity_touches,
         name="activity_touches"),
    path("r/<slug:code>/", member_views.registration, name="registration"),
    # dashboard and activity results (report_views.py)
    path("campaigns/dashboard/", report_views.dashboard, name="dashboard"),
    path("campaigns/dashboard/export/", report_views.dashboard_export, name="dashboard_export"),
    path("campaigns/activities/<int:pk>/results/", report_views.activity_results,
         name="activity_results"),
    # attribution settings, runs, journeys (attribution/views.py)
    path("campaigns/attribution/", attribution_views.settings_page,
         name="attribution_settings"),
    path("campaigns/attribution/run/", attribution_views.run_now, name="attribution_run_now"),
    path("campaigns/attribution/runs/", attribution_views.runs, name="attribution_runs"),
    path("campaigns/journeys/opportunity/<int:pk>/", attribution_views.opportunity_journey,
         name="opportunity_journey"),
    path("campaigns/journeys/lead/<int:pk>/", attribution_views.lead_journey,
         name="lead_journey"),
]
