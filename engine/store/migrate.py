"""Create or upgrade a store's schema in place (Alembic, D-OPS-4), safely when several processes
start at once.

`upgrade(engine, schema)` runs in one transaction that first takes a lock: on PostgreSQL a
transaction-level advisory lock keyed by the schema (DDL is transactional there, so a process that
waits sees the finished schema and finds nothing left to do); on SQLite ``BEGIN IMMEDIATE`` (one
writer at a time; DDL is transactional too). Inside it: a store made by the first, unversioned
release (its tables, no ``alembic_version``) is stamped ``0001``; then every step up to the newest
(`engine.store.migrations.versions`) is applied. A store newer than this release is refused
(`StoreTooNew`) rather than touched.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import Engine, inspect, text

HEAD = "0003"
VERSIONS = Path(__file__).resolve().parent / "migrations"


class StoreTooNew(RuntimeError):
    """The store was upgraded by a newer release than this one."""


def _lock_key(schema: str | None) -> int:
    return int.from_bytes(hashlib.sha1(f"plays-migrate:{schema or ''}".encode()).digest()[:8], "big", signed=True)


def upgrade(engine: Engine, schema: str | None = None) -> tuple[str | None, str]:
    """Bring the store to the newest schema. Returns (version before, version after)."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(VERSIONS), version_locations=[str(VERSIONS / "versions")])
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        conn = conn.execution_options(plays_write=True)
        with conn.begin():
            if postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(schema)})
                if schema:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                    conn.execute(text(f'SET LOCAL search_path TO "{schema}"'))
            opts = {"version_table_schema": schema} if postgres and schema else {}
            ctx = MigrationContext.configure(conn, opts=opts)
            before = ctx.get_current_revision()
            if before is None and inspect(conn).has_table("events", schema=schema if postgres else None):
                ctx.stamp(script, "0001")  # the first release: tables without a version
                before = "0001"
            if before is not None and before not in {s.revision for s in script.walk_revisions()}:
                raise StoreTooNew(f"the store's schema is at version {before}, newer than this release of plays "
                                  f"knows (newest {HEAD}): upgrade plays")
            if before != HEAD:
                def steps(rev, _context):
                    return script._upgrade_revs(HEAD, rev)

                ctx = MigrationContext.configure(conn, opts={**opts, "fn": steps})
                with Operations.context(ctx):
                    ctx.run_migrations()
            return before, HEAD


def version(engine: Engine, schema: str | None = None) -> str | None:
    """The store's schema version (None: empty, or made by the first, unversioned release)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        opts = {"version_table_schema": schema} if engine.dialect.name == "postgresql" and schema else {}
        return MigrationContext.configure(conn, opts=opts).get_current_revision()
