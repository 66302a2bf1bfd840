"""The long-running and store commands: `plays serve`, `plays ingest`, `plays skipped`, `plays worker`.
Parsing and printing only: the work is in `flows` (Prefect is imported lazily, inside the commands).

Exit codes as `cli.run_cmd`: 0 success; 1 bad input; 2 wrong usage or a setup problem.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional

import typer

from cli.run_cmd import (Crm, Format, _fail, _ingest, _load_plays, _preflight, _prefect, _progress, _read_events,
                         _read_state, _sandbox_info, _settings, _start_sandbox, require_crm)


# -------------------------------------------------------------------------------------- serve

def serve_cmd(
    plays: str = typer.Option("plays", "--plays", help="Folder (or file) of Plays, with integration.yaml."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface of the ingest endpoint."),
    port: int = typer.Option(8787, "--port", help="Port of the ingest endpoint (POST /events)."),
    sync_every: Optional[str] = typer.Option(None, "--sync-every", help="Sync flow interval (default: "
                                             "integration.yaml's sync_every, 15m)."),
    crm: Optional[Crm] = typer.Option(None, "--crm", help="Required: live (integration.yaml's credentials), "
                                      "or sandbox (a local sandbox CRM for the session)."),
    crm_state: Optional[str] = typer.Option(None, "--crm-state", help="Seed the sandbox with this CRM state."),
    sandbox_info: Optional[str] = typer.Option(None, "--sandbox-info", help="Use a running `plays sandbox`."),
    db: Optional[str] = typer.Option(None, "--db", help="Store URL (default $PLAYS_DATABASE_URL, else plays.db)."),
    executor: str = typer.Option("inprocess", "--executor", help="inprocess (runs start within a second) or "
                                 "subprocess (Prefect's Runner: a new process per run)."),
    batch_every: str = typer.Option("2s", "--batch-every", help="Play-firing events that arrive within this "
                                    "long share one run (one batch). Each prompt batch costs a few CRM API calls: "
                                    "raise it (e.g. 1m) to spend fewer at the price of slower Plays."),
) -> None:
    """Long-running: a deployment per Play with event triggers and schedules, the sync flow, and the
    signed ingest endpoint (secret from $PLAYS_INGEST_SECRET)."""
    from flows.ingest import SECRET_ENV, check_secret
    from flows.local import ServeLocked, serve_lock
    from flows.runtime import close_runtimes
    from flows.serve import seconds

    crm = require_crm(crm, sandbox_info, "serve")
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        _fail(f"set {SECRET_ENV} (the shared secret senders sign POST /events with)")
    if check_secret(secret):
        _fail(check_secret(secret))
    if crm_state and crm != Crm.sandbox:
        _fail("--crm-state needs --crm sandbox")
    if sync_every:
        try:
            seconds(sync_every)
        except ValueError as exc:
            _fail(f"--sync-every: {exc}")
    try:
        window = seconds(batch_every)
    except ValueError as exc:
        _fail(f"--batch-every: {exc}")
    if not 0 <= window <= 3600:
        _fail("--batch-every: between 0s and 1h")
    ws = _load_plays(plays)
    state = _read_state(crm_state) if crm_state else None
    info = _sandbox_info(sandbox_info) if sandbox_info else None
    sandbox = None
    if crm == Crm.sandbox and info is None:
        sandbox = _start_sandbox(state)
        info = sandbox.info
    settings = _settings(plays, db, info)
    lock = None
    if not os.environ.get("PREFECT_API_URL"):  # a local Prefect server: one serve per home
        try:
            lock = serve_lock()
        except ServeLocked as exc:
            if sandbox is not None:
                sandbox.stop()
            _fail(str(exc))
    _preflight(settings)
    target = _prefect()

    def ready(served: Any) -> None:
        sys.stdout.write(json.dumps({"ingest": served.ingest_url, "ui": target.ui_url, "plays": len(ws.plays),
                                     "deployments": served.deployments, "sync_every_s": served.sync_every,
                                     "sandbox": info if sandbox is not None else None}) + "\n")
        sys.stdout.flush()
        sys.stderr.write(f"Serving {len(ws.plays)} Plays. POST signed events to {served.ingest_url}; "
                         f"Prefect UI: {target.ui_url}. Ctrl-C stops.\n")

    from flows.serve import PrefectGone, serve

    code = 0
    try:
        serve(settings, secret=secret, host=host, port=port, sync_every=sync_every, executor=executor,
              coalesce_window=window, on_ready=ready)
    except OSError as exc:
        sys.stderr.write(f"error: cannot serve on {host}:{port}: {exc}\n")
        code = 2
    except PrefectGone as exc:
        sys.stderr.write(f"error: {exc}\n")
        code = 2
    finally:
        close_runtimes()
        target.stop()
        if sandbox is not None:
            sandbox.stop()
        if lock is not None:
            lock.close()
    _exit_now_if_stuck(code)
    if code:
        raise typer.Exit(code)


def _exit_now_if_stuck(code: int) -> None:
    """Ctrl-C always stops within seconds: flow runs still stuck (e.g. on an API that went away)
    are abandoned — their events stay pending — rather than waited for at interpreter exit."""
    import threading

    if any(t.is_alive() and t.name.startswith("plays-run") for t in threading.enumerate()):
        sys.stderr.write("stopped; flow runs still in progress were abandoned (their events stay pending)\n")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


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
    from flows.consumers import trigger_types

    ws = _load_plays(plays)
    store = _open_store(db)
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


def _open_store(db: Optional[str]):
    from engine.store import Store, StoreUnavailable
    from engine.store.migrate import StoreTooNew

    try:
        return Store(db)
    except (StoreUnavailable, StoreTooNew) as exc:
        _fail(str(exc))


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
    from engine.store import parse_time

    when = None
    if since:
        when = parse_time(since)
        if when is None:
            _fail(f"--since: not an ISO 8601 date-time: {since}")
    store = open_existing_store(db)
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


def open_existing_store(db: Optional[str]):
    """The store to read (`plays skipped`, `plays status`): refused, exit 2, when it is a SQLite
    file that does not exist yet (reading must not create it) or cannot be opened."""
    from sqlalchemy.exc import ArgumentError

    from engine.store.db import redact, resolve_url

    try:
        missing = _missing_sqlite_store(db)
        if missing:
            _fail(f"no store at {missing}: nothing has run here yet (`plays run` or `plays serve` create it; "
                  f"--db or $PLAYS_DATABASE_URL name another store)")
        return _open_store(db)
    except ArgumentError as exc:  # not a URL, or a database this plays has no driver for
        _fail(f"not a store URL plays can open: {redact(resolve_url(db))} ({exc})")


def _missing_sqlite_store(db: Optional[str]) -> Optional[str]:
    """The path of a SQLite store that does not exist yet (reading must not create it), else None."""
    from sqlalchemy.engine import make_url

    from engine.store.db import resolve_url

    url = make_url(resolve_url(db))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return None if os.path.exists(url.database) else url.database


def worker_cmd(
    pool: str = typer.Option("plays", "--pool", help="Process work pool to create (if missing) and serve."),
    plays: str = typer.Option("plays", "--plays", help="Folder of Plays the deployments run."),
    deploy_only: bool = typer.Option(False, "--deploy-only", help="Register the deployments and exit."),
) -> None:
    """Scale-out: register one deployment per Play on a process work pool (module entrypoint
    `flows.entry`), then run a process worker for it (`prefect worker start` does the same)."""
    from flows.server import healthy
    from flows.workers import deploy_to_pool, start_worker

    from engine.workspace import PathNotFound, load_workspace

    try:
        ws = load_workspace([plays])
    except PathNotFound as exc:
        _fail(f"WORKER002 --plays: {exc} (run `plays worker` from the folder holding your Plays, or pass --plays DIR)")
    if ws.errors:
        _load_plays(plays)  # prints the Plays' problems, exit 1
    if not ws.plays:
        _fail(f"WORKER002 no Plays in {plays}: nothing to deploy (run `plays worker` from the folder holding your "
              f"Plays, or pass --plays DIR)")
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        _fail("WORKER003 set PREFECT_API_URL to the shared Prefect server (see docs/operations.md)")
    if not healthy(api, timeout=5.0):
        _fail(f"WORKER003 the Prefect API at {api} does not answer: start the Prefect server, or fix PREFECT_API_URL")
    try:
        names = deploy_to_pool(pool, plays, ws)
    except Exception as exc:  # noqa: BLE001 - an API refusal is a message, not a traceback
        _fail(f"WORKER004 could not register the deployments on pool {pool}: {type(exc).__name__}: {exc}")
    sys.stdout.write("\n".join(f"deployment {n} on pool {pool}" for n in names) + "\n")
    if deploy_only:
        return
    if not os.environ.get("PLAYS_DATABASE_URL"):
        sys.stderr.write("warning: PLAYS_DATABASE_URL is not set: this worker's flow runs use plays.db in their "
                         "working folder\n")
    try:
        start_worker(pool)
    except Exception as exc:  # noqa: BLE001
        _fail(f"WORKER004 the worker stopped: {type(exc).__name__}: {exc}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve_cmd)
    app.command("ingest")(ingest_cmd)
    app.command("skipped")(skipped_cmd)
    app.command("worker")(worker_cmd)
