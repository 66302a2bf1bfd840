"""The event store, the same tests on a SQLite file and on the local PostgreSQL (a schema of its own
per test, dropped afterwards): idempotent ingest, per-consumer cursors, atomic batch records with a
compare-and-set cursor, tracking upserts, outbox, sync cursors, concurrent ingest."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from engine.store import CursorMoved, Settle, Store, resolve_url

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return False


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        if not _pg_available():
            pytest.fail("PostgreSQL at 127.0.0.1:5432 (user postgres, db test) is not reachable")
        s = Store(PG_URL, schema=f"plays_test_{uuid.uuid4().hex[:10]}")
    yield s
    s.drop()
    s.close()


def ev(i: int, type_: str = "email_opened", email: str = "ann@acme.io", at: str | None = None) -> dict:
    return {"id": f"e{i}", "type": type_, "at": at or f"2026-11-20T10:{i % 60:02d}:00Z",
            "contact": {"email": email}}


def test_resolve_url_defaults() -> None:
    assert resolve_url(None, {}) == "sqlite:///plays.db"
    assert resolve_url(None, {"PLAYS_DATABASE_URL": "postgres://u@h/d"}) == "postgresql+psycopg://u@h/d"
    assert resolve_url("sqlite:///x.db", {"PLAYS_DATABASE_URL": "postgresql://h/d"}) == "sqlite:///x.db"


def test_ingest_is_idempotent_by_id(store: Store) -> None:
    first = store.ingest([ev(1), ev(2), ev(2), ev(3, email="  Bo@Acme.IO ")], NOW)
    assert (first.stored, first.duplicates) == (3, 1)
    again = store.ingest([ev(1), ev(3), ev(4)], NOW)
    assert (again.stored, again.duplicates, again.new_ids) == (1, 2, ("e4",))
    assert store.event_count() == 4
    assert store.has_event("e4") and not store.has_event("e5")
    (bo,) = store.events_for(["bo@acme.io"])
    assert bo.email == "bo@acme.io" and bo.payload["contact"]["email"] == "  Bo@Acme.IO "
    assert bo.at == datetime(2026, 11, 20, 10, 3, tzinfo=UTC)


def test_pending_filters_types_and_horizon_passes_other_events(store: Store) -> None:
    store.ingest([ev(1, "email_opened"), ev(2, "sequence_status_changed"), ev(3, "email_opened"),
                  ev(4, "email_sent")], NOW)
    p = store.pending("play-a", {"sequence_status_changed"}, limit=10)
    assert [e.id for e in p.events] == ["e2"] and (p.cursor, p.horizon) == (0, 4)
    store.record_batch("play-a", p.cursor, p.horizon, NOW, events_done=1)
    assert store.pending("play-a", {"sequence_status_changed"}, 10).events == []
    assert store.pending_count("play-a", {"sequence_status_changed"}) == 0
    # a full batch stops at its last event, so the next batch starts right after it
    q = store.pending("tracking", None, limit=2)
    assert [e.id for e in q.events] == ["e1", "e2"] and q.horizon == q.events[-1].seq
    store.record_batch("tracking", q.cursor, q.horizon, NOW)
    assert [e.id for e in store.pending("tracking", None, 10).events] == ["e3", "e4"]
    assert store.pending_count("tracking") == 2


def test_record_batch_is_atomic_and_compare_and_set(store: Store) -> None:
    store.ingest([ev(i) for i in range(1, 6)], NOW)
    p = store.pending("play-a", None, 3)
    audit = [{"play": "play-a", "node": "n", "crm": "salesforce", "object": "Lead", "record": "00Q1",
              "email": "ann@acme.io", "event": "e1", "field": "Status", "before": None, "after": "Replied"}]
    skipped = [{"reason": "no_email", "crm": "salesforce", "record": "00Q9", "detail": "Lead 00Q9 has no email"}]
    store.record_batch("play-a", p.cursor, p.horizon, NOW, run="r1", events_done=3, audit=audit,
                       skipped=skipped, tracking={"Ann@Acme.io": {"opens": 3}},
                       pending_writes=[{"key": "k1", "crm": "salesforce", "payload": {"x": 1}}])
    # a second run that read the same batch cannot record it again; nothing of it lands
    with pytest.raises(CursorMoved):
        store.record_batch("play-a", p.cursor, p.horizon, NOW, run="r2", audit=audit, skipped=skipped,
                           tracking={"ann@acme.io": {"opens": 99}})
    assert [a["run"] for a in store.audit()] == ["r1"]
    assert [s["reason"] for s in store.skipped()] == ["no_email"]
    assert store.tracking(["ANN@acme.io"]) == {"ann@acme.io": {"opens": 3}}
    assert store.progress()["play-a"]["events_done"] == 3
    assert store.cursor("play-a") == p.horizon
    row = store.audit(record="00Q1")[0]
    assert (row["field"], row["before"], row["after"], row["at"]) == ("Status", None, "Replied", NOW)


def test_write_intents_survive_until_the_batch_that_settles_them_is_recorded(store: Store) -> None:
    store.ingest([ev(i) for i in range(1, 4)], NOW)
    p = store.pending("play-a", None, 10)
    row = {"crm": "salesforce", "object": "Lead", "record": "00Q1", "email": "ann@acme.io", "op": "update",
           "field": "Status", "before": None, "after": "Replied", "play": "play-a", "node": "n"}
    store.add_intents("play-a", "dead", [row], NOW)  # a run that died after sending
    store.add_intents("play-b", "other", [row], NOW)
    old = store.intents("play-a")
    assert [(i["token"], i["field"], i["before"], i["after"]) for i in old] == [("dead", "Status", None, "Replied")]
    store.add_intents("play-a", "again", [{**row, "field": "LeadSource", "after": "Web"}], NOW)
    # a failed record (cursor moved) settles nothing
    with pytest.raises(CursorMoved):
        store.record_batch("play-a", p.cursor + 1, p.horizon, NOW, settle=Settle("play-a", "again",
                                                                                 frozenset({old[0]["id"]})))
    assert len(store.intents("play-a")) == 2
    store.record_batch("play-a", p.cursor, p.horizon, NOW, audit=[row],
                       settle=Settle("play-a", "again", frozenset({old[0]["id"]})))
    assert store.intents("play-a") == [] and len(store.intents("play-b")) == 1
    store.record(NOW, settle=Settle("play-b", "other"))
    assert store.intents("play-b") == []


def test_tracking_upsert_and_outbox(store: Store) -> None:
    store.save_tracking({"a@x.io": {"opens": 1}, "b@x.io": {"opens": 2}}, NOW)
    store.save_tracking({"a@x.io": {"opens": 5}}, NOW + timedelta(minutes=1))
    assert store.tracking(["a@x.io", "b@x.io", "c@x.io"]) == {"a@x.io": {"opens": 5}, "b@x.io": {"opens": 2}}
    store.enqueue([{"key": "w1", "crm": "hubspot", "payload": {"f": 1}},
                   {"key": "w2", "crm": "hubspot", "payload": {"f": 2}}], "play-a", NOW)
    store.enqueue([{"key": "w1", "crm": "hubspot", "payload": {"f": 1}}], "play-a", NOW)  # known key: kept once
    pend = store.outbox_pending()
    assert [p["key"] for p in pend] == ["w1", "w2"]
    store.outbox_failed(pend[1]["id"], "503 from CRM", NOW)
    store.outbox_done([pend[0]["id"]], NOW, audit=[{"crm": "hubspot", "record": "51", "field": "f", "after": 1}])
    assert store.outbox_counts() == {"done": 1, "pending": 1}
    left = store.outbox_pending()
    assert left[0]["attempts"] == 1 and left[0]["last_error"] == "503 from CRM"
    store.outbox_failed(left[0]["id"], "400 bad value", NOW, give_up=True)
    assert store.outbox_pending() == [] and store.outbox_counts() == {"done": 1, "failed": 1}


def test_sync_cursors_and_skipped_since(store: Store) -> None:
    assert store.sync_cursor("salesforce:Lead") is None
    store.set_sync_cursor("salesforce:Lead", "2026-11-20T10:00:00Z", NOW)
    store.set_sync_cursor("salesforce:Lead", "2026-11-20T11:00:00Z", NOW)
    assert store.sync_cursor("salesforce:Lead") == "2026-11-20T11:00:00Z"
    store.record(NOW - timedelta(days=2), skipped=[{"reason": "duplicate", "detail": "old"}])
    store.record(NOW, skipped=[{"reason": "no_record", "detail": "new", "crm": "hubspot"}])
    assert [s["detail"] for s in store.skipped(since=NOW - timedelta(hours=1))] == ["new"]
    assert store.counts()["skipped_records"] == 2
    store.clear()
    assert set(store.counts().values()) == {0}


def test_concurrent_ingest_keeps_seq_order_gapless_for_cursors(store: Store) -> None:
    """Four writers ingest overlapping ids at once: each id stored once, and a reader that records
    batches while they write never moves its cursor past an event it has not seen."""
    ids_per_writer = 200

    def writer(w: int) -> None:
        other = Store(store.url, schema=store.schema, create=False)
        try:
            for start in range(0, ids_per_writer, 20):
                other.ingest([ev(w * 1000 + i) for i in range(start, start + 20)] + [ev(99_999)], NOW)
        finally:
            other.close()

    seen: list[str] = []
    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads) or store.pending_count("reader"):
        p = store.pending("reader", None, 50)
        seen.extend(e.id for e in p.events)
        store.record_batch("reader", p.cursor, p.horizon, NOW)
    for t in threads:
        t.join()
    assert store.event_count() == 4 * ids_per_writer + 1
    assert len(seen) == len(set(seen)) == 4 * ids_per_writer + 1
