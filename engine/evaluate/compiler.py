"""The compiler: a validated Play becomes a flat table the planner runs without networkx.

networkx builds and checks the graph (`engine.language.graph`); the compiled form is a tuple of nodes
addressed by index (``-1`` is ``stop``), each branch case a closure over its `when`, each field value
either a literal or a compiled template. Templates of the form ``text {{ a.b }} text`` are compiled
to plain lookups (no jinja per event); anything else (filters, expressions, statements) goes
through the sandboxed jinja2 of `engine.language.templates`, with the same result.

`compile_plays` also builds the trigger index: event type -> the Plays that event can fire, in
Play-id order (the merge order of several Plays on one event, see `engine.evaluate.plan`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import networkx as nx

from engine.language import graph
from engine.evaluate.conditions import compile_when, make_getter
from engine.evaluate.crmstate import ATTRIBUTE_FIELDS
from engine.evaluate.policy import is_blank
from engine.diagnostics import Diagnostic, error
from engine.language.model import STOP, CrmSettings, Integration, Play
from engine.language.templates import _finalize, is_template, render
from engine.language.vocab import NodeKind, TriggerType

BRANCH, SYNC, TASK = 0, 1, 2
_DICT_METHODS = frozenset(dir(dict))


class CompileError(ValueError):
    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


# ------------------------------------------------------------------------------ evaluation context

class EvalContext:
    """What conditions and templates see while one Play runs on one event.

    `lookup(crm)` returns ``(record, overlay)`` for the event's contact in that CRM as earlier writes
    left it (the planner provides it); `crms` is the order in which CRMs are asked for a
    ``contact.X`` the event does not carry.
    """

    __slots__ = ("event", "play_id", "crms", "lookup", "_jinja")

    def __init__(self, event: Any, play_id: str, crms: tuple[str, ...],
                 lookup: Callable[[str], tuple[Any, Mapping | None]]):
        self.event = event
        self.play_id = play_id
        self.crms = crms
        self.lookup = lookup
        self._jinja: dict | None = None

    def contact_value(self, name: str) -> Any:
        """``contact.X``: the event's contact attribute X, else the matched CRM record's field X
        (a standard attribute also finds its CRM field: ``firstName`` -> ``FirstName``)."""
        v = self.event.contact.get(name)
        if v is not None:
            return v
        for crm in self.crms:
            rec, ov = self.lookup(crm)
            if rec is None:
                continue
            for fname in (name, ATTRIBUTE_FIELDS[crm].get(name)):
                if fname is None:
                    continue
                if ov is not None and fname in ov:
                    return ov[fname]
                v = rec.fields.get(fname)
                if v is not None:
                    return v
        return None

    def contact_dict(self) -> dict:
        out: dict = {}
        for crm in reversed(self.crms):
            rec, ov = self.lookup(crm)
            if rec is None:
                continue
            out.update(rec.fields)
            if ov:
                out.update(ov)
            for attr, fname in ATTRIBUTE_FIELDS[crm].items():
                if out.get(attr) is None and out.get(fname) is not None:
                    out[attr] = out[fname]
        for k, v in self.event.contact.items():
            if v is not None:
                out[k] = v
        return out

    def jinja_context(self) -> dict:
        """The full template context (built once per Play run, only for templates that need jinja)."""
        if self._jinja is None:
            ev = self.event
            contact = self.contact_dict()
            event = dict(ev.raw) if ev.raw else {}
            event.update(at=ev.at_text, id=ev.id, type=ev.type, in_thread=ev.in_thread,
                         sequence_status=ev.sequence_status)
            self._jinja = {
                "contact": contact, "person": contact,
                "sequence": {"name": ev.sequence, "status": ev.sequence_status},
                "reply": dict(ev.reply) if ev.reply else {},
                "message": dict(ev.message) if ev.message else {},
                "event": event,
                "play": {"id": self.play_id},
            }
        return self._jinja


# --------------------------------------------------------------------------------------- templates

_VAR = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\}\}")


def _path_getter(path: str) -> Callable[[EvalContext], Any] | None:
    parts = path.split(".")
    if len(parts) != 2 or parts[1] in _DICT_METHODS:
        return None
    root, name = parts
    if root in ("contact", "person", "reply", "message", "event"):
        return make_getter(path)  # what `reply.X` etc. mean, once: the same lookup as a `when` key
    if root == "sequence":
        if name == "name":
            return lambda c: c.event.sequence
        if name == "status":
            return lambda c: c.event.sequence_status
        return lambda c: None
    if root == "play":
        return (lambda c: c.play_id) if name == "id" else (lambda c: None)
    return None


def _text(v: Any) -> str:
    v = _finalize(v)
    return v if isinstance(v, str) else str(v)


def compile_template(text: str) -> Callable[[EvalContext], str]:
    """A template -> ``fn(ctx) -> str`` with the result `engine.language.templates.render` would give."""
    pieces: list[Any] = []
    pos = 0
    for m in _VAR.finditer(text):
        getter = _path_getter(m.group(1))
        if getter is None:
            break
        pieces.append(text[pos:m.start()])
        pieces.append(getter)
        pos = m.end()
    else:
        tail = text[pos:]
        literal_text = "".join(p for p in pieces if isinstance(p, str)) + tail
        if "{{" not in literal_text and "{%" not in literal_text and "{#" not in literal_text:
            pieces.append(tail)
            parts = tuple(p for p in pieces if not (isinstance(p, str) and p == ""))
            if len(parts) == 1 and not isinstance(parts[0], str):
                g = parts[0]
                return lambda c: _text(g(c)).strip()
            return lambda c: "".join(p if isinstance(p, str) else _text(p(c)) for p in parts).strip()
    return lambda c: render(text, c.jinja_context())


# ------------------------------------------------------------------------------------------- nodes

class CNode:
    """One compiled node. Branch: `cases` ((when_fn, goto index), ...) and `default`. Sync: `crm`,
    `object`, `literals` ((field, value), ...), `templates` ((field, fn), ...), `defaults` (the literal
    defaults, node over integration, D-WB-7), `default_templates` ((field, fn), ...: the templated ones;
    `sync_values` renders them), `overwrite`, `create`, `next`. Task: `crm`, `subject`, `description`,
    `due_in_days`, `next`."""

    __slots__ = ("id", "kind", "cases", "default", "next", "crm", "object", "literals", "templates",
                 "defaults", "default_templates", "node_defaults", "overwrite", "create", "subject", "description", "due_in_days",
                 "source")

    def __init__(self, nid: str, kind: int, source: Any):
        self.id = nid
        self.kind = kind
        self.source = source
        self.cases: tuple = ()
        self.default = -1
        self.next = -1
        self.crm: str | None = None
        self.object = "auto"
        self.literals: tuple = ()
        self.templates: tuple = ()
        self.defaults: Mapping[str, Any] = {}
        self.default_templates: tuple = ()
        self.node_defaults: Mapping[str, Any] = {}
        self.overwrite: frozenset[str] = frozenset()
        self.create = False
        self.subject: Callable | None = None
        self.description: Callable | None = None
        self.due_in_days = 0


def sync_values(n: CNode, ctx: EvalContext) -> tuple[list[tuple[str, Any]] | tuple, Mapping[str, Any]]:
    """What a sync node wants for one event: ((field, value), ...) with its templates rendered, and
    its defaults (node over integration) with templated ones rendered with the same variables
    (D-WB-7, D-FT-3); a default that renders empty is no default. Pass both to
    `engine.evaluate.policy.decide` (`wanted=`, `defaults=`)."""
    if n.templates:
        wanted: list[tuple[str, Any]] | tuple = list(n.literals)
        wanted.extend([(f, fn(ctx)) for f, fn in n.templates])
    else:
        wanted = n.literals
    if not n.default_templates:
        return wanted, n.defaults
    defaults = dict(n.defaults)
    for f, fn in n.default_templates:
        v = fn(ctx)
        if not is_blank(v):
            defaults[f] = v
    return wanted, defaults


@dataclass(frozen=True)
class CompiledPlay:
    id: str
    enabled: bool
    play: Play
    start: int
    table: tuple[CNode, ...]
    crms: tuple[str, ...]  # CRMs the Play writes to, in first-use order (for contact.X lookups)
    event_types: frozenset[str]
    accepts: Callable[[Any], bool]

    @property
    def is_schedule(self) -> bool:
        return self.play.trigger.type == TriggerType.SCHEDULE


def _value_fn(value: Any) -> tuple[bool, Any]:
    """(is_template, literal value or compiled fn)."""
    if is_template(value):
        return True, compile_template(value)
    return False, value


def _trigger(play: Play) -> tuple[frozenset[str], Callable[[Any], bool]]:
    t = play.trigger
    types = t.event_types
    frm, to, seqs, cls = (frozenset(t.from_statuses), frozenset(t.to_statuses), frozenset(t.sequences),
                          frozenset(t.classifications))
    checks: list[Callable[[Any], bool]] = []
    if t.type == TriggerType.SEQUENCE_STATUS_CHANGED:
        if frm:
            checks.append(lambda e: e.from_status in frm)
        if to:
            checks.append(lambda e: e.to_status in to)
    if t.type == TriggerType.REPLY_CLASSIFIED and cls:
        checks.append(lambda e: e.classification in cls)
    if seqs:
        checks.append(lambda e: e.sequence in seqs)
    if not checks:
        return frozenset(types), lambda e: True
    if len(checks) == 1:
        return frozenset(types), checks[0]
    return frozenset(types), lambda e: all(c(e) for c in checks)


def compile_play(play: Play, integration: Integration) -> CompiledPlay:
    """Compile one validated Play. Raises CompileError if it is not a DAG (D-PLAY-1) or references
    unknown nodes (the validator reports those first)."""
    g = graph.build_graph(play)
    problems: list[Diagnostic] = []
    for src, dst, path, _label in graph.edges(play):
        if dst != STOP and dst not in play.nodes:
            problems.append(error("COMPILE001", play.file, (1, 1), f"node '{src}' goes to unknown node '{dst}'"))
    if play.start != STOP and play.start not in play.nodes:
        problems.append(error("COMPILE001", play.file, (1, 1), f"start node '{play.start}' does not exist"))
    if not nx.is_directed_acyclic_graph(g):
        problems.append(error("COMPILE002", play.file, (1, 1), f"Play '{play.id}' has a cycle (D-PLAY-1)"))
    if problems:
        raise CompileError(problems)

    ids = list(play.nodes)
    index = {nid: i for i, nid in enumerate(ids)}
    index[STOP] = -1
    table: list[CNode] = []
    crms: list[str] = []
    for nid in ids:
        node = play.nodes[nid]
        if node.kind == NodeKind.BRANCH:
            c = CNode(nid, BRANCH, node)
            c.cases = tuple((compile_when(case.when), index[case.goto]) for case in node.cases)
            c.default = index[node.default]
        elif node.kind == NodeKind.CREATE_TASK:
            c = CNode(nid, TASK, node)
            c.crm = str(node.crm or "salesforce")
            c.subject = compile_template(node.subject) if is_template(node.subject) else (lambda _c, s=node.subject: s)
            c.description = (compile_template(node.description) if is_template(node.description)
                             else (lambda _c, s=node.description: s))
            if node.due_in_days is not None:
                c.due_in_days = int(node.due_in_days)
            else:  # D-EM-4: without due_in_days, due follow_up_due_days after the event (UTC date)
                settings = integration.settings(c.crm)
                c.due_in_days = settings.follow_up_due_days if settings else CrmSettings.follow_up_due_days
            c.next = index[node.next]
        else:
            c = CNode(nid, SYNC, node)
            c.crm = str(node.crm)
            c.object = node.object
            lits, temps = [], []
            for fname, value in node.fields.items():
                is_t, v = _value_fn(value)
                (temps if is_t else lits).append((fname, v))
            c.literals, c.templates = tuple(lits), tuple(temps)
            settings = integration.settings(c.crm)
            merged = dict(settings.default_values) if settings else {}
            merged.update(node.default_values)  # D-WB-7: the node's default wins
            lit_defaults, temp_defaults = {}, []
            for fname, value in merged.items():
                is_t, v = _value_fn(value)
                if is_t:
                    temp_defaults.append((fname, v))
                else:
                    lit_defaults[fname] = v
            c.defaults = lit_defaults  # literal defaults only: a template is never written raw
            c.default_templates = tuple(temp_defaults)
            c.node_defaults = dict(node.default_values)
            c.overwrite = frozenset(node.overwrite)
            c.create = node.create
            c.next = index[node.next]
        if c.crm and c.crm not in crms:
            crms.append(c.crm)
        table.append(c)
    types, accepts = _trigger(play)
    return CompiledPlay(play.id, play.enabled, play, index[play.start], tuple(table),
                        tuple(crms) or ("salesforce", "hubspot"), types, accepts)


@dataclass(frozen=True)
class CompiledPlays:
    """Every compiled Play, sorted by id, with the trigger index."""

    plays: tuple[CompiledPlay, ...]
    by_event: Mapping[str, tuple[CompiledPlay, ...]]
    schedules: tuple[CompiledPlay, ...]
    errors: tuple[Diagnostic, ...] = ()

    def for_event(self, event_type: str) -> tuple[CompiledPlay, ...]:
        return self.by_event.get(event_type, ())

    def fired_by(self, ev: Any) -> tuple[CompiledPlay, ...]:
        """Trigger routing: the Plays event `ev` fires, in Play-id order: those whose trigger fires on
        its type (`Trigger.event_types`) and whose filters (from, to, classifications, sequences)
        let it through. Disabled Plays are included (the caller reports them `play_disabled`)."""
        return tuple(cp for cp in self.by_event.get(ev.type, ()) if cp.accepts(ev))


def reply_not_synced(ev: Any) -> bool:
    """D-PLAY-6: a reply whose sequence is no longer active (`sequence_active: false`) is not synced:
    no activity, no follow-up task, no tracking."""
    return not ev.sequence_active and ev.type == "email_replied"


def inactive_skips(compiled: CompiledPlays, ev: Any) -> list[tuple[str | None, str]]:
    """D-PLAY-6: what an event whose sequence is no longer active does not do, as (Play id or None,
    detail) entries to report skipped with reason ``sequence_inactive``: one per Play the event
    would have fired (it fires none, disabled ones included) and, for a reply, one (None) for the
    reply's own sync (`reply_not_synced`). Empty when the sequence is active."""
    if ev.sequence_active:
        return []
    seq = f"sequence '{ev.sequence}'" if ev.sequence else "its sequence"
    out: list[tuple[str | None, str]] = []
    if reply_not_synced(ev):
        out.append((None, f"the reply is not synced: {seq} is no longer active (sequence_active: false) "
                          f"(D-PLAY-6); no activity, follow-up task or tracking"))
    for cp in compiled.fired_by(ev):
        out.append((cp.id, f"Play '{cp.id}' does not run: {seq} is no longer active "
                           f"(sequence_active: false) (D-PLAY-6)"))
    return out


def compile_plays(plays: Mapping[str, Play] | Iterable[Play], integration: Integration) -> CompiledPlays:
    """Compile Plays and index them by the event types their triggers fire on. A Play that does not
    compile is left out and its diagnostics returned in `errors`."""
    items = list(plays.values()) if isinstance(plays, Mapping) else list(plays)
    compiled: list[CompiledPlay] = []
    errors: list[Diagnostic] = []
    for p in sorted(items, key=lambda p: p.id):
        try:
            compiled.append(compile_play(p, integration))
        except CompileError as exc:
            errors.extend(exc.diagnostics)
    by_event: dict[str, list[CompiledPlay]] = {}
    for cp in compiled:
        for t in sorted(cp.event_types):
            by_event.setdefault(t, []).append(cp)
    return CompiledPlays(tuple(compiled), {k: tuple(v) for k, v in by_event.items()},
                         tuple(cp for cp in compiled if cp.is_schedule), tuple(errors))
