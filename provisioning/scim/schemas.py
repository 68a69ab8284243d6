"""SCIM schema URNs and the names of attributes we know but do not store."""

from __future__ import annotations

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SERVICE_PROVIDER_CONFIG = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"

MEDIA_TYPE = "application/scim+json"

# Core and enterprise attributes IdPs send by default that this product does not keep: accepted
# and ignored (refusing them would fail Okta's and Entra's default mappings), unlike names that
# exist in no schema, which are an ``invalidPath``.
IGNORED_USER_ATTRIBUTES = frozenset(
    {
        "password", "displayname", "nickname", "profileurl", "title", "preferredlanguage", "locale",
        "timezone", "addresses", "phonenumbers", "ims", "photos", "entitlements", "roles",
        "x509certificates", "groups", "name.formatted", "name.middlename",
        "name.honorificprefix", "name.honorificsuffix", "meta", "id", "schemas",
        f"{ENTERPRISE_SCHEMA}:employeenumber".lower(), f"{ENTERPRISE_SCHEMA}:costcenter".lower(),
        f"{ENTERPRISE_SCHEMA}:organization".lower(), f"{ENTERPRISE_SCHEMA}:department".lower(),
        f"{ENTERPRISE_SCHEMA}:manager".lower(),
    }
)  # fmt: skip
