"""SCIM 2.0 endpoints (RFC 7644). Thin: authenticate, parse, call provision/groups, render."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.db.models import Prefetch
from django.db.models.functions import Lower
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from accounts.models import User
from core.metrics import SCIM_REQUESTS
from provisioning.scim import discovery
from provisioning.scim.authentication import (
    ScimBearerAuthentication,
    ScimOAuthAuthentication,
    ScimPrincipal,
)
from provisioning.scim.errors import ResourceNotFound
from provisioning.scim.filters import AttributeSpec, filter_to_q, parse_attribute_list, parse_filter
from provisioning.scim.groups import (
    group_to_scim,
    parse_group,
    scim_group_add_members,
    scim_group_create,
    scim_group_delete,
    scim_group_get,
    scim_group_remove_members,
    scim_group_rename,
    scim_group_set_members,
    scim_groups,
)
from provisioning.scim.http import (
    ScimJSONParser,
    ScimJSONRenderer,
    list_response,
    paging,
    scim_exception_handler,
    scim_response,
    select_attributes,
)
from provisioning.scim.limits import ScimTokenRateLimit, scim_authentication_failed
from provisioning.scim.patch import apply_user_patch, group_changes
from provisioning.scim.provision import (
    scim_user_apply,
    scim_user_create,
    scim_user_delete,
    scim_user_get,
    scim_users,
)
from provisioning.scim.schemas import ENTERPRISE_SCHEMA
from provisioning.scim.users import parse_user, user_to_scim


def _lower(value: object) -> str:
    return str(value).lower()


USER_FILTER_ATTRIBUTES = {
    "id": AttributeSpec(field="scim_id", type="reference", case_exact=True, to_python=uuid.UUID),
    # Compared on LOWER(username): the (company, LOWER(username)) unique index serves the lookup.
    "username": AttributeSpec(field="username_key", case_exact=True, to_python=_lower),
    "externalid": AttributeSpec(field="external_id", case_exact=True),
    "emails.value": AttributeSpec(field="email", case_exact=True, to_python=_lower),
    "emails.type": AttributeSpec(constant="work"),
    "emails.primary": AttributeSpec(type="boolean", constant=True),
    "name.givenname": AttributeSpec(field="first_name"),
    "name.familyname": AttributeSpec(field="last_name"),
    "active": AttributeSpec(field="is_active", type="boolean"),
    "usertype": AttributeSpec(field="role", case_exact=True, to_python=_lower),
    "meta.created": AttributeSpec(field="date_joined", type="datetime"),
    "meta.lastmodified": AttributeSpec(field="updated_at", type="datetime"),
    f"{ENTERPRISE_SCHEMA.lower()}:division": AttributeSpec(field="division"),
}

GROUP_FILTER_ATTRIBUTES = {
    "id": AttributeSpec(field="scim_id", type="reference", case_exact=True, to_python=uuid.UUID),
    "displayname": AttributeSpec(field="name"),
    "externalid": AttributeSpec(field="external_id", case_exact=True),
    "members.value": AttributeSpec(
        field="members__scim_id", type="reference", case_exact=True, to_python=uuid.UUID
    ),
    "meta.created": AttributeSpec(field="created_at", type="datetime"),
    "meta.lastmodified": AttributeSpec(field="updated_at", type="datetime"),
}


class _AlwaysScimJSON(BaseContentNegotiation):
    """Okta asks for application/json, Entra for application/scim+json; both get SCIM JSON."""

    def select_parser(self, request, parsers):
        return (
            parsers[0]
            if request.content_type.split(";")[0].strip()
            in ("", "application/json", "application/scim+json")
            and parsers
            else None
        )

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ScimView(APIView):
    authentication_classes = [ScimBearerAuthentication, ScimOAuthAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ScimTokenRateLimit]
    parser_classes = [ScimJSONParser, JSONParser]
    renderer_classes = [ScimJSONRenderer]
    content_negotiation_class = _AlwaysScimJSON

    def get_exception_handler(self):
        return scim_exception_handler

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            scim_authentication_failed(request)  # a 429 past RATE_LIMIT_SCIM_AUTH
        super().permission_denied(request, message=message, code=code)

    def finalize_response(self, request, response, *args, **kwargs):
        SCIM_REQUESTS.labels(request.method, str(response.status_code)).inc()
        return super().finalize_response(request, response, *args, **kwargs)

    @property
    def principal(self) -> ScimPrincipal:
        return self.request.user

    @property
    def base_url(self) -> str:
        return settings.BASE_URL


# --- Users -----------------------------------------------------------------------------------


class UsersView(ScimView):
    def get(self, request):
        query = request.query_params
        users = scim_users(self.principal).annotate(username_key=Lower("username"))
        if query.get("filter"):
            # Every User filter attribute is a column of the user row (no to-many join), so no
            # DISTINCT is needed: it would only make the database sort whole rows.
            users = users.filter(filter_to_q(parse_filter(query["filter"]), USER_FILTER_ATTRIBUTES))
        start, count = paging(query)
        total = users.count()
        page = list(users.order_by("id")[start - 1 : start - 1 + count]) if count else []
        resources = [
            select_attributes(user_to_scim(user, base_url=self.base_url), query) for user in page
        ]
        return scim_response(list_response(resources, total=total, start=start))

    def post(self, request):
        user = scim_user_create(principal=self.principal, data=parse_user(request.data))
        resource = user_to_scim(_fresh(user), base_url=self.base_url)
        return scim_response(
            resource, status=201, headers={"Location": resource["meta"]["location"]}
        )


class UserView(ScimView):
    def _user(self, scim_id: str) -> User:
        user = scim_user_get(self.principal, scim_id)
        if user is None:
            raise ResourceNotFound(f"User {scim_id} not found.")
        return user

    def get(self, request, scim_id: str):
        user = self._user(scim_id)
        return scim_response(
            select_attributes(user_to_scim(user, base_url=self.base_url), request.query_params)
        )

    def put(self, request, scim_id: str):
        with transaction.atomic():
            user = scim_user_apply(
                principal=self.principal, user=self._user(scim_id), data=parse_user(request.data)
            )
        return scim_response(user_to_scim(_fresh(user), base_url=self.base_url))

    def patch(self, request, scim_id: str):
        with transaction.atomic():
            user = self._user(scim_id)
            current = user_to_scim(user, base_url=self.base_url)
            data = parse_user(apply_user_patch(current, request.data))
            user = scim_user_apply(principal=self.principal, user=user, data=data)
        return scim_response(user_to_scim(_fresh(user), base_url=self.base_url))

    def delete(self, request, scim_id: str):
        scim_user_delete(principal=self.principal, user=self._user(scim_id))
        return scim_response(None, status=204)


def _fresh(user: User) -> User:
    return User.objects.select_related("team").get(pk=user.pk)


# --- Groups ----------------------------------------------------------------------------------


class GroupsView(ScimView):
    def get(self, request):
        query = request.query_params
        groups = scim_groups(self.principal)
        if query.get("filter"):
            groups = groups.filter(
                filter_to_q(parse_filter(query["filter"]), GROUP_FILTER_ATTRIBUTES)
            ).distinct()
        start, count = paging(query)
        total = groups.count()
        with_members = _members_wanted(query)
        page = groups.order_by("id")[start - 1 : start - 1 + count] if count else []
        if with_members and count:
            page = page.prefetch_related(_active_members(self.principal))
        resources = [
            select_attributes(
                group_to_scim(
                    team,
                    base_url=self.base_url,
                    members=list(team.members.all()) if with_members else None,
                ),
                query,
            )
            for team in page
        ]
        return scim_response(list_response(resources, total=total, start=start))

    def post(self, request):
        name, members = parse_group(request.data)
        team = scim_group_create(principal=self.principal, name=name, members=members)
        resource = self._render(team, request.query_params)
        return scim_response(
            resource, status=201, headers={"Location": resource["meta"]["location"]}
        )

    def _render(self, team, query) -> dict:
        members = (
            list(scim_users(self.principal).filter(team=team).order_by("id"))
            if _members_wanted(query)
            else None
        )
        return select_attributes(
            group_to_scim(team, base_url=self.base_url, members=members), query
        )


class GroupView(GroupsView):
    def _team(self, scim_id: str):
        team = scim_group_get(self.principal, scim_id)
        if team is None:
            raise ResourceNotFound(f"Group {scim_id} not found.")
        return team

    def get(self, request, scim_id: str):
        return scim_response(self._render(self._team(scim_id), request.query_params))

    def put(self, request, scim_id: str):
        name, members = parse_group(request.data)
        with transaction.atomic():
            team = scim_group_rename(principal=self.principal, team=self._team(scim_id), name=name)
            if members is not None:
                scim_group_set_members(principal=self.principal, team=team, ids=members)
        return scim_response(self._render(team, request.query_params))

    def patch(self, request, scim_id: str):
        with transaction.atomic():
            team = self._team(scim_id)
            for change in group_changes(request.data):
                if change.kind == "rename":
                    team = scim_group_rename(principal=self.principal, team=team, name=change.name)
                elif change.kind == "add_members":
                    scim_group_add_members(
                        principal=self.principal, team=team, ids=list(change.ids)
                    )
                elif change.kind == "remove_members":
                    ids = list(change.ids) if change.ids is not None else None
                    scim_group_remove_members(principal=self.principal, team=team, ids=ids)
                else:
                    scim_group_set_members(
                        principal=self.principal, team=team, ids=list(change.ids)
                    )
        # Okta and Entra accept 204 for a group PATCH; returning it spares rendering every member.
        return scim_response(None, status=204)

    def delete(self, request, scim_id: str):
        scim_group_delete(principal=self.principal, team=self._team(scim_id))
        return scim_response(None, status=204)


def _members_wanted(query) -> bool:
    excluded = parse_attribute_list(query.get("excludedAttributes"))
    wanted = parse_attribute_list(query.get("attributes"))
    if "members" in excluded:
        return False
    return not wanted or any(name == "members" or name.startswith("members.") for name in wanted)


def _active_members(principal: ScimPrincipal) -> Prefetch:
    return Prefetch("members", queryset=scim_users(principal).order_by("id"))


# --- discovery and the rest ------------------------------------------------------------------


class ServiceProviderConfigView(ScimView):
    def get(self, request):
        return scim_response(discovery.service_provider_config(self.base_url))


class ResourceTypesView(ScimView):
    def get(self, request, name: str | None = None):
        if name is None:
            types = discovery.resource_types(self.base_url)
            return scim_response(list_response(types, total=len(types), start=1))
        found = next((t for t in discovery.resource_types(self.base_url) if t["id"] == name), None)
        if found is None:
            raise ResourceNotFound(f"ResourceType {name} not found.")
        return scim_response(found)


class SchemasView(ScimView):
    def get(self, request, name: str | None = None):
        schemas = discovery.schemas(self.base_url)
        if name is None:
            return scim_response(list_response(schemas, total=len(schemas), start=1))
        found = next((s for s in schemas if s["id"] == name), None)
        if found is None:
            raise ResourceNotFound(f"Schema {name} not found.")
        return scim_response(found)


class NotFoundView(ScimView):
    """Anything else under /scim/v2/: a SCIM 404 (after authentication, so the URL space says
    nothing to an anonymous caller)."""

    def _not_found(self, request, *args, **kwargs):
        raise ResourceNotFound("No such SCIM endpoint.")

    get = post = put = patch = delete = _not_found
