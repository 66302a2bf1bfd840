"""The runtime commands: `plays run`, `plays serve`, `plays demo`, `plays ingest`, `plays skipped`,
`plays worker`. Parsing and printing only: the work is in `flows` (Prefect is imported lazily, inside
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
    from flows.runtime import get_runtime

    conns = get_runtime(settings).connectors()
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

def _rows_text(title: str, rows: list[dict], total: int, fmt) -> list[str]:
    if not total:
        return []
    lines = [f"{title} ({total}):"]
    lines += ["  " + fmt(r) for r in rows[:LIST_ROWS]]
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
    out.append(f"See every run, its tables and logs in the Prefect UI: {ui}/runs")
    sys.stdout.write("\n".join(out) + "\n")
    sys.stdout.flush()


def summary_json(result: Any, ingested: Any, read: int, ui: str) -> dict:
    total = result.total()
    return {"events": {"read": read, "stored": ingested.stored, "duplicates": ingested.duplicates},
            "flow_runs": result.flow_runs, "ui": ui,
            "runs": {n: {"events": r.events, "batches": r.batches, **r.counts} for n, r in result.reports.items()},
            "writes": total.writes, "kept": total.kept, "activities": total.activities, "skipped": total.skipped,
            "failed": result.failed}


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
    crm: Crm = typer.Option(Crm.live, "--crm", help="live: integration.yaml's ${ENV} credentials; "
                            "sandbox: a local sandbox CRM started for this run."),
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
    plays: str = typer.Option("plays", "--plays", help="Folder of Plays."),
    events: str = typer.Option(DEMO_EVENTS, "--events", help="Events file."),
    crm_state: str = typer.Option(DEMO_STATE, "--crm-state", help="CRM state the sandbox starts from."),
) -> None:
    """The embedded default: sandbox CRM + local Prefect + the example Plays and events, end to end."""
    from flows.local import plays_home

    state = _read_state(crm_state)
    os.environ.setdefault("PLAYS_HOME", str(plays_home()))
    sys.stderr.write("Starting the sandbox CRM (Salesforce + HubSpot on loopback) and a local Prefect "
                     "server (SQLite)...\n")
    code = execute(plays, events, crm=Crm.sandbox, crm_state=state, sandbox_info=None, db=None,
                   fmt=Format.text, wait=wait, label="demo")
    raise typer.Exit(code)


# -------------------------------------------------------------------------------------- serve

def serve_cmd(
    plays: str = typer.Option("plays", "--plays", help="Folder (or file) of Plays, with integration.yaml."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface of the ingest endpoint."),
    port: int = typer.Option(8787, "--port", help="Port of the ingest endpoint (POST /events)."),
    sync_every: Optional[str] = typer.Option(None, "--sync-every", help="Sync flow interval (default: "
                                             "integration.yaml's sync_every, 15m)."),
    crm: Crm = typer.Option(Crm.live, "--crm", help="live, or sandbox (a local sandbox CRM for the session)."),
    crm_state: Optional[str] = typer.Option(None, "--crm-state", help="Seed the sandbox with this CRM state."),
    sandbox_info: Optional[str] = typer.Option(None, "--sandbox-info", help="Use a running `plays sandbox`."),
    db: Optional[str] = typer.Option(None, "--db", help="Store URL (default $PLAYS_DATABASE_URL, else plays.db)."),
    executor: str = typer.Option("inprocess", "--executor", help="inprocess (runs start within a second) or "
                                 "subprocess (Prefect's Runner: a new process per run)."),
) -> None:
    """Long-running: a deployment per Play with event triggers and schedules, the sync flow, and the
    signed ingest endpoint (secret from $PLAYS_INGEST_SECRET)."""
    from flows.ingest import SECRET_ENV
    from flows.runtime import close_runtimes
    from flows.serve import seconds

    secret = os.environ.get(SECRET_ENV)
    if not secret:
        _fail(f"set {SECRET_ENV} (the shared secret senders sign POST /events with)")
    if crm_state and crm != Crm.sandbox:
        _fail("--crm-state needs --crm sandbox")
    if sync_every:
        try:
            seconds(sync_every)
        except ValueError as exc:
            _fail(f"--sync-every: {exc}")
    ws = _load_plays(plays)
    state = _read_state(crm_state) if crm_state else None
    info = _sandbox_info(sandbox_info) if sandbox_info else None
    sandbox = None
    if crm == Crm.sandbox and info is None:
        sandbox = _start_sandbox(state)
        info = sandbox.info
    settings = _settings(plays, db, info)
    _preflight(settings)
    target = _prefect()

    def ready(served: Any) -> None:
        sys.stdout.write(json.dumps({"ingest": served.ingest_url, "ui": target.ui_url, "plays": len(ws.plays),
                                     "deployments": served.deployments, "sync_every_s": served.sync_every,
                                     "sandbox": info if sandbox is not None else None}) + "\n")
        sys.stdout.flush()
        sys.stderr.write(f"Serving {len(ws.plays)} Plays. POST signed events to {served.ingest_url}; "
                         f"Prefect UI: {target.ui_url}. Ctrl-C stops.\n")

    from flows.serve import serve

    try:
        serve(settings, secret=secret, host=host, port=port, sync_every=sync_every, executor=executor,
              on_ready=ready)
    except OSError as exc:
        _fail(f"cannot serve on {host}:{port}: {exc}")
    finally:
        close_runtimes()
        target.stop()
        if sandbox is not None:
            sandbox.stop()


# -------------------------------------------------------------------------------------- ingest, skipped

def ingest_cmd(
    events: str = typer.Argument(..., help="Events file: JSONL, or a JSON array."),
    plays: str = typer.Option("plays", "--plays", help="Folder of Plays (to know which Plays to wake)."),
    url: Optional[str] = typer.Option(None, "--url", help="Post to a running ingest endpoint (signed with "
                                      "$PLAYS_INGEST_SECRET) instead of writing the store directly."),
    db: Optional[str] = typer.Option(None, "--db", help="Store URL (default $PLAYS_DATABASE_URL, else plays.db)."),
    batch: int = typer.Option(1000, "--batch", help="Events per request / transaction."),
) -> None:
    """Store events (idempotent by id) and wake the served Plays they can fire, with a progress bar."""
    loaded = _read_events(events)
    if url:
        _post_events(url, loaded.events, batch)
        return
    from engine.store import Store
    from flows.consumers import trigger_types

    ws = _load_plays(plays)
    store = Store(db)
    try:
        result = _ingest(store, loaded.events, "ingesting")
    finally:
        store.close()
    if result.stored and os.environ.get("PREFECT_API_URL"):
        from flows.local import flush_prefect
        from flows.triggers import notifier

        routes: dict[str, list[str]] = {}
        for pid, play in ws.plays.items():
            for t in trigger_types(play):
                routes.setdefault(t, []).append(pid)
        new = set(result.new_ids)
        notifier(routes, window=0.0)([e for e in loaded.events if e["id"] in new])
        flush_prefect()
    sys.stdout.write(f"{len(loaded.events)} events: {result.stored} new, {result.duplicates} already stored\n")


def _post_events(url: str, events: list[dict], batch: int) -> None:
    import requests

    from flows.ingest import SECRET_ENV, signed_headers

    secret = os.environ.get(SECRET_ENV)
    if not secret:
        _fail(f"set {SECRET_ENV} to sign the requests")
    stored = dup = 0
    bar, advance = _progress(len(events), "posting")
    try:
        for i in range(0, len(events), batch):
            body = json.dumps(events[i:i + batch]).encode()
            try:
                r = requests.post(url, data=body, headers=signed_headers(secret, body), timeout=60)
            except requests.RequestException as exc:
                _fail(f"cannot reach {url}: {exc}")
            if r.status_code != 202:
                _fail(f"{url} answered {r.status_code}: {r.text[:500]}", 1 if r.status_code == 422 else 2)
            stored, dup = stored + r.json()["stored"], dup + r.json()["duplicates"]
            advance(len(events[i:i + batch]))
    finally:
        if bar is not None:
            bar.stop()
    sys.stdout.write(f"{len(events)} events: {stored} new, {dup} already stored\n")


def skipped_cmd(
    since: Optional[str] = typer.Option(None, "--since", help="Only records skipped at or after this time "
                                        "(ISO 8601)."),
    format: Format = typer.Option(Format.text, "--format", "-f", help="text or json."),
    db: Optional[str] = typer.Option(None, "--db", help="Store URL (default $PLAYS_DATABASE_URL, else plays.db)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most this many rows."),
) -> None:
    """The Skipped Records view: every record not written, with its reason (D-WB-9)."""
    from engine.store import Store, parse_time

    when = None
    if since:
        when = parse_time(since)
        if when is None:
            _fail(f"--since: not an ISO 8601 date-time: {since}")
    store = Store(db)
    try:
        rows = store.skipped(since=when, limit=limit)
    finally:
        store.close()
    keys = ("at", "reason", "crm", "object", "record", "email", "event", "play", "node", "field", "detail")
    items = [{k: (r[k].isoformat().replace("+00:00", "Z") if k == "at" else r[k]) for k in keys} for r in rows]
    if format == Format.json:
        sys.stdout.write(json.dumps({"skipped": items}, indent=2) + "\n")
        return
    for r in items:
        where = " ".join(str(x) for x in (r["crm"], r["object"], r["record"] or r["email"]) if x)
        ctx = f" [{r['play']}/{r['node']}]" if r["play"] else ""
        sys.stdout.write(f"{r['at']}  {r['reason']:<22} {where or r['event'] or '-'}{ctx}  {r['detail'] or ''}\n")
    sys.stdout.write(f"{len(items)} skipped records\n")


def worker_cmd(
    pool: str = typer.Option("plays", "--pool", help="Process work pool to create (if missing) and serve."),
    plays: str = typer.Option("plays", "--plays", help="Folder of Plays the deployments run."),
    deploy_only: bool = typer.Option(False, "--deploy-only", help="Register the deployments and exit."),
) -> None:
    """Scale-out: register one deployment per Play on a process work pool (module entrypoint
    `flows.entry`), then run a process worker for it (`prefect worker start` does the same)."""
    from flows.workers import deploy_to_pool, start_worker

    ws = _load_plays(plays)
    if not os.environ.get("PREFECT_API_URL"):
        _fail("set PREFECT_API_URL to the shared Prefect server (see docs/runtime.md)")
    names = deploy_to_pool(pool, plays, ws)
    sys.stdout.write("\n".join(f"deployment {n} on pool {pool}" for n in names) + "\n")
    if not deploy_only:
        start_worker(pool)


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
    app.command("demo")(demo_cmd)
    app.command("serve")(serve_cmd)
    app.command("ingest")(ingest_cmd)
    app.command("skipped")(skipped_cmd)
    app.command("worker")(worker_cmd)
