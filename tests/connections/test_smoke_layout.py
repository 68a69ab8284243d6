from __future__ import annotations

from connections.models import Connection


def test_three_company_layout_has_two_connections(acme, globex, stranger):
    assert set(Connection.objects.values_list("name", flat=True)) == {"acme", "globex"}
    assert acme.connection.certificates.count() == 1
    assert not stranger.connections.exists()
