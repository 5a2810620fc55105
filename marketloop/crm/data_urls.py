from django.urls import path

from marketloop.crm import data_views as views

app_name = "data"
urlpatterns = [
    path("imports/", views.import_list, name="import_list"),
    path("imports/new/", views.import_upload, name="import_upload"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("imports/<int:pk>/progress/", views.import_progress, name="import_progress"),
    path("imports/<int:pk>/confirm/", views.import_confirm, name="import_confirm"),
    path("imports/<int:pk>/cancel/", views.import_cancel, name="import_cancel"),
    path("imports/<int:pk>/sheet/", views.import_sheet, name="import_sheet"),
    path("imports/<int:pk>/errors.csv", views.import_errors, name="import_errors"),
    path("accounts/export/", views.account_export, name="account_export"),
    path("contacts/export/", views.contact_export, name="contact_export"),
]
