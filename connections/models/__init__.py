"""The connections app's models (a package: ``connection`` and ``saml_state``)."""

from connections.models.connection import (
    Connection,
    ConnectionStatus,
    Provisioning,
    SetupLink,
    SigningCertificate,
    SpKey,
    SpKeyState,
    SpKeyUse,
)
from connections.models.saml_state import (
    PendingAuthnRequest,
    PendingLogoutRequest,
    SamlSession,
    SeenAssertion,
    SeenLogoutMessage,
    VerifiedSignIn,
)

__all__ = [
    "Connection",
    "ConnectionStatus",
    "PendingAuthnRequest",
    "PendingLogoutRequest",
    "Provisioning",
    "SamlSession",
    "SeenAssertion",
    "SeenLogoutMessage",
    "SetupLink",
    "SigningCertificate",
    "SpKey",
    "SpKeyState",
    "SpKeyUse",
    "VerifiedSignIn",
]
