from django.urls import path

from marketloop.scoring import views

app_name = "scoring"
urlpatterns = [
    path("settings/scoring/", views.model, name="model"),
    path("settings/scoring/edit/", views.model_edit, name="model_edit"),
    path("settings/scoring/fit-rules/new/", views.fit_rule_edit, name="fit_rule_create"),
    path("settings/scoring/fit-rules/<int:pk>/", views.fit_rule_edit, name="fit_rule_edit"),
    path("settings/scoring/fit-rules/<int:pk>/delete/", views.fit_rule_delete,
         name="fit_rule_delete"),
    path("settings/scoring/engagement-rules/new/", views.engagement_rule_edit,
         name="engagement_rule_create"),
    path("settings/scoring/engagement-rules/<int:pk>/", views.engagement_rule_edit,
         name="engagement_rule_edit"),
    path("settings/scoring/engagement-rules/<int:pk>/delete/", views.engagement_rule_delete,
         name="engagement_rule_delete"),
    path("settings/scoring/rescore/", views.rescore, name="rescore"),
    path("settings/scoring/runs/", views.rescore_runs, name="rescore_runs"),
    path("profiles/<int:pk>/score/", views.profile_score, name="profile_score"),
    path("contacts/<int:pk>/score/", views.contact_score, name="contact_score"),
    path("accounts/<int:pk>/score/", views.account_score, name="account_score"),
]
