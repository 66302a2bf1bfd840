"""The one-pass runtime commands: `plays run` and `plays demo` (serve, ingest, skipped and worker
are in `cli.serve_cmd`). Parsing and printing only: the work is in `flows` (Prefect is imported lazily, inside
the commands) and the sandbox CRM is started here when asked for.

Exit codes: 0 success; 1 the input has errors (Plays, events) or a Play run failed; 2 wrong usage or a
setup problem (missing file, no Prefect server, no CRM connection, no ingest secret).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from cli import report

DEMO_EVENTS = "plays/events/demo.jsonl"
DEMO_STATE = "plays/events/demo-crm-state.json"
LIST_ROWS = 25


class Crm(str, Enum):
    sandbox = "sandbox"
    live = "live"


class Format(str, Enum):
    text = "text"
    json = "json"


def _fail(message: str, code: int = 2) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


def require_crm(crm: Optional[Crm], sandbox_info: Optional[str], command: str) -> Crm:
    """The CRM to use: never the live one by default. `--sandbox-info` means the sandbox it names."""
    if crm is not None:
        return crm
    if sandbox_info:
        return Crm.sandbox
    _fail(f"say which CRM `plays {command}` writes to: --crm sandbox (a local sandbox CRM, safe to try) "
          f"or --crm live (the CRMs in integration.yaml, with real credentials)")
    raise AssertionError  # unreachable: _fail exits


def _load_plays(plays: str):
    from engine.workspace import PathNotFound, load_workspace

    try:
        ws = load_workspace([plays])
    except PathNotFound as exc:
        _fail(f"--plays: {exc}")
    if ws.errors:
        report.print_text(ws.diagnostics, ws.files, stream=sys.stderr)
        raise typer.Exit(1)
    return ws


def _read_events(path: str):
    from flows.run import read_events

    if not Path(path).is_file():
        _fail(f"--events: no such file: {path}")
    try:
        loaded = read_events(path, path)
    except UnicodeDecodeError:
        _fail(f"{path}: the events file is not UTF-8 text", 1)
    errors = [d for d in loaded.diagnostics if d.severity == "error"]
    if errors:
        report.print_text(loaded.diagnostics, 1, stream=sys.stderr)
        raise typer.Exit(1)
    for d in loaded.diagnostics:
        sys.stderr.write(d.format() + "\n")
    return loaded


def _read_state(path: str) -> dict:
    from cli.plan_cmd import read_crm_state

    if not Path(path).is_file():
        _fail(f"--crm-state: no such file: {path}")
    state, diags = read_crm_state(path)
    if state is None:
        report.print_text(diags, 1, stream=sys.stderr)
        raise typer.Exit(1)
    return state


def _progress(total: int, label: str):
    """A rich progress bar on a terminal (stderr); a no-op callback otherwise."""
    if not sys.stderr.isatty() or total == 0:
        return None, lambda n: None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
    task = bar.add_task(label, total=total)
    bar.start()
    return bar, lambda n: bar.advance(task, n)


def _ingest(store: Any, events: list[dict], label: str):
    from flows.run import ingest

    bar, advance = _progress(len(events), label)
    try:
        return ingest(store, events, progress=advance)
    finally:
        if bar is not None:
            bar.stop()


def _prefect():
    from flows.server import PrefectServerError

    from flows.local import ensure_prefect

    try:
        return ensure_prefect()
    except PrefectServerError as exc:
        _fail(f"cannot start a local Prefect server: {exc}")


def _start_sandbox(state: dict | None):
    from sandbox.server import start_sandbox

    try:
        return start_sandbox(seed=state)
    except OSError as exc:
        _fail(f"cannot start the sandbox CRM: {exc}")


def _sandbox_info(path: str) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
        return json.loads(text.strip().splitlines()[-1] if text.strip() else "{}")
    except (OSError, ValueError, IndexError) as exc:
        _fail(f"--sandbox-info: cannot read {path}: {exc}")
    return {}


def _preflight(settings: Any) -> None:
    """Connect to the CRMs before anything runs: a connection problem is exit 2, said once (D-SY-3)."""
    from engine.connectors.base import ConnectionProblem
    from engine.store import StoreUnavailable
    from flows.runtime import get_runtime

    try:
        rt = get_runtime(settings)
    except StoreUnavailable as exc:  # said without the URL's password (D-OPS-2), no traceback
        _fail(str(exc))
    conns = rt.connectors()
    if isinstance(conns, ConnectionProblem):
        _fail(conns.format())


def _settings(plays: str, db: str | None, sandbox_info: dict | None):
    """The runtime settings from the environment (PLAYS_*), with what the command line says."""
    from dataclasses import replace

    from flows.runtime import RuntimeSettings

    base = RuntimeSettings.from_env()
    return replace(base, plays=(plays,), database_url=db or base.database_url,
                   crm="sandbox" if sandbox_info else "live", sandbox_info=sandbox_info)


# -------------------------------------------------------------------------------------- printing

def _rows_text(title: str, rows: list[Any], total: int, fmt) -> list[str]:
    if not total:
        return []
    from flows.artifacts import as_row

    lines = [f"{title} ({total}):"]
    lines += ["  " + fmt(as_row(r)) for r in rows[:LIST_ROWS]]
    if total > LIST_ROWS:
        lines.append(f"  ... and {total - LIST_ROWS} more")
    return lines


def _where(r: dict) -> str:
    return " ".join(str(x) for x in (r.get("crm"), r.get("object"), r.get("record") or r.get("email")) if x)


def _by(r: dict) -> str:
    return f"  [{r['play']}/{r['node']}]" if r.get("play") else f"  [{r.get('node') or 'tracking'}]"


def print_summary(result: Any, ingested: Any, read: int, ui: str, store_desc: str) -> None:
    from flows.run import counts_line

    total = result.total()
    c = total.counts
    out = [f"Ingested {read} events: {ingested.stored} new, {ingested.duplicates} already in the store "
           f"({store_desc}).",
           f"{result.flow_runs} flow runs (one pass and its subflow runs):"]
    width = max((len(n) for n in result.reports), default=10)
    for name, r in result.reports.items():
        out.append(f"  {name:<{width}}  {counts_line(r)}")
    out.append("")
    out += _rows_text("Written fields", total.writes, c["fields"],
                      lambda r: f"{_where(r)}  {r['field']}: {r['before']!r} -> {r['after']!r}{_by(r)}")
    out += _rows_text("Activities", total.activities, c["activities"],
                      lambda r: f"{r['crm']} {r['object']} {r['id']} on {r['record']} ({r['email']})"
                                f"{' created' if r['created'] else ' updated'}{_by(r)}")
    out += _rows_text("Kept (field not blank, D-WB-2)", total.kept, c["kept"],
                      lambda r: f"{_where(r)}  {r['field']} = {r['current']!r} (wanted {r['wanted']!r}){_by(r)}")
    out += _rows_text("Skipped", total.skipped, c["skipped"],
                      lambda r: f"{r['reason']}: {_where(r) or r.get('event')}  {r['detail']}")
    for failure in result.failed:
        out.append(f"FAILED {failure}")
    out.append("")
    out.append(f"Totals: {c['writes']} records written ({c['fields']} fields), {c['activities']} activities, "
               f"{c['kept']} kept, {c['skipped']} skipped.")
    if total.api:
        calls = sum(a["calls"] for a in total.api.values())
        least = sum(a["minimum"] for a in total.api.values())
        out.append(f"CRM API calls: {calls} (the minimum for the records touched: {least}; each record read once "
                   f"and written once per batch, D-RUN-3).")
    out.append(f"See every run, its tables and logs in the Prefect UI: {ui}/runs")
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


def summary_json(result: Any, ingested: Any, read: int, ui: str) -> dict:
    from flows.artifacts import as_row

    total = result.total()
    return {"events": {"read": read, "stored": ingested.stored, "duplicates": ingested.duplicates},
            "flow_runs": result.flow_runs, "ui": ui,
            "runs": {n: {"events": r.events, "batches": r.batches, **r.counts} for n, r in result.reports.items()},
            "calls": total.calls, "api": total.api, "writes": [as_row(r) for r in total.writes],
            "kept": [as_row(r) for r in total.kept], "activities": [as_row(r) for r in total.activities],
            "skipped": [as_row(r) for r in total.skipped], "failed": result.failed}


# -------------------------------------------------------------------------------------- run

def execute(plays: str, events_path: str, *, crm: Crm, crm_state: dict | None, sandbox_info: dict | None,
            db: str | None, fmt: Format, dump_state: str | None = None, wait: bool = False,
            label: str | None = None) -> int:
    """The body of `plays run` and `plays demo`. Returns the exit code."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")  # the UI has the logs
    from engine.store import Store
    from flows.run import run_pass
    from flows.runtime import close_runtimes

    _load_plays(plays)
    loaded = _read_events(events_path)
    sandbox = None
    tmp = None
    if crm == Crm.sandbox and sandbox_info is None:
        sandbox = _start_sandbox(crm_state)
        sandbox_info = sandbox.info
        if not db and not os.environ.get("PLAYS_DATABASE_URL"):
            tmp = tempfile.TemporaryDirectory(prefix="plays-run-")
            db = f"sqlite:///{tmp.name}/store.db"  # a fresh sandbox goes with a fresh event store
    target = None
    try:
        settings = _settings(plays, db, sandbox_info)
        _preflight(settings)
        target = _prefect()
        store = Store(settings.database_url, schema=settings.database_schema)
        try:
            ingested = _ingest(store, loaded.events, "ingesting")
            desc = store.describe()
        finally:
            store.close()
        result = run_pass(settings, label or Path(events_path).name, schedule_at=loaded.latest_at)
        if fmt == Format.json:
            sys.stdout.write(json.dumps(summary_json(result, ingested, len(loaded.events), target.ui_url),
                                        indent=2, default=str) + "\n")
        else:
            print_summary(result, ingested, len(loaded.events), target.ui_url, desc)
        if dump_state and sandbox is not None:
            Path(dump_state).write_text(json.dumps(sandbox.state(), indent=2, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
        problems = [r.problem for r in result.reports.values() if r.problem]
        if wait:
            _wait_for_interrupt(f"Prefect UI: {target.ui_url} — press Ctrl-C to stop.")
        if problems:
            sys.stderr.write("".join(f"error: {m}\n" for m in sorted({p.format() for p in problems})))
            return 2
        return 1 if result.failed else 0
    finally:
        close_runtimes()
        if target is not None:
            target.stop()
        if sandbox is not None:
            sandbox.stop()
        if tmp is not None:
            tmp.cleanup()


def _wait_for_interrupt(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    sys.stderr.write("Stopping...\n")


def run_cmd(
    plays: str = typer.Option("plays", "--plays", help="Folder (or file) of Plays, with integration.yaml."),
    events: str = typer.Option(..., "--events", help="Events file: JSONL, or a JSON array."),
    crm: Optional[Crm] = typer.Option(None, "--crm", help="Required: live (integration.yaml's ${ENV} "
                                      "credentials) or sandbox (a local sandbox CRM started for this run)."),
    crm_state: Optional[str] = typer.Option(None, "--crm-state", help="Seed the sandbox with this CRM state."),
    dump_state: Optional[str] = typer.Option(None, "--dump-state", help="Write the sandbox's whole state "
                                             "(activities included) here afterwards."),
    sandbox_info: Optional[str] = typer.Option(None, "--sandbox-info", help="Use a running `plays sandbox` "
                                               "(the JSON line it printed, in a file) instead of starting one."),
    db: Optional[str] = typer.Option(None, "--db", help="Store URL (default $PLAYS_DATABASE_URL, else "
                                     "plays.db here; with --crm sandbox a temporary store)."),
    format: Format = typer.Option(Format.text, "--format", "-f", help="text or json."),
    wait: bool = typer.Option(False, "--wait", help="Keep the local Prefect server up afterwards (Ctrl-C)."),
) -> None:
    """One pass: ingest the events, run every triggered Play as a Prefect flow run, apply to the CRM."""
    crm = require_crm(crm, sandbox_info, "run")
    if crm_state and crm != Crm.sandbox:
        _fail("--crm-state needs --crm sandbox")
    if dump_state and crm != Crm.sandbox:
        _fail("--dump-state needs --crm sandbox")
    if sandbox_info and dump_state:
        _fail("--dump-state works with a sandbox started by this run (not --sandbox-info)")
    state = _read_state(crm_state) if crm_state else None
    info = _sandbox_info(sandbox_info) if sandbox_info else None
    raise typer.Exit(execute(plays, events, crm=crm, crm_state=state, sandbox_info=info, db=db, fmt=format,
                             dump_state=dump_state, wait=wait))


def demo_cmd(
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Keep the Prefect UI up until Ctrl-C."),
    plays: Optional[str] = typer.Option(None, "--plays", help="Folder of Plays (default: the example Plays "
                                        "shipped with plays)."),
    events: Optional[str] = typer.Option(None, "--events", help="Events file (default: the demo events)."),
    crm_state: Optional[str] = typer.Option(None, "--crm-state", help="CRM state the sandbox starts from "
                                            "(default: the demo CRM state)."),
) -> None:
    """The embedded default: sandbox CRM + local Prefect + the example Plays and events, end to end."""
    from cli.packaged import demo_files
    from flows.local import plays_home

    packaged = demo_files()  # package data: works from an installed wheel, in any folder
    plays, events, crm_state = plays or str(packaged[0]), events or str(packaged[1]), crm_state or str(packaged[2])

    state = _read_state(crm_state)
    os.environ.setdefault("PLAYS_HOME", str(plays_home()))
    sys.stderr.write("Starting the sandbox CRM (Salesforce + HubSpot on loopback) and a local Prefect "
                     "server (SQLite)...\n")
    code = execute(plays, events, crm=Crm.sandbox, crm_state=state, sandbox_info=None, db=None,
                   fmt=Format.text, wait=wait, label="demo")
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
    app.command("demo")(demo_cmd)
