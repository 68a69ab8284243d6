"""A migration operation: a table UNLOGGED on PostgreSQL, for rows that live minutes and whose
loss in a crash only costs a sign-in in flight (its writes skip the WAL, so a commit that
writes nothing else waits for no disk flush). Other databases have no such tables: nothing
happens there."""

from __future__ import annotations

from django.db import migrations


def set_unlogged(table: str) -> migrations.RunPython:
    """``ALTER TABLE <table> SET UNLOGGED`` on PostgreSQL; reversed, ``SET LOGGED``. The table
    must have no foreign key constraint to or from a logged table (PostgreSQL refuses it)."""

    def persistence(keyword: str):
        def alter(apps, schema_editor) -> None:
            if schema_editor.connection.vendor == "postgresql":
                quoted = schema_editor.quote_name(table)
                schema_editor.execute(f"ALTER TABLE {quoted} SET {keyword}")

        return alter

    return migrations.RunPython(persistence("UNLOGGED"), persistence("LOGGED"))
