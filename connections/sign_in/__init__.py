"""The SAML sign-in flow: start (SP-initiated), receive at the ACS, finish in the same browser.

Every acceptance rule of the SPEC is checked here, in a fixed order so each failure gets its own
error code; pysaml2 (behind ``connections.saml``) verifies signatures and the rules it knows.
A refusal raises ``SignInRefused``; the view records it and renders the error page. Nothing is
written by a refused response: each step writes in one transaction, after every check passed.
"""

from connections.sign_in.common import (
    FINISH_COOKIE,
    PENDING_REQUEST_LIFETIME,
    VERIFIED_SIGN_IN_LIFETIME,
    binding_cookie_name,
    may_test_login,
    secret_hash,
    sp_metadata_document,
)
from connections.sign_in.finish import (
    sign_in_audit,
    sign_in_discard,
    sign_in_identity,
    sign_in_refusal_record,
    sign_in_test_report,
    sign_in_user,
    verified_sign_in_consume,
    verified_sign_in_get,
)
from connections.sign_in.receive import ReceivedSignIn, acs_receive
from connections.sign_in.start import StartedSignIn, sign_in_start
from connections.sign_in.take import Taken, pending_take

__all__ = [
    "FINISH_COOKIE",
    "PENDING_REQUEST_LIFETIME",
    "VERIFIED_SIGN_IN_LIFETIME",
    "ReceivedSignIn",
    "StartedSignIn",
    "Taken",
    "acs_receive",
    "binding_cookie_name",
    "may_test_login",
    "pending_take",
    "secret_hash",
    "sign_in_audit",
    "sign_in_discard",
    "sign_in_identity",
    "sign_in_refusal_record",
    "sign_in_start",
    "sign_in_test_report",
    "sign_in_user",
    "sp_metadata_document",
    "verified_sign_in_consume",
    "verified_sign_in_get",
]
