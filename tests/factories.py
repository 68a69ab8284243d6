from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import Company, Domain, Role, Team, User
from connections.certificates import parse_certificate
from connections.models import (
    Connection,
    ConnectionStatus,
    Provisioning,
    SigningCertificate,
    VerifiedSignIn,
)
from tests.certs import make_keypair


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"company{n}")
    name = factory.LazyAttribute(lambda o: o.slug.capitalize())


class DomainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Domain

    company = factory.SubFactory(CompanyFactory)
    domain = factory.LazyAttribute(lambda o: f"{o.company.slug}.example")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    company = factory.SubFactory(CompanyFactory)
    email = factory.LazyAttributeSequence(
        lambda o, n: f"user{n}@{o.company.slug if o.company else 'staff'}.example"
    )
    # As every real path stores it (user_create, User.clean): the userName defaults to the email.
    username = factory.LazyAttribute(lambda o: o.email)
    first_name = "Ada"
    last_name = "Lovelace"
    role = Role.SENDER
    password = factory.django.Password(None)


def bulk_create_users(users: Iterable[User]) -> list[User]:
    """``bulk_create`` skips ``save()``, which sets the keys lookups compare (email_key,
    username_key): set them first, as every real write does."""
    users = list(users)
    for user in users:
        user.set_keys()
    return User.objects.bulk_create(users)


class ConnectionFactory(factory.django.DjangoModelFactory):
    """A connection row with one certificate; the keypair is kept on ``connection.keypair`` so a
    test IdP can sign for it."""

    class Meta:
        model = Connection
        skip_postgeneration_save = True

    company = factory.SubFactory(CompanyFactory)
    name = factory.LazyAttribute(lambda o: o.company.slug)
    sign_on_url = factory.LazyAttribute(lambda o: f"https://{o.name}.okta.example/app/sso/saml")
    idp_entity_id = factory.LazyAttribute(lambda o: f"http://www.okta.com/{o.name}")
    provisioning = Provisioning.JIT
    status = ConnectionStatus.ACTIVE

    @factory.post_generation
    def keypair(obj, create, extracted, **kwargs):  # noqa: N805 - factory_boy's signature
        pair = extracted or make_keypair(f"{obj.name}.okta.example")
        obj.keypair = pair
        if create:
            parsed = parse_certificate(pair.cert_pem)
            SigningCertificate.objects.create(
                connection=obj,
                pem=parsed.pem,
                fingerprint_sha256=parsed.fingerprint_sha256,
                subject=parsed.subject,
                not_before=parsed.not_before,
                not_after=parsed.not_after,
            )


def verified_sign_in(connection: Connection, token_hash: str, **fields) -> VerifiedSignIn:
    """A sign-in the ACS verified and the finish step has not taken yet."""
    values = {
        "identity": {"name_id": "ada@acme.com", "attributes": {"email": ["ada@acme.com"]}},
        "assertion_id": f"assertion-{token_hash}",
        "expires_at": timezone.now() + timedelta(minutes=2),
        "remember_until": timezone.now() + timedelta(minutes=5),
    }
    return VerifiedSignIn.objects.create(
        token_hash=token_hash, connection=connection, **(values | fields)
    )
