"""Renders a Play as text for pictures: Mermaid (``flowchart TD``) or Graphviz DOT.

Pure text; the CLI turns DOT into SVG/PNG with Graphviz's ``dot`` when it is installed. Branches
are diamonds with one labelled edge per case (its `when`, shortened) plus ``default``; sync nodes
list the fields they write; a reference to a missing node is drawn dashed to a red "missing" box.
"""

from __future__ import annotations

from typing import Any

from engine.language.graph import edges
from engine.language.model import STOP, Condition, Node, Play
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
