"""The accounts rules' own errors (the family is ``core.exceptions``)."""

from __future__ import annotations

from core.exceptions import Conflict


class EmailDomainHeld(Conflict):
    """An email in a domain another company holds (a domain is its holder's alone).

    A ``Conflict``: the value is reserved for someone else, which is what SCIM calls
    ``uniqueness`` (409) and commands refuse with exit status 1; the sign-in refuses it as
    ``email_domain_not_allowed``.
    """

    code = "email_domain_held"

    def __init__(self, domain: str) -> None:
        # The message never names the domain's holder, nor echoes the domain (which SCIM
        # answers would otherwise carry back beside the other company's name, often the same).
        super().__init__(
            "This email's domain belongs to another company: "
            "no user outside it can have an email there.",
            extra={"domain": domain},
        )
