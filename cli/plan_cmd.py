"""`plays plan --plays DIR --events FILE --crm-state FILE [--format text|json]`: the offline dry run.

Loads and checks the Plays (errors: diagnostics on stderr, exit 1), reads the events (JSONL or a
JSON array; broken events are diagnostics with ``file:line:col``, exit 1) and the CRM state (§6),
runs `engine.plan.plan` and prints either a per-record diff (text, coloured on a terminal) or the
JSON document of cli.md. Exit 2 for a missing file. Changes nothing.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from cli import report
from engine.audience import parse_csv
from engine.crmstate import CrmState
from engine.diagnostics import Diagnostic, Severity, error, warning
from engine.events import parse_events_text, parse_time
from engine.plan import PlanResult, plan
from engine.workspace import PathNotFound, load_workspace


class Format(str, Enum):
    text = "text"
    json = "json"


def _fail_usage(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(2)


def read_crm_state(path: str) -> tuple[dict | None, list[Diagnostic]]:
    """The §6 CRM state file as a dict, or diagnostics."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [error("CRMSTATE001", path, (1, 1), "the CRM state file is not UTF-8 text")]
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        return None, [error("CRMSTATE001", path, (exc.lineno, exc.colno), f"not valid JSON: {exc.msg}")]
    if not isinstance(data, dict):
        return None, [error("CRMSTATE002", path, (1, 1), "the CRM state must be a JSON object",
                            'e.g. {"salesforce": {"Lead": []}, "hubspot": {"contacts": []}}')]
    bad = [k for k in data if k not in ("salesforce", "hubspot")]
    diags = [warning("CRMSTATE003", path, (1, 1), f"unknown CRM '{k}' in the CRM state (ignored)",
                     "use salesforce or hubspot") for k in bad]
    return data, diags


def read_audiences(plays: dict, base: Path | None = None) -> tuple[dict[str, list], list[Diagnostic]]:
    """CSV audience rows for every schedule Play with `audience.csv` (relative to the Play file)."""
    rows: dict[str, list] = {}
    diags: list[Diagnostic] = []
    for pid, play in plays.items():
        aud = play.trigger.audience
        if aud is None or not aud.csv:
            continue
        folder = Path(play.file).parent if play.file else (base or Path("."))
        path = folder / aud.csv
        try:
            rows[pid] = parse_csv(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            diags.append(warning("AUDIENCE001", play.file or pid, (1, 1),
                                 f"audience CSV '{aud.csv}' cannot be read ({exc.__class__.__name__}); "
                                 "the audience is empty", "the path is relative to the Play file's folder"))
    return rows, diags


def _emit_diags(diags: list[Diagnostic], files: int = 0) -> None:
    if diags:
        report.print_text(diags, files, stream=sys.stderr, with_summary=False)


# ------------------------------------------------------------------------------------------- text

def _v(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


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
            lines.append(("red", f"  - {s.reason}: {where}" + (f" ({ctx})" if ctx else "") + f": {s.detail}"))
    nfields = sum(len(w.fields) for w in result.writes)
    lines.append(("", ""))
    lines.append(("bold", f"{len(result.writes)} writes ({nfields} fields), {len(result.kept)} kept, "
                          f"{len(result.activities)} activities, {len(result.skipped)} skipped"))
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
    crm_state: str = typer.Option(..., "--crm-state", help="CRM state file (JSON, play-language.md §6)."),
    format: Format = typer.Option(Format.text, "--format", "-f", help="text (a per-record diff) or json."),
    now: Optional[str] = typer.Option(None, "--now", help="Clock for schedule Plays (ISO date-time; "
                                                         "default: the latest event's time)."),
) -> None:
    """Offline dry run: what the engine would write for these events against this CRM state."""
    for label, path in (("--events", events), ("--crm-state", crm_state)):
        if not Path(path).is_file():
            _fail_usage(f"{label}: no such file: {path}")
    if now is not None and parse_time(now) is None:
        _fail_usage(f"--now: not an ISO 8601 date-time with a zone: {now}")
    try:
        ws = load_workspace([plays])
    except PathNotFound as exc:
        _fail_usage(f"--plays: {exc}")
    if ws.errors:
        report.print_text(ws.diagnostics, ws.files, stream=sys.stderr)
        raise typer.Exit(1)
    diags: list[Diagnostic] = list(ws.diagnostics)
    try:
        text = Path(events).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        text = None
        diags.append(error("EVENT001", events, (1, 1), "the events file is not UTF-8 text"))
    evs, ev_diags = parse_events_text(text, events) if text is not None else ([], [])
    diags += ev_diags
    state, st_diags = read_crm_state(crm_state)
    diags += st_diags
    audiences, aud_diags = read_audiences(ws.plays)
    diags += aud_diags
    if any(d.severity == Severity.ERROR for d in diags):
        report.print_text(diags, ws.files + 2, stream=sys.stderr)
        raise typer.Exit(1)
    _emit_diags(diags)
    result = plan(ws.plays, ws.integration, evs, state, now=now, crm_objects=ws.crm_objects, audiences=audiences)
    if format == Format.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    else:
        print_text(result, state)
    raise typer.Exit(0)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan_cmd)
