"""OAuth 2.0 for Okta's "Authenticate with …" button, on django-oauth-toolkit.

A company ``admin`` signs in (through the company's SSO) and approves; the grant is bound to one
of the company's connections through an RFC 8707 resource indicator that only this view sets,
so the access token (and every token refreshed from it) authorizes SCIM for that connection
only, exactly like a static SCIM token.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.db import transaction
from django.shortcuts import render
from oauth2_provider.forms import AllowForm
from oauth2_provider.models import get_application_model
from oauth2_provider.views import AuthorizationView

from accounts.models import Role, User
from audit.services import audit_record
from connections.models import Connection, Provisioning
from connections.selectors import connections_not_disabled

SCIM_SCOPE = "scim"
_RESOURCE_PREFIX = "/scim/v2/connections/"


def connection_resource_uri(connection: Connection) -> str:
    """The resource indicator naming one connection's SCIM API."""
    return f"{settings.BASE_URL}{_RESOURCE_PREFIX}{connection.name}"


def connection_from_resources(resources: list[str] | None) -> Connection | None:
    prefix = f"{settings.BASE_URL}{_RESOURCE_PREFIX}"
    names = [uri[len(prefix) :] for uri in resources or [] if uri.startswith(prefix)]
    if len(names) != 1:
        return None
    return Connection.objects.select_related("company").filter(name=names[0]).first()


def is_scim_grant(token) -> bool:
    """An access or refresh token bound to a connection's SCIM API (the company's, not the
    person's)."""
    prefix = f"{settings.BASE_URL}{_RESOURCE_PREFIX}"
    return any(uri.startswith(prefix) for uri in token.resource or [])


def validate_scim_audience(audience_uri: str, audiences: list[str]) -> bool:
    """django-oauth-toolkit's RFC 8707 audience check for our resource indicators: a token bound
    to a connection is good for the SCIM API and nothing else. The host is not compared (the
    request's host is already one of ALLOWED_HOSTS); the connection itself is resolved, and the
    company scoped, by the SCIM authentication."""
    prefix = f"{settings.BASE_URL}{_RESOURCE_PREFIX}"
    return urlsplit(audience_uri).path.startswith("/scim/v2/") and all(
        uri.startswith(prefix) for uri in audiences
    )


def approvable_connections(user: User):
    return connections_not_disabled(company=user.company)


def may_approve(user: User) -> bool:
    return bool(
        user.is_authenticated and user.is_active and user.company_id and user.role == Role.ADMIN
    )


class ScimAllowForm(AllowForm):
    connection = forms.ModelChoiceField(
        queryset=Connection.objects.none(), empty_label=None, required=False
    )


class ScimAuthorizationView(AuthorizationView):
    """DOT's authorization view with our rules: only a company admin approves, picking the
    connection Okta is provisioning; everyone else gets a clear refusal page."""

    template_name = "oauth/authorize.html"
    form_class = ScimAllowForm

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        if self.request.user.is_authenticated:
            form.fields["connection"].queryset = approvable_connections(self.request.user)
        return form

    def get_initial(self):
        initial = super().get_initial()
        connections = (
            list(approvable_connections(self.request.user))
            if self.request.user.is_authenticated
            else []
        )
        scim_first = next((c for c in connections if c.provisioning == Provisioning.SCIM), None)
        if connections:
            initial["connection"] = (scim_first or connections[0]).pk
        return initial

    def _refusal(self, reason: str):
        return render(self.request, "oauth/refused.html", {"reason": reason}, status=403)

    def _broken_request(self, description: str):
        # The page DOT renders for a request it cannot redirect back (FatalClientError).
        error = {"error": "invalid_request", "description": description}
        return render(self.request, self.template_name, {"error": error}, status=400)

    def get(self, request, *args, **kwargs):
        if request.user.is_authenticated and _asks_for_scim(request.GET.get("scope")):
            if not may_approve(request.user):
                return self._refusal(_why_not(request.user))
            if not approvable_connections(request.user).exists():
                return self._refusal(
                    "Your company has no active sign-in connection to provision yet."
                )
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        # Refuse before the form is even read: whatever was posted, a non-admin gets the same
        # clear refusal as on the GET, never a re-rendered form.
        if (
            request.user.is_authenticated
            and _asks_for_scim(request.POST.get("scope"))
            and not may_approve(request.user)
        ):
            return self._refusal(_why_not(request.user))
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        # Every field but the connection is hidden and filled in by us, and the connection is a
        # choice among the user's own: an invalid form was altered (e.g. another company's
        # connection). DOT would re-render the form without its request; refuse instead.
        if "connection" in form.errors:
            return self._refusal("Choose one of your company's connections.")
        return self._broken_request(
            "The authorization request was incomplete or altered. Start again from the app."
        )

    def form_valid(self, form):
        user = self.request.user
        # DOT redirects a denial (access_denied) to the *posted* redirect_uri without checking
        # it, and looks the posted client_id up with .get(): check both against the registered
        # client first, so a tampered form never redirects anywhere unregistered.
        application = (
            get_application_model()
            .objects.filter(client_id=form.cleaned_data.get("client_id"))
            .first()
        )
        if application is None or not application.redirect_uri_allowed(
            form.cleaned_data.get("redirect_uri")
        ):
            return self._broken_request(
                "The redirect URI or client of this request is not registered."
            )
        self._approved_connection = None
        if not _asks_for_scim(form.cleaned_data.get("scope")):
            # A personal token (e.g. scope "profile"): the person's own, bound to no connection.
            form.cleaned_data["resource"] = ""
            return super().form_valid(form)
        if not may_approve(user):
            return self._refusal(_why_not(user))
        connection = form.cleaned_data.get("connection")
        allow = form.cleaned_data.get("allow")
        if allow:
            if connection is None or connection.company_id != user.company_id:
                return self._refusal("Choose one of your company's connections.")
            # Whatever the client asked for, the grant names exactly the chosen connection.
            form.cleaned_data["resource"] = connection_resource_uri(connection)
            form.cleaned_data["scope"] = SCIM_SCOPE  # a SCIM grant carries no personal scopes
            self._approved_connection = connection
            # The grant and its audit event commit together (see create_authorization_response).
            with transaction.atomic():
                return super().form_valid(form)
        form.cleaned_data["resource"] = ""
        return super().form_valid(form)

    def create_authorization_response(self, request, scopes, credentials, allow):
        # Reached from form_valid; raises when oauthlib refuses the request, so the event is
        # written only for a grant that was really issued.
        result = super().create_authorization_response(request, scopes, credentials, allow)
        connection = getattr(self, "_approved_connection", None)
        if allow and connection is not None:
            audit_record(
                action="oauth.scim_authorized",
                connection=connection,
                actor=request.user,
                target=credentials.get("client_id", ""),
                details={"redirect_uri": credentials.get("redirect_uri")},
            )
        return result


def _asks_for_scim(scope: str | None) -> bool:
    # DOT's default scope applies when the client names none: that is SCIM.
    return scope is None or scope.strip() == "" or SCIM_SCOPE in scope.split()


def _why_not(user: User) -> str:
    if user.company_id is None:
        return "Staff accounts cannot authorize provisioning; a company admin must sign in and approve."
    return "Only an admin of your company can authorize provisioning. Ask one of your company's admins."
