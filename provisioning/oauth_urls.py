from __future__ import annotations

from django.urls import path
from oauth2_provider import views as oauth_views

from provisioning.oauth import ScimAuthorizationView
from provisioning.oauth_introspection import OwnTokenIntrospectionView

urlpatterns = [
    path("authorize/", ScimAuthorizationView.as_view(), name="oauth-authorize"),
    path("token/", oauth_views.TokenView.as_view(), name="oauth-token"),
    path("revoke/", oauth_views.RevokeTokenView.as_view(), name="oauth-revoke"),
    path("introspect/", OwnTokenIntrospectionView.as_view(), name="oauth-introspect"),
]
