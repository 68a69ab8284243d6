"""Single Logout (saml-profiles 4.4), both ways, over HTTP-Redirect and HTTP-POST.

- The session of a SAML sign-in keeps how the IdP named the person (``SamlSession``: NameID,
  its format and qualifiers, SessionIndex), recorded with the session at the finish step.
- SP-initiated: signing out of a session that came through a connection with an SLO URL ends
  the session here, then sends the browser to the IdP with a LogoutRequest for that NameID and
  SessionIndex (signed when the connection signs requests); the IdP's LogoutResponse comes back
  to ``/sso/<name>/slo/`` and must answer that request.
- IdP-initiated: a LogoutRequest at ``/sso/<name>/slo/`` ends every session of that person from
  that connection and is answered with a LogoutResponse (to the connection's SLO URL, in the
  binding it came in, signed when the connection signs requests).

A logout message from the IdP must be signed (the HTTP-Redirect query signature, or an XML
signature on the message over HTTP-POST) with a certificate configured on the connection, come
from its issuer, be addressed to this connection's SLO service, be fresh and be new. Every
refusal is an audit event (``sso.logout_refused``) with its code; a refused LogoutRequest is still
answered, with the status that says why (RequestDenied, UnknownPrincipal), when the connection
has an SLO URL to answer to.
"""

from connections.logout.receive import Answer, SloOutcome, logout_refusal_record, slo_receive
from connections.logout.sp_initiated import logout_start, saml_session_record

__all__ = [
    "Answer",
    "SloOutcome",
    "logout_refusal_record",
    "logout_start",
    "saml_session_record",
    "slo_receive",
]
