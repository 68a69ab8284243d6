"""Why a sign-in was refused: one class per SPEC error code.

``message`` is what the person at the browser reads (plain, no library text); ``extra`` holds the
detail support staff need, and goes only to the log and the audit event.
"""

from __future__ import annotations

from core.exceptions import ApplicationError


class SignInRefused(ApplicationError):
    code = "sign_in_refused"
    http_status = 403
    default_message = "The sign-in was refused."

    def __init__(self, message: str | None = None, **kwargs) -> None:
        super().__init__(message or self.default_message, **kwargs)


def _refusal(code: str, message: str, http_status: int = 403) -> type[SignInRefused]:
    name = "".join(part.capitalize() for part in code.split("_"))
    return type(
        name,
        (SignInRefused,),
        {
            "code": code,
            "default_message": message,
            "http_status": http_status,
            "__module__": __name__,
        },
    )


ConnectionUnknown = _refusal(
    "connection_unknown",
    "We don't know this sign-in connection. Check the name with your IT team.",
    404,
)
ConnectionDisabled = _refusal(
    "connection_disabled", "Single sign-on is turned off for this connection. Contact your IT team."
)
SamlMalformed = _refusal(
    "saml_malformed", "The identity provider's response could not be read.", 400
)
SamlSignatureMissing = _refusal(
    "saml_signature_missing", "The identity provider's response is not signed."
)
SamlSignatureInvalid = _refusal(
    "saml_signature_invalid",
    "The identity provider's signature does not match the certificate we have for this connection.",
)
SamlIssuerMismatch = _refusal(
    "saml_issuer_mismatch", "The response comes from a different identity provider than configured."
)
SamlAudienceMismatch = _refusal(
    "saml_audience_mismatch", "The response was meant for another application."
)
SamlDestinationMismatch = _refusal(
    "saml_destination_mismatch", "The response was sent to a different sign-in address."
)
SamlExpired = _refusal("saml_expired", "The sign-in took too long and expired. Please try again.")
SamlNotYetValid = _refusal(
    "saml_not_yet_valid",
    "The response is not valid yet; the identity provider's clock may be ahead.",
)
SamlReplayed = _refusal(
    "saml_replayed", "This sign-in response was already used. Please sign in again."
)
SamlUnsolicited = _refusal(
    "saml_unsolicited",
    "Sign-in from the identity provider's dashboard is turned off; start here instead.",
)
SamlInResponseToMismatch = _refusal(
    "saml_in_response_to_mismatch",
    "This response does not answer a sign-in started in this browser. Please sign in again.",
)
SamlStatusFailure = _refusal(
    "saml_status_failure", "The identity provider reported that the sign-in failed."
)
AttributeMissing = _refusal(
    "attribute_missing",
    "The identity provider did not send a required attribute (the email address).",
)
UserNotProvisioned = _refusal(
    "user_not_provisioned",
    "Your account has not been set up yet. Ask your IT team to assign you the app.",
)
UserDeactivated = _refusal("user_deactivated", "Your account is deactivated.")
UserOtherCompany = _refusal(
    "user_other_company", "This email address cannot sign in through this connection."
)
EmailDomainNotAllowed = _refusal(
    "email_domain_not_allowed", "This email address's domain is not allowed for this connection."
)

ALL_REFUSALS: tuple[type[SignInRefused], ...] = tuple(
    cls for cls in list(globals().values()) if isinstance(cls, type) and issubclass(cls, SignInRefused)
    and cls is not SignInRefused
)  # fmt: skip
ERROR_CODES = frozenset(cls.code for cls in ALL_REFUSALS)
