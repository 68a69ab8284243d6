from __future__ import annotations

from django.urls import path

from connections import views

urlpatterns = [
    path("", views.sign_in, name="sso-start"),
    path("logout/", views.sign_out, name="sso-logout"),
    path("<str:name>/metadata/", views.metadata, name="sso-metadata"),
    path("<str:name>/login/", views.login, name="sso-login"),
    path("<str:name>/acs/", views.acs, name="sso-acs"),
    path("<str:name>/finish/", views.finish, name="sso-finish"),
    path("<str:name>/slo/", views.slo, name="sso-slo"),
]
