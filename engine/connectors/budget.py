"""The daily API budget guard (D-RUN-5): read the usage each CRM reports on every answer, and park
the work before a configured share of the org's daily allowance is spent.

Salesforce reports `Sforce-Limit-Info: api-usage=USED/MAX` (calls used today in the org, by every
integration, out of its daily allowance); HubSpot `X-HubSpot-RateLimit-Daily` and
`X-HubSpot-RateLimit-Daily-Remaining`. `api_budget_share` (integration.yaml, per CRM, default
0.5) is the share of the allowance the engine may use up: once the reported usage reaches
`share x MAX`, the next call is refused before it is made with the stop `api_budget_reached`, so
the sync stops the way it does for any limit: what was sent is recorded, the rest stays pending
(parked, not lost) and the next run after the allowance resets sends it. A connection that lives
long (`plays serve`) lets one call through every `RECHECK` seconds once the budget is spent, so it
learns when the allowance has come back.

`report()` gives the figures a run shows: `api_day_used`, `api_day_max` (as last reported) and
`api_budget` (the threshold in calls).

The ledger: `METER.take(conns)` gives the calls each connector made since the last reading (its
counters only grow), and `ledger_rows` turns them into the store's API call ledger rows
(`engine.store.ledger`), one per CRM, so every call made lands in exactly one row.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from typing import Any, Callable, Iterable, Mapping

from engine.connectors.base import SyncStopped

DEFAULT_SHARE = 0.5
RECHECK = 900.0  # seconds after which a spent budget is asked again (one call), as often as the sync runs
CODE = "api_budget_reached"
_SF_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def read_usage(headers: Mapping[str, Any]) -> tuple[int, int] | None:
    """(used, max) of the day's allowance from one answer's headers (either CRM), if present."""
    h = {str(k).lower(): v for k, v in headers.items()}
    usage = h.get("sforce-limit-info")
    if usage:
        m = _SF_USAGE.search(str(usage))
        if m:
            return int(m.group(1)), int(m.group(2))
    daily, remaining = h.get("x-hubspot-ratelimit-daily"), h.get("x-hubspot-ratelimit-daily-remaining")
    if daily is not None and remaining is not None:
        try:
            total, left = int(str(daily).strip()), int(str(remaining).strip())
        except ValueError:
            return None
        return max(total - left, 0), total
    return None


class ApiBudget:
    """One CRM connection's view of its daily allowance and the share it may spend."""

    def __init__(self, crm: str, share: float = DEFAULT_SHARE, *, recheck: float = RECHECK,
                 clock: Callable[[], float] = time.monotonic):
        self.crm = crm
        self.share = share
        self.used: int | None = None
        self.max: int | None = None
        self.recheck, self._clock = recheck, clock
        self._noted = 0.0  # when the usage was last reported (clock seconds)
        self._lock = threading.Lock()

    def note(self, headers: Mapping[str, Any] | None) -> None:
        usage = read_usage(headers or {})
        if usage is not None:
            with self._lock:
                self.used, self.max = usage
                self._noted = self._clock()

    @property
    def limit(self) -> int | None:
        """The calls the engine may see used today before it parks work (share x allowance)."""
        return None if self.max is None else int(self.max * self.share)

    def check(self) -> SyncStopped | None:
        """The stop to raise before the next call, when the budget is spent."""
        with self._lock:
            used, limit, total = self.used, self.limit, self.max
            if used is None or limit is None or used < limit:
                return None
            if self._clock() - self._noted >= self.recheck:
                # the figure is old: let one call through to read it afresh (a long-lived
                # connection of `plays serve` must see the allowance come back)
                self._noted = self._clock()
                return None
        return SyncStopped(self.crm, CODE,
                           f"{used:,} of the {total:,} API calls allowed today are used; the budget for "
                           f"this engine is {self.share:.0%} ({limit:,} calls)",
                           "the pending work is parked and sent after the daily allowance resets; "
                           "api_budget_share in integration.yaml sets the share")

    def report(self) -> dict[str, int]:
        with self._lock:
            if self.used is None or self.max is None:
                return {}
            return {"api_day_used": self.used, "api_day_max": self.max,
                    "api_budget": int(self.max * self.share)}


LEVELS = ("api_day_used", "api_day_max", "api_budget")  # levels as last reported, not counts to add up


def merge_calls(into: dict[str, int], more: Mapping[str, int]) -> None:
    """Add one sync's call counters to a running total: counts add up, the day's usage levels
    keep the latest (largest) figure."""
    for key, value in more.items():
        into[key] = max(into.get(key, 0), value) if key in LEVELS else into.get(key, 0) + value


def made(counts: Mapping[str, int]) -> dict[str, int]:
    """The calls made, by kind: the counters without the usage levels and the retry count (each
    retried attempt is already counted under its kind)."""
    return {k: v for k, v in counts.items() if k not in LEVELS and k != "retries" and v}


def calls_since(before: Mapping[str, Mapping[str, int]], after: Mapping[str, Mapping[str, int]]
                ) -> dict[str, dict[str, int]]:
    """The calls made between two readings of the connectors' counters (which only grow), by CRM
    and kind; the day's usage levels as of the later reading."""
    out: dict[str, dict[str, int]] = {}
    for crm, counts in after.items():
        was = before.get(crm) or {}
        out[crm] = {k: v if k in LEVELS else v - was.get(k, 0) for k, v in counts.items()}
    return out


def summary(calls: Mapping[str, Mapping[str, int]]) -> list[str]:
    """One line per CRM: the calls made by kind and the day's usage against the budget."""
    lines = []
    for crm, counts in sorted(calls.items()):
        made_ = made(counts)
        text = f"{crm}: {sum(made_.values())} API calls (" + ", ".join(f"{k} {v}" for k, v in sorted(made_.items())) + ")"
        if counts.get("api_day_max"):
            used, total = counts.get("api_day_used", 0), counts["api_day_max"]
            text += (f"; today {used:,} of {total:,} ({used / total:.1%}) used by the org, "
                     f"budget {counts.get('api_budget', total):,}")
        lines.append(text)
    return lines


class CallMeter:
    """The calls each connector made since this meter last read it (connectors' counters only grow;
    a connector seen for the first time counts from its start)."""

    def __init__(self) -> None:
        self._seen: "weakref.WeakKeyDictionary[Any, dict[str, int]]" = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def take(self, conns: Mapping[str, Any]) -> dict[str, dict[str, int]]:
        """``{crm: {kind: calls since the last reading, ..., the day's usage levels}}``."""
        out: dict[str, dict[str, int]] = {}
        for crm, conn in conns.items():
            now = dict(conn.calls())
            with self._lock:
                before = self._seen.get(conn, {})
                self._seen[conn] = now
            delta = calls_since({crm: before}, {crm: now})[crm]
            out[crm] = {**{k: v for k, v in delta.items() if v}, **getattr(conn, "api_usage", dict)()}
        return out


METER = CallMeter()  # one per process: the connectors are shared by the process's flow runs


def records_written(audit: Iterable[Any]) -> dict[str, int]:
    """Records written per CRM in a batch's audit rows (`AuditRow`s or their dicts; activities,
    field ``*``, not counted)."""
    seen: set[tuple] = set()
    for a in audit:
        get = a.get if isinstance(a, Mapping) else (lambda key, a=a: getattr(a, key))
        if get("field") != "*":
            seen.add((get("crm"), get("object"), get("record")))
    out: dict[str, int] = {}
    for crm, _obj, _rec in seen:
        out[crm] = out.get(crm, 0) + 1
    return out


def ledger_rows(calls: Mapping[str, Mapping[str, int]], *, consumer: str, source: str, events: int = 0,
                audit: Iterable[Any] = (), stopped: Any = None) -> list[dict[str, Any]]:
    """The API call ledger rows of one batch / pull / schedule pass / backfill, one per CRM (`calls` from
    `CallMeter.take`; `stopped`: the `SyncStopped` or `ConnectionProblem` that parked the work, noted
    on every row: the whole batch stays pending, whichever CRM stopped it, which its detail names)."""
    written = records_written(audit)
    rows = []
    stop = stopped
    for crm, counts in sorted(calls.items()):
        kinds = {k: v for k, v in counts.items() if k not in LEVELS and v}
        rows.append({"consumer": consumer, "source": source, "crm": crm, "calls": sum(made(counts).values()),
                     "kinds": kinds, "events": events, "written": written.get(crm, 0),
                     "stopped": getattr(stop, "code", None), "detail": stop.format() if stop else None,
                     **{k: counts.get(k) for k in LEVELS}})
    return rows
