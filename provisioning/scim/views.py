"""SCIM 2.0 endpoints (RFC 7644). Thin: authenticate, parse, call a selector or one SCIM write
(provision.py, groups.py), render."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
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
from provisioning.scim.errors import InvalidValue, ResourceNotFound
from provisioning.scim.filters import SortError
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
    scim_exception_handler,
    scim_response,
)
from provisioning.scim.limits import ScimTokenRateLimit, scim_authentication_failed
from provisioning.scim.listing import ListQuery, list_query_from_params, list_query_from_search
from provisioning.scim.provision import (
    USER_TAKEN,
    scim_user_apply,
    scim_user_create,
    scim_user_delete,
    scim_user_patch,
)
from provisioning.scim.selection import AttributeSelection
from provisioning.scim.users import parse_user, user_to_scim
from provisioning.scim.versions import check_if_match, matches
from provisioning.selectors import (
    GROUP_FILTER_ATTRIBUTES,
    USER_FILTER_ATTRIBUTES,
    scim_group_find,
    scim_group_lock,
    scim_group_members,
    scim_group_page,
    scim_group_reload,
    scim_resource_page,
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
#
# Every response that carries a resource honours ``attributes``/``excludedAttributes`` from the
# query string, writes included (RFC 7644 3.9).


class _UserResources(ScimView):
    conflict_detail = USER_TAKEN

    def _list(self, query: ListQuery):
        page = scim_user_page(
            company=self.principal.company,
            where=query.where,
            start=query.start,
            count=query.count,
            order_by=query.order_by(USER_FILTER_ATTRIBUTES),
        )
        resources = [self._render(user, query.selection) for user in page.items]
        return scim_response(list_response(resources, total=page.total, start=query.start))

    def _render(self, user: User, selection: AttributeSelection) -> dict:
        return selection.apply(user_to_scim(user, base_url=self.base_url))

    def _resource_response(self, user: User, status: int = 200, *, reload: bool = True):
        selection = AttributeSelection.from_query(self.request.query_params)
        user = scim_user_reload(user=user) if reload else user
        return _resource_response(
            self.request, user_to_scim(user, base_url=self.base_url), selection, status
        )


class UsersView(_UserResources):
    def get(self, request):
        return self._list(list_query_from_params(request.query_params))

    def post(self, request):
        AttributeSelection.from_query(request.query_params)  # a bad one is refused before writing
        user = scim_user_create(principal=self.principal, data=parse_user(request.data))
        return self._resource_response(user, status=201)


class UsersSearchView(_UserResources):
    """``POST /Users/.search`` (RFC 7644 3.4.3): a list whose parameters are in the body."""

    def post(self, request):
        return self._list(list_query_from_search(request.data))


class UserView(_UserResources):
    def _user(self, scim_id: str, *, lock: bool = False) -> User:
        user = scim_user_find(company=self.principal.company, scim_id=scim_id, lock=lock)
        if user is None:
            raise ResourceNotFound(f"User {scim_id} not found.")
        return user

    def _user_to_write(self, scim_id: str) -> User:
        """The user, checked against If-Match and locked until the write commits (the caller
        holds a transaction), so that no other write falls between the check and this one."""
        if_match = self.request.headers.get("If-Match")
        user = self._user(scim_id, lock=if_match is not None)
        if if_match is not None:
            check_if_match(if_match, user_to_scim(user, base_url=self.base_url)["meta"]["version"])
        return user

    def get(self, request, scim_id: str):
        return self._resource_response(self._user(scim_id), reload=False)

    @transaction.atomic
    def put(self, request, scim_id: str):
        AttributeSelection.from_query(request.query_params)
        data = parse_user(request.data)
        user = scim_user_apply(
            principal=self.principal, user=self._user_to_write(scim_id), data=data
        )
        return self._resource_response(user)

    @transaction.atomic
    def patch(self, request, scim_id: str):
        AttributeSelection.from_query(request.query_params)
        user = scim_user_patch(
            principal=self.principal,
            user=self._user_to_write(scim_id),
            body=request.data,
            base_url=self.base_url,
        )
        return self._resource_response(user)

    @transaction.atomic
    def delete(self, request, scim_id: str):
        scim_user_delete(principal=self.principal, user=self._user_to_write(scim_id))
        return scim_response(None, status=204)


# --- Groups ----------------------------------------------------------------------------------


class _GroupResources(ScimView):
    conflict_detail = GROUP_TAKEN

    def _list(self, query: ListQuery):
        # Okta and Entra read groups with excludedAttributes=members: then no member is fetched.
        with_members = query.selection.wants("members")
        page = scim_group_page(
            company=self.principal.company,
            where=query.where,
            start=query.start,
            count=query.count,
            with_members=with_members,
            order_by=query.order_by(GROUP_FILTER_ATTRIBUTES),
        )
        resources = [
            self._render(team, query.selection, list(team.members.all()) if with_members else None)
            for team in page.items
        ]
        return scim_response(list_response(resources, total=page.total, start=query.start))

    def _render(self, team: Team, selection: AttributeSelection, members=None) -> dict:
        return selection.apply(group_to_scim(team, base_url=self.base_url, members=members))

    def _resource_response(self, team: Team, status: int = 200, *, reload: bool = True):
        selection = AttributeSelection.from_query(self.request.query_params)
        company = self.principal.company
        team = scim_group_reload(company=company, team=team) if reload else team
        resource = group_to_scim(team, base_url=self.base_url, members=None)
        # The version does not need the members: a 304 never reads them.
        if selection.wants("members") and not _not_modified(self.request, resource):
            members = list(scim_group_members(company=company, team=team))
            resource = group_to_scim(team, base_url=self.base_url, members=members)
        return _resource_response(self.request, resource, selection, status)


class GroupsView(_GroupResources):
    def get(self, request):
        return self._list(list_query_from_params(request.query_params))

    def post(self, request):
        AttributeSelection.from_query(request.query_params)
        team = scim_group_create(principal=self.principal, data=parse_group(request.data))
        return self._resource_response(team, status=201)


class GroupsSearchView(_GroupResources):
    """``POST /Groups/.search`` (RFC 7644 3.4.3)."""

    def post(self, request):
        return self._list(list_query_from_search(request.data))


class GroupView(_GroupResources):
    def _team(self, scim_id: str) -> Team:
        team = scim_group_find(company=self.principal.company, scim_id=scim_id)
        if team is None:
            raise ResourceNotFound(f"Group {scim_id} not found.")
        return team

    def _team_to_write(self, scim_id: str) -> Team:
        """The team, checked against If-Match and locked (with its member list's version)
        until the write commits (the caller holds a transaction)."""
        team = self._team(scim_id)
        if_match = self.request.headers.get("If-Match")
        if if_match is not None:
            team = scim_group_lock(company=self.principal.company, team=team)
            resource = group_to_scim(team, base_url=self.base_url, members=None)
            check_if_match(if_match, resource["meta"]["version"])
        return team

    def get(self, request, scim_id: str):
        return self._resource_response(self._team(scim_id), reload=False)

    @transaction.atomic
    def put(self, request, scim_id: str):
        AttributeSelection.from_query(request.query_params)
        data = parse_group(request.data)
        team = scim_group_replace(
            principal=self.principal, team=self._team_to_write(scim_id), data=data
        )
        return self._resource_response(team)

    @transaction.atomic
    def patch(self, request, scim_id: str):
        team = self._team_to_write(scim_id)
        scim_group_patch(principal=self.principal, team=team, body=request.data)
        # Okta and Entra accept 204 for a group PATCH; returning it spares rendering every
        # member. The new version is in the ETag header.
        team = scim_group_reload(company=self.principal.company, team=team)
        version = group_to_scim(team, base_url=self.base_url, members=None)["meta"]["version"]
        return scim_response(None, status=204, headers={"ETag": version})

    @transaction.atomic
    def delete(self, request, scim_id: str):
        scim_group_delete(principal=self.principal, team=self._team_to_write(scim_id))
        return scim_response(None, status=204)


# --- Both ------------------------------------------------------------------------------------


class RootSearchView(ScimView):
    """``POST /.search`` (RFC 7644 3.4.3): Users and Groups of the token's company at once."""

    def post(self, request):
        query = list_query_from_search(request.data)
        with_members = query.selection.wants("members")
        try:
            page = scim_resource_page(
                company=self.principal.company,
                where=query.where,
                start=query.start,
                count=query.count,
                with_members=with_members,
                sort_by=query.sort_by,
                descending=query.descending,
            )
        except SortError as error:
            raise InvalidValue(error.message) from None
        resources = []
        for item in page.items:
            if isinstance(item, User):
                resource = user_to_scim(item, base_url=self.base_url)
            else:
                members = list(item.members.all()) if with_members else None
                resource = group_to_scim(item, base_url=self.base_url, members=members)
            resources.append(query.selection.apply(resource))
        return scim_response(list_response(resources, total=page.total, start=query.start))


def _not_modified(request, resource: dict) -> bool:
    """A GET whose If-None-Match names the resource's version (RFC 7644 3.14, RFC 7232 3.2)."""
    if_none_match = request.headers.get("If-None-Match")
    return (
        request.method == "GET"
        and if_none_match is not None
        and matches(if_none_match, resource["meta"]["version"])
    )


def _resource_response(request, resource: dict, selection: AttributeSelection, status: int):
    """One resource: its version in the ETag header (whatever the selection keeps of meta), a
    304 without a body for a GET whose If-None-Match names it, the Location of a new one."""
    headers = {"ETag": resource["meta"]["version"]}
    if status == 201:
        headers["Location"] = resource["meta"]["location"]
    if _not_modified(request, resource):
        return scim_response(None, status=304, headers=headers)
    return scim_response(selection.apply(resource), status=status, headers=headers)


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
