from django.urls import path

from marketloop.org import views

app_name = "org"
urlpatterns = [
    path("org/units/", views.unit_list, name="unit_list"),
    path("org/tokens/", views.tokens, name="tokens"),
    path("org/tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("notifications/", views.notification_list, name="notification_list"),
    path("notifications/<int:pk>/open/", views.notification_open, name="notification_open"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification_read"),
    path("notifications/read-all/", views.notification_read_all,
         name="notification_read_all"),
]
