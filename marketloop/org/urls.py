from django.urls import path

from marketloop.org import views

app_name = "org"
urlpatterns = [
    path("org/units/", views.unit_list, name="unit_list"),
    path("org/tokens/", views.tokens, name="tokens"),
    path("org/tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
]
