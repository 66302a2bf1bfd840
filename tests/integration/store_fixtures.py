"""Store test plumbing shared by the store tests: a store on a SQLite file and one on the local
PostgreSQL, in a database of our own (``plays_store_test``, created on first use) and a fresh schema
per test, dropped afterwards. Use with ``pytest_plugins = ["tests.integration.store_fixtures"]``."""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from engine.store import Store

PG_DB = "plays_store_test"
PG_URL = f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"


def ensure_pg_database() -> None:
    """Create our own test database once (trust auth as user postgres); fail clearly when absent."""
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=3,
                             autocommit=True) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (PG_DB,)).fetchone() is None:
                try:
                    conn.execute(f'CREATE DATABASE "{PG_DB}"')
                except psycopg.errors.DuplicateDatabase:
                    pass
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 (user postgres) is not reachable: {exc}")


def new_schema() -> str:
    return f"plays_store_{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_target(request, tmp_path) -> Iterator[tuple[str, str | None]]:
    """(url, schema) of an empty store location on each dialect; the schema is dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}", None
        return
    ensure_pg_database()
    schema = new_schema()
    yield PG_URL, schema
    s = Store(PG_URL, schema=schema, create=False)
    s.drop()
    s.close()


@pytest.fixture
def any_store(store_target) -> Iterator[Store]:
    url, schema = store_target
    s = Store(url, schema=schema)
    yield s
    s.close()
