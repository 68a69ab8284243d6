from __future__ import annotations

import re

from django.core.exceptions import ValidationError

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")


def validate_domain(value: str) -> None:
    if value != value.lower():
        raise ValidationError("Domains are stored in lowercase.", code="domain_case")
    if not _DOMAIN.match(value):
        raise ValidationError(
            f"'{value}' is not an email domain (expected something like acme.com).",
            code="domain_invalid",
        )


def validate_company_slug(value: str) -> None:
    if not _SLUG.match(value):
        raise ValidationError(
            "A company slug is 1-50 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit.",
            code="slug_invalid",
        )
