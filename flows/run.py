"""One pass over an events file (`plays run`, `plays demo`, the bench): ingest, then run every
triggered Play as a flow run, then the tracking pass, then each `schedule` Play once.

Events are stored in time order (``at``, then file order), so the per-Play cursors see them in the
order `plays plan` applies them; an event already in the store is not applied again. The whole pass
is one parent flow run (``plays-run``) whose subflow runs are the Plays (named ``<play>:<label>``)
and the sync flow; each drains its pending events in batches, so the number of flow runs does not
grow with the number of events. Plays run one after another in Play-id order (the planner's merge
order for several Plays on one event).
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

    def total(self) -> Report:
        out = Report("total")
        for r in self.reports.values():
            out.merge(r)
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
