from django.urls import path

from marketloop.leads import funnel_views, views

app_name = "leads"
urlpatterns: list = [
    path("funnel/", funnel_views.funnel, name="funnel"),
    path("funnel/leads/", funnel_views.funnel_leads, name="funnel_leads"),
    path("funnel/trend/", funnel_views.funnel_trend, name="funnel_trend"),
    # lifecycle, routing and the hand-off (leads.views)
    path("leads/", views.lead_list, name="lead_list"),
    path("leads/triage/", views.triage, name="triage"),
    path("leads/handoff/", views.handoff, name="handoff"),
    path("leads/policies/", views.policies, name="policies"),
    path("leads/<int:pk>/", views.lead_detail, name="lead_detail"),
    path("leads/<int:pk>/accept/", views.lead_accept, name="lead_accept"),
    path("leads/<int:pk>/reject/", views.lead_reject, name="lead_reject"),
    path("leads/<int:pk>/qualify/", views.lead_qualify, name="lead_qualify"),
    path("leads/<int:pk>/disqualify/", views.lead_disqualify, name="lead_disqualify"),
    path("leads/<int:pk>/reassign/", views.lead_reassign, name="lead_reassign"),
    path("leads/<int:pk>/triage/account/", views.triage_link, name="triage_link"),
    path("leads/<int:pk>/triage/assign/", views.triage_assign, name="triage_assign"),
    path("profiles/<int:pk>/lead/", views.profile_lead, name="profile_lead"),
]
