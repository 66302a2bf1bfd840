"""The daily API budget guard (D-RUN-5): read the usage each CRM reports on every answer, and park
the work before a configured share of the org's daily allowance is spent.

Salesforce reports `Sforce-Limit-Info: api-usage=USED/MAX` (calls used today in the org, by every
integration, out of its daily allowance); HubSpot `X-HubSpot-RateLimit-Daily` and
`X-HubSpot-RateLimit-Daily-Remaining`. `api_budget_share` (integration.yaml, per CRM, default
0.5) is the share of the allowance the engine may use up: once the reported usage reaches
`share x MAX`, the next call is refused before it is made with the stop `api_budget_reached`, so
the sync stops the way it does for any limit: what was sent is recorded, the rest stays pending
(parked, not lost) and the next run after the allowance resets sends it.

`report()` gives the figures a run shows: `api_day_used`, `api_day_max` (as last reported) and
`api_budget` (the threshold in calls).
"""

from __future__ import annotations

import re
import threading
from typing import Any, Mapping

from engine.connectors.base import SyncStopped

DEFAULT_SHARE = 0.5
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

    def __init__(self, crm: str, share: float = DEFAULT_SHARE):
        self.crm = crm
        self.share = share
        self.used: int | None = None
        self.max: int | None = None
        self._lock = threading.Lock()

    def note(self, headers: Mapping[str, Any] | None) -> None:
        usage = read_usage(headers or {})
        if usage is not None:
            with self._lock:
                self.used, self.max = usage

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


def summary(calls: Mapping[str, Mapping[str, int]]) -> list[str]:
    """One line per CRM: the calls made by kind and the day's usage against the budget."""
    lines = []
    for crm, counts in sorted(calls.items()):
        made = {k: v for k, v in counts.items() if k not in LEVELS and k != "retries" and v}
        text = f"{crm}: {sum(made.values())} API calls (" + ", ".join(f"{k} {v}" for k, v in sorted(made.items())) + ")"
        if counts.get("api_day_max"):
            used, total = counts.get("api_day_used", 0), counts["api_day_max"]
            text += (f"; today {used:,} of {total:,} ({used / total:.1%}) used by the org, "
                     f"budget {counts.get('api_budget', total):,}")
        lines.append(text)
    return lines
