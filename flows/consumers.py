"""Consumers of the event log and what one pass of each does — orchestration only, no Prefect.

- A **Play consumer** drains the events that can fire one Play (its trigger's event types) in
  batches: `engine.connectors.sync.sync_batch` with that Play alone reads the batch's records,
  plans and applies; the batch's audit rows and skipped records are recorded and the Play's cursor
  moved in one store transaction. Tracking fields are left to the tracking consumer (the Play sees
  the integration without them; their targets stay owned), so two consumers never count one open.
- The **tracking consumer** (run by the sync flow) drains email events with no Play: tracking
  figures (D-TR-1, from the stored per-contact aggregate) and email activities (D-EM-*).
- A **schedule pass** runs a `schedule` Play once at a given time over its audience.

A batch whose sync stopped (rate limit, expired credentials, CRM down) records what did land,
parks the rest in the outbox for visibility, and leaves the cursor where it was: the next pass
re-plans the same events against fresh reads, so nothing is lost and nothing is written twice.
A run killed between its CRM writes and its record leaves write intents (`flows.intents`): the
restarted batch audits those the CRM shows as landed, so the audit log misses none either.
Each entry is reported by the consumer it belongs to (a Play's own kept/skipped/activities; the
tracking consumer's Play-less ones), so nothing is reported twice either.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from engine.connectors.base import ConnectionProblem, SyncStopped, json_value
from engine.connectors.sync import sync_batch
from engine.language.model import Integration, Play
from engine.store import CursorMoved, LeaseHeld, LeaseLost, Pending, Settle
from engine.language.vocab import ENGAGEMENT_EVENTS, TRIGGER_EVENTS, EventType, TriggerType
from flows.intents import reconcile, recording, stopped_settle
from flows.lease import Held, hold
from flows.runtime import Runtime, utcnow

TRACKING = "tracking"
TRACKING_TYPES = frozenset({EventType.EMAIL_SENT.value, EventType.EMAIL_OPENED.value,
                            EventType.EMAIL_CLICKED.value, EventType.EMAIL_REPLIED.value})
ROW_CAP = 2000  # rows kept per table for artifacts; counts are always complete

RULES = {  # why something was kept or skipped, for logs
    "not_blank": "D-WB-2: a field that is not owned is only written when blank",
    "no_email": "D-WB-5: contacts need an email to sync",
    "invalid_email": "D-WB-5: contacts need a valid email to sync",
    "duplicate": "D-WB-6: only the most recently modified record is updated",
    "no_record": "no CRM record holds this email",
    "unsupported_field": "D-FT-2: unsupported field type",
    "invalid_picklist_value": "D-FT-3: value not in the picklist and no default",
    "play_disabled": "D-PLAY-6: the Play is disabled",
    "out_of_thread": "D-EM-5: only in-thread replies count",
    "untracked_domain": "D-TR-2: the link is not on a web tag domain",
    "crm_rejected": "the CRM refused the write",
}


@dataclass(frozen=True)
class Consumer:
    name: str
    types: frozenset[str]
    plays: Mapping[str, Play]
    integration: Integration
    tracks: bool = False
    play: str | None = None  # the Play whose entries this consumer reports (None: the Play-less ones)
    crms: tuple[str, ...] | None = None  # the CRMs it talks to (None: every configured one)


def trigger_types(play: Play) -> frozenset[str]:
    """The event types that can fire a Play (coarse routing; the planner applies the filters)."""
    t = play.trigger
    if t.type == TriggerType.EMAIL_ENGAGEMENT and t.events:
        return frozenset(ENGAGEMENT_EVENTS[e].value for e in t.events if e in ENGAGEMENT_EVENTS)
    return frozenset(e.value for e in TRIGGER_EVENTS.get(t.type, frozenset()))


def plays_integration(integration: Integration) -> Integration:
    """The integration a Play consumer sees: no tracking aggregation, tracking targets still owned."""
    def strip(s):
        return None if s is None else replace(s, tracking={}, owned_fields=tuple(sorted(s.owned)))
    return replace(integration, salesforce=strip(integration.salesforce), hubspot=strip(integration.hubspot))


def play_consumer(rt: Runtime, play_id: str) -> Consumer:
    """A Play's consumer talks only to the CRMs the Play writes to (no reads of the other CRM)."""
    from engine.evaluate.compiler import compile_play

    play = rt.plays[play_id]
    integ = plays_integration(rt.integration)
    crms = tuple(c for c in compile_play(play, integ).crms if integ.settings(c) is not None)
    return Consumer(play_id, trigger_types(play), {play_id: play}, integ, play=play_id, crms=crms or None)


def tracking_consumer(rt: Runtime) -> Consumer:
    return Consumer(TRACKING, TRACKING_TYPES, {}, rt.integration, tracks=True)


# ------------------------------------------------------------------------------------ reports

@dataclass
class Report:
    """What one consumer pass did: counts, and the first ROW_CAP rows of each table."""

    consumer: str
    events: int = 0
    batches: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"writes": 0, "fields": 0, "kept": 0, "skipped": 0,
                                                            "activities": 0, "pending": 0})
    writes: list[dict] = field(default_factory=list)
    kept: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    activities: list[dict] = field(default_factory=list)
    stopped: SyncStopped | None = None
    problem: ConnectionProblem | None = None
    conflict: bool = False
    calls: dict[str, Any] = field(default_factory=dict)
    lease: str | None = None  # D-RUN-4: why this runner sent nothing (the lease's holder)

    @property
    def ok(self) -> bool:
        return self.stopped is None and self.problem is None and self.lease is None

    def merge(self, other: "Report") -> "Report":
        self.events += other.events
        self.batches += other.batches
        for k, v in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        for name in ("writes", "kept", "skipped", "activities"):
            mine = getattr(self, name)
            mine.extend(getattr(other, name)[: max(0, ROW_CAP - len(mine))])
        self.stopped = self.stopped or other.stopped
        self.problem = self.problem or other.problem
        self.lease = self.lease or other.lease
        return self

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


def _cap(rows: list, new: Iterable[dict]) -> None:
    for row in new:
        if len(rows) >= ROW_CAP:
            return
        rows.append(row)


def _mine(consumer: Consumer, play: str | None) -> bool:
    return play == consumer.play


def _sources_play(sources: Iterable[tuple]) -> tuple[str | None, str | None]:
    for play, node, _event in sources:
        return play, node
    return None, None


@dataclass
class _Batch:
    audit: list[dict]
    skipped: list[dict]
    kept: list[dict]
    activities: list[dict]
    writes: int


def select(result: Any, consumer: Consumer) -> _Batch:
    """This consumer's share of a SyncResult, as store rows and report rows."""
    audit: list[dict] = []
    writes = 0
    for w in result.written:
        play, node = _sources_play(w.sources)
        if consumer.play is not None and play not in (None, consumer.play):
            continue
        writes += 1
        for name, value in w.fields.items():
            audit.append({"play": play, "node": node, "crm": w.crm, "object": w.object, "record": w.record,
                          "email": w.email, "op": w.op, "field": name,
                          "before": json_value(w.before.get(name)), "after": json_value(value)})
    activities = []
    for a in result.activities:
        if not _mine(consumer, a.play):
            continue
        activities.append({"crm": a.crm, "object": a.object, "id": a.id, "record": a.record, "email": a.email,
                           "external_id": a.external_id, "created": a.created, "play": a.play, "node": a.node,
                           "event": a.event})
        audit.append({"play": a.play, "node": a.node, "crm": a.crm, "object": a.object, "record": a.id,
                      "email": a.email, "event": a.event, "op": "create" if a.created else "upsert",
                      "field": "*", "before": None,
                      "after": {"external_id": a.external_id, "on": a.record}})
    kept = [{"play": k.play, "node": k.node, "crm": k.crm, "object": k.object, "record": k.record,
             "email": getattr(k, "email", None), "field": k.field, "current": json_value(k.current),
             "wanted": json_value(k.wanted), "reason": k.reason}
            for k in result.kept if _mine(consumer, k.play)]
    skipped = [{"reason": s.reason, "crm": s.crm, "object": s.object, "record": s.record, "email": s.email,
                "event": s.event, "play": s.play, "node": s.node, "field": s.field, "detail": s.detail}
               for s in result.skipped if _mine(consumer, s.play)]
    return _Batch(audit, skipped, kept, activities, writes)


def _pending_rows(result: Any, consumer: str, pend: Pending | None) -> list[dict]:
    rows = []
    for i, item in enumerate(result.pending):
        payload = item.to_json() if hasattr(item, "to_json") else {}
        where = f"{pend.cursor}-{pend.horizon}" if pend is not None else "schedule"
        rows.append({"key": f"{consumer}:{where}:{i}", "crm": getattr(item, "crm", None), "payload": payload,
                     "error": result.stopped.format() if result.stopped else None})
    return rows


def log_entries(batch: _Batch, log: Callable[[str], None] | None, budget: list[int]) -> None:
    """One log line per kept/skipped entry, naming the rule (up to `budget[0]` lines per run)."""
    if log is None:
        return
    for k in batch.kept:
        if budget[0] <= 0:
            return
        budget[0] -= 1
        log(f"kept {k['crm']} {k['object']} {k['record']} {k['field']}={k['current']!r} (wanted {k['wanted']!r}; "
            f"{k['play'] or 'tracking'}/{k['node']}): {RULES.get(k['reason'], k['reason'])}")
    for s in batch.skipped:
        if budget[0] <= 0:
            return
        budget[0] -= 1
        what = " ".join(str(x) for x in (s["crm"], s["object"], s["record"] or s["email"]) if x)
        log(f"skipped {what or s['event']} [{s['reason']}] {s['detail']} — {RULES.get(s['reason'], '')}")


# ------------------------------------------------------------------------------------ passes

def _tracking_for(rt: Runtime, emails: Iterable[str]) -> dict:
    return {"version": 1, "contacts": rt.store.tracking(emails)}


def _apply_batch(rt: Runtime, consumer: Consumer, conns: Any, pend: Pending | None, events: list[dict],
                 *, now_for_schedule: Any = None, tracking_state: Any = None, clock: Callable[[], datetime],
                 run: str | None, report: Report, log: Callable[[str], None] | None, budget: list[int],
                 held: Held) -> bool:
    if consumer.crms is not None:
        conns = {crm: conn for crm, conn in conns.items() if crm in consumer.crms}
    lease = held.refresh()  # LeaseLost: replaced by another runner, nothing sent
    old_intents = rt.store.intents(consumer.name)  # left by a run that died mid-batch
    token, conns = recording(conns, rt.store, consumer.name, clock, held)
    result = sync_batch(conns, plays=consumer.plays, integration=consumer.integration, events=events,
                        tracking_state=tracking_state, crm_objects=rt.metadata(),
                        audiences=rt.audiences() if now_for_schedule is not None else None,
                        now=now_for_schedule, clock=clock)
    batch = select(result, consumer)
    landed, settle = reconcile(old_intents, conns, result, consumer.name, token)
    batch.audit[:0] = landed  # written by the dead run: audited now, `before` from its intent
    batch.writes += len({(a["crm"], a["record"]) for a in landed})
    log_entries(batch, log, budget)
    now = clock()
    report.batches += 1
    report.calls = result.calls
    c = report.counts
    c["writes"] += batch.writes
    c["fields"] += sum(1 for a in batch.audit if a["field"] != "*")
    c["kept"] += len(batch.kept)
    c["skipped"] += len(batch.skipped)
    c["activities"] += len(batch.activities)
    _cap(report.writes, (a for a in batch.audit if a["field"] != "*"))
    _cap(report.kept, batch.kept)
    _cap(report.skipped, batch.skipped)
    _cap(report.activities, batch.activities)
    if result.stopped is not None or result.problem is not None:
        report.stopped, report.problem = result.stopped, result.problem
        pending = _pending_rows(result, consumer.name, pend)
        c["pending"] += len(pending)
        settle = stopped_settle(rt.store, settle, result)  # unconfirmed writes stay for the next attempt
        rt.store.record(now, run=run, audit=batch.audit, settle=settle, lease=lease)  # what landed before the stop
        rt.store.enqueue(pending, consumer.name, now, lease=lease)
        return False
    states = None
    if consumer.tracks and result.tracking_state:
        states = dict(result.tracking_state.get("contacts") or {})
    if pend is None:  # a schedule pass: no cursor
        rt.store.record(now, run=run, audit=batch.audit, skipped=batch.skipped, settle=settle, lease=lease)
        return True
    try:
        rt.store.record_batch(consumer.name, pend.cursor, pend.horizon, now, run=run, events_done=len(events),
                              audit=batch.audit, skipped=batch.skipped, tracking=states, settle=settle,
                              lease=lease)
    except CursorMoved:
        report.conflict = True  # another run recorded this batch first (it is not recorded twice)
        rt.store.settle(Settle(consumer.name, token))
        return False
    rt.store.outbox_resolve(consumer.name, now)
    return True


def drain(rt: Runtime, consumer: Consumer, *, run: str | None = None, clock: Callable[[], datetime] = utcnow,
          log: Callable[[str], None] | None = None, batch_size: int | None = None,
          max_batches: int | None = None, on_batch: Callable[[Report], None] | None = None) -> Report:
    """Process every pending event of `consumer`, batch by batch, until none is left (or a stop)."""
    report = Report(consumer.name)
    size = batch_size or rt.settings.batch_size
    conns = rt.connectors()
    if isinstance(conns, ConnectionProblem):
        report.problem = conns
        return report
    try:
        with hold(rt.store) as held:
            _drain(rt, consumer, conns, held, report, run=run, clock=clock, log=log, size=size,
                   max_batches=max_batches, on_batch=on_batch)
    except (LeaseHeld, LeaseLost) as exc:  # D-RUN-4: another runner applies batches; this one sent nothing
        report.lease = str(exc)
        if log is not None:
            log(f"not applying {consumer.name}'s events: {exc}")
    return report


def _drain(rt: Runtime, consumer: Consumer, conns: Any, held: Held, report: Report, *, run: str | None,
           clock: Callable[[], datetime], log: Callable[[str], None] | None, size: int,
           max_batches: int | None, on_batch: Callable[[Report], None] | None) -> None:
    budget = [200]
    while max_batches is None or report.batches < max_batches:
        pend = rt.store.pending(consumer.name, consumer.types, size)
        if not pend.events:
            if pend.horizon > pend.cursor:
                try:
                    rt.store.record_batch(consumer.name, pend.cursor, pend.horizon, clock(), lease=held.lease)
                except CursorMoved:
                    report.conflict = True
            break
        events = [e.payload for e in pend.events]
        tracking = _tracking_for(rt, {e.email for e in pend.events if e.email}) if consumer.tracks else None
        if report.first_seq is None:
            report.first_seq = pend.events[0].seq
        ok = _apply_batch(rt, consumer, conns, pend, events, tracking_state=tracking, clock=clock, run=run,
                          report=report, log=log, budget=budget, held=held)
        report.events += len(events) if ok else 0
        report.last_seq = pend.events[-1].seq
        if on_batch is not None:
            on_batch(report)
        if not ok:
            break


def run_schedule(rt: Runtime, play_id: str, at: Any, *, run: str | None = None,
                 clock: Callable[[], datetime] = utcnow, log: Callable[[str], None] | None = None) -> Report:
    """Run a `schedule` Play once at `at` over its audience (tracking state of every contact)."""
    consumer = play_consumer(rt, play_id)
    report = Report(play_id)
    conns = rt.connectors()
    if isinstance(conns, ConnectionProblem):
        report.problem = conns
        return report
    tracking = {"version": 1, "contacts": rt.store.tracking_all()}
    try:
        with hold(rt.store) as held:
            _apply_batch(rt, consumer, conns, None, [], now_for_schedule=at, tracking_state=tracking, clock=clock,
                         run=run, report=report, log=log, budget=[200], held=held)
    except (LeaseHeld, LeaseLost) as exc:
        report.lease = str(exc)
    return report


# ------------------------------------------------------------------------------------ CRM pull

@dataclass
class PullReport:
    changed: dict[str, int] = field(default_factory=dict)
    new_fields: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


def _email_problems(crm: str, obj: str, rows: Iterable[dict]) -> list[dict]:
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
        out.append({"reason": problem, "crm": crm, "object": obj, "record": rid,
                    "email": raw if isinstance(raw, str) and raw else None,
                    "detail": f"{obj} {rid} {what} (D-WB-5)"})
    return out


def pull_changes(rt: Runtime, *, clock: Callable[[], datetime] = utcnow) -> PullReport:
    """D-SY-1: pull person records changed since the stored cursor (the first pull is full), and
    D-SY-2: discover custom fields that the metadata snapshot does not know yet (each reported once)."""
    out = PullReport()
    conns = rt.connectors()
    if isinstance(conns, ConnectionProblem):
        out.problems.append(conns.format())
        return out
    import json

    for crm, conn in conns.items():
        name = f"pull:{crm}"
        raw = rt.store.sync_cursor(name)
        since = json.loads(raw) if raw else None
        pulled = conn.pull_changes(since)
        for obj, rows in pulled.records.items():
            out.changed[f"{crm}:{obj}"] = len(rows)
            out.skipped.extend(_email_problems(crm, obj, rows))
        if pulled.stopped is not None:
            out.problems.append(pulled.stopped.format())
        else:
            rt.store.set_sync_cursor(name, json.dumps(dict(pulled.cursor), sort_keys=True), clock())
        try:
            live = conn.read_metadata()
        except Exception as exc:  # noqa: BLE001 - reported, the sync goes on
            out.problems.append(f"{crm}: cannot read field metadata: {exc}")
            continue
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
    if out.skipped:
        rt.store.record(clock(), skipped=out.skipped)
    return out
