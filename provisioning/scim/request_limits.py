"""How much work one SCIM request may ask for, in one place (README: Security rules, Input limits).

Each bound is far above what an identity provider sends (Okta and Entra send one to a few
operations per PATCH, a person has a handful of emails, Okta pushes group members in batches of
a few hundred) and low enough that the worst request allowed is still answered in well under a
second. Past a bound the request is refused whole with a 400 ``tooMany`` in the SCIM error
schema, naming the bound, before anything is written.
"""

from __future__ import annotations

from typing import Any

from provisioning.scim.errors import TooMany

# Operations in one PATCH.
MAX_OPERATIONS = 1000
# Values of one multi-valued User attribute (emails, phoneNumbers...), in one operation or a
# body and in the attribute a PATCH leaves behind.
MAX_VALUES_PER_ATTRIBUTE = 100
# Group members named in one request (POST, PUT, or one PATCH operation).
MAX_MEMBERS_PER_REQUEST = 10_000
# Values in one request, all operations together (a list counts each element, anything else 1).
MAX_VALUES_PER_REQUEST = 10_000


def check_operation_count(count: int) -> None:
    if count > MAX_OPERATIONS:
        raise TooMany(
            f"A PATCH may carry at most {MAX_OPERATIONS} operations; send several requests."
        )


def check_attribute_values(values: list[Any], *, attribute: str) -> None:
    if len(values) > MAX_VALUES_PER_ATTRIBUTE:
        raise TooMany(
            f"'{attribute}' may have at most {MAX_VALUES_PER_ATTRIBUTE} values; got {len(values)}."
        )


def check_member_count(count: int) -> None:
    if count > MAX_MEMBERS_PER_REQUEST:
        raise TooMany(
            f"At most {MAX_MEMBERS_PER_REQUEST} members per request; send the rest in another."
        )


def value_count(value: Any) -> int:
    """What a value counts towards MAX_VALUES_PER_REQUEST: the elements of a list (of each
    list in an object, for an operation without a path), else 1."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return max(1, sum(len(item) for item in value.values() if isinstance(item, list)))
    return 1


def check_request_values(total: int) -> None:
    if total > MAX_VALUES_PER_REQUEST:
        raise TooMany(
            f"A request may carry at most {MAX_VALUES_PER_REQUEST} values in all; "
            "send several requests."
        )
