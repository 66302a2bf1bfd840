"""The event store: event log (idempotent by id), per-Play cursors, outbox of pending writes, CRM
sync cursors, audit log (before -> after), skipped records, per-contact tracking state, the
one-writer lease with its fencing token (`engine.store.lease`, D-RUN-4) and the ingest replay check.

SQLAlchemy Core; a SQLite file by default (``plays.db`` in the working directory), PostgreSQL by
URL (``PLAYS_DATABASE_URL``). See `engine.store.store.Store`.
"""

from engine.store.db import DEFAULT_URL, ENV_VAR, resolve_url
from engine.store.lease import Lease, LeaseHeld, LeaseLost
from engine.store.limits import EventRejected
from engine.store.store import (CursorMoved, IngestResult, Pending, Replayed, Settle, Store, StoredEvent,
                                StoreUnavailable, normalize_email, parse_time)

__all__ = ["DEFAULT_URL", "ENV_VAR", "CursorMoved", "EventRejected", "IngestResult", "Lease", "LeaseHeld", "LeaseLost",
           "Pending", "Replayed", "Settle", "Store", "StoredEvent", "StoreUnavailable", "normalize_email", "parse_time",
           "resolve_url"]
