"""Draws a Play as SVG with no Graphviz: `render_graph.diagram` says what to show, `layout` where.

Boxes are cards: a coloured header (the node id and what kind of node it is), then what the node
does in plain words; a sync node lists every field it writes (the field with chips saying when it
is written — owned / if blank / overwrite — and whether it is a picklist; under it ``= value``,
templates in purple, and its default). Branch conditions sit on the arrows as labels. A legend under the
picture explains the chips. Text is measured with Arial's advance widths (Helvetica, Arial and
Liberation Sans share them), so the SVG needs no fonts or scripts and reads the same in a browser,
in GitHub's README view and in the Prefect UI.

Every box is a ``<g class="node" data-node=ID data-kind=KIND>`` and every arrow a
``<path class="edge" data-from=A data-to=B>``, so tests (and browsers' find) can check the picture.
"""

from __future__ import annotations

import re
from typing import Mapping

from engine.language.layout import Box, Layout, Link, layout
from engine.language.metadata import ObjectSchema
from engine.language.model import Integration, Play
from engine.language.render_graph import (BLANK_ONLY, MODE_MEANING, OVERWRITE, OWNED, STOP_SHAPE, TRIGGER_SHAPE,
                                          Arrow, Diagram, Shape, Write, diagram)

FONT = "Helvetica, Arial, 'Liberation Sans', sans-serif"
MAX_CHARS = 46  # longest value / line drawn; the full text is in the box's tooltip
WRAP = 44
LABEL_WRAP = 44

# Arial advance widths, 1/1000 em, for ASCII 32..126 (Helvetica and Liberation Sans match).
_ARIAL = [278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
          556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
          611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
          667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
          222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584]

COLORS = {
    "trigger": ("#0f766e", "#f0fdfa"),
    "branch": ("#6d28d9", "#faf5ff"),
    "sync_to_salesforce": ("#0b5cab", "#f5f9ff"),
    "sync_to_hubspot": ("#c2410c", "#fff7f3"),
    "create_task": ("#0e7490", "#f3fbfd"),
    "stop": ("#64748b", "#f1f5f9"),
    "missing": ("#b91c1c", "#fef2f2"),
}
BADGES = {"trigger": "TRIGGER", "branch": "BRANCH", "sync_to_salesforce": "SALESFORCE",
          "sync_to_hubspot": "HUBSPOT", "create_task": "TASK", "missing": "ERROR"}
CHIPS = {OWNED: ("#166534", "#dcfce7"), BLANK_ONLY: ("#475569", "#eef2f7"), OVERWRITE: ("#9a3412", "#ffedd5"),
         "picklist": ("#5b21b6", "#ede9fe")}


PICKLIST_MEANING = "picklist: only the picklist's values are written; another value is replaced by the default (D-FT-3)"
DEFAULT_MEANING = "(default X): written instead when the value is empty or not one of the picklist's values (D-WB-7)"


def text_width(text: str, size: float, bold: bool = False) -> float:
    """The width of `text` in Arial at `size` px (bold: about 12 % wider, rounded up)."""
    units = sum(_ARIAL[ord(c) - 32] if 32 <= ord(c) < 127 else 278 if c == "\u00a0" else 600 for c in text)
    return units * size / 1000 * (1.12 if bold else 1.0)


def _esc(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _cut(text: str, limit: int = MAX_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wrap(text: str, width: int = WRAP) -> list[str]:
    lines: list[str] = []
    cur = ""
    for word in re.findall(r"[^ ]*\{\{.*?\}\}[^ ]*|[^ ]+", text):  # a {{ template }} is never split
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    if cur:
        lines.append(cur)
    return [_cut(l, width + 8) for l in lines] or [""]


# -- boxes ---------------------------------------------------------------------------------------

PAD = 12
HEAD = 26
LINE = 17
ROW = 18
VALUE = 17
INDENT = 12
CHIP_H = 15


def _chips(w: Write) -> list[str]:
    out = [w.mode]
    if w.picklist:
        out.append("picklist")
    return out


def _badge(s: Shape) -> str:
    badge = BADGES.get(s.kind, "")
    if s.kind.startswith("sync") and s.objects:
        badge += " · " + " / ".join("CONTACT" if o == "contacts" else o.upper() for o in s.objects)
    return badge


def _caps_width(text: str, size: float, bold: bool = False) -> float:
    """Upper-case text drawn with 0.4 px letter spacing."""
    return text_width(text.upper(), size, bold) + 0.4 * len(text)


def _value_width(w: Write) -> float:
    """'= value  (default X)': a template is drawn in an 11 px monospace font (0.6 em a character)."""
    shown = _cut(w.value)
    width = text_width("= ", 12) + (len(shown) * 6.6 if w.template else text_width(shown, 12))
    if w.default is not None:
        width += text_width(f"  (default {_cut(str(w.default), 30)})", 11)
    return width


def _chip_width(text: str) -> float:
    return text_width(text, 10, True) + 10


class _Card:
    """A box's content, measured: lines of (kind, payload) with their heights."""

    def __init__(self, shape: Shape):
        self.shape = shape
        self.body: list[tuple[str, object, float]] = []  # (kind, payload, height)
        if shape.kind == "stop":
            self.width, self.height = max(64.0, text_width(shape.title, 12, True) + 32), 30.0
            return
        for problem in shape.problems[:4]:
            self.body.append(("problem", _cut(problem, 60), LINE))
        if len(shape.problems) > 4:
            self.body.append(("problem", f"… {len(shape.problems) - 4} more problems", LINE))
        if shape.subtitle:
            self.body.append(("subtitle", shape.subtitle, LINE))
        for line in shape.lines:
            for part in _wrap(line):
                self.body.append(("line", part, LINE))
        groups: dict[str, list[Write]] = {}
        for w in shape.writes:
            groups.setdefault(w.source, []).append(w)
        for source, writes in groups.items():
            if source != "node":
                self.body.append(("caption", "when blank, also the " + source + ":", LINE))
            elif shape.writes:
                self.body.append(("caption", "writes:", LINE))
            for w in writes:
                self.body.append(("field", w, ROW))
                self.body.append(("value", w, VALUE))
        widths = [text_width(shape.title, 13, True) + _caps_width(_badge(shape), 9.5, True) + 3 * PAD]
        for kind, payload, _h in self.body:
            if kind == "field":
                widths.append(text_width(payload.field, 12, True) + 12  # type: ignore[union-attr]
                              + sum(_chip_width(c) + 4 for c in _chips(payload)) + 2 * PAD)  # type: ignore[arg-type]
            elif kind == "value":
                widths.append(INDENT + _value_width(payload) + 2 * PAD)  # type: ignore[arg-type]
            elif kind == "caption":
                widths.append(_caps_width(str(payload), 10.5) + 2 * PAD)
            elif kind == "problem":
                widths.append(text_width("⚠ " + str(payload), 12, True) + 2 * PAD)
            else:
                widths.append(text_width(str(payload), 12, kind == "subtitle") + 2 * PAD)
        self.width = max(max(widths), 150.0)
        self.height = HEAD + 8 + sum(h for _k, _p, h in self.body) + (6 if self.body else 0)

    def svg(self, x: float, y: float) -> str:
        """The card with its top-left corner at (x, y)."""
        s = self.shape
        stroke, fill = COLORS.get(s.kind, COLORS["stop"])
        tip = "\n".join([s.title, s.subtitle, *s.lines] + [f"{w.field} = {w.value} ({w.mode}"
                                                           + (f", default {w.default}" if w.default else "")
                                                           + (", picklist" if w.picklist else "") + ")"
                                                           for w in s.writes])
        out = [f'<g class="node node-{_esc(s.kind)}" data-node="{_esc(s.id)}" data-kind="{_esc(s.kind)}">',
               f"<title>{_esc(tip.strip())}</title>"]
        w, h = self.width, self.height
        if s.kind == "stop":
            out[0] = f'<g class="node node-stop" data-node="{STOP_SHAPE}" data-kind="stop" data-box="{_esc(s.id)}">'
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{h / 2:.1f}" '
                       f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>')
            out.append(f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4.5:.1f}" text-anchor="middle" '
                       f'class="t-title" fill="{stroke}">{_esc(s.title)}</text></g>')
            return "".join(out)
        dash = ' stroke-dasharray="5 4"' if s.kind == "missing" else ""
        border, sw = stroke, "1.5"
        if s.problems:  # a box with diagnostics: a thick red border, the problems first
            border, sw = COLORS["missing"][0], "2.5"
            out[0] = out[0].replace('class="node ', 'class="node has-problems ', 1)
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="8" fill="{fill}" '
                   f'stroke="{border}" stroke-width="{sw}"{dash}/>')
        out.append(f'<path d="M{x:.1f},{y + HEAD:.1f} v-{HEAD - 8} a8,8 0 0 1 8,-8 h{w - 16:.1f} a8,8 0 0 1 8,8 '
                   f'v{HEAD - 8} z" fill="{stroke}"/>')
        out.append(f'<text x="{x + PAD:.1f}" y="{y + 17.5:.1f}" class="t-head">{_esc(s.title)}</text>')
        badge = _badge(s)
        out.append(f'<text x="{x + w - PAD:.1f}" y="{y + 17:.1f}" text-anchor="end" class="t-badge">'
                   f'{_esc(badge)}</text>')
        cy = y + HEAD + 8
        for kind, payload, hgt in self.body:
            base = cy + hgt - 5
            if kind == "subtitle":
                cls = "t-warn" if s.kind == "trigger" else "t-sub"
                out.append(f'<text x="{x + PAD:.1f}" y="{base:.1f}" class="{cls}">{_esc(str(payload))}</text>')
            elif kind == "problem":
                out.append(f'<text x="{x + PAD:.1f}" y="{base:.1f}" class="t-problem">&#9888; {_esc(str(payload))}</text>')
            elif kind == "line":
                out.append(f'<text x="{x + PAD:.1f}" y="{base:.1f}" class="t-line">{_esc(str(payload))}</text>')
            elif kind == "caption":
                out.append(f'<text x="{x + PAD:.1f}" y="{base:.1f}" class="t-cap">{_esc(str(payload))}</text>')
            elif kind == "field":
                wr: Write = payload  # type: ignore[assignment]
                out.append(f'<g class="write" data-field="{_esc(wr.field)}" data-mode="{_esc(wr.mode)}">')
                out.append(f'<text x="{x + PAD:.1f}" y="{base:.1f}" class="t-field">{_esc(wr.field)}</text>')
                cx = x + w - PAD
                for chip in reversed(_chips(wr)):
                    cw = _chip_width(chip)
                    cx -= cw
                    fg, bg = CHIPS[chip]
                    out.append(f'<rect x="{cx:.1f}" y="{base - 11:.1f}" width="{cw:.1f}" height="{CHIP_H}" rx="7.5" '
                               f'fill="{bg}"/><text x="{cx + cw / 2:.1f}" y="{base - 0.5:.1f}" text-anchor="middle" '
                               f'class="t-chip" fill="{fg}">{_esc(chip)}</text>')
                    cx -= 4
                out.append("</g>")
            elif kind == "value":
                wr = payload  # type: ignore[assignment]
                vcls = "t-tmpl" if wr.template else "t-value"
                default = f'<tspan class="t-default">  (default {_esc(_cut(str(wr.default), 30))})</tspan>' \
                    if wr.default is not None else ""
                out.append(f'<text x="{x + PAD + INDENT:.1f}" y="{base - 1:.1f}" class="t-line" '
                           f'data-field="{_esc(wr.field)}"><tspan class="t-eq">= </tspan>'
                           f'<tspan class="{vcls}">{_esc(_cut(wr.value))}</tspan>{default}</text>')
            cy += hgt
        out.append("</g>")
        return "".join(out)


# -- arrows --------------------------------------------------------------------------------------

def _label_lines(arrow: Arrow) -> list[tuple[float, str]]:
    """(indent, text): a condition too long for one line goes on, indented, on the next."""
    return [(10.0 if i else 0.0, part) for line in arrow.label for i, part in enumerate(_wrap(line, LABEL_WRAP))]


def _label_size(arrow: Arrow) -> tuple[float, float] | None:
    if not arrow.label:
        return None
    lines = _label_lines(arrow)
    return max(indent + text_width(l, 11.5) for indent, l in lines) + 16, 15 * len(lines) + 8


def _path(points: tuple[tuple[float, float], ...]) -> str:
    pts = [points[0]]
    for p in points[1:]:
        if abs(p[0] - pts[-1][0]) > 0.05 or abs(p[1] - pts[-1][1]) > 0.05:
            pts.append(p)
    d = [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if abs(x1 - x0) < 0.05:
            d.append(f"L{x1:.1f},{y1:.1f}")
        else:
            my = (y1 - y0) / 2
            d.append(f"C{x0:.1f},{y0 + my:.1f} {x1:.1f},{y1 - my:.1f} {x1:.1f},{y1:.1f}")
    return " ".join(d)


def _label_svg(arrow: Arrow, at: tuple[float, float], size: tuple[float, float]) -> str:
    w, h = size
    x, y = at[0] - w / 2, at[1] - h / 2
    other = arrow.kind == "default"
    stroke = "#cbd5e1" if other else "#c4b5fd"
    out = [f'<g class="edge-label" data-from="{_esc(arrow.src)}" data-to="{_esc(arrow.dst)}">',
           f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" fill="#ffffff" '
           f'stroke="{stroke}"/>']
    for i, (indent, line) in enumerate(_label_lines(arrow)):
        out.append(f'<text x="{x + 8 + indent:.1f}" y="{y + 16 + 15 * i:.1f}" class="{"t-other" if other else "t-cond"}">'
                   f"{_esc(line)}</text>")
    out.append("</g>")
    return "".join(out)


# -- the picture -----------------------------------------------------------------------------------

def _style(p: str) -> str:
    return (f"<style>"
            f".{p} text{{font-family:{FONT};}}"
            f".{p} .t-head{{font-size:13px;font-weight:bold;fill:#fff;}}"
            f".{p} .t-badge{{font-size:9.5px;font-weight:bold;fill:#fff;opacity:.85;letter-spacing:.4px;}}"
            f".{p} .t-title{{font-size:12px;font-weight:bold;}}"
            f".{p} .t-sub{{font-size:12px;font-weight:bold;fill:#1e293b;}}"
            f".{p} .t-warn{{font-size:12px;font-weight:bold;fill:#b91c1c;}}"
            f".{p} .t-line{{font-size:12px;fill:#334155;}}"
            f".{p} .t-problem{{font-size:12px;font-weight:bold;fill:#b91c1c;}}"
            f".{p} .t-cap{{font-size:10.5px;fill:#64748b;text-transform:uppercase;letter-spacing:.4px;}}"
            f".{p} .t-field{{font-size:12px;font-weight:bold;fill:#0f172a;}}"
            f".{p} .t-eq{{fill:#94a3b8;}}"
            f".{p} .t-value{{fill:#0f172a;}}"
            f".{p} .t-tmpl{{fill:#7c3aed;font-family:Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:11px;}}"
            f".{p} .t-default{{font-size:11px;fill:#64748b;font-style:italic;}}"
            f".{p} .t-chip{{font-size:10px;font-weight:bold;}}"
            f".{p} .t-cond{{font-size:11.5px;fill:#3b0764;}}"
            f".{p} .t-other{{font-size:11.5px;fill:#475569;font-style:italic;}}"
            f".{p} .t-legend{{font-size:11px;fill:#475569;}}"
            f".{p} .edge{{fill:none;stroke:#94a3b8;stroke-width:1.6;}}"
            f".{p} .edge-default{{stroke-dasharray:5 4;}}"
            f".{p} .edge-missing{{stroke:#b91c1c;stroke-dasharray:4 4;}}"
            f"</style>")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-") or "play"


def _badge_svg(pl, text: str) -> str:
    """A run's count on a box: a dark pill over its top-right corner."""
    w = text_width(text, 11, True) + 14
    x, y = pl.left + pl.width - w + 6, pl.top - 15
    return (f'<g class="run-badge"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="18" rx="9" '
            f'fill="#0f172a"/><text x="{x + w / 2:.1f}" y="{y + 12.5:.1f}" text-anchor="middle" '
            f'class="t-chip" fill="#ffffff" font-size="11">{_esc(text)}</text></g>')


def render(d: Diagram, prefix: str | None = None, badges: Mapping[str, str] | None = None) -> tuple[str, Layout]:
    """The SVG of a diagram (and its layout, for tests). `prefix` makes its ids unique in a page.
    `badges`: a run's text per box id (e.g. "3 contacts"); with them, boxes without one are faded."""
    p = "pg-" + _slug(prefix or d.play)
    cards = {s.id: _Card(s) for s in d.shapes}
    boxes = [Box(s.id, cards[s.id].width, cards[s.id].height) for s in d.shapes]
    sizes = [_label_size(a) for a in d.arrows]
    lay = layout(boxes, [Link(a.src, a.dst, size) for a, size in zip(d.arrows, sizes)])
    writes = [w for s in d.shapes for w in s.writes]
    legend = [(m, MODE_MEANING[m]) for m in (OWNED, BLANK_ONLY, OVERWRITE) if any(w.mode == m for w in writes)]
    if any(w.picklist for w in writes):
        legend.append(("picklist", PICKLIST_MEANING))
    if any(w.default is not None for w in writes):
        legend.append(("", DEFAULT_MEANING))
    legend_h = 20 * len(legend) + (10 if legend else 0)
    legend_w = max((text_width(text, 11) + (_chip_width(m) if m else 0) + 30 for m, text in legend), default=0.0)
    width, height = max(lay.width, legend_w), lay.height + legend_h
    title = f"Play {d.play}" + (f": {d.description}" if d.description else "")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="play-graph {p}" data-play="{_esc(d.play)}" '
           f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
           f'aria-labelledby="{p}-title">',
           f'<title id="{p}-title">{_esc(title)}</title>', _style(p),
           f'<defs><marker id="{p}-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#94a3b8"/></marker>'
           f'<marker id="{p}-arrow-missing" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
           f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#b91c1c"/></marker>'
           f"</defs>",
           '<rect width="100%" height="100%" fill="#ffffff"/>']
    out.append('<g class="edges">')
    for a, route in zip(d.arrows, lay.routes):
        cls = "edge edge-" + a.kind + (" edge-missing" if a.missing else "")
        marker = f"{p}-arrow-missing" if a.missing else f"{p}-arrow"
        out.append(f'<path class="{cls}" data-from="{_esc(a.src)}" data-to="{_esc(a.dst)}" '
                   f'd="{_path(route.points)}" marker-end="url(#{marker})"/>')
    out.append("</g><g class=\"labels\">")
    for a, route, size in zip(d.arrows, lay.routes, sizes):
        if size and route.label_at:
            out.append(_label_svg(a, route.label_at, size))
    out.append('</g><g class="nodes">')
    for s in d.shapes:
        pl = lay.boxes[s.id]
        card = cards[s.id].svg(pl.left, pl.top)
        if badges is not None and s.id not in badges and s.kind != "stop":
            card = card.replace("<g ", '<g opacity="0.45" ', 1)
        out.append(card)
    for s in d.shapes:
        if badges and s.id in badges:
            out.append(_badge_svg(lay.boxes[s.id], badges[s.id]))
    out.append("</g>")
    if legend:
        out.append('<g class="legend">')
        y = lay.height + 4
        for m, text in legend:
            cw = _chip_width(m) if m else -8.0
            if m:
                fg, bg = CHIPS[m]
                out.append(f'<rect x="16" y="{y:.1f}" width="{cw:.1f}" height="{CHIP_H}" rx="7.5" fill="{bg}"/>'
                           f'<text x="{16 + cw / 2:.1f}" y="{y + 11:.1f}" text-anchor="middle" class="t-chip" '
                           f'fill="{fg}">{_esc(m)}</text>')
            out.append(f'<text x="{24 + cw:.1f}" y="{y + 11.5:.1f}" class="t-legend">{_esc(text)}</text>')
            y += 20
        out.append("</g>")
    out.append("</svg>")
    return "".join(out) + "\n", lay


def play_svg(play: Play, integration: Integration | None = None,
             objects: Mapping[str, Mapping[str, ObjectSchema]] | None = None,
             notes: Mapping[str, str] | None = None, prefix: str | None = None,
             problems: Mapping[str, list[str]] | None = None) -> str:
    """The SVG picture of a Play (see `render_graph.diagram` for what it shows)."""
    return render(diagram(play, integration, objects, notes, problems), prefix)[0]


__all__ = ["play_svg", "render", "text_width", "STOP_SHAPE", "TRIGGER_SHAPE"]
