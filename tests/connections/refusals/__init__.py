"""The corpus of SAML sign-ins that must be refused, one module per group of SPEC error codes;
``tests/connections/test_saml_refusals.py`` runs every case through one test."""

from tests.connections.refusals import attacks, connection, identity, protocol, signatures
from tests.connections.refusals.cases import NEW, Refusal

CORPUS: list[Refusal] = [
    *connection.CASES,
    *signatures.CASES,
    *protocol.CASES,
    *identity.CASES,
    *attacks.CASES,
]

__all__ = ["CORPUS", "NEW", "Refusal"]
