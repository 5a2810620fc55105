from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path

from marketloop.api import api

urlpatterns = [
    path("", include("marketloop.org.urls")),
    path("", include("marketloop.crm.urls")),
    path("data/", include("marketloop.crm.data_urls")),
    path("api/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("healthz", lambda request: HttpResponse("ok", content_type="text/plain")),
]
