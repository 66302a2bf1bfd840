"""The store's bookkeeping of writes (a mixin of `engine.store.store.Store`, one transaction per
method, like the rest): the outbox of writes parked when a sync stopped, the write intents a batch
stores before it sends (settled by the transaction that records it), and the one-writer lease
(`engine.store.lease`, D-RUN-4). The recording calls here take ``lease=`` and are fenced by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from engine.store import db
from engine.store import lease as leasing
from engine.store.lease import DEFAULT_NAME, Lease
from engine.store.tables import outbox, write_intents

_CHUNK = 500


def _chunks(rows: list, size: int = _CHUNK):
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


@dataclass(frozen=True, slots=True)
class Settle:
    """Write intents to delete: those of `token` (this attempt) and the older ones in `ids`."""

    consumer: str
    token: str
    ids: frozenset[int] = frozenset()


class Bookkeeping:
    """Outbox, write intents and the lease; needs ``engine``, ``_write``, ``_read`` and
    ``_insert_audit`` from the store."""

    engine: Any

    # ---- outbox (pending writes) -----------------------------------------------------------

    def enqueue(self, writes: Iterable[Mapping[str, Any]], consumer: str, now: datetime, *,
                lease: Lease | None = None) -> None:
        with self._write() as conn:
            leasing.fence(conn, lease)
            self._enqueue(conn, writes, consumer, now)

    def _enqueue(self, conn: Connection, writes: Iterable[Mapping[str, Any]], consumer: str,
                 now: datetime) -> None:
        """Each write: ``{"key": idempotency key, "crm": ..., "payload": {...}}``; a known key is kept."""
        rows = {}
        for w in writes:
            rows[str(w["key"])] = {"key": str(w["key"]), "consumer": consumer, "crm": w.get("crm"),
                                   "payload": w.get("payload", {}), "status": "pending", "attempts": 0,
                                   "last_error": w.get("error"), "created_at": now, "updated_at": now}
        stmt = db.insert_ignore(self.engine, outbox, ["key"])
        for chunk in _chunks(list(rows.values()), 5000):
            conn.execute(stmt, chunk)

    def outbox_pending(self, limit: int = 1000) -> list[dict]:
        q = select(outbox).where(outbox.c.status == "pending").order_by(outbox.c.id).limit(limit)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def outbox_done(self, ids: Iterable[int], now: datetime, *, audit: Iterable[Mapping[str, Any]] = (),
                    run: str | None = None, lease: Lease | None = None) -> None:
        ids = list(ids)
        with self._write() as conn:
            leasing.fence(conn, lease)
            for chunk in _chunks(ids):
                conn.execute(update(outbox).where(outbox.c.id.in_(chunk))
                             .values(status="done", updated_at=now, attempts=outbox.c.attempts + 1))
            self._insert_audit(conn, audit, now, run)

    def outbox_resolve(self, consumer: str, now: datetime) -> int:
        """Mark a consumer's pending entries done (its stopped batch has since gone through)."""
        with self._write() as conn:
            return conn.execute(update(outbox).where(outbox.c.consumer == consumer, outbox.c.status == "pending")
                                .values(status="done", updated_at=now)).rowcount

    def outbox_failed(self, entry_id: int, error: str, now: datetime, *, give_up: bool = False) -> None:
        with self._write() as conn:
            conn.execute(update(outbox).where(outbox.c.id == entry_id).values(
                status="failed" if give_up else "pending", last_error=error, updated_at=now,
                attempts=outbox.c.attempts + 1))

    def outbox_counts(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
            return {status: n for status, n in rows}

    # ---- write intents (the audit rows a batch is about to produce) ------------------------

    def add_intents(self, consumer: str, token: str, rows: Iterable[Mapping[str, Any]], now: datetime, *,
                    lease: Lease | None = None) -> Lease | None:
        """Store field changes about to be sent (crm, object, record, email, op, field, before,
        after, play, node), committed before the send. With `lease`: fenced (LeaseLost: send
        nothing) and renewed in the same transaction; returns the renewed lease."""
        cols = ("crm", "object", "record", "email", "op", "field", "before", "after", "play", "node")
        out = [{**{c: row.get(c) for c in cols}, "token": token, "consumer": consumer, "created_at": now}
               for row in rows]
        if not out and lease is None:
            return None
        with self._write() as conn:
            if lease is not None:
                lease = leasing.renew(conn, lease, now)
            for chunk in _chunks(out, 5000):
                conn.execute(write_intents.insert(), chunk)
        return lease

    def intents(self, consumer: str) -> list[dict]:
        """A consumer's unsettled write intents (left by runs that died before recording), oldest first."""
        q = select(write_intents).where(write_intents.c.consumer == consumer).order_by(write_intents.c.id)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def settle(self, settle: "Settle") -> None:
        with self._write() as conn:
            self._settle(conn, settle)

    def _settle(self, conn: Connection, settle: "Settle | None") -> None:
        if settle is None:
            return
        conn.execute(delete(write_intents).where(write_intents.c.consumer == settle.consumer,
                                                 write_intents.c.token == settle.token))
        for chunk in _chunks(sorted(settle.ids)):
            conn.execute(delete(write_intents).where(write_intents.c.id.in_(chunk)))

    # ---- the one-writer lease (engine.store.lease) ------------------------------------------

    def acquire(self, holder: str, ttl: float, *, name: str = DEFAULT_NAME, now: datetime | None = None,
                take_over: str | None = None) -> Lease:
        """Take the lease (a new, larger token), or renew it when `holder` already holds it.
        Raises LeaseHeld, naming the holder, while another holder's lease runs (unless that
        holder is `take_over`: one known to be dead)."""
        with self._write() as conn:
            return leasing.acquire(conn, self.engine, holder, ttl, leasing.now_or_clock(now), name, take_over)

    def renew(self, lease: Lease, *, now: datetime | None = None) -> Lease:
        """Extend the lease by its ttl; LeaseLost when a newer token exists."""
        with self._write() as conn:
            return leasing.renew(conn, lease, leasing.now_or_clock(now))

    def release(self, lease: Lease) -> None:
        with self._write() as conn:
            leasing.release(conn, lease)

    def lease_holder(self, name: str = DEFAULT_NAME) -> Lease | None:
        """The current lease (holder, token, expiry), or None when nobody holds it."""
        with self._read() as conn:
            return leasing.current(conn, name)

