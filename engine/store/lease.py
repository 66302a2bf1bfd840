"""One writer (D-RUN-4): a lease with a fencing token, kept in the store itself (SQLite and PostgreSQL).

A runner that applies batches of the event log first takes the lease::

    lease = store.acquire("host:pid:abc", ttl=60)      # -> Lease(name, token, holder, expires_at, ttl)
    store.add_intents(consumer, attempt, rows, now, lease=lease)   # fenced, and renews the lease
    ... send the CRM writes ...
    store.record_batch(consumer, cursor, horizon, now, audit=..., lease=lease)   # fenced
    store.release(lease)

- `Store.acquire(holder, ttl)` returns a `Lease` whose ``token`` is larger than any token issued
  before for that lease name; it raises `LeaseHeld` (naming the current holder and until when) while
  another holder's lease has not expired. The same holder acquiring again while it holds the lease
  gets its lease back, renewed (threads of one runner share it). ``take_over=<holder>`` takes a
  running lease from that holder (a runner known to be dead, e.g. a killed process on this machine).
- `Store.renew(lease)` extends it by its ttl; `Store.release(lease)` frees it at once (the token
  counter stays, so the next lease still gets a larger token). Both raise `LeaseLost` when a newer
  token exists.
- **Fencing**: every store call that records a batch — `add_intents`, `record_batch`, `record`,
  `enqueue`, `outbox_done`, `save_tracking`, `set_sync_cursor`, `reset_cursor` — takes
  ``lease=`` and checks, inside its own transaction, that no newer token was issued; if one was it
  raises `LeaseLost` and records nothing. On PostgreSQL the check reads the lease row ``FOR SHARE``,
  so a concurrent acquire (which updates the row) waits for the batch's commit or the batch sees the
  new token; on SQLite every write transaction is ``BEGIN IMMEDIATE`` and already serial.
  `add_intents` is the last store call before a batch sends anything: it also renews the lease, so a
  runner sends with a full ttl ahead of it (keep the ttl well above the longest CRM send).
- ``lease=None`` skips the check (one-off tools, tests of other parts); a runner always passes it.

Expiry uses the callers' clocks (``now``, default the wall clock): runners sharing a store should
run NTP. Tokens only grow, so the fence holds even when clocks drift; the ttl only decides when a
silent holder may be replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from engine.store import db
from engine.store.tables import leases

DEFAULT_NAME = "runner"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lease: recording calls that pass it fail once a newer token exists."""

    name: str
    token: int
    holder: str
    expires_at: datetime
    ttl: float


class LeaseHeld(RuntimeError):
    """Another runner holds the lease; nothing may be sent or recorded by this one."""

    def __init__(self, name: str, holder: str, expires_at: datetime | None):
        self.name, self.holder, self.expires_at = name, holder, expires_at
        until = f" until {expires_at.isoformat().replace('+00:00', 'Z')}" if expires_at else ""
        super().__init__(f"the store's '{name}' lease is held by {holder}{until}: another runner is applying "
                         f"batches (one writer, D-RUN-4)")


class LeaseLost(RuntimeError):
    """A newer lease token exists: this runner was replaced; what it was recording is not recorded."""

    def __init__(self, lease: Lease, holder: str | None, token: int | None):
        self.lease, self.holder, self.token = lease, holder, token
        now_held = f"; now held by {holder} (token {token})" if holder else ""
        super().__init__(f"the store's '{lease.name}' lease (token {lease.token}, {lease.holder}) was lost"
                         f"{now_held}: nothing of this batch was recorded (D-RUN-4)")


def now_or_clock(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _row(conn: Connection, name: str, *, for_update: bool = False, for_share: bool = False):
    q = select(leases).where(leases.c.name == name)
    if conn.dialect.name == "postgresql":
        if for_update:
            q = q.with_for_update()
        elif for_share:
            q = q.with_for_update(read=True)
    return conn.execute(q).first()


def acquire(conn: Connection, engine, holder: str, ttl: float, now: datetime, name: str,
            take_over: str | None = None) -> Lease:
    if not holder:
        raise ValueError("a lease needs a holder name")
    if ttl <= 0:
        raise ValueError("a lease needs a positive ttl")
    conn.execute(db.insert_ignore(engine, leases, ["name"]).values(
        name=name, holder=None, token=0, expires_at=EPOCH, acquired_at=None))
    row = _row(conn, name, for_update=True)
    expires = now + timedelta(seconds=ttl)
    if row.holder and row.expires_at > now and not (take_over and row.holder == take_over):
        if row.holder != holder:
            raise LeaseHeld(name, row.holder, row.expires_at)
        conn.execute(update(leases).where(leases.c.name == name).values(expires_at=expires))
        return Lease(name, int(row.token), holder, expires, ttl)
    token = int(row.token) + 1
    conn.execute(update(leases).where(leases.c.name == name)
                 .values(token=token, holder=holder, expires_at=expires, acquired_at=now))
    return Lease(name, token, holder, expires, ttl)


def fence(conn: Connection, lease: Lease | None) -> None:
    """Raise LeaseLost when a newer token than `lease`'s was issued (no-op for ``None``)."""
    if lease is None:
        return
    row = _row(conn, lease.name, for_share=True)
    if row is None or int(row.token) != lease.token:
        raise LeaseLost(lease, row.holder if row is not None else None, int(row.token) if row is not None else None)


def renew(conn: Connection, lease: Lease, now: datetime) -> Lease:
    row = _row(conn, lease.name, for_update=True)
    if row is None or int(row.token) != lease.token:
        raise LeaseLost(lease, row.holder if row is not None else None, int(row.token) if row is not None else None)
    expires = now + timedelta(seconds=lease.ttl)
    conn.execute(update(leases).where(leases.c.name == lease.name).values(expires_at=expires, holder=lease.holder))
    return replace(lease, expires_at=expires)


def release(conn: Connection, lease: Lease) -> None:
    """Free the lease if it is still this one's (a lost lease is left to its new holder)."""
    conn.execute(update(leases).where(leases.c.name == lease.name, leases.c.token == lease.token)
                 .values(holder=None, expires_at=EPOCH))


def current(conn: Connection, name: str) -> Lease | None:
    row = _row(conn, name)
    if row is None or not row.holder:
        return None
    return Lease(name, int(row.token), row.holder, row.expires_at, 0.0)
