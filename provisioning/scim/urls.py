from __future__ import annotations

from django.urls import re_path

from provisioning.scim import views

# Okta and Entra differ on trailing slashes; both forms are served.
urlpatterns = [
    re_path(r"^\.search/?$", views.RootSearchView.as_view(), name="scim-search"),
    re_path(r"^Users/?$", views.UsersView.as_view(), name="scim-users"),
    re_path(r"^Users/\.search/?$", views.UsersSearchView.as_view(), name="scim-users-search"),
    re_path(r"^Users/(?P<scim_id>[^/]+)/?$", views.UserView.as_view(), name="scim-user"),
    re_path(r"^Groups/?$", views.GroupsView.as_view(), name="scim-groups"),
    re_path(r"^Groups/\.search/?$", views.GroupsSearchView.as_view(), name="scim-groups-search"),
    re_path(r"^Groups/(?P<scim_id>[^/]+)/?$", views.GroupView.as_view(), name="scim-group"),
    re_path(
        r"^ServiceProviderConfig/?$", views.ServiceProviderConfigView.as_view(), name="scim-spc"
    ),
    re_path(r"^ResourceTypes/?$", views.ResourceTypesView.as_view(), name="scim-resource-types"),
    re_path(
        r"^ResourceTypes/(?P<name>[^/]+)/?$",
        views.ResourceTypesView.as_view(),
        name="scim-resource-type",
    ),
    re_path(r"^Schemas/?$", views.SchemasView.as_view(), name="scim-schemas"),
    re_path(r"^Schemas/(?P<name>[^/]+)/?$", views.SchemasView.as_view(), name="scim-schema"),
    re_path(r"^.*$", views.NotFoundView.as_view(), name="scim-not-found"),
]
