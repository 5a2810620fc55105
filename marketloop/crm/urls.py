from django.urls import path

from marketloop.crm import views

app_name = "crm"
urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", views.account_list, name="account_list"),
    path("accounts/new/", views.account_create, name="account_create"),
    path("accounts/<int:pk>/", views.account_detail, name="account_detail"),
    path("accounts/<int:pk>/edit/", views.account_edit, name="account_edit"),
    path("contacts/", views.contact_list, name="contact_list"),
    path("contacts/new/", views.contact_create, name="contact_create"),
    path("contacts/<int:pk>/", views.contact_detail, name="contact_detail"),
    path("contacts/<int:pk>/edit/", views.contact_edit, name="contact_edit"),
    path("contacts/<int:pk>/consent/", views.contact_consent, name="contact_consent"),
    path("settings/tier-rules/", views.tier_rules, name="tier_rules"),
    path("settings/tier-rules/new/", views.tier_rule_edit, name="tier_rule_create"),
    path("settings/tier-rules/runs/", views.reroute_runs, name="reroute_runs"),
    path("settings/tier-rules/<int:pk>/", views.tier_rule_edit, name="tier_rule_edit"),
    path("settings/tier-rules/<int:pk>/delete/", views.tier_rule_delete,
         name="tier_rule_delete"),
]
