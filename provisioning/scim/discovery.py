"""ServiceProviderConfig, ResourceTypes and Schemas (RFC 7643 5-7): what this server supports and
our attributes as they are, so a client that reads them sends valid values."""

from __future__ import annotations

from typing import Any

from accounts.models import Role
from provisioning.scim.http import MAX_PAGE_SIZE
from provisioning.scim.schemas import (
    ENTERPRISE_SCHEMA,
    GROUP_SCHEMA,
    RESOURCE_TYPE,
    SCHEMA,
    SERVICE_PROVIDER_CONFIG,
    USER_SCHEMA,
)


def service_provider_config(base_url: str) -> dict[str, Any]:
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "documentationUri": f"{base_url}/sso/",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_PAGE_SIZE},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A SCIM token issued for one connection, or an OAuth access token "
                "granted by a company admin.",
                "primary": True,
            }
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/scim/v2/ServiceProviderConfig",
        },
    }


def resource_types(base_url: str) -> list[dict[str, Any]]:
    return [
        {
            "schemas": [RESOURCE_TYPE],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "A person of the company",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_SCHEMA, "required": False}],
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url}/scim/v2/ResourceTypes/User",
            },
        },
        {
            "schemas": [RESOURCE_TYPE],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "A team of the company; membership sets a user's team",
            "schema": GROUP_SCHEMA,
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url}/scim/v2/ResourceTypes/Group",
            },
        },
    ]


def _attribute(
    name: str,
    *,
    type_: str = "string",
    required: bool = False,
    mutability: str = "readWrite",
    returned: str = "default",
    uniqueness: str = "none",
    case_exact: bool = False,
    multi_valued: bool = False,
    description: str = "",
    canonical: list[str] | None = None,
    reference_types: list[str] | None = None,
    sub_attributes: list[dict] | None = None,
) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "name": name,
        "type": type_,
        "multiValued": multi_valued,
        "description": description,
        "required": required,
        "caseExact": case_exact,
        "mutability": mutability,
        "returned": returned,
        "uniqueness": uniqueness,
    }
    if canonical:
        attribute["canonicalValues"] = canonical
    if reference_types:
        attribute["referenceTypes"] = reference_types
    if sub_attributes:
        attribute["subAttributes"] = sub_attributes
    return attribute


def schemas(base_url: str) -> list[dict[str, Any]]:
    user = {
        "id": USER_SCHEMA,
        "name": "User",
        "description": "User account",
        "attributes": [
            _attribute(
                "userName",
                required=True,
                uniqueness="server",
                description="Unique within the company, case-insensitive.",
            ),
            _attribute(
                "name",
                type_="complex",
                sub_attributes=[
                    _attribute("givenName"),
                    _attribute("familyName"),
                ],
            ),
            _attribute("displayName", mutability="readOnly"),
            _attribute(
                "emails",
                type_="complex",
                multi_valued=True,
                required=True,
                description="The primary email is the login identity, unique across the system.",
                sub_attributes=[
                    _attribute("value", required=True),
                    _attribute("type", canonical=["work"]),
                    _attribute("primary", type_="boolean"),
                ],
            ),
            _attribute(
                "active",
                type_="boolean",
                required=True,
                description="false deactivates the user at once. Every user is active or not: "
                "a create without it makes an active user, and it cannot be removed.",
            ),
            _attribute(
                "userType",
                description="The role; missing or removed means sender.",
                canonical=[role.value for role in Role],
            ),
            _attribute("externalId", case_exact=True),
            _attribute(
                "groups",
                type_="complex",
                multi_valued=True,
                mutability="readOnly",
                sub_attributes=[
                    _attribute("value", mutability="readOnly"),
                    _attribute("display", mutability="readOnly"),
                ],
            ),
        ],
    }
    enterprise = {
        "id": ENTERPRISE_SCHEMA,
        "name": "EnterpriseUser",
        "description": "Enterprise user",
        "attributes": [
            _attribute(
                "division",
                description="The team, by its exact name. A name no team has is kept, and the user has no team.",
            )
        ],
    }
    group = {
        "id": GROUP_SCHEMA,
        "name": "Group",
        "description": "A team of the company",
        "attributes": [
            _attribute("displayName", required=True, uniqueness="server"),
            _attribute(
                "members",
                type_="complex",
                multi_valued=True,
                description="A user is a member of at most one team.",
                sub_attributes=[
                    _attribute("value", required=True, mutability="immutable"),
                    _attribute(
                        "$ref",
                        type_="reference",
                        mutability="immutable",
                        reference_types=["User"],
                    ),
                    _attribute("type", mutability="immutable", canonical=["User"]),
                ],
            ),
        ],
    }
    for schema in (user, enterprise, group):
        schema["schemas"] = [SCHEMA]
        schema["meta"] = {
            "resourceType": "Schema",
            "location": f"{base_url}/scim/v2/Schemas/{schema['id']}",
        }
    return [user, enterprise, group]
