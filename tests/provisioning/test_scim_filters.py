"""SCIM filters (RFC 7644 §3.4.2.2): the parser alone, then the Q it becomes on the real User model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounts.models import Role, Team, User
from provisioning.scim.filters import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_LENGTH,
    And,
    AttributeSpec,
    AttrPath,
    Comparison,
    FilterError,
    Not,
    Or,
    Present,
    ValuePath,
    filter_to_q,
    parse_attribute_list,
    parse_filter,
)
from tests.factories import CompanyFactory, TeamFactory, UserFactory

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _role(value: object) -> object:
    role = str(value).lower()
    if role not in Role.values:
        raise FilterError(f"'{value}' is not a userType; use one of {', '.join(Role.values)}.")
    return role


# The shape the Users endpoint is expected to pass: our model has no external_id, so externalId
# reads the username, and the single email is always the primary work email.
USER_ATTRIBUTES = {
    "id": AttributeSpec("pk", type="reference", to_python=int),
    "username": AttributeSpec("username"),
    "externalid": AttributeSpec("username"),
    "name.givenname": AttributeSpec("first_name"),
    "name.familyname": AttributeSpec("last_name"),
    "emails.value": AttributeSpec("email"),
    "emails.type": AttributeSpec(constant="work"),
    "emails.primary": AttributeSpec(type="boolean", constant=True),
    "active": AttributeSpec("is_active", type="boolean"),
    "usertype": AttributeSpec("role", to_python=_role),
    "meta.created": AttributeSpec("date_joined", type="datetime"),
    "meta.lastmodified": AttributeSpec("date_joined", type="datetime"),
    f"{ENTERPRISE.lower()}:division": AttributeSpec("team__name"),
}

GROUP_ATTRIBUTES = {
    "displayname": AttributeSpec("name"),
    "members.value": AttributeSpec("members__id", type="reference", to_python=int),
}


def shape(node):
    """The AST without the source text of the paths, to compare with a literal."""
    if isinstance(node, Comparison):
        return ("cmp", node.path.key, node.op, node.value)
    if isinstance(node, Present):
        return ("pr", node.path.key)
    if isinstance(node, Not):
        return ("not", shape(node.operand))
    if isinstance(node, And | Or):
        return (type(node).__name__.lower(), *(shape(o) for o in node.operands))
    if isinstance(node, ValuePath):
        return ("[]", node.path.key, shape(node.filter))
    raise AssertionError(node)


# --- Parsing -------------------------------------------------------------------------------------


def test_parses_okta_username_lookup():
    node = parse_filter('userName eq "ada@acme.com"')
    assert node == Comparison(AttrPath(None, "userName", None, "userName"), "eq", "ada@acme.com")


@pytest.mark.parametrize("op", ["eq", "EQ", "Eq", "eQ"])
def test_operators_are_case_insensitive(op):
    assert shape(parse_filter(f'userName {op} "x"')) == ("cmp", "username", "eq", "x")


def test_keywords_and_literals_are_case_insensitive():
    node = parse_filter("NOT (active Eq TRUE) AND title PR Or x Eq NULL")
    assert shape(node) == (
        "or",
        ("and", ("not", ("cmp", "active", "eq", True)), ("pr", "title")),
        ("cmp", "x", "eq", None),
    )


@pytest.mark.parametrize("op", ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"])
def test_every_comparison_operator_parses(op):
    assert shape(parse_filter(f'title {op} "x"')) == ("cmp", "title", op, "x")


def test_and_binds_tighter_than_or():
    assert shape(parse_filter("a pr or b pr and c pr")) == (
        "or",
        ("pr", "a"),
        ("and", ("pr", "b"), ("pr", "c")),
    )


def test_parentheses_override_precedence():
    assert shape(parse_filter("(a pr or b pr) and c pr")) == (
        "and",
        ("or", ("pr", "a"), ("pr", "b")),
        ("pr", "c"),
    )


def test_rfc_example_with_not_and_a_space_before_the_parenthesis():
    node = parse_filter(
        'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")'
    )
    assert shape(node) == (
        "and",
        ("cmp", "usertype", "ne", "Employee"),
        (
            "not",
            (
                "or",
                ("cmp", "emails", "co", "example.com"),
                ("cmp", "emails.value", "co", "example.org"),
            ),
        ),
    )


def test_not_without_a_space_also_parses():
    assert shape(parse_filter("not(a pr)")) == ("not", ("pr", "a"))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('x eq "plain"', "plain"),
        (r'x eq "say \"hi\""', 'say "hi"'),
        (r'x eq "back\\slash"', "back\\slash"),
        (r'x eq "\u0041\u00e9"', "Aé"),
        (r'x eq "tab\there"', "tab\there"),
        ('x eq ""', ""),
        ('x eq "a and b or not (c)"', "a and b or not (c)"),
        ("x eq 42", 42),
        ("x eq -7", -7),
        ("x eq 1.5", 1.5),
        ("x eq 2e3", 2000.0),
        ("x eq true", True),
        ("x eq false", False),
        ("x eq null", None),
    ],
)
def test_comparison_values_are_json(text, value):
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert node.value == value
    assert type(node.value) is type(value)


def test_core_schema_urn_prefix_is_dropped_from_the_key():
    node = parse_filter('urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw "A"')
    assert isinstance(node, Comparison)
    assert node.path.key == "name.givenname"
    assert (
        parse_filter('urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x"').path.key
        == "displayname"
    )  # type: ignore[union-attr]


def test_extension_urn_is_kept_lowercased_in_the_key():
    node = parse_filter(f'{ENTERPRISE}:division eq "Sales"')
    assert isinstance(node, Comparison)
    assert node.path.key == f"{ENTERPRISE.lower()}:division"
    sub = parse_filter(f'{ENTERPRISE}:manager.value eq "42"')
    assert sub.path.key == f"{ENTERPRISE.lower()}:manager.value"  # type: ignore[union-attr]


def test_value_path_with_a_logical_filter_inside():
    node = parse_filter('emails[type eq "work" and value co "@example.com"]')
    assert shape(node) == (
        "[]",
        "emails",
        ("and", ("cmp", "type", "eq", "work"), ("cmp", "value", "co", "@example.com")),
    )


def test_value_path_followed_by_a_sub_attribute_comparison():
    node = parse_filter('emails[type eq "work"].value eq "ada@acme.com"')
    assert shape(node) == (
        "[]",
        "emails",
        ("and", ("cmp", "type", "eq", "work"), ("cmp", "value", "eq", "ada@acme.com")),
    )


def test_value_path_combines_with_other_expressions():
    node = parse_filter('members[value eq "123"] or displayName pr')
    assert shape(node) == (
        "or",
        ("[]", "members", ("cmp", "value", "eq", "123")),
        ("pr", "displayname"),
    )


def test_whitespace_is_lenient():
    assert shape(parse_filter('  userName   eq\t"x"  ')) == ("cmp", "username", "eq", "x")


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ('userName eq "ada', "Unterminated string", 12),
        ('userName eq "ada\\"', "Unterminated string", 12),
        ("userName eq", "Expected a value after 'eq'", 11),
        ("userName eq and", "found 'and'", 12),
        ("userName eq ada", "quoted string", 12),
        ("userName", "Expected an operator", 8),
        ('userName eq "a" and', "Expected an attribute name, found the end of the filter", 19),
        ('userName eq "a" or', "Expected an attribute name", 18),
        ('and userName eq "a"', "Expected an attribute name, found 'and'", 0),
        ('userName like "a"', "Unknown operator 'like'", 9),
        ('userName == "a"', "Unexpected character '='", 9),
        ('userName eq "a" garbage', "Unexpected 'garbage'", 16),
        ('userName eq "a")', "Unexpected ')'", 15),
        ('(userName eq "a"', "Expected ')' to close the '(' at character 1", 16),
        ('not userName eq "a"', 'Expected "(" after "not"', 4),
        ('emails[type eq "work"', "Expected ']'", 21),
        ('emails[type eq "work"].', "Expected a sub-attribute name", 23),
        ('emails[type eq "work"].value', "Expected an operator", 28),
        ('emails[value[type eq "x"] pr]', "cannot contain another one", 12),
        ("name.given.name pr", "not a valid attribute name", 0),
        (r'userName eq "\x"', "Invalid string", 13),
        ('userName eq "a" and ()', "Expected an attribute name, found ')'", 21),
        ("userName eq 01", "Unexpected", 13),
    ],
)
def test_bad_syntax_is_a_filter_error_with_its_position(text, message, position):
    with pytest.raises(FilterError) as caught:
        parse_filter(text)
    assert message in caught.value.message
    assert caught.value.position == position
    assert f"(at character {position + 1})" in str(caught.value)


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_filter_is_refused(text):
    with pytest.raises(FilterError, match="empty"):
        parse_filter(text)


def test_length_limit():
    at_limit = 'userName eq "' + "a" * (MAX_FILTER_LENGTH - 14) + '"'
    assert len(at_limit) == MAX_FILTER_LENGTH
    parse_filter(at_limit)
    with pytest.raises(FilterError, match="longer than 2000"):
        parse_filter(at_limit + " ")


def test_depth_limit():
    def nested(depth: int) -> str:
        return "(" * depth + "a pr" + ")" * depth

    parse_filter(nested(MAX_FILTER_DEPTH))
    with pytest.raises(FilterError, match="nested more than 20 levels"):
        parse_filter(nested(MAX_FILTER_DEPTH + 1))
    # not (...) and [...] count as levels too.
    parse_filter(
        "not (" * (MAX_FILTER_DEPTH - 1) + "emails[value pr]" + ")" * (MAX_FILTER_DEPTH - 1)
    )
    with pytest.raises(FilterError, match="nested"):
        parse_filter("not (" * MAX_FILTER_DEPTH + "emails[value pr]" + ")" * MAX_FILTER_DEPTH)


def test_long_flat_chain_is_not_nesting():
    text = " or ".join(f'userName eq "u{i}"' for i in range(80))
    node = parse_filter(text)
    assert isinstance(node, Or)
    assert len(node.operands) == 80
    filter_to_q(node, USER_ATTRIBUTES)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, []),
        ("", []),
        ("userName", ["username"]),
        (" userName , name.givenName,,emails ", ["username", "name.givenname", "emails"]),
        ("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName", ["name.familyname"]),
        ("urn:ietf:params:scim:schemas:core:2.0:Group:members", ["members"]),
        (f"{ENTERPRISE}:division", [f"{ENTERPRISE.lower()}:division"]),
        (ENTERPRISE, [ENTERPRISE.lower()]),
        ("members,Members", ["members"]),
    ],
)
def test_parse_attribute_list(text, expected):
    assert parse_attribute_list(text) == expected


# --- From the filter to a Q: refusals (no database needed) ---------------------------------------


def to_q(text: str, attributes=USER_ATTRIBUTES):
    return filter_to_q(parse_filter(text), attributes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('nickName eq "ada"', "Unknown attribute 'nickName'"),
        ('userName eq "a" or title pr', "Unknown attribute 'title'"),
        ("not (name.middleName pr)", "Unknown attribute 'name.middleName'"),
        ('emails[display eq "x"]', "Unknown attribute 'emails.display'"),
        (
            'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "x"',
            "Unknown attribute",
        ),
        ('urn:example:custom:userName eq "x"', "Unknown attribute"),
        ('emails[name.givenName eq "x"]', "sub-attribute of 'emails'"),
    ],
)
def test_unknown_attribute_is_refused_never_dropped(text, message):
    with pytest.raises(FilterError, match=message):
        to_q(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("active gt true", "'gt' does not apply to 'active' (a boolean attribute)"),
        ('active co "t"', "'co' does not apply to 'active'"),
        ('meta.lastModified co "2026"', "'co' does not apply to 'meta.lastModified' (a datetime"),
        ('meta.created sw "2026"', "'sw' does not apply"),
        ('id gt "5"', "'gt' does not apply to 'id' (a reference"),
        ('active eq "yes"', "'active' is a boolean attribute; compare it with true or false"),
        ("userName eq 42", "'userName' is a string attribute"),
        ("userName eq true", "'userName' is a string attribute"),
        ('meta.lastModified gt "yesterday"', "'meta.lastModified' is a date-time"),
        ("meta.lastModified gt 20260101", "is a date-time"),
        ("userName gt null", "'userName gt null' has no meaning"),
        ('userType eq "boss"', "'boss' is not a userType"),
        ('id eq "abc"', "Invalid value for 'id'"),
        ("id eq true", "'id' is a reference attribute"),
    ],
)
def test_operator_or_value_that_does_not_fit_the_type_is_refused(text, message):
    with pytest.raises(FilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        to_q(text)


def test_mapping_keys_are_matched_regardless_of_their_case():
    to_q('USERNAME eq "x"', {"userName": AttributeSpec("username")})


# --- On the real User model ----------------------------------------------------------------------


@pytest.fixture
def people(db):
    company = CompanyFactory(slug="filters")
    sales = TeamFactory(company=company, name="Sales")
    ada = UserFactory(
        company=company,
        email="ada@acme.example",
        username="Ada@Acme.com",
        first_name="Ada",
        last_name="Lovelace",
        role=Role.ADMIN,
        team=sales,
        date_joined=datetime(2025, 6, 1, tzinfo=UTC),
    )
    bob = UserFactory(
        company=company,
        email="bob@acme.example",
        username="bob@acme.com",
        first_name="Bob",
        last_name="",
        is_active=False,
        date_joined=datetime(2026, 2, 1, tzinfo=UTC),
    )
    cy = UserFactory(
        company=company,
        email="cy@acme.example",
        # Every user has a userName (accounts.User.clean); an empty string attribute is
        # Bob's familyName below.
        username="cy@young.example",
        first_name="Cy",
        last_name="Young",
        role=Role.MANAGER,
        team=sales,
        date_joined=datetime(2026, 3, 1, tzinfo=UTC),
    )
    UserFactory(
        company=CompanyFactory(slug="elsewhere"), username="ada@acme.com", first_name="Other"
    )
    return {"company": company, "sales": sales, "ada": ada, "bob": bob, "cy": cy}


def matching(people, text: str) -> set[str]:
    users = User.objects.filter(company=people["company"]).filter(to_q(text))
    return set(users.values_list("first_name", flat=True))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Okta: userName compared case-insensitively.
        ('userName eq "ada@acme.com"', {"Ada"}),
        ('USERNAME EQ "ADA@ACME.COM"', {"Ada"}),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "BOB@acme.com"', {"Bob"}),
        ('userName eq "nobody@acme.com"', set()),
        # Entra ID.
        ('externalId eq "bob@acme.com"', {"Bob"}),
        ('emails[type eq "work"].value eq "cy@acme.example"', {"Cy"}),
        ('emails[type eq "home"].value eq "cy@acme.example"', set()),
        ('emails[type eq "work" and value co "@ACME.example"]', {"Ada", "Bob", "Cy"}),
        ("emails[primary eq true]", {"Ada", "Bob", "Cy"}),
        ("emails[primary eq false]", set()),
        ('not (emails[type eq "work"])', set()),
        ('not (emails[type eq "home"])', {"Ada", "Bob", "Cy"}),
        ('emails co "bob"', {"Bob"}),
        ('emails.value sw "CY@"', {"Cy"}),
        ('userName ew "ACME.COM"', {"Ada", "Bob"}),
        # and / or / not / parentheses.
        ('name.givenName eq "Bob" or name.givenName eq "Ada" and active eq false', {"Bob"}),
        ('(name.givenName eq "Bob" or name.givenName eq "Ada") and active eq true', {"Ada"}),
        ('not (name.givenName eq "Bob" or name.givenName eq "Ada")', {"Cy"}),
        ("active eq false and not (name.familyName pr)", {"Bob"}),
        ("active eq false", {"Bob"}),
        # pr / null / ne.
        ("name.familyName pr", {"Ada", "Cy"}),
        ("userName pr", {"Ada", "Bob", "Cy"}),
        ("name.familyName eq null", {"Bob"}),
        ("name.familyName ne null", {"Ada", "Cy"}),
        ('name.familyName ne "lovelace"', {"Bob", "Cy"}),
        ("emails.type pr", {"Ada", "Bob", "Cy"}),
        # Ordering: strings compare case-insensitively ("Bob" > "b"), datetimes chronologically.
        ('name.givenName gt "b"', {"Bob", "Cy"}),
        ('name.givenName le "BOB"', {"Ada", "Bob"}),
        ('meta.lastModified gt "2026-01-01T00:00:00Z"', {"Bob", "Cy"}),
        ('meta.lastModified ge "2026-02-01T00:00:00+00:00"', {"Bob", "Cy"}),
        ('meta.lastModified lt "2026-02-01T00:00:00Z"', {"Ada"}),
        ('meta.created eq "2026-03-01T01:00:00+01:00"', {"Cy"}),
        ('meta.lastModified gt "2026-01-01T00:00:00"', {"Bob", "Cy"}),
        # userType through to_python, the enterprise division through the team.
        ('userType eq "Admin"', {"Ada"}),
        ('userType ne "admin"', {"Bob", "Cy"}),
        (f'{ENTERPRISE}:division eq "sales"', {"Ada", "Cy"}),
        (f"{ENTERPRISE.upper()}:DIVISION pr", {"Ada", "Cy"}),
    ],
)
def test_filter_semantics_on_users(people, text, expected):
    assert matching(people, text) == expected


def test_id_eq_finds_one_user(people):
    assert matching(people, f'id eq "{people["bob"].pk}"') == {"Bob"}


def test_members_value_path_finds_the_group(people):
    other = TeamFactory(company=people["company"], name="Marketing")
    query = Team.objects.filter(
        filter_to_q(parse_filter(f'members[value eq "{people["ada"].pk}"]'), GROUP_ATTRIBUTES)
    )
    assert list(query) == [people["sales"]]
    by_name = Team.objects.filter(
        filter_to_q(parse_filter('displayName eq "MARKETING"'), GROUP_ATTRIBUTES)
    )
    assert list(by_name) == [other]
