"""SCIM 2.0 filters (RFC 7644 §3.4.2.2): a parser of our own and its translation into a Django ``Q``.

``parse_filter`` turns the text of a ``filter`` query parameter into a small AST; ``filter_to_q``
turns the AST into a ``Q`` through a mapping of SCIM attribute names to ``AttributeSpec``. Every
error is a ``FilterError`` whose message can be shown to the client as a 400 ``invalidFilter``.

Where we are more lenient than the ABNF, on purpose, because identity providers are:
- whitespace between tokens is optional and may be repeated (the ABNF asks for exactly one SP);
- ``true``/``false``/``null``, operators, ``and``/``or``/``not`` and attribute names are
  case-insensitive (ABNF literals are case-insensitive anyway; Entra ID has been seen sending ``Eq``);
- ``emails[type eq "work"].value eq "a@b.c"`` (the PATCH path form followed by a comparison) is read
  as ``emails[type eq "work" and value eq "a@b.c"]``.

Where we are stricter: a value filter cannot contain another one (RFC 7644 erratum 4690).
"""

from provisioning.scim.filters.query import AttributeSpec, SortError, filter_to_q, sort_order_by
from provisioning.scim.filters.syntax import (
    COMPARE_OPERATORS,
    CORE_SCHEMAS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_LENGTH,
    And,
    AttrPath,
    Comparison,
    FilterError,
    Node,
    Not,
    Or,
    Present,
    ValuePath,
    parse_attribute_list,
    parse_filter,
)

__all__ = [
    "COMPARE_OPERATORS",
    "CORE_SCHEMAS",
    "MAX_FILTER_DEPTH",
    "MAX_FILTER_LENGTH",
    "And",
    "AttrPath",
    "AttributeSpec",
    "Comparison",
    "FilterError",
    "Node",
    "Not",
    "Or",
    "Present",
    "SortError",
    "ValuePath",
    "filter_to_q",
    "parse_attribute_list",
    "parse_filter",
    "sort_order_by",
]
