"""D-OPS-4 upgrades keep data: the store's schema is versioned (Alembic). A store made by the first,
unversioned release (its frozen tables, with events, cursors, audit rows, intents, skipped records,
tracking state, outbox and sync cursors) is upgraded in place on SQLite and PostgreSQL with nothing
lost; the migrated schema is the one `tables.py` describes; several processes creating the same
empty store at once all succeed (no UniqueViolation); a store newer than the release is refused."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, insert, select, text

from engine.store import Store
from engine.store import db as store_db
from engine.store.migrate import HEAD, StoreTooNew, version
from engine.store.tables import metadata
from tests.integration.fixtures import store_tables_v1 as v1

pytest_plugins = ["tests.integration.store_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def old_store(url: str, schema: str | None) -> None:
    """What the first release left behind: its tables (create_all, no version) and some data."""
    engine = store_db.make_engine(store_db.resolve_url(url), schema)
    store_db.create_schema(engine, schema)
    with engine.begin() as conn:
        v1.metadata.create_all(conn)
        conn.execute(insert(v1.events), [
            {"id": f"e{i}", "type": "email_opened", "at": NOW, "contact_email": "ann@acme.io",
             "payload": {"id": f"e{i}", "type": "email_opened", "contact": {"email": "ann@acme.io"}},
             "ingested_at": NOW} for i in range(5)])
        conn.execute(insert(v1.play_progress), [{"consumer": "play-a", "cursor": 3, "events_done": 3,
                                                 "updated_at": NOW}])
        conn.execute(insert(v1.audit_log), [{"at": NOW, "run": "r1", "play": "play-a", "node": "n", "crm": "salesforce",
                                             "object": "Lead", "record": "00Q1", "email": "ann@acme.io",
                                             "event": "e1", "op": "update", "field": "Status", "before": None,
                                             "after": "Contacted"}])
        conn.execute(insert(v1.write_intents), [{"token": "dead", "consumer": "play-a", "crm": "salesforce",
                                                 "object": "Lead", "record": "00Q2", "email": "bo@acme.io",
                                                 "op": "update", "field": "Status", "before": None,
                                                 "after": "Contacted", "created_at": NOW}])
        conn.execute(insert(v1.skipped_records), [{"at": NOW, "reason": "no_email", "detail": "Lead 00Q9"}])
        conn.execute(insert(v1.tracking_state), [{"email": "ann@acme.io", "state": {"opens": 2}, "updated_at": NOW}])
        conn.execute(insert(v1.outbox), [{"key": "k1", "consumer": "play-a", "payload": {"x": 1}, "status": "pending",
                                          "attempts": 0, "created_at": NOW, "updated_at": NOW}])
        conn.execute(insert(v1.sync_cursors), [{"name": "pull:salesforce", "value": "{}", "updated_at": NOW}])
    engine.dispose()


def test_first_release_store_upgrades_in_place_with_nothing_lost(store_target) -> None:
    url, schema = store_target
    old_store(url, schema)
    with Store(url, schema=schema) as store:  # opening it upgrades it
        assert version(store.engine, schema) == HEAD
        assert store.event_count() == 5 and store.cursor("play-a") == 3
        assert [e.id for e in store.pending("play-a", None, 10).events] == ["e3", "e4"]
        (row,) = store.audit()
        assert (row["record"], row["field"], row["after"], row["at"]) == ("00Q1", "Status", "Contacted", NOW)
        assert [i["token"] for i in store.intents("play-a")] == ["dead"]
        assert [s["reason"] for s in store.skipped()] == ["no_email"]
        assert store.tracking(["ann@acme.io"]) == {"ann@acme.io": {"opens": 2}}
        assert store.outbox_counts() == {"pending": 1} and store.sync_cursor("pull:salesforce") == "{}"
        # new features work on the upgraded store, and the log goes on where it was
        assert store.ingest([{"id": "e5", "type": "email_opened"}], NOW).stored == 1
        assert store.last_seq() == 6
        assert store.acquire("me", 30).token == 1
        # the API call ledger (0003) is there and takes rows (D-RUN-5)
        store.record_calls([{"consumer": "batch", "source": "batch", "crm": "salesforce", "calls": 2,
                             "kinds": {"read": 1, "write": 1}}], NOW)
        assert [(r["crm"], r["calls"]) for r in store.api_calls()] == [("salesforce", 2)]
        # the migrated schema is the one tables.py describes (tables, columns, indexes)
        with store.engine.connect() as conn:
            insp = inspect(conn)
            where = schema if store.dialect == "postgresql" else None
            assert {"leases", "ingest_signatures", "api_calls"} <= set(insp.get_table_names(schema=where))
            for table in metadata.sorted_tables:
                assert {c["name"] for c in insp.get_columns(table.name, schema=where)} == set(table.c.keys())
                assert {i["name"] for i in insp.get_indexes(table.name, schema=where)} >= {i.name for i in table.indexes}
    with Store(url, schema=schema) as again:  # opening an up-to-date store changes nothing
        assert again.event_count() == 6 and version(again.engine, schema) == HEAD


def test_several_processes_create_one_empty_store_at_once(store_target) -> None:
    url, schema = store_target
    code = ("import sys; from engine.store import Store; "
            "s = Store(sys.argv[1], schema=sys.argv[2] or None); s.ingest([{'id': 'x', 'type': 'email_sent'}], "
            "__import__('datetime').datetime.now(__import__('datetime').UTC)); s.close()")
    procs = [subprocess.Popen([sys.executable, "-c", code, url, schema or ""], cwd=ROOT, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    with Store(url, schema=schema) as store:
        assert store.event_count() == 1 and version(store.engine, schema) == HEAD


def test_a_store_from_a_newer_release_is_refused(store_target) -> None:
    url, schema = store_target
    with Store(url, schema=schema) as store:
        with store.engine.begin() as conn:
            table = f'"{schema}".alembic_version' if schema else "alembic_version"
            conn.execute(text(f"UPDATE {table} SET version_num = '9999'"))
    with pytest.raises(StoreTooNew, match="9999"):
        Store(url, schema=schema)
