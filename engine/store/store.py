"""The store: the event log, per-consumer cursors, outbox, sync cursors, audit log, skipped records,
per-contact tracking state and the ledger of CRM API calls (`engine.store.ledger`), behind one
small class.

Every method is one transaction. The clock is never read here: callers pass ``now``. A consumer (a
Play, or the tracking pass) reads its pending events with `pending`, does its work, then records the
outcome with `record_batch`, which writes audit rows, skipped records, tracking state and outbox
entries and moves the cursor in the same transaction, compare-and-set: if another run moved the
cursor meanwhile, nothing is recorded and `CursorMoved` is raised. So a crash anywhere before that
commit leaves the batch pending, and a batch is recorded once. Before a batch sends anything its
field changes are stored as write intents (`add_intents`); the transaction that records the batch
deletes them (`settle`), so after a crash the restarted batch finds the dead run's intents.

One writer (D-RUN-4): `acquire` / `renew` / `release` a lease with a fencing token; every recording
call takes ``lease=`` and raises `LeaseLost` (recording nothing) once a newer token exists — the API
is documented in `engine.store.lease`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Collection, Iterable, Iterator, Mapping

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from engine.evaluate.events import email_key as normalize_email  # D-WB-5: the one email key
from engine.evaluate.events import to_datetime as parse_time  # the one time parser
from engine.store import db
from engine.store import lease as leasing
from engine.store.lease import Lease
from engine.store.bookkeeping import Bookkeeping, Settle
from engine.store.ledger import Ledger
from engine.store.limits import check_events
from engine.store.tables import (audit_log, events, ingest_signatures, metadata, play_progress, skipped_records,
                                 sync_cursors, tracking_state)

_CHUNK = 500  # rows per INSERT statement (well under SQLite's bound-parameter limit)


class CursorMoved(RuntimeError):
    """Another run recorded this consumer's batch first (concurrency guard)."""


class StoreUnavailable(RuntimeError):
    """The store cannot be opened (unreachable, refused, broken): the message names it without its
    password (D-OPS-2)."""


class Replayed(RuntimeError):
    """This signed ingest request's events were already stored (a replay)."""


def _use_signature(conn: Connection, engine: Any, signature: str, now: datetime,
                   forget_before: datetime | None) -> None:
    if forget_before is not None:
        conn.execute(delete(ingest_signatures).where(ingest_signatures.c.at < forget_before))
    got = conn.execute(db.insert_ignore(engine, ingest_signatures, ["signature"])
                       .values(signature=signature[:128], at=now).returning(ingest_signatures.c.signature)).first()
    if got is None:
        raise Replayed("this signed request was already received and its events stored")


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    id: str
    type: str
    at: datetime | None
    email: str | None
    payload: dict


@dataclass(frozen=True, slots=True)
class IngestResult:
    stored: int
    duplicates: int
    new_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Pending:
    """A consumer's next batch: its events and the cursor value that recording them moves to."""

    consumer: str
    cursor: int
    horizon: int
    events: list[StoredEvent]


def _chunks(rows: list, size: int = _CHUNK) -> Iterator[list]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


class Store(Bookkeeping, Ledger):
    """Event log and bookkeeping in one database (SQLite file by default, PostgreSQL by URL)."""

    def __init__(self, url: str | None = None, *, schema: str | None = None, create: bool = True):
        if url is None and schema is None:
            schema = os.environ.get(db.SCHEMA_ENV_VAR) or None  # the configured store, schema included
        self.url = db.resolve_url(url)
        self.schema = schema
        self.engine = db.make_engine(self.url, schema)
        if create:
            try:
                self.create()
            except SQLAlchemyError as exc:
                self.engine.dispose()
                raise StoreUnavailable(f"cannot open the store at {self.describe()}: {db.reason(exc, self.url)}") from None

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def describe(self) -> str:
        where = db.redact(self.url)
        return f"{where} (schema {self.schema})" if self.schema else where

    def create(self) -> None:
        """Create the store, or upgrade it in place to this release's schema (`engine.store.migrate`:
        versioned, safe when several processes start at once)."""
        from engine.store.migrate import upgrade

        upgrade(self.engine, self.schema if db.is_postgres(self.engine) else None)

    def drop(self) -> None:
        """Drop every table (and the schema, on PostgreSQL)."""
        if self.schema and db.is_postgres(self.engine):
            db.drop_schema(self.engine, self.schema)
        else:
            with self._write() as conn:
                metadata.drop_all(conn)
                conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self):
        return _Tx(self.engine, write=True)

    def _read(self):
        return _Tx(self.engine, write=False)

    # ---- events ----------------------------------------------------------------------------

    def ingest(self, items: Iterable[Mapping[str, Any]], now: datetime, *, signature: str | None = None,
               forget_before: datetime | None = None) -> IngestResult:
        """Store events (each needs ``id`` and ``type``), in the order given; an id already stored
        (or repeated in `items`) is ignored. Returns how many were new (and their ids) and how many
        were duplicates. Raises EventRejected (nothing stored) for events the store cannot hold.

        `signature` (the ingest endpoint's): recorded in the same transaction, so it counts as used
        only once its events are stored; one already recorded raises Replayed (nothing stored).
        Signatures older than `forget_before` are forgotten then."""
        items = list(items)
        check_events(items)
        rows: list[dict] = []
        seen: set[str] = set()
        dup = 0
        for item in items:
            eid = str(item["id"])
            if eid in seen:
                dup += 1
                continue
            seen.add(eid)
            contact = item.get("contact") if isinstance(item.get("contact"), Mapping) else {}
            rows.append({"id": eid, "type": str(item["type"]), "at": parse_time(item.get("at")),
                         "contact_email": normalize_email(contact.get("email")), "payload": dict(item),
                         "ingested_at": now})
        new: list[str] = []
        stmt = db.insert_ignore(self.engine, events, ["id"]).returning(events.c.id)
        with self._write() as conn:
            if signature is not None:
                _use_signature(conn, self.engine, signature, now, forget_before)
            db.lock_ingest(conn, self.schema)
            for chunk in _chunks(rows, 5000):  # executemany: one cached statement, batched VALUES
                if chunk:
                    new.extend(conn.execute(stmt, chunk).scalars())
        return IngestResult(stored=len(new), duplicates=dup + len(rows) - len(new), new_ids=tuple(new))

    def event_count(self) -> int:
        with self._read() as conn:
            return conn.execute(select(func.count()).select_from(events)).scalar_one()

    def last_seq(self) -> int:
        with self._read() as conn:
            return conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one()

    def has_event(self, event_id: str) -> bool:
        with self._read() as conn:
            return conn.execute(select(events.c.seq).where(events.c.id == event_id)).first() is not None

    def events_for(self, emails: Collection[str], upto: int | None = None,
                   types: Collection[str] | None = None) -> list[StoredEvent]:
        """Every stored event of these contacts (seq order), optionally up to a seq and of some types."""
        emails = [e for e in {normalize_email(e) for e in emails} if e]
        out: list[StoredEvent] = []
        with self._read() as conn:
            for chunk in _chunks(sorted(emails)):
                q = select(events).where(events.c.contact_email.in_(chunk))
                if upto is not None:
                    q = q.where(events.c.seq <= upto)
                if types is not None:
                    q = q.where(events.c.type.in_(list(types)))
                out.extend(_event(r) for r in conn.execute(q))
        out.sort(key=lambda e: e.seq)
        return out

    # ---- consumers (Plays, tracking): cursors over the event log ---------------------------

    def cursor(self, consumer: str) -> int:
        with self._read() as conn:
            return _cursor(conn, consumer)

    def pending(self, consumer: str, types: Collection[str] | None, limit: int) -> Pending:
        """Up to `limit` events after the consumer's cursor (seq order), of `types` (None = all).

        `horizon` is where the cursor goes once these are recorded: the last event returned when
        the batch is full, else the end of the log as seen now (events of other types are passed).
        """
        with self._read() as conn:
            cur = _cursor(conn, consumer)
            # the end of the log first: each statement may see a newer snapshot (READ COMMITTED), and
            # the visible log is always a prefix, so every event up to `end` is visible below
            end = conn.execute(select(func.coalesce(func.max(events.c.seq), 0))).scalar_one()
            q = (select(events).where(events.c.seq > cur, events.c.seq <= end)
                 .order_by(events.c.seq).limit(limit))
            if types is not None:
                q = q.where(events.c.type.in_(sorted(types))) if types else q.where(events.c.seq < 0)
            got = [_event(r) for r in conn.execute(q)]
            horizon = got[-1].seq if len(got) >= limit else max(cur, end)
        return Pending(consumer, cur, horizon, got)

    def pending_count(self, consumer: str, types: Collection[str] | None = None) -> int:
        with self._read() as conn:
            cur = _cursor(conn, consumer)
            q = select(func.count()).select_from(events).where(events.c.seq > cur)
            if types is not None:
                q = q.where(events.c.type.in_(sorted(types))) if types else q.where(events.c.seq < 0)
            return conn.execute(q).scalar_one()

    def record_batch(self, consumer: str, cursor: int, horizon: int, now: datetime, *, run: str | None = None,
                     events_done: int = 0, audit: Iterable[Mapping[str, Any]] = (),
                     skipped: Iterable[Mapping[str, Any]] = (), tracking: Mapping[str, Any] | None = None,
                     pending_writes: Iterable[Mapping[str, Any]] = (), settle: "Settle | None" = None,
                     calls: Iterable[Mapping[str, Any]] = (), lease: Lease | None = None) -> None:
        """Record a consumer's batch and move its cursor from `cursor` to `horizon`, atomically
        (and delete the write intents `settle` names; `calls`: the batch's API call ledger rows).

        Raises CursorMoved (and records nothing) when the cursor is no longer at `cursor`, and
        LeaseLost when `lease` was superseded.
        """
        with self._write() as conn:
            leasing.fence(conn, lease)
            conn.execute(db.insert_ignore(self.engine, play_progress, ["consumer"]).values(
                consumer=consumer, cursor=0, events_done=0, updated_at=now))
            res = conn.execute(
                update(play_progress)
                .where(play_progress.c.consumer == consumer, play_progress.c.cursor == cursor)
                .values(cursor=max(cursor, horizon), events_done=play_progress.c.events_done + events_done,
                        updated_at=now))
            if res.rowcount != 1:
                raise CursorMoved(f"{consumer}: cursor is no longer at {cursor}")
            self._insert_audit(conn, audit, now, run)
            self._insert_skipped(conn, skipped, now, run)
            if tracking:
                self._upsert_tracking(conn, tracking, now)
            self._enqueue(conn, pending_writes, consumer, now)
            self._settle(conn, settle)
            self._insert_calls(conn, calls, now, run)

    def reset_cursor(self, consumer: str, cursor: int, now: datetime, *, lease: Lease | None = None) -> None:
        """Move a consumer's cursor anywhere (a deliberate replay or skip-ahead)."""
        with self._write() as conn:
            leasing.fence(conn, lease)
            conn.execute(db.upsert(self.engine, play_progress, ["consumer"], ["cursor", "updated_at"]).values(
                consumer=consumer, cursor=cursor, events_done=0, updated_at=now))

    def progress(self) -> dict[str, dict]:
        with self._read() as conn:
            return {r.consumer: {"cursor": r.cursor, "events_done": r.events_done, "updated_at": r.updated_at}
                    for r in conn.execute(select(play_progress))}

    # ---- audit log and skipped records -----------------------------------------------------

    def record(self, now: datetime, *, run: str | None = None, audit: Iterable[Mapping[str, Any]] = (),
               skipped: Iterable[Mapping[str, Any]] = (), settle: "Settle | None" = None,
               calls: Iterable[Mapping[str, Any]] = (), lease: Lease | None = None) -> None:
        """Audit rows and skipped records outside a consumer batch (sync flow, retries, backfill,
        a stopped batch), deleting the write intents `settle` names in the same transaction, with
        the API call ledger rows `calls` (`engine.store.ledger`)."""
        with self._write() as conn:
            leasing.fence(conn, lease)
            self._insert_audit(conn, audit, now, run)
            self._insert_skipped(conn, skipped, now, run)
            self._settle(conn, settle)
            self._insert_calls(conn, calls, now, run)

    def _insert_audit(self, conn: Connection, rows: Iterable[Mapping[str, Any]], now: datetime,
                      run: str | None) -> None:
        cols = ("play", "node", "crm", "object", "record", "email", "event", "field", "before", "after")
        out = [{**{c: row.get(c) for c in cols}, "op": row.get("op") or "update", "at": row.get("at") or now,
                "run": row.get("run", run)} for row in rows]
        for chunk in _chunks(out, 5000):
            conn.execute(audit_log.insert(), chunk)

    def _insert_skipped(self, conn: Connection, rows: Iterable[Mapping[str, Any]], now: datetime,
                        run: str | None) -> None:
        cols = ("reason", "crm", "object", "record", "email", "event", "play", "node", "field", "detail")
        out = [{**{c: _text(row.get(c)) for c in cols}, "at": row.get("at") or now, "run": row.get("run", run)}
               for row in rows]
        for chunk in _chunks(out, 5000):
            conn.execute(skipped_records.insert(), chunk)

    def audit(self, *, since: datetime | None = None, run: str | None = None, record: str | None = None,
              limit: int | None = None) -> list[dict]:
        q = select(audit_log).order_by(audit_log.c.id)
        if since is not None:
            q = q.where(audit_log.c.at >= since)
        if run is not None:
            q = q.where(audit_log.c.run == run)
        if record is not None:
            q = q.where(audit_log.c.record == record)
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def skipped(self, *, since: datetime | None = None, run: str | None = None,
                limit: int | None = None) -> list[dict]:
        q = select(skipped_records).order_by(skipped_records.c.id)
        if since is not None:
            q = q.where(skipped_records.c.at >= since)
        if run is not None:
            q = q.where(skipped_records.c.run == run)
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # ---- tracking state --------------------------------------------------------------------

    def tracking(self, emails: Collection[str]) -> dict[str, Any]:
        """The stored tracking state of these contacts (absent ones are left out)."""
        keys = sorted({e for e in (normalize_email(x) for x in emails) if e})
        out: dict[str, Any] = {}
        with self._read() as conn:
            for chunk in _chunks(keys):
                for r in conn.execute(select(tracking_state).where(tracking_state.c.email.in_(chunk))):
                    out[r.email] = r.state
        return out

    def tracking_all(self) -> dict[str, Any]:
        """Every contact's tracking state (audiences of scheduled Plays look at all of them)."""
        with self._read() as conn:
            return {r.email: r.state for r in conn.execute(select(tracking_state.c.email, tracking_state.c.state))}

    def save_tracking(self, states: Mapping[str, Any], now: datetime, *, lease: Lease | None = None) -> None:
        with self._write() as conn:
            leasing.fence(conn, lease)
            self._upsert_tracking(conn, states, now)

    def _upsert_tracking(self, conn: Connection, states: Mapping[str, Any], now: datetime) -> None:
        rows = {}
        for email, state in states.items():
            key = normalize_email(email)
            if key:
                rows[key] = {"email": key, "state": state, "updated_at": now}
        stmt = db.upsert(self.engine, tracking_state, ["email"], ["state", "updated_at"])
        for chunk in _chunks(list(rows.values()), 5000):
            conn.execute(stmt, chunk)

    # ---- sync cursors ----------------------------------------------------------------------

    def sync_cursor(self, name: str) -> str | None:
        with self._read() as conn:
            return conn.execute(select(sync_cursors.c.value).where(sync_cursors.c.name == name)).scalar()

    def set_sync_cursor(self, name: str, value: str | None, now: datetime, *, lease: Lease | None = None) -> None:
        with self._write() as conn:
            leasing.fence(conn, lease)
            conn.execute(db.upsert(self.engine, sync_cursors, ["name"], ["value", "updated_at"]).values(
                name=name, value=value, updated_at=now))

    # ---- maintenance -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per table (for summaries and tests)."""
        with self._read() as conn:
            return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in metadata.sorted_tables}

    def clear(self) -> None:
        """Delete every row of every table (the tables stay)."""
        with self._write() as conn:
            for t in reversed(metadata.sorted_tables):
                conn.execute(delete(t))


class _Tx:
    """One transaction on a fresh connection; write transactions start IMMEDIATE on SQLite."""

    def __init__(self, engine, write: bool):
        self.engine, self.write = engine, write

    def __enter__(self) -> Connection:
        self.conn = self.engine.connect()
        if self.write:
            self.conn.execution_options(plays_write=True)
        self.tx = self.conn.begin()
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.tx.commit()
            else:
                self.tx.rollback()
        finally:
            self.conn.close()


def _cursor(conn: Connection, consumer: str) -> int:
    value = conn.execute(select(play_progress.c.cursor).where(play_progress.c.consumer == consumer)).scalar()
    return int(value or 0)


def _event(row: Any) -> StoredEvent:
    return StoredEvent(seq=row.seq, id=row.id, type=row.type, at=row.at, email=row.contact_email,
                       payload=row.payload)


def _text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    return str(value)
