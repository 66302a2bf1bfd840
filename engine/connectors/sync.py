"""One sync: read the batch's records through the connectors, plan, re-check, write, log activities.

`sync_batch` is the one function the runtime calls. It reads the person records of the batch's
emails IN THE SAME SYNC (one batched read per 200 / 100 emails), runs the engine's `Planner` on
them, then `apply_plan` re-checks every non-owned field against those values at write time
(D-WB-2: a field that became non-blank since the last pull is kept, never blind-written), merges
the plan's entries into one write per record, sends them, resolves the activities of records it
created, and creates the activities. The result accounts for every planned record: written, kept,
unchanged (the CRM already holds the value), skipped with a reason (D-WB-9), or pending (the sync
stopped; re-run the same events later — they are re-planned against fresh reads, so a re-run never
writes twice and changes nothing already done).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Mapping, Sequence

from engine.evaluate.activities import EVENT_ID_FIELD
from engine.evaluate.audience import members as audience_members
from engine.connectors.base import (ActivityCreate, Clock, Connector, KeptValue, Outcome, RecordWrite,
                                    SkippedRecord, SyncResult, is_blank, system_clock)
from engine.connectors.retry import Rejected, Stop
from engine.evaluate.events import Event, event_from
from engine.language.metadata import ObjectSchema, hubspot_objects, salesforce_objects
from engine.language.model import Integration, Play
from engine.evaluate.plan import Activity, PlanResult, Planner, Skipped, Write
from engine.evaluate.policy import same
from engine.language.vocab import NodeKind

_EMAIL_EVENTS = frozenset({"email_sent", "email_replied"})
_TRACKED = frozenset({"email_opened", "email_clicked", "email_replied"})


def _connectors(connectors: Connector | Mapping[str, Connector] | Sequence[Connector]) -> dict[str, Connector]:
    if isinstance(connectors, Mapping):
        return dict(connectors)
    if isinstance(connectors, (list, tuple)):
        return {c.crm: c for c in connectors}
    return {connectors.crm: connectors}


def _only(integration: Integration, crms: Iterable[str]) -> Integration:
    """The integration restricted to the CRMs this sync talks to."""
    crms = set(crms)
    return replace(integration,
                   salesforce=integration.salesforce if "salesforce" in crms else None,
                   hubspot=integration.hubspot if "hubspot" in crms else None)


def objects_to_read(crm: str, plays: Iterable[Play], integration: Integration, events: Sequence[Event]) -> tuple[str, ...]:
    """Which Salesforce objects the plan may touch (Lead, Contact or both): reading only those keeps
    the reads at one query per 200 emails when every Play targets one object."""
    if crm != "salesforce":
        return ("contacts",)
    settings = integration.salesforce
    types = {e.type for e in events}
    if types & _EMAIL_EVENTS or (settings is not None and settings.tracking and types & _TRACKED):
        return ("Lead", "Contact")
    wanted: set[str] = set()
    for play in plays:
        for node in play.nodes.values():
            if node.kind == NodeKind.SYNC_TO_SALESFORCE:
                wanted |= {"Lead", "Contact"} if node.object == "auto" else {node.object}
            elif node.kind == NodeKind.CREATE_TASK and node.crm == "salesforce":
                wanted |= {"Lead", "Contact"}
    return tuple(o for o in ("Lead", "Contact") if o in wanted) or ("Lead", "Contact")


def _metadata(conn: Connector, objects: Sequence[str]) -> dict[str, ObjectSchema]:
    snapshot = conn.read_metadata(objects)
    return salesforce_objects(snapshot) if conn.crm == "salesforce" else hubspot_objects(snapshot)


def sync_batch(connectors: Connector | Mapping[str, Connector] | Sequence[Connector], *,
               plays: Mapping[str, Play] | Iterable[Play], integration: Integration,
               events: Iterable[Event | Mapping[str, Any]], tracking_state: Any = None,
               crm_objects: Mapping[str, Mapping[str, ObjectSchema]] | None = None,
               audiences: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
               now: Any = None, clock: Clock = system_clock) -> SyncResult:
    """Sync one batch of events to the CRMs of `connectors` (one connector or several).

    Args:
        connectors: live connectors (`auth.connect`), by CRM or as a list.
        plays, integration: the validated Plays and settings.
        events: the batch (parsed `Event`s or §5 dicts).
        tracking_state: the stored tracking aggregate (the result carries the next one).
        crm_objects: field metadata by CRM; default: read live from the CRM (describe / properties).
        audiences: CSV rows of `schedule` Plays' audiences, by Play id.
        now: run `schedule` Plays at this time (None: they do not run).
    """
    conns = _connectors(connectors)
    play_list = list(plays.values()) if isinstance(plays, Mapping) else list(plays)
    integ = _only(integration, conns)
    batch = [e if isinstance(e, Event) else event_from(e) for e in events]
    emails = {e.email for e in batch if e.email and e.email_problem is None}
    result = SyncResult(crms=tuple(conns))
    if now is not None:
        emails |= _audience_emails(play_list, integ, tracking_state, now, audiences)
    state: dict[str, Any] = {}
    metadata: dict[str, Mapping[str, ObjectSchema]] = dict(crm_objects or {})
    for crm, conn in conns.items():
        objects = objects_to_read(crm, play_list, integ, batch)
        try:
            state[crm] = conn.read_records(sorted(emails), objects=objects)
            if crm not in metadata:
                metadata[crm] = _metadata(conn, objects)
        except Stop as stop:
            result.stopped = stop.stopped
            return _finish(result, conns)
        except Rejected as exc:
            result.stopped = _rejected_read(crm, exc)
            return _finish(result, conns)
    planner = Planner(play_list, integ, state, tracking_state=tracking_state, crm_objects=metadata,
                      audiences=audiences)
    planner.feed(batch)
    if now is not None and planner.compiled.schedules:
        planner.run_schedules(now)
    plan = planner.result()
    applied = apply_plan(conns, plan, integration=integ, current=state, clock=clock)
    applied.tracking_state = None if applied.stopped else planner.tracking_state.to_dict()
    return applied


def _rejected_read(crm: str, exc: Rejected):
    from engine.connectors.base import SyncStopped
    return SyncStopped(crm, "read_refused", f"{exc.code}: {exc.message}",
                       "the CRM refused to read the records (permission on an object or field?)")


def _audience_emails(plays: list[Play], integration: Integration, tracking_state: Any, now: Any,
                     audiences: Mapping[str, Iterable[Mapping[str, Any]]] | None) -> set[str]:
    from engine.evaluate.plan import _to_us
    from engine.evaluate.tracking import TrackingState
    tracking = tracking_state if isinstance(tracking_state, TrackingState) else TrackingState.from_dict(tracking_state)
    now_us = _to_us(now)
    out: set[str] = set()
    for play in plays:
        if play.enabled and play.trigger.audience is not None:
            for contact in audience_members(play.trigger.audience, tracking, now_us, (audiences or {}).get(play.id)):
                out.add(contact["email"])
    return out


def _finish(result: SyncResult, conns: Mapping[str, Connector]) -> SyncResult:
    result.calls = {crm: conn.calls() for crm, conn in conns.items()}
    return result


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


def _skipped(s: Skipped, clock: Clock) -> SkippedRecord:
    return SkippedRecord(s.reason, s.crm, s.object, s.record, s.email, s.event, s.play, s.node, s.field,
                         s.detail, None, None, clock())


def guard(crm: str, writes: Sequence[Write], current: Mapping[tuple[str, str], Mapping[str, Any]],
          owned: frozenset[str], clock: Clock) -> tuple[list[RecordWrite], list[RecordWrite], list[KeptValue],
                                                        list[SkippedRecord]]:
    """Merge the plan's writes into one per record and re-check them against the values read.

    Owned fields (D-WB-1) and the node's `overwrite` opt-in (D-WB-4) are written; any other field
    only when the record's current value is blank (D-WB-2) — else it is kept. A value equal to the
    current one is not sent. Returns (to send, unchanged, kept, skipped).
    """
    merged: dict[tuple, dict[str, Any]] = {}
    order: list[tuple] = []
    for w in writes:
        key = (w.object, w.record) if w.record else (w.object, None, w.email)
        slot = merged.get(key)
        if slot is None:
            slot = merged[key] = {"write": w, "op": w.op, "fields": {}, "allow": set(), "sources": []}
            order.append(key)
        if w.op == "create":
            slot["op"] = "create"
        slot["fields"].update(w.fields)
        slot["allow"].update(w.overwrite)
        slot["sources"].append((w.play, w.node, None))
    send: list[RecordWrite] = []
    unchanged: list[RecordWrite] = []
    kept: list[KeptValue] = []
    skipped: list[SkippedRecord] = []
    for key in order:
        slot = merged[key]
        w: Write = slot["write"]
        sources = tuple(slot["sources"])
        if slot["op"] == "create" or not w.record:
            send.append(RecordWrite(crm, w.object, None, w.email, "create", dict(slot["fields"]), sources))
            continue
        now = current.get((w.object, w.record))
        if now is None:
            play, node, _ = sources[0]
            skipped.append(SkippedRecord("no_record", crm, w.object, w.record, w.email, None, play, node, None,
                                         f"{w.object} {w.record} no longer exists in {crm}", None, None, clock()))
            continue
        fields: dict[str, Any] = {}
        for name, value in slot["fields"].items():
            have = now.get(name)
            if is_blank(have):
                if not is_blank(value):
                    fields[name] = value
            elif same(have, value) or (crm == "hubspot" and same(have, _hs_text(value))):
                continue
            elif name in owned or name in slot["allow"]:
                fields[name] = value
            else:  # D-WB-2: the field became non-blank since the plan was made: keep it
                play, node, _ = next((s for s in reversed(sources)), (None, None, None))
                kept.append(KeptValue(crm, w.object, w.record, name, have, value, "not_blank", play, node, w.email))
        before = {name: now.get(name) for name in fields}
        record = RecordWrite(crm, w.object, w.record, w.email, "update", fields, sources, before)
        (send if fields else unchanged).append(record)
    return send, unchanged, kept, skipped


def _hs_text(value: Any) -> Any:
    from engine.connectors.hubspot import hs_value
    return hs_value(value)


def apply_plan(connectors: Connector | Mapping[str, Connector] | Sequence[Connector], plan: PlanResult, *,
               integration: Integration, current: Mapping[str, Any] | None = None,
               clock: Clock = system_clock) -> SyncResult:
    """Apply a plan through the connectors, re-checking it against the CRM at write time.

    `current` holds the records the plan was computed on, read in this same sync (§6 format by CRM);
    without it (a plan made earlier, e.g. by `plays plan` on a pulled state) the records the plan
    updates are read again first, so a value that appeared since can never be overwritten.
    """
    conns = _connectors(connectors)
    result = SyncResult(crms=tuple(conns), kept=list(plan.kept))
    result.skipped.extend(_skipped(s, clock) for s in plan.skipped if s.crm is None or s.crm in conns)
    for crm, conn in conns.items():
        settings = integration.settings(crm)
        owned = settings.owned if settings is not None else frozenset()
        writes = [w for w in plan.writes if w.crm == crm]
        activities = [a for a in plan.activities if a.crm == crm]
        try:
            rows = current.get(crm) if current is not None else None
            if rows is None:
                ids: dict[str, set[str]] = {}
                for w in writes:
                    if w.record:
                        ids.setdefault(w.object, set()).add(w.record)
                rows = conn.read_records((), ids={o: sorted(v) for o, v in ids.items()}, objects=list(ids)) if ids else {}
        except Stop as stop:
            result.stopped = stop.stopped
            result.pending.extend(RecordWrite(crm, w.object, w.record, w.email, w.op, dict(w.fields),
                                              ((w.play, w.node, None),)) for w in writes)
            result.pending.extend(_activity(a, None) for a in activities)
            continue
        send, unchanged, kept, skipped = guard(crm, writes, _index(rows, crm), owned, clock)
        result.unchanged.extend(unchanged)
        result.kept.extend(kept)
        result.skipped.extend(skipped)
        out = conn.apply_writes(send)
        _merge(result, out)
        if out.stopped is not None:
            result.pending.extend(_activity(a, None) for a in activities)
            continue
        by_email = {w.email: w.record for w in out.written if w.op == "create" and w.email}
        todo: list[ActivityCreate] = []
        for act in activities:
            record = act.record or by_email.get(act.email)
            if record is None:
                result.skipped.append(SkippedRecord(
                    "no_record", crm, act.object, None, act.email, act.event, act.play, act.node, None,
                    f"the record of {act.email} was not created, so its {act.object} is not logged",
                    None, None, clock()))
                continue
            todo.append(_activity(act, record))
        _merge(result, conn.create_activities(todo))
    return _finish(result, conns)


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


def _merge(result: SyncResult, out: Outcome) -> None:
    result.written.extend(out.written)
    result.activities.extend(out.activities)
    result.skipped.extend(out.skipped)
    result.pending.extend(out.pending)
    result.stopped = result.stopped or out.stopped

