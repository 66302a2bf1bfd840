"""What a picture of a Play shows, and the Play as text for pictures: Mermaid or Graphviz DOT.

`diagram` is the picture model that `engine.language.svg` draws (our own SVG, no Graphviz): a
trigger box in plain words, a box per node saying what it is and what it writes (field, value or
template, default, owned / if blank / overwrite, picklist), the branch conditions on the arrows.
`to_mermaid` / `to_dot` are text; the CLI turns DOT into PNG with Graphviz's ``dot`` when it is
installed. Branches are diamonds with one labelled edge per case (its `when`, shortened) plus
``default``; a reference to a missing node is drawn dashed to a red "missing" box.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

from engine.language.graph import edges
from engine.language.metadata import ObjectSchema
from engine.language.model import STOP, Condition, Integration, Node, Play
from engine.language.templates import is_template
from engine.language.vocab import NodeKind

MAX_LABEL = 60
MAX_FIELDS = 4


def _short(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _value(v: Any) -> str:
    if isinstance(v, tuple):
        return ", ".join(_value(x) for x in v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return "null" if v is None else str(v)


def condition_label(cond: Condition) -> str:
    op = {"eq": "=", "any": "in", "in": "in", "not": "≠", "contains": "contains", "exists": "exists",
          "gt": ">", "lt": "<"}.get(cond.op, cond.op)
    return f"{cond.key} {op} {_value(cond.value)}"


def trigger_label(play: Play) -> str:
    t = play.trigger
    parts = [str(t.type)]
    for name, values in (("from", t.from_statuses), ("to", t.to_statuses), ("classifications", t.classifications),
                         ("events", t.events), ("sequences", t.sequences)):
        if values:
            parts.append(f"{name}: {', '.join(values)}")
    if t.every:
        parts.append(f"every {t.every}")
    if t.cron:
        parts.append(f"cron {t.cron}")
    return "\n".join(_short(p) for p in parts)


def node_label(node: Node) -> str:
    lines = [node.id, str(node.kind)]
    if node.kind in (NodeKind.SYNC_TO_SALESFORCE, NodeKind.SYNC_TO_HUBSPOT):
        if node.kind == NodeKind.SYNC_TO_SALESFORCE:
            lines[1] += f" ({node.object})"
        items = list(node.fields.items())
        for name, value in items[:MAX_FIELDS]:
            lines.append(_short(f"{name} = {_value(value)}"))
        if len(items) > MAX_FIELDS:
            lines.append(f"… {len(items) - MAX_FIELDS} more")
    elif node.kind == NodeKind.CREATE_TASK:
        lines[1] += f" ({node.crm})"
        if node.subject:
            lines.append(_short(node.subject, 48))
    return "\n".join(lines)


def _edge_labels(play: Play) -> list[tuple[str, str, str]]:
    out = []
    for src, dst, _path, label in edges(play):
        node = play.nodes[src]
        if label.startswith("case "):
            case = node.cases[int(label.split()[1]) - 1]
            text = "\n".join(_short(condition_label(c)) for c in case.when) or "always"
            out.append((src, dst, text))
        else:
            out.append((src, dst, label))
    return out


# -- Mermaid -----------------------------------------------------------------------------------

def _m(text: str) -> str:
    return text.replace('"', "#quot;").replace("\n", "<br/>")


def to_mermaid(play: Play) -> str:
    ids = {nid: f"n{i}" for i, nid in enumerate(play.nodes)}
    ids[STOP] = "stop_"
    lines = ["flowchart TD", f'    trigger(["{_m(trigger_label(play))}"])']
    for nid, node in play.nodes.items():
        label = _m(node_label(node))
        shape = f'{{"{label}"}}' if node.kind == NodeKind.BRANCH else \
            f'[["{label}"]]' if node.kind == NodeKind.CREATE_TASK else f'["{label}"]'
        lines.append(f"    {ids[nid]}{shape}")
    lines.append('    stop_(("stop"))')
    missing: list[str] = []
    start = ids.get(play.start)
    if start is None:
        missing.append(play.start)
        ids[play.start] = f"missing{len(missing)}"
    lines.append(f"    trigger --> {ids[play.start]}")
    for src, dst, label in _edge_labels(play):
        if dst not in ids:
            missing.append(dst)
            ids[dst] = f"missing{len(missing)}"
        arrow = "-.->" if dst in missing else "-->"
        lines.append(f'    {ids[src]} {arrow}|"{_m(label)}"| {ids[dst]}' if label else f"    {ids[src]} {arrow} {ids[dst]}")
    for i, name in enumerate(missing, 1):
        lines.append(f'    missing{i}["{_m("missing: " + name)}"]')
        lines.append(f"    style missing{i} stroke:#c00,stroke-dasharray: 4 4")
    return "\n".join(lines) + "\n"


# -- DOT ---------------------------------------------------------------------------------------

def _d(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(play: Play) -> str:
    lines = [f"digraph {_d(play.id)} {{", "    rankdir=TB;",
             '    node [fontname="Helvetica", fontsize=11];', '    edge [fontname="Helvetica", fontsize=9];',
             f'    "__trigger" [shape=box, style="rounded,filled", fillcolor="#eef5ff", label={_d(trigger_label(play))}];']
    for nid, node in play.nodes.items():
        shape = {NodeKind.BRANCH: "diamond", NodeKind.CREATE_TASK: "note"}.get(node.kind, "box")
        lines.append(f"    {_d(nid)} [shape={shape}, label={_d(node_label(node))}];")
    lines.append('    "__stop" [shape=doublecircle, label="stop"];')

    def ref(name: str) -> str:
        return '"__stop"' if name == STOP else _d(name if name in play.nodes else "missing: " + name)

    missing = sorted({dst for _s, dst, _l in _edge_labels(play) if dst != STOP and dst not in play.nodes}
                     | ({play.start} if play.start not in play.nodes and play.start != STOP else set()))
    for name in missing:
        lines.append(f"    {_d('missing: ' + name)} [shape=box, style=dashed, color=red];")
    lines.append(f'    "__trigger" -> {ref(play.start)};')
    for src, dst, label in _edge_labels(play):
        attrs = [f"label={_d(label)}"] if label else []
        if dst in missing:
            attrs.append("style=dashed")
        lines.append(f"    {_d(src)} -> {ref(dst)}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- the picture model (drawn by engine.language.svg) -------------------------------------------

OWNED, BLANK_ONLY, OVERWRITE = "owned", "if blank", "overwrite"
MODE_MEANING = {
    OWNED: "owned: always written when there is a value (D-WB-1)",
    BLANK_ONLY: "if blank: written only when the CRM field is empty; a value already there is kept (D-WB-2)",
    OVERWRITE: "overwrite: this node may replace a value already there (opt-in, D-WB-4)",
}


@dataclass(frozen=True)
class Write:
    """One field a sync node writes, as a RevOps reader wants it: what, when, and from where.

    `source` is ``node`` (mapped by the node), ``node default`` (a node default for a field it does
    not map) or ``integration default`` (integration.yaml's default values, D-WB-7)."""

    field: str
    value: str
    template: bool
    mode: str  # OWNED | BLANK_ONLY | OVERWRITE
    default: str | None = None
    picklist: bool = False
    label: str = ""  # the CRM's label of the field, when the snapshot is known
    source: str = "node"


@dataclass(frozen=True)
class Shape:
    """A box of the picture. `kind`: trigger, branch, sync_to_salesforce, sync_to_hubspot,
    create_task, stop or missing."""

    id: str
    kind: str
    title: str
    subtitle: str = ""
    lines: tuple[str, ...] = ()
    writes: tuple[Write, ...] = ()
    crm: str = ""
    objects: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # "CODE message" of the diagnostics inside this node


@dataclass(frozen=True)
class Arrow:
    """An edge: `kind` start, case, default or next; `label` lines (branch conditions)."""

    src: str
    dst: str
    kind: str
    label: tuple[str, ...] = ()
    missing: bool = False


@dataclass(frozen=True)
class Diagram:
    play: str
    description: str
    enabled: bool
    shapes: tuple[Shape, ...]
    arrows: tuple[Arrow, ...]


TRIGGER_SHAPE, STOP_SHAPE = "__trigger", "__stop"

_KEY_WORDS = {"sequence_status": "sequence status", "reply_classification": "reply classification",
              "sequence": "sequence", "event": "event"}


NBSP = "\u00a0"


def _atom(v: Any) -> str:
    """A value in a sentence: its spaces do not break (a picture never wraps "Completed: Replied")."""
    return _value(v).replace(" ", NBSP)


def _words(values: tuple | list, joiner: str = "or") -> str:
    items = [_atom(v) for v in values]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {joiner} " + items[-1]


def condition_sentence(cond: Condition) -> str:
    """A condition in plain words: ``reply classification is Positive or Willing to meet``."""
    key = _KEY_WORDS.get(cond.key, cond.key)
    v = cond.value
    many = isinstance(v, tuple)
    if cond.op in ("eq", "any", "in"):
        return f"{key} is {_words(v) if many else _atom(v)}"
    if cond.op == "not":
        return f"{key} is not {_words(v, 'nor') if many else _atom(v)}"
    if cond.op == "contains":
        return f"{key} contains {_words(v) if many else _atom(v)}"
    if cond.op == "exists":
        return f"{key} is {'set' if v else 'not set'}"
    if cond.op in ("gt", "lt"):
        return f"{key} is {'more' if cond.op == 'gt' else 'less'} than {_atom(v)}"
    return condition_label(cond)


_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}


def _duration(text: str | None) -> str:
    """``1d`` -> ``day``, ``14d`` -> ``14 days``; anything else as written."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw])\s*", text or "")
    if not m:
        return str(text)
    n, unit = int(m.group(1)), _UNITS[m.group(2)]
    return unit if n == 1 else f"{n} {unit}s"


def trigger_sentence(play: Play) -> list[str]:
    """What starts the Play, in plain words (one or more short sentences)."""
    t = play.trigger
    seqs = f" in {_words(t.sequences)}" if t.sequences else ""
    if t.type == "sequence_status_changed":
        out = "When a contact's sequence status changes" + (f" from {_words(t.from_statuses)}" if t.from_statuses else "") \
            + (f" to {_words(t.to_statuses)}" if t.to_statuses else "") + seqs
    elif t.type == "reply_classified":
        out = "When a reply is classified" + (f" as {_words(t.classifications)}" if t.classifications else "") + seqs
    elif t.type == "sequence_enrolled":
        out = "When a contact is enrolled in a sequence" + (f" ({_words(t.sequences)})" if t.sequences else "")
    elif t.type == "email_engagement":
        verbs = {"opened": "opens", "clicked": "clicks", "replied": "replies to"}
        evs = [verbs.get(e, e) for e in (t.events or ("opened", "clicked", "replied"))]
        out = f"When a contact {_words(evs)} an email" + seqs
    else:
        out = f"Every {_duration(t.every)}" if t.every else f"On the schedule {t.cron}" if t.cron else "On a schedule"
        a = t.audience
        if a is not None and a.csv:
            out += f", for the contacts in {a.csv}"
        elif a is not None and a.engaged:
            out += f", for contacts who {_words(list(a.engaged))}" + (f" in the last {_duration(a.within)}" if a.within else "")
            if a.exclusions:
                out += " (automated and out-of-office replies do not count)"
    return [out]


def _fmt(v: Any) -> str:
    return '""' if v == "" else _value(v)


def node_writes(node: Node, integration: Integration | None = None,
                objects: Mapping[str, Mapping[str, ObjectSchema]] | None = None) -> tuple[Write, ...]:
    """The fields a sync node writes: its mapped fields, then defaults for fields it does not map
    (its own, then the integration's), each with when it is written (owned / if blank / overwrite)."""
    if node.kind not in (NodeKind.SYNC_TO_SALESFORCE, NodeKind.SYNC_TO_HUBSPOT) or node.crm is None:
        return ()
    settings = integration.settings(node.crm) if integration is not None else None
    owned = settings.owned if settings is not None else frozenset()
    schemas = [s for s in ((objects or {}).get(str(node.crm)) or {}).values()
               if s.name in node_objects(node)]

    def info(name: str):
        found = [s.fields[name] for s in schemas if name in s.fields]
        return found[0] if found else None

    def mode(name: str) -> str:
        return OWNED if name in owned else OVERWRITE if name in node.overwrite else BLANK_ONLY

    defaults = dict(settings.default_values) if settings is not None else {}
    out = []
    for name, value in node.fields.items():
        fi = info(name)
        dv = node.default_values.get(name, defaults.get(name))
        if dv is not None and not is_template(value) and _fmt(dv) == _fmt(value):
            dv = None  # a default equal to the value says nothing
        out.append(Write(name, _fmt(value), is_template(value), mode(name), None if dv is None else _fmt(dv),
                         bool(fi and fi.kind == "picklist"), fi.label if fi else ""))
    for source, values in (("node default", node.default_values), ("integration default", defaults)):
        for name, dv in values.items():
            if name in node.fields or any(w.field == name for w in out):
                continue
            fi = info(name)
            if schemas and fi is None:
                continue  # a default for a field this object does not have is never written
            out.append(Write(name, _fmt(dv), is_template(dv), OWNED if name in owned else BLANK_ONLY, None,
                             bool(fi and fi.kind == "picklist"), fi.label if fi else "", source))
    return tuple(out)


def node_objects(node: Node) -> tuple[str, ...]:
    """The CRM objects a sync node may write: ``auto`` is a Lead or a Contact (D-PLAY-4)."""
    if node.kind == NodeKind.SYNC_TO_HUBSPOT:
        return ("contacts",)
    if node.kind == NodeKind.SYNC_TO_SALESFORCE:
        return ("Lead", "Contact") if node.object == "auto" else (node.object,)
    return ()


def _node_shape(node: Node, integration: Integration | None, objects, notes: Mapping[str, str]) -> Shape:
    note = notes.get(node.id, "") if node.kind != NodeKind.CREATE_TASK else ""  # a task's is its own text
    if node.kind == NodeKind.BRANCH:
        return Shape(node.id, str(node.kind), node.id, "Branch: the first case that matches wins",
                     (note,) if note else ())
    if node.kind == NodeKind.CREATE_TASK:
        crm = "Salesforce" if node.crm == "salesforce" else "HubSpot"
        lines = [f"Subject: {node.subject}"] if node.subject else []
        if node.description:
            lines.append(f"Notes: {node.description}")
        if node.due_in_days is not None:
            lines.append(f"Due in {node.due_in_days} day{'s' if node.due_in_days != 1 else ''}")
        return Shape(node.id, str(node.kind), node.id, f"Create a {crm} task", tuple(([note] if note else []) + lines),
                     crm=str(node.crm))
    objs = node_objects(node)
    if node.kind == NodeKind.SYNC_TO_HUBSPOT:
        what = "Update the HubSpot contact"
    else:
        what = f"Update the Salesforce {' or '.join(objs)}"
    if node.create:
        what += " (create it if missing)"
    return Shape(node.id, str(node.kind), node.id, what, (note,) if note else (),
                 node_writes(node, integration, objects), str(node.crm), objs)


def diagram(play: Play, integration: Integration | None = None,
            objects: Mapping[str, Mapping[str, ObjectSchema]] | None = None,
            notes: Mapping[str, str] | None = None, problems: Mapping[str, list[str]] | None = None) -> Diagram:
    """The picture of a Play: a trigger box, one box per node, and one arrow per reference (the
    start, each case with its conditions, each default, each `next`). Each reference to ``stop``
    goes to an End box of its own (ids ``__stop``, ``__stop2``, ...: kind ``stop``), so no arrow
    crosses the picture to reach a shared one; a reference to a node that does not exist goes to
    a "missing" box. `notes`: a description per node id; `problems`: diagnostics per node id
    (``__trigger`` for the trigger), drawn in red in their box."""
    notes = notes or {}
    trigger_lines = trigger_sentence(play)
    shapes = [Shape(TRIGGER_SHAPE, "trigger", "When", "" if play.enabled else "disabled: never runs",
                    tuple(trigger_lines))]
    shapes += [_node_shape(node, integration, objects, notes) for node in play.nodes.values()]
    if problems:
        shapes = [replace(sh, problems=tuple(problems.get(sh.id, ()))) for sh in shapes]
    missing: list[str] = []

    ends: list[str] = []

    def target(name: str) -> tuple[str, bool]:
        if name == STOP:  # every path ends in its own End box, drawn under the node that stops
            ends.append(f"{STOP_SHAPE}{len(ends) + 1}" if ends else STOP_SHAPE)
            return ends[-1], False
        if name in play.nodes:
            return name, False
        if name not in missing:
            missing.append(name)
        return "__missing:" + name, True

    arrows = []
    dst, miss = target(play.start)
    arrows.append(Arrow(TRIGGER_SHAPE, dst, "start", (), miss))
    for src, to, _path, label in edges(play):
        dst, miss = target(to)
        node = play.nodes[src]
        if label.startswith("case "):
            i = int(label.split()[1])
            conds = [condition_sentence(c) for c in node.cases[i - 1].when] or ["always"]
            text = [("if " if i == 1 else "else if ") + conds[0]] + ["and " + c for c in conds[1:]]
            arrows.append(Arrow(src, dst, "case", tuple(text), miss))
        elif label == "default":
            arrows.append(Arrow(src, dst, "default", ("otherwise",), miss))
        else:
            arrows.append(Arrow(src, dst, "next", (), miss))
    shapes += [Shape("__missing:" + m, "missing", f"missing: {m}", "no such node") for m in missing]
    shapes += [Shape(end, "stop", "End") for end in ends]
    return Diagram(play.id, play.description, play.enabled, tuple(shapes), tuple(arrows))


def node_notes(data: Any) -> dict[str, str]:
    """The `description` of each branch or sync node of a Play document (drawn in its box)."""
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, dict):
        return {}
    return {nid: raw["description"] for nid, raw in nodes.items()
            if isinstance(raw, dict) and isinstance(raw.get("description"), str) and raw.get("type") != "create_task"}
