"""One pass over an events file (`plays run`, `plays demo`, the bench): ingest, apply every event
in batches (every Play and the tracking fields together, `engine.run.apply_batch`), show each
Play's share in a flow run named after it, then the sync flow, then each `schedule` Play once.

Events are stored in time order (``at``, then file order), so the batches see them in the order
`plays plan` applies them (D-RUN-1); an event already in the store is not applied again. The whole
pass is one parent flow run (``plays-run``) whose subflow runs are the Plays (``<play>:<label>``)
and the sync flow, so the number of flow runs does not grow with the number of events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.diagnostics import Diagnostic
from engine.evaluate.events import iso_z, parse_events_text
from engine.store import IngestResult, Store
from flows.consumers import Report
from flows.runtime import RuntimeSettings, get_runtime, utcnow

INGEST_CHUNK = 5000


@dataclass
class Loaded:
    events: list[dict]
    diagnostics: list[Diagnostic]
    latest_at: str | None


def read_events(path: str | Path, display: str | None = None) -> Loaded:
    """Parse an events file (JSONL or a JSON array); broken events become diagnostics and are left
    out. The rest come back as dicts in time order (stable: file order breaks ties)."""
    text = Path(path).read_text(encoding="utf-8")
    events, diags = parse_events_text(text, display or str(path))
    order = sorted(range(len(events)), key=lambda i: events[i].at)
    latest = iso_z(max(e.at for e in events)) if events else None
    return Loaded([dict(events[i].raw) for i in order], diags, latest)


def ingest(store: Store, events: list[dict], *, chunk: int = INGEST_CHUNK,
           progress: Callable[[int], None] | None = None) -> IngestResult:
    """Store events in chunks (one transaction each), idempotent by id; `progress(n)` after each."""
    stored = dup = 0
    new: list[str] = []
    for i in range(0, len(events), chunk):
        part = events[i:i + chunk]
        r = store.ingest(part, utcnow())
        stored, dup = stored + r.stored, dup + r.duplicates
        new.extend(r.new_ids)
        if progress is not None:
            progress(len(part))
    return IngestResult(stored, dup, tuple(new))


@dataclass
class PassResult:
    reports: dict[str, Report] = field(default_factory=dict)
    flow_runs: int = 0
    failed: list[str] = field(default_factory=list)
    parent_run: str | None = None
    events: int | None = None  # events the pass applied (each once, whatever the Plays it fired)
    calls: dict[str, dict[str, int]] | None = None  # the pass's CRM calls, by CRM and kind (counted once)

    def total(self) -> Report:
        out = Report("total")
        for r in self.reports.values():
            out.merge(r)
        if self.events is not None:
            out.events = self.events
        if self.calls is not None:  # each flow run's report holds its connectors' running counters
            out.calls = self.calls
        return out


def run_pass(settings: RuntimeSettings, label: str, *, schedule_at: str | None = None) -> PassResult:
    """Run every Play with pending events, then the tracking pass, then schedule Plays (at
    `schedule_at`), as subflow runs of one parent flow run. Needs a Prefect API."""
    from flows.play_flows import plays_run

    settings.apply()
    get_runtime(settings)  # load the Plays once, before any flow run starts
    state = plays_run(label=label, schedule_at=schedule_at, return_state=True)
    data = state.result(raise_on_failure=False) if state.is_completed() else None
    result = getattr(data, "value", None)
    if not isinstance(result, PassResult):
        result = PassResult(failed=[f"plays-run: {state.message}"])
    return result


def counts_line(report: Report) -> str:
    c = report.counts
    return (f"{report.events} events, {c['writes']} records written ({c['fields']} fields), "
            f"{c['activities']} activities, {c['kept']} kept, {c['skipped']} skipped")
