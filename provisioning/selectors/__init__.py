"""Reads for provisioning: what SCIM finds and lists (scim.py; scim_root.py for a search of the
root), what the deprovisioning sweep picks up (deprovisioning.py) and the OAuth grants of a
connection (oauth.py). Re-exported here: callers import ``provisioning.selectors``."""

from provisioning.selectors.deprovisioning import deprovisioning_ids_unfinished
from provisioning.selectors.oauth import oauth_client_find, oauth_token_issued_to, scim_grants
from provisioning.selectors.scim import (
    GROUP_FILTER_ATTRIBUTES,
    PAGE_POSITION_SECONDS,
    USER_FILTER_ATTRIBUTES,
    Page,
    parse_scim_id,
    scim_group_find,
    scim_group_lock,
    scim_group_members,
    scim_group_page,
    scim_group_reload,
    scim_groups,
    scim_user_find,
    scim_user_page,
    scim_user_reload,
    scim_users,
    scim_users_by_ids,
)
from provisioning.selectors.scim_root import scim_resource_page

__all__ = [
    "GROUP_FILTER_ATTRIBUTES",
    "PAGE_POSITION_SECONDS",
    "USER_FILTER_ATTRIBUTES",
    "Page",
    "deprovisioning_ids_unfinished",
    "oauth_client_find",
    "oauth_token_issued_to",
    "parse_scim_id",
    "scim_grants",
    "scim_group_find",
    "scim_group_lock",
    "scim_group_members",
    "scim_group_page",
    "scim_group_reload",
    "scim_groups",
    "scim_resource_page",
    "scim_user_find",
    "scim_user_page",
    "scim_user_reload",
    "scim_users",
    "scim_users_by_ids",
]
