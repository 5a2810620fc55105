from django.urls import path

from marketloop.tracking import demo_views, email_views, hotline, http, views

app_name = "tracking"

urlpatterns = [
    path(f"v1/{kind}", http.endpoint(kind), name=f"v1_{kind}")
    for kind in ("batch", "identify", "track", "page", "screen", "group", "alias")
]
urlpatterns += [
    path("v1/hotline/calls", hotline.calls_webhook, name="hotline_calls"),
    path("t/o/<str:token>.gif", email_views.email_open, name="email_open"),
    path("t/c/<str:token>", email_views.email_click, name="email_click"),
    path("t/demo/", demo_views.demo_site, name="demo_site"),
]
urlpatterns += [
    path("contacts/<int:pk>/touchpoints/", views.contact_touchpoints,
         name="contact_touchpoints"),
    path("accounts/<int:pk>/touchpoints/", views.account_touchpoints,
         name="account_touchpoints"),
    path("profiles/<int:pk>/", views.profile_detail, name="profile_detail"),
    path("profiles/<int:pk>/touchpoints/", views.profile_touchpoints,
         name="profile_touchpoints"),
    path("settings/sources/", views.source_list, name="source_list"),
    path("settings/sources/new/", views.source_create, name="source_create"),
    path("settings/sources/<int:pk>/", views.source_detail, name="source_detail"),
    path("settings/sources/<int:pk>/edit/", views.source_edit, name="source_edit"),
    path("settings/sources/<int:pk>/rotate/", views.source_rotate, name="source_rotate"),
]
