from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import include, path

from marketloop.api import api

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("marketloop.org.urls")),
    path("", include("marketloop.crm.urls")),
    path("data/", include("marketloop.crm.data_urls")),
    path("api/", api.urls),
    path("", include("marketloop.tracking.urls")),
    path("", include("marketloop.scoring.urls")),
    path("", include("marketloop.leads.urls")),
    path("", include("marketloop.sales.urls")),
    path("", include("marketloop.campaigns.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("healthz", lambda request: HttpResponse("ok", content_type="text/plain")),
]
