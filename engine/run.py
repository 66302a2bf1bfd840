"""The use case: apply one batch of events to the CRMs — the one code path of plan and run (D-RUN-2).

`apply_batch(batch, plays, integration, crm, clock)`:

1. **Read once** (D-RUN-3): every person record the batch touches, by email, one batched read per
   CRM object (Salesforce 200 emails a query, HubSpot 100), both Leads and Contacts so the
   duplicate winner is chosen across them (D-WB-6).
2. **Plan jointly**: every Play and the tracking fields together, events in D-RUN-1 order (`at`,
   ties in ingest order; for one event, Plays in Play-id order), through `engine.evaluate.plan`.
3. **Re-check at write time** with the same policy (`engine.evaluate.policy`: the one definition of
   blank, D-WB-2): the plan's entries are merged into one net change per record and each field is
   checked against the values read.
4. **Write once**: each record's net change in one write (the port batches 200 / 100 a call), then
   the activities, batched; creates resolve the activities of the records they made.

It returns an `engine.results.Outcome`. `plays plan` and `plays test` call it with
`engine.connectors.memory.MemoryCrm` (the CRM state file); `plays run`, `serve`, workers and
`backfill` with the real connectors. The caller records the outcome (store, artifacts, CLI).
"""

from __future__ import annotations

from dataclasses import replace
from collections import Counter
from typing import Any, Iterable, Mapping, Sequence

from engine.connectors.base import ActivityCreate, RecordWrite, Sent, SyncStopped, system_clock
from engine.connectors.port import CrmPort
from engine.connectors.retry import Rejected, Stop
from engine.evaluate.activities import EVENT_ID_FIELD
from engine.evaluate.audience import members as audience_members
from engine.evaluate.compiler import CompiledPlays, compile_plays
from engine.evaluate.crmstate import CrmState
from engine.evaluate.events import Event, event_from, to_us
from engine.evaluate.plan import Planner
from engine.evaluate.policy import is_blank, same
from engine.evaluate.tracking import TrackingState
from engine.language.metadata import ObjectSchema, hubspot_objects, salesforce_objects
from engine.language.model import Integration, Play
from engine.results import Activity, AuditRow, Kept, Outcome, Skipped, SkipReason, Write

PERSON_OBJECTS = {"salesforce": ("Lead", "Contact"), "hubspot": ("contacts",)}
PER_CALL = {"salesforce": 200, "hubspot": 100}  # records per API call (sObject Collections / batch endpoints)


def api_minimum(crm: str, reads: int, writes: int | Mapping[str, int], activities: int | Mapping[str, int]) -> int:
    """The fewest API calls one batch needs (D-RUN-3, D-RUN-5): reading `reads` emails, writing
    `writes` records, creating `activities` activities — HubSpot ⌈reads/100⌉ + ⌈writes/100⌉ +
    ⌈activities/100⌉ on its batch endpoints; Salesforce by its cheapest paths
    (`engine.connectors.sf_paths.floor_calls`)."""
    if crm == "salesforce":  # D-RUN-5: Composite requests and Bulk jobs, not 200 records a call
        from engine.connectors.sf_paths import floor_calls
        return floor_calls(reads, writes, activities)
    n = PER_CALL[crm]
    total = [w if isinstance(w, int) else sum(w.values()) for w in (writes, activities)]
    return -(-reads // n) + -(-total[0] // n) + -(-total[1] // n)
Ports = CrmPort | Mapping[str, CrmPort] | Sequence[CrmPort]


def ports(crm: Ports) -> dict[str, CrmPort]:
    if isinstance(crm, Mapping):
        return dict(crm)
    if isinstance(crm, (list, tuple)):
        return {c.crm: c for c in crm}
    return {crm.crm: crm}


def only(integration: Integration, crms: Iterable[str]) -> Integration:
    """The integration restricted to the CRMs this batch talks to."""
    crms = set(crms)
    return replace(integration, salesforce=integration.salesforce if "salesforce" in crms else None,
                   hubspot=integration.hubspot if "hubspot" in crms else None)


def compiled_plays(plays: Mapping[str, Play] | Iterable[Play] | CompiledPlays, integration: Integration) -> CompiledPlays:
    if isinstance(plays, CompiledPlays):
        return plays
    return compile_plays(list(plays.values()) if isinstance(plays, Mapping) else list(plays), integration)


def apply_batch(batch: Iterable[Event | Mapping[str, Any]], plays: Mapping[str, Play] | Iterable[Play] | CompiledPlays,
                integration: Integration, crm: Ports, clock: Any = system_clock, *, tracking_state: Any = None,
                crm_objects: Mapping[str, Mapping[str, ObjectSchema]] | None = None,
                audiences: Mapping[str, Iterable[Mapping[str, Any]]] | None = None, now: Any = None,
                audit: bool = True) -> Outcome:
    """Apply one batch to the CRMs of `crm` (a port, or ports by CRM); see the module docstring.

    Args:
        batch: events (parsed or §5 dicts), in ingest order.
        plays: the Plays (compiled or not).
        integration: the integration settings (tracking fields and owned fields included).
        crm: the CRM ports to read from and write to.
        clock: the time of skipped records found at run time.
        tracking_state: the stored tracking aggregates of the batch's contacts (the outcome carries
            the next ones in `tracking_state`; None when the sync stopped).
        crm_objects: field metadata by CRM (default: read from the port when it can describe).
        audiences: CSV rows of `schedule` Plays' audiences, by Play id.
        now: run `schedule` Plays at this time (None: they do not run).
        audit: build the audit rows (`Outcome.audit`; a plan has no use for them).
    """
    conns = ports(crm)
    integ = only(integration, conns)
    compiled = compiled_plays(plays, integ)
    events = [e if isinstance(e, Event) else event_from(e) for e in batch]
    emails = {e.email for e in events if e.email and e.email_problem is None}
    if now is not None:
        emails |= _audience_emails(compiled, tracking_state, now, audiences)
    result = Outcome()
    state: dict[str, Any] = {}
    metadata: dict[str, Mapping[str, ObjectSchema]] = dict(crm_objects or {})
    read_calls: dict[str, int] = {}
    for name, port in conns.items():
        start = sum(port.calls().values())
        try:
            state[name] = port.read_records(sorted(emails), objects=PERSON_OBJECTS[name]) if emails else {}
            if name not in metadata and hasattr(port, "read_metadata"):
                snap = port.read_metadata(PERSON_OBJECTS[name])
                metadata[name] = salesforce_objects(snap) if name == "salesforce" else hubspot_objects(snap)
        except Stop as stop:
            result.stopped = stop.stopped
            return _finish(result, conns)
        except Rejected as exc:
            result.stopped = SyncStopped(name, "read_refused", f"{exc.code}: {exc.message}",
                                         "the CRM refused to read the records (permission on an object or field?)")
            return _finish(result, conns)
        read_calls[name] = sum(port.calls().values()) - start
    planner = Planner(compiled, integ, state, tracking_state=tracking_state, crm_objects=metadata,
                      audiences=audiences, report_records=False)
    planner.feed(events)
    if now is not None and compiled.schedules:
        planner.run_schedules(now)
    planned = planner.result()
    before = {name: sum(port.calls().values()) for name, port in conns.items()}
    out = write_plan(conns, planned, integration=integ, current=state, clock=clock, audit=audit)
    out.tracking_state = None if out.stopped else planner.tracking_state.to_dict()
    for name, port in conns.items():
        written = Counter(obj for obj, _rec in {(w.object, w.record) for w in out.written if w.crm == name})
        acts = Counter(a.object for a in out.logged if a.crm == name)
        out.minimum[name] = api_minimum(name, len(emails), written, acts)
        out.used[name] = read_calls[name] + sum(port.calls().values()) - before[name]
    return out


def plan_on_state(plays: Mapping[str, Play] | Iterable[Play] | CompiledPlays, integration: Integration,
                  events: Iterable[Event | Mapping[str, Any]], crm_state: Mapping[str, Any] | None, *,
                  now: Any = None, tracking_state: Any = None,
                  crm_objects: Mapping[str, Mapping[str, ObjectSchema]] | None = None,
                  audiences: Mapping[str, Iterable[Mapping[str, Any]]] | None = None) -> Outcome:
    """`plays plan` / `plays test`: `apply_batch` over an in-memory CRM built from a state file.

    The state's records that can never sync (no or invalid email, D-WB-5) are reported first, as
    the runtime's CRM pull reports them. `schedule` Plays run at `now` (default: the latest event).
    """
    from engine.connectors.memory import MemoryCrm

    events = [e if isinstance(e, Event) else event_from(e) for e in events]
    conns = {c: MemoryCrm(c, (crm_state or {}).get(c)) for c in ("salesforce", "hubspot")}
    when = now
    if when is None and events:
        when = max(e.at for e in events)
    compiled = compiled_plays(plays, integration)
    out = apply_batch(events, compiled, integration, conns, tracking_state=tracking_state,
                      crm_objects=crm_objects or {}, audiences=audiences,
                      now=when if compiled.schedules else None, audit=False)
    # records that can never sync (D-WB-5), reported as the runtime's CRM pull reports them
    unsyncable = {c: conn.unsyncable() for c, conn in conns.items()}
    report = CrmState.from_dict({c: rows for c, rows in unsyncable.items() if rows}).unmatchable_report()
    out.skipped = tuple(Skipped(rec.email_problem, rec.crm, rec.object, rec.id, raw, detail=detail)
                        for rec, raw, detail in report) + tuple(out.skipped)
    return out


def _audience_emails(compiled: CompiledPlays, tracking_state: Any, now: Any,
                     audiences: Mapping[str, Iterable[Mapping[str, Any]]] | None) -> set[str]:
    tracking = tracking_state if isinstance(tracking_state, TrackingState) else TrackingState.from_dict(tracking_state)
    now_us = to_us(now)
    out: set[str] = set()
    for cp in compiled.schedules:
        if cp.enabled and cp.play.trigger.audience is not None:
            for contact in audience_members(cp.play.trigger.audience, tracking, now_us, (audiences or {}).get(cp.id)):
                out.add(contact["email"])
    return out


def _finish(result: Outcome, conns: Mapping[str, CrmPort]) -> Outcome:
    # calls by kind, and the day's usage the CRM reports against the budget (D-RUN-5)
    result.calls = {crm: {**conn.calls(), **getattr(conn, "api_usage", dict)()} for crm, conn in conns.items()}
    return result


# ------------------------------------------------------------------------------- write time

def _index(rows: Mapping[str, Any], crm: str) -> dict[tuple[str, str], Mapping[str, Any]]:
    """(object, id) -> the record's fields (HubSpot: its properties)."""
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for obj, records in (rows or {}).items():
        for rec in records or []:
            if crm == "salesforce":
                out[(obj, str(rec.get("Id")))] = rec
            else:
                out[(obj, str(rec.get("id")))] = rec.get("properties") or {}
    return out


def _holds(crm: str, have: Any, value: Any) -> bool:
    """Whether the CRM already holds `value` (HubSpot keeps every property as text)."""
    if same(have, value):
        return True
    if crm == "hubspot":
        from engine.connectors.hubspot import hs_value
        return same(have, hs_value(value))
    return False


def _rkey(w: Write) -> tuple:
    return (w.object, w.record) if w.record else (w.object, None, w.email)


def net_changes(crm: str, writes: Sequence[Write], current: Mapping[tuple[str, str], Mapping[str, Any]],
                owned: frozenset[str], clock: Any) -> tuple[list[RecordWrite], list[RecordWrite], list[Kept],
                                                            list[Skipped]]:
    """Merge a plan's writes into one net change per record, re-checked against the values read.

    Owned fields (D-WB-1) and the node's `overwrite` opt-in (D-WB-4) are written; any other field
    only when the record's current value is blank (D-WB-2, `policy.is_blank`) — else it is kept.
    A value the record already holds is not sent. Returns (to send, unchanged, kept, skipped).
    """
    merged: dict[tuple, dict[str, Any]] = {}
    for w in writes:
        slot = merged.get(_rkey(w))
        if slot is None:
            slot = merged[_rkey(w)] = {"write": w, "op": w.op, "fields": {}, "allow": set(), "sources": [],
                                       "by": {}}
        if w.op == "create":
            slot["op"] = "create"
        slot["fields"].update(w.fields)
        slot["allow"].update(w.overwrite)
        slot["sources"].append((w.play, w.node, None))
        for f in w.fields:
            slot["by"][f] = (w.play, w.node)
    send: list[RecordWrite] = []
    unchanged: list[RecordWrite] = []
    kept: list[Kept] = []
    skipped: list[Skipped] = []
    for slot in merged.values():
        w: Write = slot["write"]
        sources = tuple(slot["sources"])
        if slot["op"] == "create" or not w.record:
            send.append(RecordWrite(crm, w.object, None, w.email, "create", dict(slot["fields"]), sources,
                                    owners=dict(slot["by"])))
            continue
        now = current.get((w.object, w.record))
        if now is None:
            play, node, _ = sources[0]
            skipped.append(Skipped(SkipReason.NO_RECORD, crm, w.object, w.record, w.email, None, play, node, None,
                                   f"{w.object} {w.record} no longer exists in {crm}", at=clock()))
            continue
        fields: dict[str, Any] = {}
        for name, value in slot["fields"].items():
            have = now.get(name)
            if is_blank(have):
                if not is_blank(value):
                    fields[name] = value
            elif _holds(crm, have, value):
                continue
            elif name in owned or name in slot["allow"]:
                fields[name] = value
            else:  # D-WB-2: the field is not blank at write time: keep it
                play, node = slot["by"].get(name, (None, None))
                kept.append(Kept(play, node, crm, w.object, w.record, name, have, value, "not_blank", w.email))
        before = {name: now.get(name) for name in fields}
        record = RecordWrite(crm, w.object, w.record, w.email, "update", fields, sources, before,
                             {f: slot["by"][f] for f in fields if f in slot["by"]})
        (send if fields else unchanged).append(record)
    return send, unchanged, kept, skipped


def _activity(act: Activity, record: str | None) -> ActivityCreate:
    ext = act.fields.get(EVENT_ID_FIELD[act.crm]) or f"{act.event}:{act.play}:{act.node}:{act.object}"
    relation = None
    if act.object == "EmailMessage":
        relation = "FromAddress" if act.fields.get("Incoming") else "ToAddress"
    fields = dict(act.fields)
    if act.crm == "salesforce" and act.object == "Task" and record:
        fields["WhoId"] = record
    return ActivityCreate(act.crm, act.object, record or act.record, act.email, str(ext), fields, act.play,
                          act.node, act.event, relation)


def _merge(result: Outcome, sent: Sent) -> None:
    result.written.extend(sent.written)
    result.logged.extend(sent.activities)
    result.skipped = tuple(result.skipped) + tuple(sent.skipped)
    result.pending.extend(sent.pending)
    result.stopped = result.stopped or sent.stopped


def write_plan(crm: Ports, planned: Outcome, *, integration: Integration, current: Mapping[str, Any] | None = None,
               clock: Any = system_clock, audit: bool = True) -> Outcome:
    """Send a plan's net changes and activities through the ports, re-checked at write time.

    `current` holds the records the plan was computed on, read in this same batch (§6 format by
    CRM); without it (a plan made earlier, e.g. a backfill) the records it updates are read first,
    so a value that appeared since can never be overwritten.
    """
    conns = ports(crm)
    found_at = clock()
    result = Outcome(kept=tuple(planned.kept), skipped=tuple(s if s.at is not None else replace(s, at=found_at)
                                                             for s in planned.skipped
                                                             if s.crm is None or s.crm in conns))
    landed: dict[tuple, set[str]] = {}
    landed_acts: set[int] = set()
    for name, conn in conns.items():
        settings = integration.settings(name)
        owned = settings.owned if settings is not None else frozenset()
        writes = [w for w in planned.writes if w.crm == name]
        activities = [a for a in planned.activities if a.crm == name]
        try:
            rows = current.get(name) if current is not None else None
            if rows is None:
                ids: dict[str, set[str]] = {}
                for w in writes:
                    if w.record:
                        ids.setdefault(w.object, set()).add(w.record)
                rows = conn.read_records((), ids={o: sorted(v) for o, v in ids.items()}, objects=list(ids)) if ids else {}
        except Stop as stop:
            result.stopped = stop.stopped
            result.pending.extend(RecordWrite(name, w.object, w.record, w.email, w.op, dict(w.fields),
                                              ((w.play, w.node, None),)) for w in writes)
            result.pending.extend(_activity(a, None) for a in activities)
            continue
        send, unchanged, kept, skipped = net_changes(name, writes, _index(rows, name), owned, clock)
        result.unchanged.extend(unchanged)
        result.kept = tuple(result.kept) + tuple(kept)
        result.skipped = tuple(result.skipped) + tuple(skipped)
        sent = conn.apply_writes(send) if send else Sent()
        _merge(result, sent)
        for w in list(sent.written) + list(unchanged):
            key = (name, w.object, w.record) if w.op == "update" else (name, w.object, None, w.email)
            landed.setdefault(key, set()).update(w.fields)
        if sent.stopped is not None:
            result.pending.extend(_activity(a, None) for a in activities)
            continue
        by_email = {w.email: w.record for w in sent.written if w.op == "create" and w.email}
        todo: list[ActivityCreate] = []
        for act in activities:
            record = act.record or by_email.get(act.email)
            if record is None:
                result.skipped = tuple(result.skipped) + (Skipped(
                    SkipReason.NO_RECORD, name, act.object, None, act.email, act.event, act.play, act.node, None,
                    f"the record of {act.email} was not created, so its {act.object} is not logged", at=clock()),)
                continue
            todo.append(_activity(act, record))
            landed_acts.add(id(act))
        if todo:
            _merge(result, conn.create_activities(todo))
    result.writes = _landed(planned.writes, landed)
    done = {(a.crm, a.object, a.external_id) for a in result.logged}
    result.activities = tuple(a for a in planned.activities if id(a) in landed_acts
                              and (a.crm, a.object, _activity(a, a.record).external_id) in done)
    result.audit = audit_rows(result, planned) if audit else []
    return _finish(result, conns)


def _landed(writes: Sequence[Write], landed: Mapping[tuple, set[str]]) -> tuple[Write, ...]:
    """The plan's entries as far as they landed (a field the CRM refused is not among them), in
    the plan's order."""
    out = []
    for w in writes:
        key = (w.crm, w.object, w.record) if w.record else (w.crm, w.object, None, w.email)
        got = landed.get(key)
        if got is None:
            continue
        fields = {f: v for f, v in w.fields.items() if f in got}
        if fields == dict(w.fields):
            out.append(w)
        elif fields or w.op == "create":
            out.append(Write(w.play, w.node, w.crm, w.object, w.record, w.email, w.op, fields,
                             tuple(f for f in w.overwrite if f in fields)))
    return tuple(out)


def audit_rows(result: Outcome, planned: Outcome) -> list[AuditRow]:
    """One row per field the CRM accepted and per activity created, naming the Play node that
    wanted it (the last entry of the plan that set the field)."""
    by: dict[tuple, tuple] = {}
    for w in planned.writes:
        for f in w.fields:
            by[(w.crm, w.object, w.record or w.email, f)] = (w.play, w.node)
    rows: list[AuditRow] = []
    for w in result.written:
        for name, value in w.fields.items():
            play, node = by.get((w.crm, w.object, w.record if w.op == "update" else w.email, name), (None, None))
            rows.append(AuditRow(play, node, w.crm, w.object, w.record, w.email, w.op, name,
                                 w.before.get(name), value))
    for a in result.logged:
        rows.append(AuditRow(a.play, a.node, a.crm, a.object, a.id, a.email, "create" if a.created else "upsert",
                             "*", None, {"external_id": a.external_id, "on": a.record}, a.event))
    return rows


def sync_batch(connectors: Ports, *, plays: Mapping[str, Play] | Iterable[Play] | CompiledPlays,
               integration: Integration, events: Iterable[Event | Mapping[str, Any]], tracking_state: Any = None,
               crm_objects: Mapping[str, Mapping[str, ObjectSchema]] | None = None,
               audiences: Mapping[str, Iterable[Mapping[str, Any]]] | None = None, now: Any = None,
               clock: Any = system_clock) -> Outcome:
    """`apply_batch` with keyword arguments (the connector tests' spelling)."""
    return apply_batch(events, plays, integration, connectors, clock, tracking_state=tracking_state,
                       crm_objects=crm_objects, audiences=audiences, now=now)


def apply_plan(connectors: Ports, plan: Outcome, *, integration: Integration, current: Mapping[str, Any] | None = None,
               clock: Any = system_clock) -> Outcome:
    """`write_plan` under its earlier name (backfill: a plan made on a pulled state)."""
    return write_plan(connectors, plan, integration=integration, current=current, clock=clock)
