"""The store's tables (SQLAlchemy Core): one `MetaData`, portable between SQLite and PostgreSQL.

- ``events``: the event log. ``seq`` orders it (ingest order) and is what per-Play cursors point
  into; ``id`` is the event's own id, unique, so a replayed event is stored once.
- ``play_progress``: one cursor per consumer (a Play id, or ``tracking``) over the event log:
  every event with ``seq`` above the cursor is pending for that consumer. Nothing is lost because
  the cursor only moves after the consumer's batch is recorded.
- ``outbox``: writes that could not be applied yet (CRM down, rate limited), retried by the sync flow.
- ``sync_cursors``: named positions of the CRM pull (last-modified time per object).
- ``audit_log``: every field the engine wrote, before -> after.
- ``write_intents``: the field changes a batch is about to send (written before sending, deleted in
  the transaction that records the batch): after a crash they tell the restarted batch which of the
  values it finds already in the CRM were written by the dead run, so the audit log misses none.
- ``skipped_records``: every record not written, with its reason (D-WB-9).
- ``tracking_state``: the engine's per-contact tracking aggregate (a JSON blob the planner owns).
- ``leases``: the one-writer lease and its fencing token counter (`engine.store.lease`, D-RUN-4).
- ``ingest_signatures``: signatures of ingest requests whose events are stored (replay check
  shared by every ingest process, kept across restarts; D-OPS-1).
- ``api_calls``: the ledger of CRM API calls (D-RUN-5): one row per CRM per batch, CRM pull,
  schedule pass or backfill, with the calls by kind, the batch's events and records written, the
  stop that parked the work (if any) and the day's usage the CRM last reported
  (`engine.store.ledger`).

The schema is versioned by Alembic migrations (`engine.store.migrations`, D-OPS-4): a change here
goes with a new migration.

Times are stored as naive UTC and read back as aware UTC (`UtcDateTime`), the same on both dialects.
"""

from __future__ import annotations

from datetime import UTC

from sqlalchemy import (JSON, BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text,
                        TypeDecorator)

from engine.evaluate.events import to_datetime  # the one time parser

metadata = MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT identities.
SeqInt = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator):
    """An aware UTC datetime stored as naive UTC (portable; SQLite keeps no zone)."""

    impl = DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text
            value = to_datetime(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


events = Table(
    "events", metadata,
    Column("seq", SeqInt, primary_key=True, autoincrement=True),
    Column("id", String(255), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=True),
    Column("contact_email", String(320), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("ingested_at", UtcDateTime, nullable=False),
    Index("ix_events_type_seq", "type", "seq"),
    Index("ix_events_email", "contact_email"),
)

play_progress = Table(
    "play_progress", metadata,
    Column("consumer", String(255), primary_key=True),
    Column("cursor", SeqInt, nullable=False, default=0),
    Column("events_done", SeqInt, nullable=False, default=0),
    Column("updated_at", UtcDateTime, nullable=True),
)

outbox = Table(
    "outbox", metadata,
    Column("id", SeqInt, primary_key=True, autoincrement=True),
    Column("key", String(512), nullable=False, unique=True),  # idempotency key of the write
    Column("consumer", String(255), nullable=False),
    Column("crm", String(32), nullable=True),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),  # pending | done | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_outbox_status", "status", "id"),
)

sync_cursors = Table(
    "sync_cursors", metadata,
    Column("name", String(255), primary_key=True),
    Column("value", Text, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", SeqInt, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("run", String(255), nullable=True),
    Column("play", String(255), nullable=True),
    Column("node", String(255), nullable=True),
    Column("crm", String(32), nullable=False),
    Column("object", String(64), nullable=True),
    Column("record", String(64), nullable=True),
    Column("email", String(320), nullable=True),
    Column("event", String(255), nullable=True),
    Column("op", String(16), nullable=False, default="update"),
    Column("field", String(255), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Index("ix_audit_record", "crm", "record"),
    Index("ix_audit_at", "at"),
)

write_intents = Table(
    "write_intents", metadata,
    Column("id", SeqInt, primary_key=True, autoincrement=True),
    Column("token", String(64), nullable=False),  # one per sync attempt of a batch
    Column("consumer", String(255), nullable=False),
    Column("crm", String(32), nullable=False),
    Column("object", String(64), nullable=True),
    Column("record", String(64), nullable=True),  # None: a create (matched by email afterwards)
    Column("email", String(320), nullable=True),
    Column("op", String(16), nullable=False),
    Column("field", String(255), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("play", String(255), nullable=True),
    Column("node", String(255), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_write_intents_consumer", "consumer", "id"),
)

skipped_records = Table(
    "skipped_records", metadata,
    Column("id", SeqInt, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("run", String(255), nullable=True),
    Column("reason", String(64), nullable=False),
    Column("crm", String(32), nullable=True),
    Column("object", String(64), nullable=True),
    Column("record", String(64), nullable=True),
    Column("email", String(320), nullable=True),
    Column("event", String(255), nullable=True),
    Column("play", String(255), nullable=True),
    Column("node", String(255), nullable=True),
    Column("field", String(255), nullable=True),
    Column("detail", Text, nullable=True),
    Index("ix_skipped_at", "at"),
)

tracking_state = Table(
    "tracking_state", metadata,
    Column("email", String(320), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)


leases = Table(
    "leases", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(255), nullable=True),
    Column("token", SeqInt, nullable=False, default=0),  # only grows: the fencing token
    Column("expires_at", UtcDateTime, nullable=False),
    Column("acquired_at", UtcDateTime, nullable=True),
)

ingest_signatures = Table(
    "ingest_signatures", metadata,
    Column("signature", String(128), primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_ingest_signatures_at", "at"),
)

api_calls = Table(
    "api_calls", metadata,
    Column("id", SeqInt, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("run", String(255), nullable=True),
    Column("consumer", String(255), nullable=False),  # batch, pull, or a schedule Play's id
    Column("source", String(16), nullable=False),  # what made the calls: batch | pull | schedule | backfill
    Column("crm", String(32), nullable=False),
    Column("calls", Integer, nullable=False, default=0),  # API calls made (retried attempts included)
    Column("kinds", JSON, nullable=False),  # calls by kind (read, write, activity, describe, pull, ..., retries)
    Column("events", Integer, nullable=False, default=0),
    Column("written", Integer, nullable=False, default=0),  # records written
    Column("stopped", String(64), nullable=True),  # the stop code that parked the work
    Column("detail", Text, nullable=True),  # the stop's message and hint
    Column("api_day_used", BigInteger, nullable=True),  # the day's usage as last reported by the CRM
    Column("api_day_max", BigInteger, nullable=True),
    Column("api_budget", BigInteger, nullable=True),
    Index("ix_api_calls_at", "at"),
    Index("ix_api_calls_crm_id", "crm", "id"),
)
