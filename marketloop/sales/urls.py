from django.urls import path

from marketloop.sales import views

app_name = "sales"
urlpatterns = [
    path("opportunities/", views.opportunity_list, name="opportunity_list"),
    path("opportunities/kanban/", views.kanban, name="kanban"),
    path("opportunities/new/", views.opportunity_create, name="opportunity_create"),
    path("opportunities/<int:pk>/", views.opportunity_detail, name="opportunity_detail"),
    path("opportunities/<int:pk>/edit/", views.opportunity_edit, name="opportunity_edit"),
    path("opportunities/<int:pk>/stage/", views.opportunity_stage, name="opportunity_stage"),
    path("opportunities/<int:pk>/team/", views.team_add, name="team_add"),
    path("opportunities/<int:pk>/team/remove/", views.team_remove, name="team_remove"),
    path("accounts/<int:pk>/opportunities/", views.account_opportunities,
         name="account_opportunities"),
    path("settings/sales/", views.sales_settings, name="settings"),
]
