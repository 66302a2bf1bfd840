"""Database plumbing for the store: engine creation for SQLite and PostgreSQL, and the few
dialect-specific statements (idempotent inserts, upserts, ingest serialisation).

SQLite: WAL journal, a busy timeout, and ``BEGIN IMMEDIATE`` for write transactions so concurrent
writers queue instead of failing half-way. PostgreSQL: psycopg 3; a store may live in its own schema
(`schema_translate_map`), which is how tests isolate themselves; ingest takes a transaction-level
advisory lock so event ``seq`` values become visible in order (a cursor never skips a late commit).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from typing import Mapping

from sqlalchemy import Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url

DEFAULT_URL = "sqlite:///plays.db"
ENV_VAR = "PLAYS_DATABASE_URL"
SCHEMA_ENV_VAR = "PLAYS_DATABASE_SCHEMA"  # PostgreSQL: the schema holding the tables (optional)


def resolve_url(url: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The store URL: `url`, else ``$PLAYS_DATABASE_URL``, else a SQLite file in the working directory.

    ``postgresql://`` and ``postgres://`` mean psycopg 3 (the driver we install).
    """
    env = os.environ if environ is None else environ
    url = url or env.get(ENV_VAR) or DEFAULT_URL
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, schema: str | None = None) -> Engine:
    """A SQLAlchemy engine for `url`; `schema` (PostgreSQL only) holds every table of this store."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})
        _sqlite_setup(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and importlib.util.find_spec("psycopg") is None:
        raise ModuleNotFoundError("a PostgreSQL store needs the psycopg driver: pip install 'plays[postgres]'")
    engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    if schema:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001 - DBAPI objects
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("plays_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def insert_ignore(engine: Engine, table: Table, index: list[str]):
    """``INSERT ... ON CONFLICT (index) DO NOTHING`` for this dialect (values bound by the caller)."""
    ins = postgresql.insert(table) if is_postgres(engine) else sqlite.insert(table)
    return ins.on_conflict_do_nothing(index_elements=index)


def upsert(engine: Engine, table: Table, index: list[str], update: list[str]):
    """``INSERT ... ON CONFLICT (index) DO UPDATE SET col = excluded.col`` for each of `update`."""
    ins = postgresql.insert(table) if is_postgres(engine) else sqlite.insert(table)
    return ins.on_conflict_do_update(index_elements=index, set_={c: ins.excluded[c] for c in update})


def lock_ingest(conn: Connection, schema: str | None) -> None:
    """Serialise event inserts on PostgreSQL so ``seq`` order is commit order (SQLite already is)."""
    if conn.dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha1(f"plays-ingest:{schema or ''}".encode()).digest()[:8], "big", signed=True)
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def create_schema(engine: Engine, schema: str | None) -> None:
    if schema and is_postgres(engine):
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


def drop_schema(engine: Engine, schema: str | None) -> None:
    if schema and is_postgres(engine):
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def redact(url: str) -> str:
    """The URL with its password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a message helper must not fail
        return url


def reason(exc: BaseException, url: str) -> str:
    """A database error in one line, without SQL and without the URL's password (for messages)."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split()) or type(orig).__name__
    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text[:300]
