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


class ConnectionUnknown(SignInRefused):
    code = "connection_unknown"
    http_status = 404
    default_message = "We don't know this sign-in connection. Check the name with your IT team."


class ConnectionDisabled(SignInRefused):
    code = "connection_disabled"
    default_message = "Single sign-on is turned off for this connection. Contact your IT team."


class SamlMalformed(SignInRefused):
    code = "saml_malformed"
    http_status = 400
    default_message = "The identity provider's response could not be read."


class SamlSignatureMissing(SignInRefused):
    code = "saml_signature_missing"
    default_message = "The identity provider's response is not signed."


class SamlSignatureInvalid(SignInRefused):
    code = "saml_signature_invalid"
    default_message = "The identity provider's signature does not match the certificate we have for this connection."


class SamlSignatureAlgorithmRefused(SamlSignatureInvalid):
    """Signed with SHA-1: the certificate may be right, the algorithm is not. Same SPEC code;
    its message names the algorithm and where the IdP's admin changes it (see
    ``connections.idp_hints``)."""

    default_message = (
        "The identity provider signs with SHA-1, which is no longer safe. Ask your IT team to set "
        "the SAML signature algorithm to SHA-256."
    )

    @classmethod
    def of(cls, weak) -> SamlSignatureAlgorithmRefused:
        """From ``saml_crypto.WeakAlgorithm``: which algorithm, named, and where it was used."""
        return cls(
            extra={
                "reason": weak.reason,
                "algorithm": weak.algorithm,
                "algorithm_name": weak.name,
                "where": weak.what,
            }
        )


class SamlIssuerMismatch(SignInRefused):
    code = "saml_issuer_mismatch"
    default_message = "The response comes from a different identity provider than configured."


class SamlAudienceMismatch(SignInRefused):
    code = "saml_audience_mismatch"
    default_message = "The response was meant for another application."


class SamlDestinationMismatch(SignInRefused):
    code = "saml_destination_mismatch"
    default_message = "The response was sent to a different sign-in address."


class SamlExpired(SignInRefused):
    code = "saml_expired"
    default_message = "The sign-in took too long and expired. Please try again."


class SamlNotYetValid(SignInRefused):
    code = "saml_not_yet_valid"
    default_message = "The response is not valid yet; the identity provider's clock may be ahead."


class SamlReplayed(SignInRefused):
    code = "saml_replayed"
    default_message = "This sign-in response was already used. Please sign in again."


class SamlUnsolicited(SignInRefused):
    code = "saml_unsolicited"
    default_message = (
        "Sign-in from the identity provider's dashboard is turned off; start here instead."
    )


class SamlInResponseToMismatch(SignInRefused):
    code = "saml_in_response_to_mismatch"
    default_message = (
        "This response does not answer a sign-in started in this browser. Please sign in again."
    )


class SamlStatusFailure(SignInRefused):
    code = "saml_status_failure"
    default_message = "The identity provider reported that the sign-in failed."


class SamlEncryptionRequired(SignInRefused):
    code = "saml_encryption_required"
    default_message = (
        "This connection accepts only encrypted assertions, and the identity provider sent a "
        "plain one. Ask your IT team to turn on assertion encryption with the certificate in "
        "our SP metadata."
    )


class SamlDecryptionFailed(SignInRefused):
    code = "saml_decryption_failed"
    default_message = (
        "The identity provider's encrypted assertion could not be decrypted: it was not "
        "encrypted for this connection's current certificate, or with an algorithm we accept "
        "(AES-GCM or AES-CBC, with RSA-OAEP). Ask your IT team to take the encryption "
        "certificate from our SP metadata."
    )


class SamlUnknownPrincipal(SignInRefused):
    """A logout request for someone with no session from this connection (Single Logout)."""

    code = "saml_unknown_principal"
    http_status = 404
    default_message = "Nobody signed in through this connection matches this logout request."


class AttributeMissing(SignInRefused):
    code = "attribute_missing"
    default_message = "The identity provider did not send a required attribute (the email address)."


class UserNotProvisioned(SignInRefused):
    code = "user_not_provisioned"
    default_message = (
        "Your account has not been set up yet. Ask your IT team to assign you the app."
    )


class UserDeactivated(SignInRefused):
    code = "user_deactivated"
    default_message = "Your account is deactivated."


class UserOtherCompany(SignInRefused):
    code = "user_other_company"
    default_message = "This email address cannot sign in through this connection."


class EmailDomainNotAllowed(SignInRefused):
    code = "email_domain_not_allowed"
    default_message = "This email address's domain is not allowed for this connection."


ALL_REFUSALS: tuple[type[SignInRefused], ...] = (
    ConnectionUnknown,
    ConnectionDisabled,
    SamlMalformed,
    SamlSignatureMissing,
    SamlSignatureInvalid,
    SamlIssuerMismatch,
    SamlAudienceMismatch,
    SamlDestinationMismatch,
    SamlExpired,
    SamlNotYetValid,
    SamlReplayed,
    SamlUnsolicited,
    SamlInResponseToMismatch,
    SamlStatusFailure,
    SamlEncryptionRequired,
    SamlDecryptionFailed,
    AttributeMissing,
    UserNotProvisioned,
    UserDeactivated,
    UserOtherCompany,
    EmailDomainNotAllowed,
)
# The sign-in refusals. Single Logout refuses with those that fit (signature, issuer,
# destination, time, replay, InResponseTo, status) and SamlUnknownPrincipal of its own.
ERROR_CODES = frozenset(cls.code for cls in ALL_REFUSALS)
