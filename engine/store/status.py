"""What `plays status` shows, read from the store alone (no CRM call, nothing written): events
ingested and pending per consumer, whether the work is parked and why (the stop of the newest
batch, D-RUN-5), the one-writer lease's holder (D-RUN-4), the outbox, and per CRM the API calls
made today (UTC) by kind, per day, per batch, and the day's usage the CRM last reported against
this engine's budget (`engine.store.ledger`).

`snapshot` returns one JSON-ready dict (times as ISO 8601 UTC strings); its shape is documented
in docs/operations.md ("plays status") and kept stable: keys are only ever added.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Collection

from engine.store.ledger import day_start

BATCH_SOURCES = ("batch", "schedule")


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _share(part: int | None, whole: int | None) -> float | None:
    return None if part is None or not whole else round(part / whole, 4)


def snapshot(store: Any, now: datetime, *, consumer: str = "batch", types: Collection[str] | None = None,
             days: int = 1, batches: int = 10) -> dict[str, Any]:
    """The store's status at `now`: `consumer`'s pending events are those of `types` (None: all)."""
    days, batches = max(int(days), 1), max(int(batches), 0)
    progress = store.progress()
    consumers = {}
    for name in sorted({consumer, *progress}):
        row = progress.get(name) or {}
        consumers[name] = {"cursor": row.get("cursor", 0), "events_done": row.get("events_done", 0),
                           "pending": store.pending_count(name, types if name == consumer else None),
                           "updated_at": iso(row.get("updated_at"))}
    pending = consumers[consumer]["pending"]
    parked = None
    last = [r for r in store.last_batch() if r["stopped"]]
    if last:  # every row of a stopped batch carries its stop; its detail names the CRM that stopped
        row = next((r for r in last if (r["detail"] or "").startswith(f"{r['crm']}:")), last[0])
        parked = {"code": row["stopped"], "crm": row["crm"], "detail": row["detail"], "at": iso(row["at"]),
                  "pending": pending}
    lease = store.lease_holder()
    by_day = store.calls_by_day(now, days)
    usage = store.last_usage()
    crms = {}
    today = day_start(now).date().isoformat()
    for crm in sorted(set(by_day) | set(usage)):
        days_of = by_day.get(crm, {})
        blank = {"calls": 0, "kinds": {}, "batches": 0, "stopped": 0, "events": 0, "written": 0}
        seen = usage.get(crm)
        level = None
        if seen is not None:
            level = {"api_day_used": seen["api_day_used"], "api_day_max": seen["api_day_max"],
                     "api_budget": seen["api_budget"], "at": iso(seen["at"]),
                     "share_used": _share(seen["api_day_used"], seen["api_day_max"]),
                     "share_of_budget": _share(seen["api_day_used"], seen["api_budget"]),
                     "today": day_start(seen["at"]) == day_start(now)}
        mine = days_of.get(today, blank)
        crms[crm] = {
            "today": {"day": today, **mine,
                      "share_of_allowance": _share(mine["calls"], (seen or {}).get("api_day_max"))},
            "days": [{"day": (day_start(now) - timedelta(days=i)).date().isoformat(),
                      **days_of.get((day_start(now) - timedelta(days=i)).date().isoformat(), blank)}
                     for i in range(days)],
            "usage": level,
            "batches": [{"at": iso(r["at"]), "run": r["run"], "source": r["source"], "consumer": r["consumer"],
                         "calls": r["calls"], "kinds": r["kinds"], "events": r["events"], "written": r["written"],
                         "stopped": r["stopped"]}
                        for r in (store.api_calls(crm=crm, source=BATCH_SOURCES, limit=batches) if batches else [])],
        }
    return {
        "store": store.describe(),
        "at": iso(now),
        "events": {"ingested": store.event_count(), "last_seq": store.last_seq()},
        "consumers": consumers,
        "parked": parked,
        "lease": None if lease is None else {"holder": lease.holder, "token": lease.token,
                                             "expires_at": iso(lease.expires_at),
                                             "running": lease.expires_at > now},
        "outbox": store.outbox_counts(),
        "crms": crms,
    }


def today_lines(by_day: dict[str, dict[str, dict[str, Any]]], now: datetime) -> list[str]:
    """One line per CRM: the calls this engine made today (UTC) by kind, from
    `Store.calls_by_day` (for the run summaries)."""
    day = day_start(now).date().isoformat()
    lines = []
    for crm, days in sorted(by_day.items()):
        got = days.get(day)
        if got is None:
            continue
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(got["kinds"].items()) if k != "retries")
        lines.append(f"{crm}: {got['calls']:,} calls today ({day} UTC, every run on this store)"
                     + (f" ({kinds})" if kinds else ""))
    return lines
