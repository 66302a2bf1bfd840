"""`plays plan --plays DIR --events FILE --crm-state FILE [--format text|json]`: the offline dry run.

Loads and checks the Plays, the events (JSONL or a JSON array, `engine.evaluate.eventfile`) and the CRM
state (`engine.evaluate.crmstate.parse_crm_state_text`); when any has errors, prints every diagnostic
(``file:line:col``, at the offending value) on stderr and exits 1 with nothing on stdout. Problems
of ``*.test.yaml`` files beside the Plays are left to `plays test`. Otherwise runs
`engine.evaluate.plan.plan` and prints either a per-record diff (text, coloured only on a terminal) or the
JSON document of cli.md (strict JSON: times ISO 8601 UTC with Z). Exit 2 for wrong usage: a
missing or unreadable file, a folder for a file, `--plays` without Plays, a bad `--now`.
Changes nothing.
"""
from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from cli import report
from engine.evaluate.crmstate import CrmState, parse_crm_state_text
from engine.diagnostics import Diagnostic, Severity, error
from engine.evaluate.events import parse_events_text, parse_time
from engine.results import Outcome as PlanResult
from engine.run import plan_on_state
from engine.language.schema_check import SchemasMissing
from engine.workspace import (PLAY_SUFFIXES, TEST_SUFFIXES, PathNotFound, Workspace, discover, load_workspace,
                              read_audiences)


class Format(str, Enum):
    text = "text"
    json = "json"


def _fail_usage(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(2)


def read_crm_state(path: str) -> tuple[dict | None, list[Diagnostic]]:
    """The CRM state file as a dict, or (None, diagnostics) when it has errors."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [error("CRMSTATE001", path, (1, 1), f"the CRM state file is not UTF-8 text (byte {exc.start})",
                            "save it as UTF-8")]
    except OSError as exc:
        return None, [error("CRMSTATE001", path, (1, 1), f"cannot read the CRM state file: {exc.strerror or exc}")]
    return parse_crm_state_text(text, path)


def _emit_diags(diags: list[Diagnostic], files: int = 0) -> None:
    if diags:
        report.print_text(diags, files, stream=sys.stderr, with_summary=False)


# ------------------------------------------------------------------------------------------- text

def _v(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def render_text(result: PlanResult, crm_state: dict | None) -> list[tuple[str, str]]:
    """The per-record diff as (style, line) pairs; styles are Rich styles ('' for none)."""
    state = CrmState.from_dict(crm_state or {})
    before: dict[tuple, Any] = {}
    object_of: dict[tuple, str] = {}
    for rec in state.people():
        before[(rec.crm, rec.object, rec.id)] = rec.fields
        object_of[(rec.crm, rec.id)] = rec.object

    groups: dict[tuple, dict[str, list]] = {}

    def group(crm: str, obj: str | None, record: str | None, email: str | None) -> dict[str, list]:
        key = (crm, obj, record, None if record else email)
        g = groups.get(key)
        if g is None:
            g = groups[key] = {"email": email, "nodes": {}, "activities": []}
        if email and not g["email"]:
            g["email"] = email
        return g

    for w in result.writes:
        g = group(w.crm, w.object, w.record, w.email)
        g["nodes"].setdefault((w.play, w.node), {"op": w.op, "writes": [], "kept": []})["writes"].append(w)
    for k in result.kept:
        g = group(k.crm, k.object, k.record, k.email)
        g["nodes"].setdefault((k.play, k.node), {"op": "update", "writes": [], "kept": []})["kept"].append(k)
    created = {(w.crm, w.email): w.object for w in result.writes if w.op == "create"}
    for a in result.activities:
        obj = object_of.get((a.crm, a.record)) if a.record else created.get((a.crm, a.email))
        group(a.crm, obj, a.record, a.email)["activities"].append(a)

    lines: list[tuple[str, str]] = []
    for (crm, obj, record, _email), g in groups.items():
        who = f"{crm} {obj or ''} {record or '(new)'}".replace("  ", " ")
        lines.append(("bold", f"{who} <{g['email']}>" if g["email"] else who))
        old = before.get((crm, obj, record), {})
        for (play, node), entry in g["nodes"].items():
            label = "tracking" if play is None else f"{play} / {node}"
            lines.append(("cyan", f"  {label}  ({entry['op']})"))
            for w in entry["writes"]:
                for f, v in w.fields.items():
                    mark = "!" if f in w.overwrite else "+"
                    was = "new" if w.op == "create" or record is None else _v(old.get(f))
                    extra = "  (overwrite opt-in)" if f in w.overwrite else ""
                    lines.append(("green" if mark == "+" else "magenta", f"    {mark} {f}: {was} -> {_v(v)}{extra}"))
            for k in entry["kept"]:
                lines.append(("yellow", f"    = {k.field}: keeps {_v(k.current)} (wanted {_v(k.wanted)}: {k.reason})"))
        for a in g["activities"]:
            f = a.fields
            title = f.get("Subject") or f.get("hs_email_subject") or f.get("hs_task_subject") or ""
            due = f.get("ActivityDate") if a.object == "Task" and f.get("Status") == "Not Started" else None
            source = f"{a.play} / {a.node}, " if a.play else ""
            lines.append(("blue", f"  + {a.object} {_v(title)}" + (f" due {due}" if due else "")
                          + f"  ({source}event {a.event})"))
    if result.skipped:
        lines.append(("bold", "skipped"))
        for s in result.skipped:
            where = " ".join(x for x in (s.crm, s.object, s.record or (s.email and f"<{s.email}>")) if x)
            ctx = ", ".join(x for x in (f"event {s.event}" if s.event else "",
                                        (f"{s.play} / {s.node}" if s.node else s.play) if s.play else "",
                                        f"field {s.field}" if s.field else "") if x)
            head = " ".join(x for x in (where, f"({ctx})" if ctx else "") if x)
            lines.append(("red", f"  - {s.reason}: " + (f"{head}: " if head else "") + s.detail))
    nfields = sum(len(w.fields) for w in result.writes)
    if lines:
        lines.append(("", ""))
    lines.append(("bold", f"{_n(len(result.writes), 'write')} ({_n(nfields, 'field')}), {len(result.kept)} kept, "
                          f"{_n(len(result.activities), 'activity', 'activities')}, {len(result.skipped)} skipped"))
    return lines


def print_text(result: PlanResult, crm_state: dict | None) -> None:
    lines = render_text(result, crm_state)
    if report._is_tty(sys.stdout):
        from rich.console import Console
        from rich.markup import escape

        console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
        for style, text in lines:
            console.print(f"[{style}]{escape(text)}[/{style}]" if style else escape(text))
        return
    sys.stdout.write("".join(text + "\n" for _style, text in lines))
    sys.stdout.flush()


# -------------------------------------------------------------------------------------------- command

def plan_cmd(
    plays: str = typer.Option(..., "--plays", help="Folder (or file) of Plays, with integration.yaml."),
    events: str = typer.Option(..., "--events", help="Events file: JSONL, or a JSON array."),
    crm_state: str = typer.Option(..., "--crm-state", help="CRM state file: JSON records by CRM and object, {\"salesforce\": {\"Lead\": [...]}, \"hubspot\": {\"contacts\": [...]}}."),
    format: Format = typer.Option(Format.text, "--format", "-f", help="text (a per-record diff) or json."),
    now: Optional[str] = typer.Option(None, "--now", help="Clock for schedule Plays (ISO date-time; "
                                                         "default: the latest event's time)."),
) -> None:
    """Offline dry run: what the engine would write for these events against this CRM state."""
    for label, path in (("--events", events), ("--crm-state", crm_state)):
        _need_file(label, path)
    if now is not None and parse_time(now) is None:
        _fail_usage(f"--now: not an ISO 8601 date-time with a zone: {now} (e.g. 2026-11-20T10:00:00Z)")
    ws = _load_plays(plays)
    # Play tests are not input to a plan: their problems belong to `plays test` / `plays validate`.
    diags: list[Diagnostic] = [d for d in ws.diagnostics if not d.file.lower().endswith(TEST_SUFFIXES)]
    evs, ev_diags = read_events(events)
    diags += ev_diags
    state, st_diags = read_crm_state(crm_state)
    diags += st_diags
    audiences, aud_diags = read_audiences(ws.plays, ws.play_docs)
    diags += aud_diags
    if any(d.severity == Severity.ERROR for d in diags):
        report.print_text(diags, ws.files + 2, stream=sys.stderr)
        raise typer.Exit(1)
    _emit_diags(diags)
    result = plan_on_state(ws.plays, ws.integration, evs, state, now=now, crm_objects=ws.crm_objects, audiences=audiences)
    if format == Format.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        sys.stdout.flush()
    else:
        print_text(result, state)
    raise typer.Exit(0)


def _need_file(label: str, path: str) -> None:
    p = Path(path)
    if p.is_dir():
        _fail_usage(f"{label}: {path} is a folder; give a file")
    if not p.is_file():
        _fail_usage(f"{label}: no such file: {path}")
    if not os.access(p, os.R_OK):
        _fail_usage(f"{label}: cannot read {path} (permission denied)")


def _load_plays(path: str) -> Workspace:
    """The Plays under `path` (exit 2 when it is missing or holds no Play)."""
    p = Path(path)
    if p.is_file() and not p.name.lower().endswith(PLAY_SUFFIXES):
        _fail_usage(f"--plays: {path} is not a Play file (*.play.yaml); give a Play file or a folder of Plays")
    try:
        files = discover([path])
        ws = load_workspace([path])
    except PathNotFound as exc:
        _fail_usage(f"--plays: {exc}")
    except SchemasMissing as exc:
        _fail_usage(str(exc))
    if not any(f.kind == "play" for f in files):
        _fail_usage(f"--plays: no Plays (*.play.yaml) in {path}")
    return ws


def read_events(path: str) -> tuple[list, list[Diagnostic]]:
    """The events file's events and diagnostics (EVENT001 when it is not UTF-8)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [], [error("EVENT001", path, (1, 1), f"the events file is not UTF-8 text (byte {exc.start})",
                          "save it as UTF-8")]
    except OSError as exc:
        return [], [error("EVENT001", path, (1, 1), f"cannot read the events file: {exc.strerror or exc}")]
    return parse_events_text(text, path)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)
