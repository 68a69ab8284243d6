"""The arguments of ``manage.py connection``: its sub-commands and their options, apart from
what each one does (``connections/management/commands/connection.py``)."""

from __future__ import annotations

from typing import Any

from connections.models import Provisioning
from connections.setup_links import DEFAULT_DAYS


def add_connection_subcommands(subparsers: Any) -> None:
    create = subparsers.add_parser(
        "create",
        help="Create an active connection from --sign-on-url and --cert, or from --metadata; "
        "or a draft (--draft) that the customer completes through a setup link.",
    )
    create.add_argument("name")
    create.add_argument("--company", required=True, metavar="SLUG")
    create.add_argument("--sign-on-url", metavar="URL")
    create.add_argument("--cert", metavar="FILE", help="PEM, DER or base64.")
    create.add_argument("--issuer", default="", metavar="ENTITY_ID")
    create.add_argument(
        "--metadata", metavar="FILE_OR_URL", help="The IdP's metadata (a file or its URL)."
    )
    create.add_argument(
        "--entity-id", metavar="ID", help="Which IdP, when the metadata describes several."
    )
    create.add_argument("--draft", action="store_true", help="The name only, for a setup link.")
    create.add_argument("--provisioning", choices=Provisioning.values, default=Provisioning.JIT)
    create.add_argument("--default-team", metavar="TEAM")
    create.add_argument("--no-idp-initiated", action="store_true")

    listing = subparsers.add_parser("list", help="List every connection.")
    listing.add_argument("--json", action="store_true")

    show = subparsers.add_parser("show", help="Show a connection and the SP values to send.")
    show.add_argument("name")
    show.add_argument("--json", action="store_true")

    rotate = subparsers.add_parser("rotate-cert", help="Trust a new signing certificate.")
    rotate.add_argument("name")
    rotate.add_argument("--cert", required=True, metavar="FILE")

    imported = subparsers.add_parser(
        "import-metadata",
        help="Take the IdP's sign-on URL, issuer, certificates and logout URL from "
        "its metadata (a URL is kept and refreshed daily).",
    )
    imported.add_argument("name")
    imported.add_argument("source", metavar="FILE_OR_URL")
    imported.add_argument("--entity-id", metavar="ID")

    refresh = subparsers.add_parser(
        "refresh-metadata", help="Fetch the connection's metadata URL again and apply it."
    )
    refresh.add_argument("name")

    link = subparsers.add_parser(
        "setup-link",
        help="A link for the customer's IT admin to complete a draft connection (the link "
        "alone on stdout); --revoke revokes it.",
    )
    link.add_argument("name")
    link.add_argument("--days", type=int, default=DEFAULT_DAYS, metavar="N")
    link.add_argument("--revoke", action="store_true")

    for action in ("enable", "disable"):
        subparsers.add_parser(action, help=f"{action.capitalize()} a connection.").add_argument(
            "name"
        )

    settings = subparsers.add_parser(
        "set",
        help="Our side of the connection: sign requests, require encrypted assertions, "
        "the IdP's single logout URL (--slo-url '' removes it).",
    )
    settings.add_argument("name")
    settings.add_argument("--sign-requests", choices=("on", "off"))
    settings.add_argument("--require-encryption", choices=("on", "off"))
    settings.add_argument("--slo-url", metavar="URL")

    sp_key = subparsers.add_parser(
        "rotate-sp-key",
        help="Rotate the connection's SP keys in two steps: without an option, make the next "
        "keys and publish them beside the current ones; --finish once the IdP has the new "
        "certificates (the next keys sign and decrypt, the old ones are destroyed); "
        "--cancel drops the next keys.",
    )
    sp_key.add_argument("name")
    step = sp_key.add_mutually_exclusive_group()
    step.add_argument("--finish", action="store_true")
    step.add_argument("--cancel", action="store_true")

    subparsers.add_parser(
        "reencrypt-sp-keys",
        help="Re-encrypt every SP private key with the first key of "
        "SAML_KEY_ENCRYPTION_KEY (after putting a new key first).",
    )

    check = subparsers.add_parser(
        "check-certs", help="Exit 1 when a certificate expires within N days."
    )
    check.add_argument("--within-days", type=int, default=30, metavar="N")
