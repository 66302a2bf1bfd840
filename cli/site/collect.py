"""What the docs site shows, gathered from a workspace: each Play with its picture, what each node
writes, its Play tests run now with their results, its diagnostics and its last change; the field
index (which Plays write `Lead.Status`?), and the integration's settings.

Reads files and runs the Play tests (through `engine.evaluate.playtest.run_test`, as `plays test`
does); knows nothing of HTML (`cli.site.pages` renders these values).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cli.plan_cmd import read_audiences
from engine.diagnostics import Diagnostic, Severity
from engine.evaluate.playtest import TestOutcome, run_test
from engine.language.loader import load_file
from engine.language.model import Integration, Play
from engine.language.render_graph import (TRIGGER_SHAPE, Diagram, Write, diagram, node_notes, node_objects, node_writes,
                                          trigger_sentence)
from engine.language.svg import render
from engine.run import plan_on_state
from engine.workspace import Workspace, integration_for_test, load_workspace


@dataclass
class Change:
    """The last change of a file: from git when it is committed there, else the file's mtime."""

    when: str  # ISO date-time, UTC
    source: str  # "git" or "mtime"
    author: str = ""
    subject: str = ""


@dataclass
class NodeWrites:
    node: str
    crm: str
    objects: tuple[str, ...]
    writes: tuple[Write, ...]


@dataclass
class PlayPage:
    id: str
    file: str
    play: Play
    valid: bool  # no errors: it runs
    trigger: str
    svg: str
    diagram: Diagram
    writes: list[NodeWrites]
    tests: list[TestOutcome]
    diagnostics: list[Diagnostic]
    change: Change | None
    source: str  # the YAML text

    @property
    def crms(self) -> list[str]:
        return sorted({w.crm for w in self.writes} | {str(n.crm) for n in self.play.nodes.values() if n.crm})

    @property
    def fields(self) -> list[str]:
        seen: dict[str, None] = {}
        for nw in self.writes:
            for w in nw.writes:
                if w.source == "node":
                    seen.setdefault(f"{'/'.join(nw.objects)}.{w.field}")
        return list(seen)

    @property
    def passed(self) -> int:
        return sum(t.passed for t in self.tests)

    @property
    def errors(self) -> int:
        return sum(d.severity == Severity.ERROR for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(d.severity == Severity.WARNING for d in self.diagnostics)


@dataclass
class FieldUse:
    play: str
    node: str
    write: Write


@dataclass
class FieldEntry:
    crm: str
    object: str
    field: str
    label: str
    picklist: bool
    uses: list[FieldUse] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return f"{self.crm}-{self.object}-{self.field}"

    @property
    def plays(self) -> list[str]:
        return sorted({u.play for u in self.uses})


@dataclass
class Site:
    root: str  # the folder the site was made from, as given
    workspace: Workspace
    plays: list[PlayPage]
    fields: list[FieldEntry]
    integration: Integration
    diagnostics: list[Diagnostic]
    other_tests: list[TestOutcome]  # tests of Plays that could not be built
    generated: str


def last_change(path: str) -> Change | None:
    """When `path` last changed: its last git commit (if git knows it and it is not modified since),
    else its modification time."""
    p = Path(path)
    if not p.exists():
        return None
    try:
        folder = str(p.resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", p.name], cwd=folder, capture_output=True,
                               text=True, timeout=20)
        log = subprocess.run(["git", "log", "-1", "--format=%cI%x00%an%x00%s", "--", p.name], cwd=folder,
                             capture_output=True, text=True, timeout=20)
        if dirty.returncode == 0 and not dirty.stdout.strip() and log.returncode == 0 and log.stdout.strip():
            when, author, subject = (log.stdout.strip().split("\0") + ["", ""])[:3]
            stamp = datetime.fromisoformat(when).astimezone(timezone.utc)
            return Change(stamp.strftime("%Y-%m-%d %H:%M UTC"), "git", author, subject)
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    stamp = datetime.fromtimestamp(p.stat().st_mtime, timezone.utc)
    return Change(stamp.strftime("%Y-%m-%d %H:%M UTC"), "mtime")


def _run_tests(ws: Workspace) -> list[TestOutcome]:
    """Every schema-valid Play test of the workspace, run as `plays test` runs it."""
    audiences, _diags = read_audiences(ws.plays, ws.play_docs)
    overrides: dict[str, tuple] = {}
    out: list[TestOutcome] = []
    for doc, data in sorted(ws.tests, key=lambda t: t[0].file):
        integration, objects, _ = integration_for_test(ws, doc, data, overrides)
        if integration is None:
            miss = TestOutcome(str(data.get("test")), doc.file, doc.pos(("test",))[0], str(data.get("play")), False)
            miss.problems.append(f"integration '{data['integration']}' is missing or has errors")
            out.append(miss)
            continue
        out.append(run_test(doc, data, ws.plays, integration, objects, audiences, planner=plan_on_state))
    return out


def collect(paths: list[str]) -> Site:
    """Load the workspace under `paths`, run its Play tests and gather every page's content."""
    ws = load_workspace(paths)
    outcomes = _run_tests(ws)
    by_file: dict[str, list[Diagnostic]] = {}
    for d in ws.diagnostics:
        by_file.setdefault(d.file, []).append(d)
    test_files = {doc.file: data for doc, data in ws.tests}
    pages: list[PlayPage] = []
    for file, play in sorted(ws.built.items(), key=lambda kv: kv[1].id):
        doc = ws.play_docs.get(play.id)
        notes = node_notes(doc.data) if doc is not None else {}
        own = by_file.get(file, [])
        d = diagram(play, ws.integration, ws.crm_objects, notes, problems_by_node(file, play, own))
        svg, _layout = render(d, prefix=play.id)
        writes = [NodeWrites(n.id, str(n.crm), node_objects(n), node_writes(n, ws.integration, ws.crm_objects))
                  for n in play.nodes.values() if n.kind in ("sync_to_salesforce", "sync_to_hubspot")]
        tests = [t for t in outcomes if t.play == play.id]
        diags = list(by_file.get(file, []))
        for tf, data in test_files.items():
            if data.get("play") == play.id:
                diags += by_file.get(tf, [])
        try:
            source = Path(file).read_text(encoding="utf-8")
        except OSError:
            source = ""
        pages.append(PlayPage(play.id, file, play, ws.plays.get(play.id) is play, trigger_sentence(play)[0],
                              svg, d, writes, tests, diags, last_change(file), source))
    built_ids = {p.id for p in pages}
    return Site(root=", ".join(paths), workspace=ws, plays=pages, fields=_field_index(pages, ws),
                integration=ws.integration, diagnostics=ws.diagnostics,
                other_tests=[t for t in outcomes if t.play not in built_ids],
                generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))


def problems_by_node(file: str, play: Play, diags: list[Diagnostic]) -> dict[str, list[str]]:
    """The diagnostics of a Play file inside each node (by the lines of its YAML), and the trigger's
    (key ``__trigger``), as "CODE message" for its box in the picture."""
    if not diags:
        return {}
    doc, _problems = load_file(file)
    if doc is None or not isinstance(doc.data, dict):
        return {}
    tops = sorted(doc.pos((k,), key=True)[0] for k in doc.data)
    spans: list[tuple[int, int, str]] = []

    def end_after(line: int, candidates: list[int]) -> int:
        return min((c for c in candidates if c > line), default=10**9)

    if "trigger" in doc.data:
        t = doc.pos(("trigger",), key=True)[0]
        spans.append((t, end_after(t, tops), TRIGGER_SHAPE))
    starts = sorted((doc.pos(("nodes", nid), key=True)[0], nid) for nid in play.nodes)
    node_lines = [ln for ln, _n in starts]
    nodes_key = doc.pos(("nodes",), key=True)[0] if "nodes" in doc.data else 0
    for ln, nid in starts:
        spans.append((ln, min(end_after(ln, node_lines), end_after(nodes_key, tops)), nid))
    out: dict[str, list[str]] = {}
    for diag in diags:
        for lo, hi, nid in spans:
            if lo <= diag.line < hi:
                out.setdefault(nid, []).append(f"{diag.code} {diag.message}")
                break
    return out


def _field_index(pages: list[PlayPage], ws: Workspace) -> list[FieldEntry]:
    """One entry per (CRM, object, field) any Play writes (a node on `auto` writes Lead and Contact)."""
    entries: dict[tuple[str, str, str], FieldEntry] = {}
    for page in pages:
        for nw in page.writes:
            for w in nw.writes:
                for obj in nw.objects:
                    schema = (ws.crm_objects.get(nw.crm) or {}).get(obj)
                    info = schema.fields.get(w.field) if schema is not None else None
                    if schema is not None and info is None:
                        continue  # e.g. an integration default for a Lead-only field on a Contact
                    key = (nw.crm, obj, w.field)
                    if key not in entries:
                        entries[key] = FieldEntry(nw.crm, obj, w.field, info.label if info else "",
                                                  bool(info and info.kind == "picklist"))
                    entries[key].uses.append(FieldUse(page.id, nw.node, w))
    return sorted(entries.values(), key=lambda e: (e.crm, e.object, e.field.lower()))


def rel(path: str) -> str:
    """A path for display: relative to the current folder when it is under it."""
    try:
        return os.path.relpath(path) if not os.path.relpath(path).startswith("..") else path
    except ValueError:
        return path
