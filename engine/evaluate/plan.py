"""The planner: (Plays, integration, events, CRM state) -> the exact writes, kept values, activities
and skipped records. Pure: no I/O, no network, no clock but the `now` passed in.

`Planner` is the incremental form the runtime uses: build it with the records it just read and the
stored `tracking_state`, `feed()` batches of events, take `result()`, persist `tracking_state`.
`plan()` is a thin wrapper for one batch.

Semantics (the `plays plan` contract and the domain rules):
- Events are applied in time order (`at`, then input order); each sees the records as earlier events
  left them (a field filled by an earlier write is no longer blank). An event id seen twice is
  applied once.
- The Plays an event can fire come from the compiled trigger index. Several Plays fired by one
  event run one after the other in **Play-id order**: for a fill-blank field the first Play (by id)
  that writes it wins and the later ones get a `kept` entry; for an owned field the last one wins.
- `writes` is the net effect: one entry per record per Play node, plus one per record for the
  tracking fields (``play: null``, ``node: "tracking"``). A field written by several entries ends up
  only in the entry that wrote it last, so applying the entries in any order gives the same record.
- `kept`: one entry per record, node and field: the latest wanted value that was not written.
- `activities` and `skipped` are in the order they arose. Per-record reasons (duplicate losers,
  records without email, no_record) are reported once per record (or email) and node.
"""

from __future__ import annotations

from collections import deque
from operator import attrgetter
from typing import Any, Iterable, Mapping

from engine.evaluate.activities import email_activities, task
from engine.evaluate.audience import members as audience_members
from engine.evaluate.compiler import (BRANCH, SYNC, CompiledPlay, CompiledPlays, EvalContext, compile_plays,
                                      inactive_skips, sync_values)
from engine.evaluate.crmstate import CrmState, Record, fill_required, new_record_fields
from engine.evaluate.events import Event, add_days, event_from, first_copies, iso_z, to_us
from engine.evaluate.matching import Match, create_object, find
from engine.language.metadata import ObjectSchema
from engine.language.model import Integration, Play
from engine.language.templates import RenderFailed
from engine.evaluate.policy import NetWrites, decide, is_blank
from engine.evaluate.tracking import TrackingConfig, TrackingState, changed_fields, host_on_domains, tracking_fields
from engine.results import Activity, Kept, Outcome, PlanResult, Skipped, Write

_TRACKED = frozenset({"email_opened", "email_clicked", "email_replied"})
_to_us = to_us  # kept for callers of the earlier private name (engine.connectors.sync)


# ---------------------------------------------------------------------------------------- planner

class Planner:
    """Incremental planner. Not thread-safe; one per batch (or per stream).

    Args:
        plays: Plays by id, an iterable of Plays, or `CompiledPlays`.
        integration: the integration settings.
        crm_state: the CRM records (§6 dict or `CrmState`); never modified.
        tracking_state: aggregates from earlier batches (`TrackingState` or its `to_dict()` form).
        crm_objects: field metadata ``{"salesforce": {"Lead": ObjectSchema, ...}, "hubspot": {...}}``;
            with it, values are converted to field kinds and picklists checked at run time.
        audiences: CSV audience rows by Play id (D-AU-3; the caller reads the files).
        report_records: report CRM records without a (valid) email as skipped (D-WB-5).
        dedupe_window: None: remember every event id (exact). A duration in microseconds: forget
            ids older than that behind the latest event time (bounded memory for long streams, where
            the event store already removes replays; a duplicate carries its original `at`).
    """

    def __init__(self, plays: Mapping[str, Play] | Iterable[Play] | CompiledPlays, integration: Integration,
                 crm_state: Mapping[str, Any] | CrmState | None, *, tracking_state: Any = None,
                 crm_objects: Mapping[str, Mapping[str, ObjectSchema]] | None = None,
                 audiences: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
                 report_records: bool = True, dedupe_window: int | None = None):
        self.integration = integration
        self.compiled = plays if isinstance(plays, CompiledPlays) else compile_plays(plays, integration)
        base = crm_state if isinstance(crm_state, CrmState) else CrmState.from_dict(crm_state)
        self.state = base.fork()
        self._index = {c: self.state.by_email.setdefault(c, {}) for c in ("salesforce", "hubspot")}
        self.meta = crm_objects or {}
        self.audiences = audiences or {}
        self.cfg = TrackingConfig.from_integration(integration)
        if isinstance(tracking_state, TrackingState):
            self.tracking = tracking_state.copy()
        else:
            self.tracking = TrackingState.from_dict(tracking_state)
        self.crms = tuple(c for c in ("salesforce", "hubspot") if integration.settings(c) is not None)
        self._settings = {c: integration.settings(c) for c in self.crms}
        self.owned = {c: (integration.settings(c).owned if integration.settings(c) else frozenset())
                      for c in ("salesforce", "hubspot")}
        # Per-record state is kept in plain dicts, strings and tuples of atoms, which the garbage
        # collector does not track: a plan over 100k contacts adds no GC work per event.
        self.writes = NetWrites()  # meta: (play, node, crm, object, record, email, op, record key)
        self.overlay = self.writes.overlay  # record key -> fields written so far
        self.kept: dict[tuple, tuple] = {}  # (record key, play, node, field) -> Kept fields
        self.activities: list[Activity] = []
        self.skipped: list[Skipped] = []
        self.dirty: dict[str, None] = {}
        self.latest_at: int | None = None
        self._skip_seen: set[tuple] = set()
        self._seen_ids: set[str] = set()
        self._window = dedupe_window
        self._expiry_at: deque = deque()  # two deques of atoms, not one of tuples: nothing for the GC
        self._expiry_id: deque = deque()
        self._schemas: dict[str, tuple[ObjectSchema | None, dict]] = {}
        if report_records:  # D-WB-5: records that can never sync
            self.skipped.extend(Skipped(rec.email_problem, rec.crm, rec.object, rec.id, raw, detail=detail)
                                for rec, raw, detail in self.state.unmatchable_report())

    # -- public --------------------------------------------------------------------------------------
    @property
    def tracking_state(self) -> TrackingState:
        """The aggregates so far (persist ``tracking_state.to_dict()`` and pass it to the next batch)."""
        return self.tracking

    def feed(self, events: Iterable[Event | Mapping[str, Any]]) -> None:
        """Apply a batch of events in time order (`at`, then the order given: D-RUN-1). An event id
        already seen is applied once: the first copy in the order given counts. Batches are expected
        in time order; an event older than the previous batch is still applied, after it."""
        batch = [e if isinstance(e, Event) else event_from(e) for e in events]
        seen = self._seen_ids
        if any(e.id in seen for e in batch) or len({e.id for e in batch}) < len(batch):
            # D-RUN-1: of two events with one id, the first in ingest order counts, whatever its `at`
            # (the later copies are reported where they are read: EVENT010, or the store's ingest)
            batch = first_copies(batch, seen)[0]
        ats = [e.at for e in batch]
        if any(ats[i] > ats[i + 1] for i in range(len(ats) - 1)):
            batch.sort(key=attrgetter("at"))  # stable: ties keep the input order
        apply = self._apply
        for ev in batch:
            apply(ev)
        self._expire()

    def run_schedules(self, now: Any) -> None:
        """Run every `schedule` Play once at `now` over its audience (D-AU-1..3)."""
        now_us = to_us(now)
        now_text = iso_z(now_us)
        for cp in self.compiled.schedules:
            if not cp.enabled:
                self.skipped.append(Skipped("play_disabled", play=cp.id,
                                            detail=f"Play '{cp.id}' is disabled (enabled: false)"))
                continue
            aud = cp.play.trigger.audience
            for contact in audience_members(aud, self.tracking, now_us, self.audiences.get(cp.id)):
                email = contact["email"]
                ev = Event(id=f"schedule:{cp.id}:{now_text}:{email}", type="schedule", at=now_us,
                           at_text=now_text, email=email, contact=contact)
                self._run(cp, ev)

    def drain(self) -> tuple[list[Activity], list[Skipped]]:
        """Take the activities and skipped entries so far (they are per event; a long stream drains
        them to keep memory flat). Later `result()`s hold only what came after."""
        acts, skips = self.activities, self.skipped
        self.activities, self.skipped = [], []
        return acts, skips

    def result(self) -> PlanResult:
        """The plan so far: net writes (with tracking figures), kept, activities, skipped."""
        tracking = self._tracking_writes()
        writes: list[Write] = []
        meta, over = self.writes.meta, self.writes.overwritten
        for wkey, fields in self.writes.fields.items():
            play, node, crm, obj, rid, email, op, rkey = meta[wkey]
            t = tracking.get(rkey)
            if t is not None:
                fields = {k: v for k, v in fields.items() if k not in t.fields}
            if not fields and op != "create":
                continue
            writes.append(Write(play, node, crm, obj, rid, email, op, dict(fields),
                                tuple(f for f in over.get(wkey, ()) if f in fields)))
        writes.extend(tracking.values())
        kept = tuple(Kept(p, n, c, o, r, f, cur, want, "not_blank", em)
                     for p, n, c, o, r, f, cur, want, em in self.kept.values())
        return PlanResult(tuple(writes), kept, tuple(self.activities), tuple(self.skipped))

    # -- events ---------------------------------------------------------------------------------------
    def _expire(self) -> None:
        """Forget event ids older than the dedupe window behind the latest event time."""
        if self._window is None or self.latest_at is None:
            return
        horizon = self.latest_at - self._window
        ats, ids, seen = self._expiry_at, self._expiry_id, self._seen_ids
        while ats and ats[0] < horizon:
            ats.popleft()
            seen.discard(ids.popleft())

    def _apply(self, ev: Event) -> None:
        eid = ev.id
        seen = self._seen_ids
        if eid in seen:
            return  # §5: an event seen twice is applied once
        seen.add(eid)
        at = ev.at
        if self._window is not None:
            self._expiry_at.append(at)
            self._expiry_id.append(eid)
        if self.latest_at is None or at > self.latest_at:
            self.latest_at = at
        typ = ev.type
        if not getattr(ev, "sequence_active", True):  # D-PLAY-6: no Play; a reply is not synced
            self._inactive(ev)
            if typ == "email_replied":
                return
            if typ in _TRACKED or typ == "email_sent":
                self._track_and_log(ev, typ)
            return
        if self._track_and_log(ev, typ):
            self._fire(ev)

    def _inactive(self, ev: Event) -> None:
        """D-PLAY-6: report what an event of a sequence no longer active does not do."""
        for play, detail in inactive_skips(self.compiled, ev):
            self.skipped.append(Skipped("sequence_inactive", email=ev.email, event=ev.id, play=play, detail=detail))

    def _track_and_log(self, ev: Event, typ: str) -> bool:
        """Tracking figures and email activities of one event; False when the event counts for
        nothing (a click off the web tag domains, an out-of-thread reply): it fires no Play either."""
        if typ in _TRACKED:
            if typ == "email_clicked" and not host_on_domains(ev.url, self.cfg.domains):
                domains = ", ".join(self.cfg.domains) or "none configured"
                self.skipped.append(Skipped("untracked_domain", email=ev.email, event=ev.id,
                                            detail=f"link {ev.url} is not on a web tag domain ({domains}) (D-TR-2)"))
                return False
            if typ == "email_replied" and not ev.in_thread:
                self.skipped.append(Skipped("out_of_thread", email=ev.email, event=ev.id,
                                            detail="the reply is not in the sequence's thread (D-EM-5)"))
                return False
            if ev.email_problem is None:
                self.tracking.observe(ev, self.cfg)
                self.dirty[ev.email] = None
            elif self.cfg.fields:
                self._no_email(ev, None, "tracking")
        if typ == "email_sent" or typ == "email_replied":
            if typ == "email_sent" and ev.manual and ev.email:
                self.tracking.note_manual(ev.email, ev.message_id)
            self._log_email(ev)
        return True

    def _fire(self, ev: Event) -> None:
        """Run the Plays this event triggers, in Play-id order (the trigger index)."""
        plays = self.compiled.fired_by(ev)
        if plays:
            for cp in plays:
                if not cp.enabled:
                    self.skipped.append(Skipped("play_disabled", email=ev.email, event=ev.id, play=cp.id,
                                                detail=f"Play '{cp.id}' is disabled (enabled: false) (D-PLAY-6)"))
                    continue
                self._run(cp, ev)

    def _no_email(self, ev: Event, play: str | None, node: str | None, crm: str | None = None) -> None:
        key = ("noemail", ev.id, play, node)
        if key in self._skip_seen:
            return
        self._skip_seen.add(key)
        if ev.email_problem == "invalid_email":
            detail = f"'{ev.email}' is not a valid email address (D-WB-5)"
        else:
            detail = f"event {ev.id} has no contact email (D-WB-5)"
        self.skipped.append(Skipped(ev.email_problem or "no_email", crm, None, None, ev.email, ev.id, play, node,
                                    detail=detail))

    def _match(self, crm: str, obj: str, ev: Event, play: str | None, node: str | None) -> Match:
        """The record a node writes for the event's email (D-WB-5, D-WB-6). The winner is chosen
        once per email across Leads and Contacts (HubSpot: contacts); every other record holding
        the email is reported `duplicate`. A node whose `object` names the other object than the
        winner's writes nothing for that email: problem ``duplicate`` (its records are reported)."""
        if ev.email_problem is None:
            cands = self._index[crm].get(ev.email)
            if cands is not None and len(cands) == 1 and (obj == "auto" or cands[0].object == obj or crm == "hubspot"):
                return Match(cands[0], (), None)  # the common case, without the general search
        m = find(self.state, crm, "auto" if crm == "salesforce" else obj, ev.email, ev.email_problem)
        if m.losers:
            self._losers(m, crm, ev.email, ev.id, play, node)
        w = m.record
        if w is not None and crm == "salesforce" and obj in ("Lead", "Contact") and w.object != obj:
            if not any(r.object == obj for r in m.losers):
                key = ("dup-other", crm, obj, ev.email, play, node)
                if key not in self._skip_seen:
                    self._skip_seen.add(key)
                    # No record of the node's object holds the email, so there is no duplicate
                    # to report: the record is missing for this node (D-WB-6, D-WB-3).
                    self.skipped.append(Skipped(
                        "no_record", crm, obj, None, ev.email, ev.id, play, node,
                        detail=f"no {obj} holds {ev.email}; {w.object} {w.id or '(new)'} does and receives this "
                               f"email's writes, so this node writes nothing for it (D-WB-6, D-WB-3)"))
            return Match(None, m.losers, "duplicate")
        return m

    def _losers(self, m: Match, crm: str, email: str | None, event: str | None, play: str | None,
                node: str | None) -> None:
        """D-WB-6: each duplicate loser is reported once, naming the record that is written."""
        w = m.record
        for loser in m.losers:
            key = ("dup", loser.key)
            if key in self._skip_seen:
                continue
            self._skip_seen.add(key)
            self.skipped.append(Skipped(
                "duplicate", crm, loser.object, loser.id, email, event, play, node,
                detail=f"{len(m.losers) + 1} records share {email}; {w.object} {w.id or '(new)'} "
                       f"(most recently modified) is written instead (D-WB-6)"))

    def _no_record(self, crm: str, obj: str, ev: Event | None, play: str | None, node: str | None, why: str,
                   email: str | None = None) -> None:
        email = ev.email if ev is not None else email
        key = ("norec", crm, obj, email, play, node)
        if key in self._skip_seen:
            return
        self._skip_seen.add(key)
        what = "Lead or Contact" if obj == "auto" else "contact" if crm == "hubspot" else obj
        self.skipped.append(Skipped("no_record", crm, None if obj == "auto" else obj, None, email,
                                    ev.id if ev is not None else None, play, node,
                                    detail=f"no {what} in {crm} has email {email}{why}"))

    def _log_email(self, ev: Event) -> None:
        """D-EM-1..4: log an email or an in-thread reply on the contact's record in each CRM."""
        if ev.email_problem is not None:
            if self.crms:
                self._no_email(ev, None, "tracking" if ev.type in _TRACKED else None)
            return
        manual = ev.manual or (ev.type != "email_sent" and self.tracking.is_manual(ev.email, ev.message_id))
        for crm in self.crms:
            obj = "auto" if crm == "salesforce" else "contacts"
            rec = self._match(crm, obj, ev, None, None).record
            if rec is None:
                self._no_record(crm, obj, ev, None, None, "; the email activity is not logged")
                continue
            for aobj, fields in email_activities(ev, crm, self._settings[crm], rec.id, manual):
                self.activities.append(Activity(crm, aobj, rec.id, ev.email, fields, None, None, ev.id))

    # -- Plays ----------------------------------------------------------------------------------------
    def _current(self, crm: str, ev: Event) -> tuple[Record | None, Mapping | None]:
        if ev.email_problem is not None:
            return None, None
        m = find(self.state, crm, "auto" if crm == "salesforce" else "contacts", ev.email)
        rec = m.record
        return (rec, self.overlay.get(rec.key)) if rec is not None else (None, None)

    def _run(self, cp: CompiledPlay, ev: Event) -> None:
        ctx = EvalContext(ev, cp.id, cp.crms, lambda crm: self._current(crm, ev))
        table = cp.table
        i = cp.start
        steps = len(table)
        while i >= 0 and steps >= 0:
            steps -= 1
            n = table[i]
            k = n.kind
            if k == BRANCH:
                nxt = n.default
                for when, goto in n.cases:
                    if when(ctx):
                        nxt = goto
                        break
                i = nxt
            elif k == SYNC:
                self._sync(cp.id, n, ev, ctx)
                i = n.next
            else:
                self._task(cp.id, n, ev, ctx)
                i = n.next

    def _objinfo(self, crm: str, obj: str) -> tuple[ObjectSchema | None, dict]:
        """(field metadata of the object, its cache of field checks)."""
        info = self._schemas.get(crm + obj)
        if info is None:
            info = self._schemas[crm + obj] = ((self.meta.get(crm) or {}).get(obj), {})
        return info

    def _schema(self, crm: str, obj: str) -> ObjectSchema | None:
        return self._objinfo(crm, obj)[0]

    def _sync(self, play: str, n: Any, ev: Event, ctx: EvalContext) -> None:
        crm = n.crm
        m = self._match(crm, n.object, ev, play, n.id)
        rec = m.record
        if rec is None and (m.problem != "no_record" or not n.create):
            if m.problem == "duplicate":
                return  # D-WB-6: the winner is the other object (reported by _match)
            if m.problem != "no_record":
                self._no_email(ev, play, n.id, crm)
            else:
                self._no_record(crm, n.object, ev, play, n.id, " and the node does not create records (create: false)")
            return
        wanted, defaults = sync_values(n, ctx)  # templates and templated defaults rendered (D-WB-7)
        if rec is None:
            self._create(play, n, ev, wanted, defaults)
            return
        ov = self.overlay.get(rec.key)
        fields = rec.fields
        if ov is None:
            current = fields.get
        else:
            def current(f: str, ov=ov, fields=fields) -> Any:
                return ov[f] if f in ov else fields.get(f)
        obj = rec.object
        schema, checks = self._objinfo(crm, obj)
        d = decide(create=False, current=current, wanted=wanted, defaults=defaults, owned=self.owned[crm],
                   overwrite=n.overwrite, schema=schema, obj=obj, cache=checks)
        self._record(play, n.id, ev, rec, d, "update")

    def _create(self, play: str, n: Any, ev: Event, wanted: list, defaults: Mapping[str, Any]) -> None:
        """D-WB-3: a new record gets every mapped field the engine has a value for."""
        crm = n.crm
        obj = create_object(crm, n.object)
        schema, checks = self._objinfo(crm, obj)
        has = schema.fields.__contains__ if schema is not None else None
        merged = new_record_fields(crm, ev.email, ev.contact, has)
        for f, v in wanted:
            if not is_blank(v) or f not in merged:
                merged[f] = v
        d = decide(create=True, current=lambda f: None, wanted=list(merged.items()), defaults=defaults,
                   owned=self.owned[crm], overwrite=n.overwrite, schema=schema, obj=obj, cache=checks)
        fill_required(crm, obj, d.writes, has)
        rec = self.state.add(crm, obj, dict(d.writes), ev.email, ev.at)
        self._record(play, n.id, ev, rec, d, "create")

    def _record(self, play: str, node: str, ev: Event, rec: Record, d: Any, op: str) -> None:
        rkey = rec.key
        if d.writes:
            self.writes.add(rkey, f"{rkey}\x1f{play}\x1f{node}",
                            (play, node, rec.crm, rec.object, rec.id, rec.email or ev.email, op, rkey),
                            d.writes, d.overwritten)
        if d.kept:
            kept = self.kept
            email = rec.email or ev.email
            for f, cur, want in d.kept:
                kept[(rkey, play, node, f)] = (play, node, rec.crm, rec.object, rec.id, f, cur, want, email)
        for f, reason, detail in d.skipped:
            key = ("field", rkey, play, node, f, reason)
            if reason == "unsupported_field":
                if key in self._skip_seen:
                    continue
                self._skip_seen.add(key)
            self.skipped.append(Skipped(reason, rec.crm, rec.object, rec.id, rec.email or ev.email, ev.id, play,
                                        node, f, detail))

    def _task(self, play: str, n: Any, ev: Event, ctx: EvalContext) -> None:
        crm = n.crm
        obj = "auto" if crm == "salesforce" else "contacts"
        m = self._match(crm, obj, ev, play, n.id)
        rec = m.record
        if rec is None:
            if m.problem == "no_record":
                self._no_record(crm, obj, ev, play, n.id, "; the task is not created")
            else:
                self._no_email(ev, play, n.id, crm)
            return
        due = add_days(ev.at, n.due_in_days)
        subject, description = n.subject(ctx), n.description(ctx)
        failed = next((x for x in (subject, description) if type(x) is RenderFailed), None)
        if failed is not None:  # D-OPS-3: a template that failed is reported, the task not created
            self.skipped.append(Skipped("template_error", crm, rec.object, rec.id, rec.email or ev.email, ev.id, play,
                                        n.id, None, f"{failed.code} {failed.message}; the task is not created"))
            return
        tobj, fields = task(crm, rec.id, subject, description, due, f"{ev.id}:{play}:{n.id}")
        self.activities.append(Activity(crm, tobj, rec.id, ev.email, fields, play, n.id, ev.id))

    # -- tracking -------------------------------------------------------------------------------------
    def _tracking_writes(self) -> dict[str, Write]:
        """D-TR-1: one write per record with the tracking figures that differ from the record's."""
        out: dict[str, Write] = {}
        crms = [c for c in self.cfg.crms() if self.cfg.fields.get(c)]
        for email in self.dirty if crms else ():
            for crm in crms:
                vals = tracking_fields(self.tracking, email, crm, self.cfg)
                if not vals:
                    continue
                obj = "auto" if crm == "salesforce" else "contacts"
                m = find(self.state, crm, obj, email)
                rec = m.record
                if rec is None:
                    self._no_record(crm, obj, None, None, "tracking", "; tracking fields not written", email)
                    continue
                self._losers(m, crm, email, None, None, "tracking")
                ov = self.overlay.get(rec.key) or {}
                fields = changed_fields(vals, lambda f: ov[f] if f in ov else rec.fields.get(f),
                                        self._schema(crm, rec.object))
                if fields:
                    out[rec.key] = Write(None, "tracking", crm, rec.object, rec.id, email, "update", fields)
        return out


def plan(plays: Mapping[str, Play] | Iterable[Play] | CompiledPlays, integration: Integration,
         events: Iterable[Event | Mapping[str, Any]], crm_state: Mapping[str, Any] | CrmState | None, *,
         now: Any = None, tracking_state: Any = None,
         crm_objects: Mapping[str, Mapping[str, ObjectSchema]] | None = None,
         audiences: Mapping[str, Iterable[Mapping[str, Any]]] | None = None) -> PlanResult:
    """Plan one batch: apply `events` (time order, duplicates once) to `crm_state` through `plays`.

    `schedule` Plays then run once at `now` (default: the latest event's time; with neither they do
    not run). See `Planner` for the arguments.
    """
    p = Planner(plays, integration, crm_state, tracking_state=tracking_state, crm_objects=crm_objects,
                audiences=audiences)
    p.feed(events)
    when = to_us(now) if now is not None else p.latest_at
    if when is not None and p.compiled.schedules:
        p.run_schedules(when)
    return p.result()
