"""The triggers on accounts_user that keep ``ScimUserTally`` and ``ScimGroupMembers``
(provisioning/models.py says what each is for).

Triggers, not Python: users are written by services, bulk_create, raw updates (team_delete) and
the admin's delete, and every one of them must keep the count behind SCIM's totalResults exact,
in the same transaction. PostgreSQL and SQLite get the same rules in their own syntax. They are
installed by migration 0007_scim_read_models and again after every ``migrate`` (apps.py:
post_migrate), because SQLite drops a table's triggers when a migration rebuilds the table.
"""

from __future__ import annotations

from django.db import transaction

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION provisioning_scim_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_shown boolean := false;
    new_shown boolean := false;
    old_company bigint;
    new_company bigint;
    old_team bigint;
    new_team bigint;
    members_changed boolean := true;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_shown := OLD.company_id IS NOT NULL AND OLD.scim_deleted_at IS NULL;
        old_company := OLD.company_id;
        old_team := OLD.team_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_shown := NEW.company_id IS NOT NULL AND NEW.scim_deleted_at IS NULL;
        new_company := NEW.company_id;
        new_team := NEW.team_id;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        members_changed := old_shown <> new_shown OR old_team IS DISTINCT FROM new_team
            OR old_company IS DISTINCT FROM new_company;
    END IF;

    IF old_shown AND (NOT new_shown OR new_company <> old_company) THEN
        UPDATE provisioning_scimusertally SET users = users - 1,
            generation = GREATEST(generation + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)
        WHERE company_id = old_company;
    END IF;
    IF new_shown AND (NOT old_shown OR new_company <> old_company) THEN
        INSERT INTO provisioning_scimusertally (company_id, users, generation)
        VALUES (new_company, 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint)
        ON CONFLICT (company_id) DO UPDATE SET
            users = provisioning_scimusertally.users + 1,
            generation = GREATEST(provisioning_scimusertally.generation + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
    END IF;

    IF members_changed THEN
        IF old_team IS NOT NULL THEN
            INSERT INTO provisioning_scimgroupmembers (team_id, version, changed_at)
            VALUES (old_team, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, clock_timestamp())
            ON CONFLICT (team_id) DO UPDATE SET
                version = GREATEST(provisioning_scimgroupmembers.version + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint),
                changed_at = clock_timestamp();
        END IF;
        IF new_team IS NOT NULL AND new_team IS DISTINCT FROM old_team THEN
            INSERT INTO provisioning_scimgroupmembers (team_id, version, changed_at)
            VALUES (new_team, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, clock_timestamp())
            ON CONFLICT (team_id) DO UPDATE SET
                version = GREATEST(provisioning_scimgroupmembers.version + 1, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint),
                changed_at = clock_timestamp();
        END IF;
    END IF;
    RETURN NULL;
END
$$;
"""

_PG = [
    _PG_FUNCTION,
    "DROP TRIGGER IF EXISTS provisioning_scim_user_insert_delete ON accounts_user;",
    "DROP TRIGGER IF EXISTS provisioning_scim_user_update ON accounts_user;",
    """CREATE TRIGGER provisioning_scim_user_insert_delete AFTER INSERT OR DELETE ON accounts_user
    FOR EACH ROW EXECUTE FUNCTION provisioning_scim_user_changed();""",
    """CREATE TRIGGER provisioning_scim_user_update
    AFTER UPDATE OF company_id, scim_deleted_at, team_id ON accounts_user
    FOR EACH ROW EXECUTE FUNCTION provisioning_scim_user_changed();""",
]
_PG_DROP = [
    "DROP TRIGGER IF EXISTS provisioning_scim_user_update ON accounts_user;",
    "DROP TRIGGER IF EXISTS provisioning_scim_user_insert_delete ON accounts_user;",
    "DROP FUNCTION IF EXISTS provisioning_scim_user_changed();",
]

# SQLite has no procedural triggers: the same rules as one statement each, guarded by WHERE;
# the member list of a team changes as in the PostgreSQL function (shown, team, company).
_SQLITE = [
    "DROP TRIGGER IF EXISTS provisioning_scim_user_insert;",
    "DROP TRIGGER IF EXISTS provisioning_scim_user_delete;",
    "DROP TRIGGER IF EXISTS provisioning_scim_user_update;",
    """CREATE TRIGGER provisioning_scim_user_insert AFTER INSERT ON accounts_user
    BEGIN
        INSERT OR IGNORE INTO provisioning_scimusertally (company_id, users, generation)
            SELECT NEW.company_id, 0, 0
            WHERE NEW.company_id IS NOT NULL AND NEW.scim_deleted_at IS NULL;
        UPDATE provisioning_scimusertally SET users = users + 1, generation = MAX(generation + 1, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            WHERE company_id = NEW.company_id AND NEW.scim_deleted_at IS NULL;
        INSERT OR IGNORE INTO provisioning_scimgroupmembers (team_id, version, changed_at)
            SELECT NEW.team_id, 0, strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE NEW.team_id IS NOT NULL;
        UPDATE provisioning_scimgroupmembers SET version = MAX(version + 1, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)), changed_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
            WHERE team_id = NEW.team_id;
    END;""",
    """CREATE TRIGGER provisioning_scim_user_delete AFTER DELETE ON accounts_user
    BEGIN
        UPDATE provisioning_scimusertally SET users = users - 1, generation = MAX(generation + 1, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            WHERE company_id = OLD.company_id AND OLD.scim_deleted_at IS NULL;
        INSERT OR IGNORE INTO provisioning_scimgroupmembers (team_id, version, changed_at)
            SELECT OLD.team_id, 0, strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE OLD.team_id IS NOT NULL;
        UPDATE provisioning_scimgroupmembers SET version = MAX(version + 1, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)), changed_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
            WHERE team_id = OLD.team_id;
    END;""",
    """CREATE TRIGGER provisioning_scim_user_update
    AFTER UPDATE OF company_id, scim_deleted_at, team_id ON accounts_user
    BEGIN
        UPDATE provisioning_scimusertally SET users = users - 1, generation = MAX(generation + 1, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            WHERE company_id = OLD.company_id AND OLD.scim_deleted_at IS NULL
            AND (NEW.scim_deleted_at IS NOT NULL OR NEW.company_id IS NOT OLD.company_id);
        INSERT OR IGNORE INTO provisioning_scimusertally (company_id, users, generation)
            SELECT NEW.company_id, 0, 0
            WHERE NEW.company_id IS NOT NULL AND NEW.scim_deleted_at IS NULL
            AND (OLD.scim_deleted_at IS NOT NULL OR OLD.company_id IS NOT NEW.company_id);
        UPDATE provisioning_scimusertally SET users = users + 1, generation = MAX(generation + 1, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER))
            WHERE company_id = NEW.company_id AND NEW.scim_deleted_at IS NULL
            AND (OLD.scim_deleted_at IS NOT NULL OR OLD.company_id IS NOT NEW.company_id);
        INSERT OR IGNORE INTO provisioning_scimgroupmembers (team_id, version, changed_at)
            SELECT OLD.team_id, 0, strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE OLD.team_id IS NOT NULL
            AND ((OLD.company_id IS NOT NULL AND OLD.scim_deleted_at IS NULL)
                 IS NOT (NEW.company_id IS NOT NULL AND NEW.scim_deleted_at IS NULL)
                 OR OLD.team_id IS NOT NEW.team_id OR OLD.company_id IS NOT NEW.company_id);
        UPDATE provisioning_scimgroupmembers SET version = MAX(version + 1, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)), changed_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
            WHERE team_id = OLD.team_id
            AND ((OLD.company_id IS NOT NULL AND OLD.scim_deleted_at IS NULL)
                 IS NOT (NEW.company_id IS NOT NULL AND NEW.scim_deleted_at IS NULL)
                 OR OLD.team_id IS NOT NEW.team_id OR OLD.company_id IS NOT NEW.company_id);
        INSERT OR IGNORE INTO provisioning_scimgroupmembers (team_id, version, changed_at)
            SELECT NEW.team_id, 0, strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE NEW.team_id IS NOT NULL
            AND ((OLD.company_id IS NOT NULL AND OLD.scim_deleted_at IS NULL)
                 IS NOT (NEW.company_id IS NOT NULL AND NEW.scim_deleted_at IS NULL)
                 OR OLD.team_id IS NOT NEW.team_id OR OLD.company_id IS NOT NEW.company_id)
            AND NEW.team_id IS NOT OLD.team_id;
        UPDATE provisioning_scimgroupmembers SET version = MAX(version + 1, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)), changed_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
            WHERE team_id = NEW.team_id
            AND ((OLD.company_id IS NOT NULL AND OLD.scim_deleted_at IS NULL)
                 IS NOT (NEW.company_id IS NOT NULL AND NEW.scim_deleted_at IS NULL)
                 OR OLD.team_id IS NOT NEW.team_id OR OLD.company_id IS NOT NEW.company_id)
            AND NEW.team_id IS NOT OLD.team_id;
    END;""",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS provisioning_scim_user_update;",
    "DROP TRIGGER IF EXISTS provisioning_scim_user_delete;",
    "DROP TRIGGER IF EXISTS provisioning_scim_user_insert;",
]

# A generation is never reused, even by a database restored from a backup while the cache kept
# page positions (or a client an ETag) learnt after it: it moves to at least the time in
# microseconds. So do the member list versions.
_ADVANCE_GENERATIONS = {
    "postgresql": [
        "UPDATE provisioning_scimusertally SET generation = GREATEST(generation + 1, "
        "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint);",
        "UPDATE provisioning_scimgroupmembers SET version = GREATEST(version + 1, "
        "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint);",
    ],
    "sqlite": [
        "UPDATE provisioning_scimusertally SET generation = MAX(generation + 1, "
        "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));",
        "UPDATE provisioning_scimgroupmembers SET version = MAX(version + 1, "
        "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));",
    ],
}

# Counted again from the rows, after the triggers exist: the tally is then right whatever
# happened while they were missing (a SQLite table rebuilt by a migration loses its triggers).
# The generation moves on, so no page position remembered before is reused.
_RECOUNT = [
    """INSERT INTO provisioning_scimusertally (company_id, users, generation)
    SELECT company_id, 0, 0 FROM accounts_user
    WHERE company_id IS NOT NULL AND scim_deleted_at IS NULL
    AND company_id NOT IN (SELECT company_id FROM provisioning_scimusertally)
    GROUP BY company_id;""",
    """UPDATE provisioning_scimusertally SET users = (
        SELECT COUNT(*) FROM accounts_user
        WHERE accounts_user.company_id = provisioning_scimusertally.company_id
        AND accounts_user.scim_deleted_at IS NULL
    );""",
    """INSERT INTO provisioning_scimgroupmembers (team_id, version, changed_at)
    SELECT id, 0, updated_at FROM accounts_team
    WHERE id NOT IN (SELECT team_id FROM provisioning_scimgroupmembers);""",
]


def install_scim_triggers(connection) -> None:
    """(Re)create the triggers and recount, in one transaction: creating a trigger locks
    accounts_user against writes until the commit, so no write falls between the two."""
    statements = {"postgresql": _PG, "sqlite": _SQLITE}.get(connection.vendor)
    if statements is None:
        raise RuntimeError(f"No SCIM triggers for the {connection.vendor} database.")
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        for statement in [*statements, *_RECOUNT, *_ADVANCE_GENERATIONS[connection.vendor]]:
            cursor.execute(statement)


def remove_scim_triggers(connection) -> None:
    statements = {"postgresql": _PG_DROP, "sqlite": _SQLITE_DROP}.get(connection.vendor, [])
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
