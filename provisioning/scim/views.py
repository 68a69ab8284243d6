"""SCIM 2.0 endpoints (RFC 7644). Thin: authenticate, parse, call a selector or one SCIM write
(provision.py, groups.py), render."""

from __future__ import annotations

from django.conf import settings
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from accounts.models import Team, User
from core.metrics import SCIM_REQUESTS
from provisioning.scim import discovery
from provisioning.scim.authentication import (
    ScimBearerAuthentication,
    ScimOAuthAuthentication,
    ScimPrincipal,
)
from provisioning.scim.body import ScimJSONParser, check_framing
from provisioning.scim.errors import ResourceNotFound
from provisioning.scim.filters import parse_attribute_list, parse_filter
from provisioning.scim.groups import (
    GROUP_TAKEN,
    group_to_scim,
    parse_group,
    scim_group_create,
    scim_group_delete,
    scim_group_patch,
    scim_group_replace,
)
from provisioning.scim.http import (
    ScimJSONRenderer,
    list_response,
    paging,
    scim_exception_handler,
    scim_response,
    select_attributes,
)
from provisioning.scim.limits import ScimTokenRateLimit, scim_authentication_failed
from provisioning.scim.provision import (
    USER_TAKEN,
    scim_user_apply,
    scim_user_create,
    scim_user_delete,
    scim_user_patch,
)
from provisioning.scim.users import parse_user, user_to_scim
from provisioning.selectors import (
    scim_group_find,
    scim_group_members,
    scim_group_page,
    scim_user_find,
    scim_user_page,
    scim_user_reload,
)


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
    # What the SCIM exception handler says when a service raises Conflict (see http.py).
    conflict_detail: str | None = None
    authentication_classes = [ScimBearerAuthentication, ScimOAuthAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ScimTokenRateLimit]
    parser_classes = [ScimJSONParser]  # application/json too: see _AlwaysScimJSON
    renderer_classes = [ScimJSONRenderer]
    content_negotiation_class = _AlwaysScimJSON

    def get_exception_handler(self):
        return scim_exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, permission, rate limit
        check_framing(request)

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
    conflict_detail = USER_TAKEN

    def get(self, request):
        query = request.query_params
        where = parse_filter(query["filter"]) if query.get("filter") else None
        start, count = paging(query)
        page = scim_user_page(company=self.principal.company, where=where, start=start, count=count)
        resources = [
            select_attributes(user_to_scim(user, base_url=self.base_url), query)
            for user in page.items
        ]
        return scim_response(list_response(resources, total=page.total, start=start))

    def post(self, request):
        user = scim_user_create(principal=self.principal, data=parse_user(request.data))
        resource = user_to_scim(scim_user_reload(user=user), base_url=self.base_url)
        return scim_response(
            resource, status=201, headers={"Location": resource["meta"]["location"]}
        )


class UserView(ScimView):
    conflict_detail = USER_TAKEN

    def _user(self, scim_id: str) -> User:
        user = scim_user_find(company=self.principal.company, scim_id=scim_id)
        if user is None:
            raise ResourceNotFound(f"User {scim_id} not found.")
        return user

    def get(self, request, scim_id: str):
        user = self._user(scim_id)
        return scim_response(
            select_attributes(user_to_scim(user, base_url=self.base_url), request.query_params)
        )

    def put(self, request, scim_id: str):
        user = scim_user_apply(
            principal=self.principal, user=self._user(scim_id), data=parse_user(request.data)
        )
        return scim_response(user_to_scim(scim_user_reload(user=user), base_url=self.base_url))

    def patch(self, request, scim_id: str):
        user = scim_user_patch(
            principal=self.principal,
            user=self._user(scim_id),
            body=request.data,
            base_url=self.base_url,
        )
        return scim_response(user_to_scim(scim_user_reload(user=user), base_url=self.base_url))

    def delete(self, request, scim_id: str):
        scim_user_delete(principal=self.principal, user=self._user(scim_id))
        return scim_response(None, status=204)


# --- Groups ----------------------------------------------------------------------------------


class GroupsView(ScimView):
    conflict_detail = GROUP_TAKEN

    def get(self, request):
        query = request.query_params
        where = parse_filter(query["filter"]) if query.get("filter") else None
        start, count = paging(query)
        with_members = _members_wanted(query)
        page = scim_group_page(
            company=self.principal.company,
            where=where,
            start=start,
            count=count,
            with_members=with_members,
        )
        resources = [
            select_attributes(
                group_to_scim(
                    team,
                    base_url=self.base_url,
                    members=list(team.members.all()) if with_members else None,
                ),
                query,
            )
            for team in page.items
        ]
        return scim_response(list_response(resources, total=page.total, start=start))

    def post(self, request):
        team = scim_group_create(principal=self.principal, data=parse_group(request.data))
        resource = self._render(team, request.query_params)
        return scim_response(
            resource, status=201, headers={"Location": resource["meta"]["location"]}
        )

    def _render(self, team: Team, query) -> dict:
        members = (
            list(scim_group_members(company=self.principal.company, team=team))
            if _members_wanted(query)
            else None
        )
        return select_attributes(
            group_to_scim(team, base_url=self.base_url, members=members), query
        )


class GroupView(GroupsView):
    def _team(self, scim_id: str) -> Team:
        team = scim_group_find(company=self.principal.company, scim_id=scim_id)
        if team is None:
            raise ResourceNotFound(f"Group {scim_id} not found.")
        return team

    def get(self, request, scim_id: str):
        return scim_response(self._render(self._team(scim_id), request.query_params))

    def put(self, request, scim_id: str):
        team = scim_group_replace(
            principal=self.principal, team=self._team(scim_id), data=parse_group(request.data)
        )
        return scim_response(self._render(team, request.query_params))

    def patch(self, request, scim_id: str):
        scim_group_patch(principal=self.principal, team=self._team(scim_id), body=request.data)
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
