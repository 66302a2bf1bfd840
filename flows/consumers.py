"""The drain loop over the event log — orchestration only, no Prefect, no business rule.

One consumer, ``batch``, drains every event any Play or the tracking fields care about, in batches
in ingest order. Each batch is one call of `engine.run.apply_batch` with every Play and the
tracking fields together (D-RUN-2: the same call `plays plan` makes; D-RUN-3: each record read
once and its net change sent once, whatever the number of Plays), under the store's one-writer
lease (D-RUN-4: `flows.lease.hold`; no CRM write without holding it, and the batch's audit rows,
skipped records, tracking aggregates and cursor move are recorded under its fencing token in one
transaction). A `schedule` Play's pass is the same call with no events, at a given time.

A batch whose sync stopped (rate limit, expired credentials, CRM down) records what did land,
parks the rest in the outbox for visibility, and leaves the cursor where it was: the next pass
re-plans the same events against fresh reads, so nothing is lost and nothing is written twice.
A run killed between its CRM writes and its record leaves write intents (`flows.intents`): the
restarted batch audits those the CRM shows as landed, so the audit log misses none either.

`Report` keeps what a pass did — counts per Play (None: the Play-less entries: tracking fields,
email activities, records that cannot sync) and the first `ROW_CAP` rows of each kind, as
`engine.results` values — so each Play's share can be shown in its own Prefect flow run.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

from engine.connectors.base import ConnectionProblem, SyncStopped
from engine.connectors.budget import METER, ledger_rows, merge_calls
from engine.language.model import Play
from engine.language.vocab import EventType
from engine.results import RULES, AuditRow, Kept, Outcome, Skipped
from engine.run import apply_batch
from engine.store import CursorMoved, LeaseHeld, LeaseLost, Pending, Settle
from flows.intents import reconcile, recording, stopped_settle
from flows.lease import Held, hold
from flows.runtime import Runtime, utcnow

BATCH = "batch"  # the one consumer of the event log (every Play and the tracking fields)
TRACKING = "tracking"  # the name the Play-less share is shown under
TRACKING_TYPES = frozenset({EventType.EMAIL_SENT.value, EventType.EMAIL_OPENED.value,
                            EventType.EMAIL_CLICKED.value, EventType.EMAIL_REPLIED.value})
ROW_CAP = 2000  # rows kept per table for artifacts; counts are always complete
_LEGACY = ("tracking",)  # consumers of earlier versions (one per Play, plus tracking)


def trigger_types(play: Play) -> frozenset[str]:
    """The event types that can fire a Play (coarse routing; the planner applies the filters)."""
    t = play.trigger
    return t.event_types  # the one trigger routing (engine.language.vocab.trigger_event_types)


def batch_types(rt: Runtime) -> frozenset[str]:
    """Every event type a Play or the tracking fields can use."""
    return event_types(rt.plays.values())


def event_types(plays: Iterable[Play]) -> frozenset[str]:
    """Every event type these Plays or the tracking fields can use (`plays status` counts the
    ``batch`` consumer's pending events with it, as the drain does)."""
    out = set(TRACKING_TYPES)
    for play in plays:
        out |= trigger_types(play)
    return frozenset(out)


# ------------------------------------------------------------------------------------ reports

def _counts() -> dict[str, int]:
    return {"writes": 0, "fields": 0, "kept": 0, "skipped": 0, "activities": 0, "pending": 0}


@dataclass
class Report:
    """What a pass did: counts (total and per Play), and the first ROW_CAP rows of each kind."""

    consumer: str
    events: int = 0
    batches: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    counts: dict[str, int] = field(default_factory=_counts)
    by_play: dict[str | None, dict[str, int]] = field(default_factory=dict)
    events_by_play: Counter = field(default_factory=Counter)
    writes: list[AuditRow] = field(default_factory=list)   # fields written (field != "*")
    kept: list[Kept] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    activities: list[Any] = field(default_factory=list)    # connectors' CreatedActivity
    stopped: SyncStopped | None = None
    problem: ConnectionProblem | None = None
    conflict: bool = False
    calls: dict[str, Any] = field(default_factory=dict)
    lease: str | None = None  # D-RUN-4: why this runner sent nothing (the lease's holder)
    api: dict[str, dict[str, int]] = field(default_factory=dict)  # by CRM: calls made, minimum (D-RUN-3)

    @property
    def ok(self) -> bool:
        return self.stopped is None and self.problem is None and self.lease is None

    def merge(self, other: "Report") -> "Report":
        self.events += other.events
        self.batches += other.batches
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        for play, c in other.by_play.items():
            mine = self.by_play.setdefault(play, _counts())
            for k, v in c.items():
                mine[k] = mine.get(k, 0) + v
        self.events_by_play.update(other.events_by_play)
        for name in ("writes", "kept", "skipped", "activities"):
            mine = getattr(self, name)
            mine.extend(getattr(other, name)[: max(0, ROW_CAP - len(mine))])
        for crm, calls in other.calls.items():
            merge_calls(self.calls.setdefault(crm, {}), calls)  # counts add up, the day's usage does not
        for crm, api in other.api.items():
            have = self.api.setdefault(crm, {"calls": 0, "minimum": 0})
            for k, v in api.items():
                have[k] = have.get(k, 0) + v
        self.stopped = self.stopped or other.stopped
        self.problem = self.problem or other.problem
        self.lease = self.lease or other.lease
        return self

    def share(self, play: str | None, name: str | None = None) -> "Report":
        """One Play's part of this pass (None: the Play-less entries), for its own flow run."""
        out = Report(name or play or TRACKING, events=self.events_by_play.get(play, 0), batches=self.batches,
                     first_seq=self.first_seq, last_seq=self.last_seq,
                     counts=dict(self.by_play.get(play) or _counts()), stopped=self.stopped, problem=self.problem,
                     conflict=self.conflict, lease=self.lease)
        out.by_play = {play: dict(out.counts)}
        out.events_by_play = Counter({play: out.events})
        out.writes = [r for r in self.writes if r.play == play]
        out.kept = [r for r in self.kept if r.play == play]
        out.skipped = [r for r in self.skipped if r.play == play]
        out.activities = [r for r in self.activities if r.play == play]
        return out

    def plays(self) -> list[str]:
        """The Plays this pass did something for (fired, wrote, kept or skipped)."""
        return sorted(p for p in set(self.by_play) | set(self.events_by_play) if p is not None)

    def message(self) -> str:
        c = self.counts
        text = (f"{self.consumer}: {self.events} events in {self.batches} batches -> {c['writes']} records written "
                f"({c['fields']} fields), {c['activities']} activities, {c['kept']} kept, {c['skipped']} skipped")
        if self.stopped:
            text += f"; STOPPED: {self.stopped.format()}"
        if self.problem:
            text += f"; NOT CONNECTED: {self.problem.format()}"
        if self.lease:
            text += f"; NOT RUN: {self.lease}"
        return text


def _cap(rows: list, new: Iterable[Any]) -> None:
    for row in new:
        if len(rows) >= ROW_CAP:
            return
        rows.append(row)


def _add(report: Report, out: Outcome, audit: list[AuditRow], fired: Counter) -> None:
    """Count a batch's outcome, in total and per Play."""
    def bump(play: str | None, key: str, n: int = 1) -> None:
        report.by_play.setdefault(play, _counts())[key] += n
        report.counts[key] += n

    records: set[tuple] = set()
    for a in audit:
        if a.field == "*":
            bump(a.play, "activities")
            continue
        bump(a.play, "fields")
        if (a.crm, a.object, a.record, a.play) not in records:
            records.add((a.crm, a.object, a.record, a.play))
            bump(a.play, "writes")
    for k in out.kept:
        bump(k.play, "kept")
    for s in out.skipped:
        bump(s.play, "skipped")
    report.events_by_play.update(fired)
    _cap(report.writes, (a for a in audit if a.field != "*"))
    _cap(report.kept, out.kept)
    _cap(report.skipped, out.skipped)
    _cap(report.activities, out.logged)


def _fired(rt: Runtime, events: list[dict]) -> Counter:
    """How many of the batch's events each Play's trigger listens to (for its run's summary)."""
    routes: dict[str, list[str]] = {}
    for pid, play in rt.plays.items():
        for t in trigger_types(play):
            routes.setdefault(t, []).append(pid)
    out: Counter = Counter()
    for e in events:
        for pid in routes.get(e.get("type"), ()):
            out[pid] += 1
        if e.get("type") in TRACKING_TYPES:
            out[None] += 1  # the Play-less share: tracking fields and email activities
    return out


def _pending_rows(result: Outcome, consumer: str, pend: Pending | None) -> list[dict]:
    rows = []
    for i, item in enumerate(result.pending):
        payload = item.to_json() if hasattr(item, "to_json") else {}
        where = f"{pend.cursor}-{pend.horizon}" if pend is not None else "schedule"
        rows.append({"key": f"{consumer}:{where}:{i}", "crm": getattr(item, "crm", None), "payload": payload,
                     "error": result.stopped.format() if result.stopped else None})
    return rows


def log_entries(out: Outcome, log: Callable[[str], None] | None, budget: list[int]) -> None:
    """One log line per kept/skipped entry, naming the rule (up to `budget[0]` lines per run)."""
    if log is None:
        return
    for k in out.kept:
        if budget[0] <= 0:
            return
        budget[0] -= 1
        log(f"kept {k.crm} {k.object} {k.record} {k.field}={k.current!r} (wanted {k.wanted!r}; "
            f"{k.play or 'tracking'}/{k.node}): {RULES.get(k.reason, k.reason)}")
    for s in out.skipped:
        if budget[0] <= 0:
            return
        budget[0] -= 1
        what = " ".join(str(x) for x in (s.crm, s.object, s.record or s.email) if x)
        log(f"skipped {what or s.event} [{s.reason}] {s.detail} — {RULES.get(s.reason, '')}")


# ------------------------------------------------------------------------------------ passes

def _tracking_for(rt: Runtime, emails: Iterable[str]) -> dict:
    return {"version": 1, "contacts": rt.store.tracking(emails)}


def _apply(rt: Runtime, plays: Any, conns: Any, pend: Pending | None, events: list[dict], *,
           now_for_schedule: Any = None, tracking_state: Any = None, clock: Callable[[], datetime],
           run: str | None, report: Report, log: Callable[[str], None] | None, budget: list[int],
           held: Held, consumer: str = BATCH) -> bool:
    lease = held.refresh()  # LeaseLost: replaced by another runner, nothing sent
    old_intents = rt.store.intents(consumer)  # left by a run that died mid-batch
    meter = conns
    token, conns = recording(conns, rt.store, consumer, clock, held)
    result = apply_batch(events, plays, rt.integration, conns, clock, tracking_state=tracking_state,
                         crm_objects=rt.metadata(),
                         audiences=rt.audiences() if now_for_schedule is not None else None,
                         now=now_for_schedule)
    landed, settle = reconcile(old_intents, conns, result, consumer, token)
    audit = [*(AuditRow(**row) for row in landed), *result.audit]  # written by a dead run: audited now, `before` from its intent
    log_entries(result, log, budget)
    now = clock()
    report.batches += 1
    report.calls = result.calls
    for crm in result.used:
        api = report.api.setdefault(crm, {"calls": 0, "minimum": 0})
        api["calls"] += result.used[crm]
        api["minimum"] += result.minimum.get(crm, 0)
    _add(report, result, audit, _fired(rt, events))
    rows = [a.to_row() for a in audit]
    skipped = [s.to_row() for s in result.skipped]
    calls = ledger_rows(METER.take(meter), consumer=report.consumer, source="schedule" if pend is None else "batch",
                        events=len(events), audit=audit, stopped=result.stopped or result.problem)  # D-RUN-5
    if result.stopped is not None or result.problem is not None:
        report.stopped, report.problem = result.stopped, result.problem
        pending = _pending_rows(result, consumer, pend)
        report.counts["pending"] += len(pending)
        settle = stopped_settle(rt.store, settle, result)  # unconfirmed writes stay for the next attempt
        rt.store.record(now, run=run, audit=rows, settle=settle, calls=calls, lease=lease)  # what landed before the stop
        rt.store.enqueue(pending, consumer, now, lease=lease)
        return False
    states = dict((result.tracking_state or {}).get("contacts") or {}) or None
    if pend is None:  # a schedule pass: no cursor
        rt.store.record(now, run=run, audit=rows, skipped=skipped, settle=settle, calls=calls, lease=lease)
        return True
    try:
        rt.store.record_batch(consumer, pend.cursor, pend.horizon, now, run=run, events_done=len(events),
                              audit=rows, skipped=skipped, tracking=states, settle=settle, calls=calls, lease=lease)
    except CursorMoved:
        report.conflict = True  # another run recorded this batch first (it is not recorded twice)
        rt.store.settle(Settle(consumer, token))
        rt.store.record_calls(calls, now, run=run)  # the calls were made all the same
        return False
    rt.store.outbox_resolve(consumer, now)
    return True


def _adopt_legacy_cursor(rt: Runtime, held: Held, clock: Callable[[], datetime]) -> None:
    """A store written by an earlier version has one cursor per Play (and tracking) and none for
    ``batch``: start ``batch`` at the lowest of them, so no event is applied twice from scratch
    (the few between the lowest and the highest are re-planned against fresh reads: no change)."""
    if rt.store.cursor(BATCH):
        return
    olds = [rt.store.cursor(c) for c in (*rt.plays, *_LEGACY)]
    olds = [c for c in olds if c]
    if olds and len(olds) == len([c for c in (*rt.plays, *_LEGACY)]):
        rt.store.reset_cursor(BATCH, min(olds), clock(), lease=held.lease)


_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def _drain_lock(store: Any) -> threading.Lock:
    """One drain at a time per store in this process: the lease is shared by the process's flow
    runs (`flows.lease`), so two of them must not apply the same batch side by side; the second
    waits, then finds what is left."""
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(id(store), threading.Lock())


def drain(rt: Runtime, *, run: str | None = None, clock: Callable[[], datetime] = utcnow,
          log: Callable[[str], None] | None = None, batch_size: int | None = None,
          max_batches: int | None = None, on_batch: Callable[[Report], None] | None = None) -> Report:
    """Apply every pending event, batch by batch, until none is left (or a stop), holding the lease."""
    report = Report(BATCH)
    size = batch_size or rt.settings.batch_size
    conns = rt.connectors()
    if isinstance(conns, ConnectionProblem):
        report.problem = conns
        return report
    try:
        with _drain_lock(rt.store), hold(rt.store) as held:
            _adopt_legacy_cursor(rt, held, clock)
            _drain(rt, conns, held, report, run=run, clock=clock, log=log, size=size,
                   max_batches=max_batches, on_batch=on_batch)
    except (LeaseHeld, LeaseLost) as exc:  # D-RUN-4: another runner applies batches; this one sent nothing
        report.lease = str(exc)
        if log is not None:
            log(f"not applying events: {exc}")
    return report


def _drain(rt: Runtime, conns: Any, held: Held, report: Report, *, run: str | None,
           clock: Callable[[], datetime], log: Callable[[str], None] | None, size: int,
           max_batches: int | None, on_batch: Callable[[Report], None] | None) -> None:
    budget = [200]
    types = batch_types(rt)
    compiled = rt.compiled()
    while max_batches is None or report.batches < max_batches:
        pend = rt.store.pending(BATCH, types, size)
        if not pend.events:
            if pend.horizon > pend.cursor:
                try:
                    rt.store.record_batch(BATCH, pend.cursor, pend.horizon, clock(), lease=held.lease)
                except CursorMoved:
                    report.conflict = True
            break
        events = [e.payload for e in pend.events]
        tracking = _tracking_for(rt, {e.email for e in pend.events if e.email})
        if report.first_seq is None:
            report.first_seq = pend.events[0].seq
        ok = _apply(rt, compiled, conns, pend, events, tracking_state=tracking, clock=clock, run=run,
                    report=report, log=log, budget=budget, held=held)
        report.events += len(events) if ok else 0
        report.last_seq = pend.events[-1].seq
        if on_batch is not None:
            on_batch(report)
        if not ok:
            break


def pending_count(rt: Runtime) -> int:
    return rt.store.pending_count(BATCH, batch_types(rt))


def run_schedule(rt: Runtime, play_id: str, at: Any, *, run: str | None = None,
                 clock: Callable[[], datetime] = utcnow, log: Callable[[str], None] | None = None) -> Report:
    """Run a `schedule` Play once at `at` over its audience (tracking state of every contact)."""
    report = Report(play_id)
    conns = rt.connectors()
    if isinstance(conns, ConnectionProblem):
        report.problem = conns
        return report
    tracking = {"version": 1, "contacts": rt.store.tracking_all()}
    try:
        with hold(rt.store) as held:
            _apply(rt, {play_id: rt.plays[play_id]}, conns, None, [], now_for_schedule=at, tracking_state=tracking,
                   clock=clock, run=run, report=report, log=log, budget=[200], held=held)
    except (LeaseHeld, LeaseLost) as exc:
        report.lease = str(exc)
    return report


# ------------------------------------------------------------------------------------ CRM pull

@dataclass
class PullReport:
    changed: dict[str, int] = field(default_factory=dict)
    new_fields: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    stops: dict[str, SyncStopped] = field(default_factory=dict)  # by CRM: the stop that ended its pull


def _email_problems(crm: str, obj: str, rows: Iterable[dict]) -> list[Skipped]:
    """D-WB-5: pulled person records without a (valid) email cannot sync; report each one."""
    from engine.evaluate.events import normalize_email

    out = []
    for rec in rows:
        raw = rec.get("Email") if crm == "salesforce" else (rec.get("properties") or {}).get("email")
        _email, problem = normalize_email(raw)
        if problem is None:
            continue
        rid = rec.get("Id") if crm == "salesforce" else rec.get("id")
        what = "has no email address" if problem == "no_email" else f"has an invalid email address {raw!r}"
        out.append(Skipped(problem, crm, obj, rid, raw if isinstance(raw, str) and raw else None,
                           detail=f"{obj} {rid} {what} (D-WB-5)"))
    return out


def pull_changes(rt: Runtime, *, clock: Callable[[], datetime] = utcnow) -> PullReport:
    """D-SY-1: pull person records changed since the stored cursor (the first pull is full), and
    D-SY-2: discover custom fields that the metadata snapshot does not know yet (each reported once)."""
    out = PullReport()
    conns = rt.connectors()
    if isinstance(conns, ConnectionProblem):
        out.problems.append(conns.format())
        return out
    calls: list[dict] = []
    for crm, conn in conns.items():
        _pull_one(rt, crm, conn, out, clock)
        calls += ledger_rows(METER.take({crm: conn}), consumer="pull", source="pull",  # D-RUN-5
                             stopped=out.stops.get(crm))
    if out.skipped or calls:
        rt.store.record(clock(), skipped=[s.to_row() for s in out.skipped], calls=calls)
    return out


def _pull_one(rt: Runtime, crm: str, conn: Any, out: PullReport, clock: Callable[[], datetime]) -> None:
    """One CRM's part of `pull_changes`."""
    import json

    name = f"pull:{crm}"
    raw = rt.store.sync_cursor(name)
    since = json.loads(raw) if raw else None
    pulled = conn.pull_changes(since)
    for obj, rows in pulled.records.items():
        out.changed[f"{crm}:{obj}"] = len(rows)
        out.skipped.extend(_email_problems(crm, obj, rows))
    if pulled.stopped is not None:
        out.stops[crm] = pulled.stopped
        out.problems.append(pulled.stopped.format())
    else:
        rt.store.set_sync_cursor(name, json.dumps(dict(pulled.cursor), sort_keys=True), clock())
    try:
        live = conn.read_metadata()
    except Exception as exc:  # noqa: BLE001 - reported, the sync goes on
        out.problems.append(f"{crm}: cannot read field metadata: {exc}")
        return
    from engine.language.metadata import hubspot_objects, salesforce_objects

    objects = salesforce_objects(live) if crm == "salesforce" else hubspot_objects(live)
    for obj, schema in objects.items():
        key = f"fields:{crm}:{obj}"
        known_raw = rt.store.sync_cursor(key)
        snapshot = (rt.workspace.crm_objects.get(crm) or {}).get(obj)
        known = set(json.loads(known_raw)) if known_raw else set(snapshot.fields if snapshot else ())
        custom = {n for n, f in schema.fields.items() if n.endswith("__c") or crm == "hubspot"}
        new = sorted(custom - known)
        if new:
            out.new_fields[f"{crm}:{obj}"] = new
        rt.store.set_sync_cursor(key, json.dumps(sorted(known | set(schema.fields))), clock())
    meta = rt.metadata()
    meta[crm] = objects
