"""D-RUN-4 one writer: the store's lease with a fencing token, on SQLite and PostgreSQL — tokens
only grow, a held lease names its holder, and every recording call made with a superseded token
records nothing (LeaseLost), inside its own transaction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from engine.store import CursorMoved, LeaseHeld, LeaseLost, Settle, Store

pytest_plugins = ["tests.integration.store_fixtures"]

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ROW = {"crm": "salesforce", "object": "Lead", "record": "00Q1", "email": "ann@acme.io", "op": "update",
       "field": "Status", "before": None, "after": "Replied", "play": "p", "node": "n"}


def ev(i: int) -> dict:
    return {"id": f"e{i}", "type": "sequence_enrolled", "at": "2026-11-20T10:00:00Z",
            "contact": {"email": "ann@acme.io"}}


def test_tokens_grow_and_a_held_lease_names_its_holder(any_store: Store) -> None:
    a = any_store.acquire("runner-a", 30, now=NOW)
    assert (a.holder, a.token, a.expires_at) == ("runner-a", 1, NOW + timedelta(seconds=30))
    with pytest.raises(LeaseHeld, match="runner-a") as held:
        any_store.acquire("runner-b", 30, now=NOW + timedelta(seconds=10))
    assert held.value.holder == "runner-a"
    # the same holder gets its lease back, renewed, same token
    again = any_store.acquire("runner-a", 30, now=NOW + timedelta(seconds=5))
    assert again.token == 1 and again.expires_at == NOW + timedelta(seconds=35)
    # expired: another runner takes it with a larger token
    b = any_store.acquire("runner-b", 30, now=NOW + timedelta(seconds=40))
    assert b.token == 2 and any_store.lease_holder().holder == "runner-b"
    with pytest.raises(LeaseLost, match="runner-b"):
        any_store.renew(a, now=NOW + timedelta(seconds=41))
    any_store.release(a)  # a lost lease is not released by its old holder
    assert any_store.lease_holder().holder == "runner-b"
    any_store.release(b)
    assert any_store.lease_holder() is None
    assert any_store.acquire("runner-a", 30, now=NOW + timedelta(seconds=42)).token == 3


def test_every_recording_call_with_a_superseded_token_records_nothing(any_store: Store) -> None:
    any_store.ingest([ev(1), ev(2)], NOW)
    old = any_store.acquire("runner-a", 1, now=NOW)
    new = any_store.acquire("runner-b", 30, now=NOW + timedelta(seconds=5))
    p = any_store.pending("p", None, 10)
    audit = [{**ROW, "event": "e1"}]
    calls = {
        "add_intents": lambda lease: any_store.add_intents("p", "t", [ROW], NOW, lease=lease),
        "record_batch": lambda lease: any_store.record_batch("p", p.cursor, p.horizon, NOW, audit=audit,
                                                             skipped=[{"reason": "no_email"}], lease=lease),
        "record": lambda lease: any_store.record(NOW, audit=audit, lease=lease),
        "enqueue": lambda lease: any_store.enqueue([{"key": "k", "payload": {}}], "p", NOW, lease=lease),
        "save_tracking": lambda lease: any_store.save_tracking({"ann@acme.io": {"opens": 1}}, NOW, lease=lease),
        "set_sync_cursor": lambda lease: any_store.set_sync_cursor("pull:salesforce", "x", NOW, lease=lease),
        "reset_cursor": lambda lease: any_store.reset_cursor("p", 2, NOW, lease=lease),
        "outbox_done": lambda lease: any_store.outbox_done([1], NOW, audit=audit, lease=lease),
    }
    for name, call in calls.items():
        with pytest.raises(LeaseLost, match="runner-b"):
            call(old)
    counts = any_store.counts()
    assert {k: counts[k] for k in ("audit_log", "skipped_records", "write_intents", "outbox", "tracking_state",
                                   "sync_cursors", "play_progress")} == dict.fromkeys(
        ("audit_log", "skipped_records", "write_intents", "outbox", "tracking_state", "sync_cursors",
         "play_progress"), 0)
    # the current holder records
    renewed = any_store.add_intents("p", "t", [ROW], NOW + timedelta(seconds=6), lease=new)
    assert renewed.token == new.token and renewed.expires_at == NOW + timedelta(seconds=36)
    any_store.record_batch("p", p.cursor, p.horizon, NOW, audit=audit, settle=Settle("p", "t"), lease=new)
    assert len(any_store.audit()) == 1 and any_store.intents("p") == []


def test_concurrent_acquires_give_one_holder_and_distinct_tokens(store_target) -> None:
    url, schema = store_target
    stores = [Store(url, schema=schema) for _ in range(6)]
    got: list = []
    errors: list = []
    barrier = threading.Barrier(len(stores))

    def take(i: int) -> None:
        barrier.wait()
        try:
            got.append(stores[i].acquire(f"r{i}", 60, now=NOW))
        except LeaseHeld as exc:
            errors.append(exc.holder)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(got) == 1 and len(errors) == len(stores) - 1
    assert set(errors) == {got[0].holder}
    # and a record racing with a takeover either lands with the old token or not at all
    stores[0].ingest([ev(1)], NOW)
    p = stores[0].pending("p", None, 10)
    later = stores[1].acquire("late", 60, now=NOW + timedelta(seconds=120))
    with pytest.raises(LeaseLost):
        stores[2].record_batch("p", p.cursor, p.horizon, NOW, lease=got[0])
    stores[3].record_batch("p", p.cursor, p.horizon, NOW, lease=later)
    with pytest.raises(CursorMoved):
        stores[4].record_batch("p", p.cursor, p.horizon, NOW, lease=later)
    for s in stores:
        s.close()


def test_a_long_batch_keeps_its_lease_by_heartbeat(any_store: Store, monkeypatch) -> None:
    """D-RUN-4: a batch that takes longer than the lease's TTL (a whole cycle's Bulk API jobs can)
    keeps the lease while its process lives: another runner still finds it held, and the token
    the batch records with is still current; once released, the other runner takes it."""
    from flows.lease import hold
    from tests.integration.waiting import wait_for

    monkeypatch.setenv("PLAYS_LEASE_TTL", "0.6")
    with hold(any_store, holder="runner-long") as held:
        token, first_expiry = held.lease.token, held.lease.expires_at

        def renewed_past_two_ttls() -> bool:  # the batch is still working, two TTLs after it began
            return any_store.lease_holder().expires_at - first_expiry >= timedelta(seconds=1.2)
        wait_for(renewed_past_two_ttls, timeout=30, what="the heartbeat to renew the lease past two TTLs")
        with pytest.raises(LeaseHeld, match="runner-long"):
            any_store.acquire("runner-other", 0.6)
        assert any_store.lease_holder().token == token
        any_store.record(datetime.now(UTC), audit=[ROW], lease=held.lease)  # still fenced in
    other = any_store.acquire("runner-other", 0.6)
    assert other.token > token
    any_store.release(other)
