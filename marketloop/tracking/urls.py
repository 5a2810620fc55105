from django.urls import path

from marketloop.tracking import http

app_name = "tracking"

urlpatterns = [
    path(f"v1/{kind}", http.endpoint(kind), name=f"v1_{kind}")
    for kind in ("batch", "identify", "track", "page", "screen", "group", "alias")
]
