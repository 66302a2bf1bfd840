"""The ledger of CRM API calls (D-RUN-5), a mixin of `engine.store.store.Store`: one row per CRM
per batch, CRM pull, schedule pass or backfill, recorded in the transaction that records the batch
(`Store.record_batch` / `Store.record` take ``calls=``) or on its own (`record_calls`), fenced by
the lease like every recording call.

A row, as given (`engine.connectors.budget.ledger_rows` builds them): ``consumer``, ``source``
(batch | pull | schedule | backfill), ``crm``, ``calls`` (made), ``kinds`` (calls by kind, retries
included), ``events``, ``written`` (records), ``stopped`` / ``detail`` (the stop that parked the
work), and the day's usage the CRM last reported: ``api_day_used``, ``api_day_max``,
``api_budget``.

The readers answer what `plays status` and the run summaries show: `api_calls` (rows, newest
first), `calls_by_day` (calls per UTC day and CRM, kinds added up), `last_usage` (the newest
reported usage per CRM) and `last_batch` (the newest batch row: did it park the work?).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Collection, Iterable, Mapping

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from engine.store import lease as leasing
from engine.store.lease import Lease
from engine.store.tables import api_calls

_LEVELS = ("api_day_used", "api_day_max", "api_budget")
_COLUMNS = ("consumer", "source", "crm", "calls", "kinds", "events", "written", "stopped", "detail", *_LEVELS)


def day_start(now: datetime) -> datetime:
    """The start of `now`'s UTC day (the CRMs' daily allowances reset then)."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class Ledger:
    """The API call ledger; needs ``_write`` and ``_read`` from the store."""

    def _insert_calls(self, conn: Connection, rows: Iterable[Mapping[str, Any]], now: datetime,
                      run: str | None) -> None:
        out = []
        for row in rows:
            kinds = {str(k): int(v) for k, v in dict(row.get("kinds") or {}).items() if v}
            out.append({"at": row.get("at") or now, "run": row.get("run", run), "consumer": str(row["consumer"]),
                        "source": str(row.get("source") or "batch"), "crm": str(row["crm"]),
                        "calls": int(row.get("calls") or 0), "kinds": kinds, "events": int(row.get("events") or 0),
                        "written": int(row.get("written") or 0), "stopped": row.get("stopped"),
                        "detail": row.get("detail"), **{k: _int(row.get(k)) for k in _LEVELS}})
        if out:
            conn.execute(api_calls.insert(), out)

    def record_calls(self, rows: Iterable[Mapping[str, Any]], now: datetime, *, run: str | None = None,
                     lease: Lease | None = None) -> None:
        """Ledger rows outside a recorded batch (a CRM pull; a batch whose record lost a race)."""
        rows = list(rows)
        if not rows:
            return
        with self._write() as conn:
            leasing.fence(conn, lease)
            self._insert_calls(conn, rows, now, run)

    def api_calls(self, *, since: datetime | None = None, crm: str | None = None,
                  source: str | Collection[str] | None = None, limit: int | None = None) -> list[dict]:
        """Ledger rows, newest first (`source`: one, or several)."""
        q = select(api_calls).order_by(api_calls.c.id.desc())
        if since is not None:
            q = q.where(api_calls.c.at >= since)
        if crm is not None:
            q = q.where(api_calls.c.crm == crm)
        if source is not None:
            q = q.where(api_calls.c.source.in_([source] if isinstance(source, str) else sorted(source)))
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def calls_by_day(self, now: datetime, days: int = 1) -> dict[str, dict[str, dict[str, Any]]]:
        """Calls per CRM and UTC day over the last `days` days (today included): ``{crm: {day:
        {"calls", "kinds", "batches", "stopped", "events", "written"}}}``: ``batches`` counts the
        drain's batches, ``stopped`` those a stop parked, ``events`` the events of the others
        (applied); a day without rows is left out."""
        start = day_start(now) - timedelta(days=max(days, 1) - 1)
        q = (select(api_calls.c.at, api_calls.c.crm, api_calls.c.source, api_calls.c.calls, api_calls.c.kinds,
                    api_calls.c.events, api_calls.c.written, api_calls.c.stopped)
             .where(api_calls.c.at >= start).order_by(api_calls.c.id))
        out: dict[str, dict[str, dict[str, Any]]] = {}
        with self._read() as conn:
            for r in conn.execute(q):
                day = out.setdefault(r.crm, {}).setdefault(
                    r.at.date().isoformat(), {"calls": 0, "kinds": {}, "batches": 0, "stopped": 0, "events": 0,
                                              "written": 0})
                day["calls"] += r.calls
                for kind, n in (r.kinds or {}).items():
                    day["kinds"][kind] = day["kinds"].get(kind, 0) + int(n)
                if r.source == "batch":
                    day["batches"] += 1
                    day["stopped" if r.stopped else "events"] += 1 if r.stopped else r.events
                day["written"] += r.written
        return out

    def last_usage(self) -> dict[str, dict[str, Any]]:
        """The day's usage each CRM reported last: ``{crm: {"api_day_used", "api_day_max",
        "api_budget", "at"}}`` (CRMs that never reported are left out)."""
        newest = (select(func.max(api_calls.c.id)).where(api_calls.c.api_day_max.is_not(None))
                  .group_by(api_calls.c.crm))
        with self._read() as conn:
            rows = conn.execute(select(api_calls).where(api_calls.c.id.in_(newest.scalar_subquery())))
            return {r.crm: {"api_day_used": r.api_day_used, "api_day_max": r.api_day_max,
                            "api_budget": r.api_budget, "at": r.at} for r in rows}

    def last_batch(self) -> list[dict]:
        """The rows of the newest batch of the event log's drain (one per CRM; schedule passes and
        pulls are not batches): its ``stopped`` says whether it parked the work. Empty when no
        batch has been recorded."""
        with self._read() as conn:
            top = conn.execute(select(api_calls.c.at).where(api_calls.c.source == "batch")
                               .order_by(api_calls.c.id.desc()).limit(1)).first()
            if top is None:
                return []
            q = (select(api_calls).where(api_calls.c.at == top.at, api_calls.c.source == "batch")
                 .order_by(api_calls.c.id))
            return [dict(r._mapping) for r in conn.execute(q)]
