from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from accounts import api as accounts_api
from connections import dev_idp, setup_views
from connections import views as sso_views
from core.metrics import metrics_view

admin.site.site_header = "SSO connection manager"
admin.site.site_title = "SSO admin"

urlpatterns = [
    path("", sso_views.home, name="home"),
    path("favicon.ico", sso_views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("sso/", include("connections.urls")),
    path("scim/v2/", include("provisioning.scim.urls")),
    path("oauth/", include("provisioning.oauth_urls")),
    path("api/me/", accounts_api.MeView.as_view(), name="api-me"),
    # Self-serve setup through a link (connections.setup_views); no account needed.
    path("setup/", setup_views.setup_page, name="setup-page"),
    path("setup/test/", setup_views.setup_test, name="setup-test"),
    path("setup/activate/", setup_views.setup_activate, name="setup-activate"),
    path("setup/<str:token>/", setup_views.setup_open, name="setup-open"),
    path("dev-idp/sso/", dev_idp.sso, name="dev-idp-sso"),  # 404 unless DJANGO_DEBUG
    path("metrics", metrics_view, name="metrics"),  # 404 unless METRICS_TOKEN
    # /healthz and /readyz: core.health.HealthCheckMiddleware, ahead of every other middleware
]
