"""The runtime end to end with a real local Prefect server (one per session), the sandbox CRM, and
the store on SQLite and PostgreSQL:

- `plays run` ingests a file, runs each triggered Play as a flow run, lands the writes in the
  sandbox, publishes artifacts on the runs, keeps skipped records, and applies nothing twice;
- `plays serve`: an event posted to the ingest endpoint triggers the Play's deployment and the write
  lands in the sandbox; the sync flow runs on its schedule;
- kill -9 of the runner mid-sync, restart: nothing lost, nothing written twice.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import requests

from engine.store import Store
from flows.ingest import signed_headers
from sandbox.server import start_sandbox
pytest.register_assert_rewrite("tests.integration.prefect_fixtures")
from tests.integration.prefect_fixtures import artifacts_of, flow_runs, stop_process_group, wait_for  # noqa: E402

pytest_plugins = ["tests.integration.prefect_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "plays"
EVENTS = PLAYS / "events" / "demo.jsonl"
STATE = PLAYS / "events" / "demo-crm-state.json"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
N_PLAYS = len(list(PLAYS.glob("*.play.yaml")))


def plays(*args: str, env: dict, timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"plays {' '.join(args)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def records(state: dict, crm: str, obj: str) -> dict[str, dict]:
    key = "Id" if crm == "salesforce" else "id"
    return {r[key]: r for r in state.get(crm, {}).get(obj, [])}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request, tmp_path, prefect_env):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}", None
        return
    schema = f"plays_rt_{uuid.uuid4().hex[:10]}"
    yield PG_URL, schema
    s = Store(PG_URL, schema=schema, create=False)
    s.drop()
    s.close()


def test_run_lands_writes_publishes_artifacts_and_applies_once(prefect_env, store_url, tmp_path) -> None:
    url, schema = store_url
    env = dict(prefect_env, PLAYS_DATABASE_URL=url)
    if schema:
        env["PLAYS_DATABASE_SCHEMA"] = schema
    dump = tmp_path / "after.json"
    args = ["run", "--plays", str(PLAYS), "--events", str(EVENTS), "--crm", "sandbox", "--crm-state", str(STATE),
            "--dump-state", str(dump), "--format", "json"]
    out = json.loads(plays(*args, env=env).stdout)
    assert out["events"] == {"read": 43, "stored": 43, "duplicates": 0}
    assert out["flow_runs"] <= N_PLAYS + 2 and not out["failed"]  # the pass, each Play, the sync

    after = json.loads(dump.read_text())
    ann = records(after, "salesforce", "Lead")["00Q5g00000Demo001A"]
    assert ann["Status"] == "Contacted"  # enrolled first; the later "Replied" is kept (D-WB-2)
    assert ann["Unify_Reply_Classification__c"] == "Willing to meet"
    assert ann["Unify_Email_Replies__c"] is True and ann["Unify_Track_Opens__c"] == 2
    bo = records(after, "salesforce", "Lead")["00Q5g00000Demo002A"]
    assert bo["Status"] == "Working - Contacted" and bo["LeadSource"] == "Web"  # never overwritten
    assert len(after["salesforce"]["EmailMessage"]) == 8
    assert {"cy@initech.com", "bo@globex.com"} <= {s["email"] for s in out["skipped"]
                                                   if s["reason"] == "untracked_domain"}

    store = Store(url, schema=schema, create=False)
    try:
        fields = [a for a in store.audit() if a["field"] != "*"]
        assert len(fields) == len(out["writes"])
        assert ("Status", None, "Contacted") in {(a["field"], a["before"], a["after"]) for a in fields
                                                 if a["record"] == "00Q5g00000Demo001A"}
        assert len(store.skipped()) == len(out["skipped"])
    finally:
        store.close()

    parent = flow_runs("plays-run")[0]
    assert parent.state.is_completed()
    play_run = next(r for r in flow_runs("replied-to-lead-status") if r.parent_task_run_id is not None)
    keys = {a.key for a in artifacts_of(play_run.id)}
    assert {"replied-to-lead-status-writes", "replied-to-lead-status-kept",
            "replied-to-lead-status-summary"} <= keys

    again = json.loads(plays(*args, env=env).stdout)  # same store: every event is already there
    assert again["events"]["stored"] == 0 and again["activities"] == []
    assert {w["play"] for w in again["writes"]} <= {"weekly-engaged"}  # only the schedule Play runs again


def _reader(stream) -> queue.Queue:
    q: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            q.put(line)
    threading.Thread(target=pump, daemon=True).start()
    return q


def test_serve_event_triggers_deployment_and_schedule_runs_sync(prefect_env, tmp_path) -> None:
    seed = json.loads(STATE.read_text())
    sandbox = start_sandbox(seed=seed)
    info = tmp_path / "sandbox.json"
    info.write_text(json.dumps(sandbox.info))
    env = dict(prefect_env, PLAYS_INGEST_SECRET="s3cret-for-the-serve-test-0123456789", PLAYS_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}")
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--plays", str(PLAYS), "--port", "0",
                             "--sandbox-info", str(info), "--sync-every", "5s"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        lines = _reader(proc.stdout)
        ready = json.loads(lines.get(timeout=120))
        assert len(ready["deployments"]) == N_PLAYS + 1
        event = {"id": f"serve-{uuid.uuid4().hex[:8]}", "type": "sequence_status_changed",
                 "at": "2026-11-20T10:00:00Z", "contact": {"email": "ann@acme.io"}, "sequence": "Q4 Outbound",
                 "from": "Engaged", "to": "Completed: Replied",
                 "reply": {"classification": "Willing to meet", "tags": ["pricing"]}}
        body = json.dumps(event).encode()
        r = requests.post(ready["ingest"], data=body, headers=signed_headers("s3cret-for-the-serve-test-0123456789", body), timeout=10)
        assert r.status_code == 202 and r.json()["stored"] == 1

        def landed():
            lead = records(sandbox.state(), "salesforce", "Lead")["00Q5g00000Demo001A"]
            return lead["Unify_Most_Recent_Play__c"] == "replied-to-lead-status" and lead
        lead = wait_for(landed, timeout=90, what="the Play's write in the sandbox")
        assert lead["Status"] == "Replied" and lead["Unify_Reply_Classification__c"] == "Willing to meet"

        # The event's own run is named after it. The 5 s sync schedule may drain the same pending event first
        # (then the event's run finds nothing left to do), so look the run up by name rather than taking the newest.
        def play_run_done():
            runs = [r for r in flow_runs("replied-to-lead-status") if r.deployment_id and r.state.is_final()
                    and r.name == f"replied-to-lead-status:event {event['id']}"]
            return runs and runs[0]
        run = wait_for(play_run_done, timeout=60, what="the triggered flow run to finish")
        assert run.state.is_completed()
        # the Play's share is shown in a run of the flow named after it: the event's own run, or a
        # subflow run of whichever run applied the batch (the sync schedule's, say)
        def shown():
            return any("replied-to-lead-status-writes" in {a.key for a in artifacts_of(r.id)}
                       for r in flow_runs("replied-to-lead-status") if r.state.is_final())
        wait_for(shown, timeout=60, what="the Play's writes shown in a run of the flow named after it")

        def sync_done():
            return [r for r in flow_runs("plays-sync") if r.deployment_id and r.state.is_completed()]
        sync_run = wait_for(sync_done, timeout=90, what="a scheduled sync flow run")[0]
        assert {"plays-sync-pull", "tracking-summary"} <= {a.key for a in artifacts_of(sync_run.id)}
    finally:
        stop_process_group(proc)
        sandbox.stop()


def test_serve_runs_again_what_a_stopped_batch_left_pending(prefect_env, tmp_path) -> None:
    """D-RUN-5 / D-SY-3: a batch stopped by the CRM (Salesforce's daily-limit answer) leaves its
    events pending; `plays serve` asks for a run again every PLAYS_RETRY_EVERY seconds while they
    stay pending, so once the CRM answers again they land — with no new event and no sync due."""
    secret = "s3cret-for-the-retry-test-0123456789"
    sandbox = start_sandbox(seed=json.loads(STATE.read_text()))
    sandbox.set_faults({"rules": [{"kind": "403", "crm": "salesforce", "method": "PATCH",
                                   "path": "composite/sobjects"}]})
    info = tmp_path / "sandbox.json"
    info.write_text(json.dumps(sandbox.info))
    db = f"sqlite:///{tmp_path / 'serve.db'}"
    env = dict(prefect_env, PLAYS_INGEST_SECRET=secret, PLAYS_DATABASE_URL=db, PLAYS_RETRY_EVERY="2")
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--plays", str(PLAYS), "--port", "0",
                             "--sandbox-info", str(info), "--sync-every", "1h"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    store = None
    try:
        ready = json.loads(_reader(proc.stdout).get(timeout=120))
        event = {"id": f"retry-{uuid.uuid4().hex[:8]}", "type": "sequence_status_changed",
                 "at": "2026-11-20T10:00:00Z", "contact": {"email": "ann@acme.io"}, "sequence": "Q4 Outbound",
                 "from": "Engaged", "to": "Completed: Replied", "reply": {"classification": "Willing to meet"}}
        body = json.dumps(event).encode()
        r = requests.post(ready["ingest"], data=body, headers=signed_headers(secret, body), timeout=10)
        assert r.status_code == 202
        store = Store(db, create=False)

        def stopped():
            return [row for row in store.last_batch() if row["stopped"]]
        (row, *_) = wait_for(stopped, timeout=90, what="the batch the CRM stopped")
        assert row["stopped"] == "request_limit_exceeded"
        lead = records(sandbox.state(), "salesforce", "Lead")["00Q5g00000Demo001A"]
        assert lead["Unify_Most_Recent_Play__c"] != "replied-to-lead-status"  # parked, not written

        def retried(ok: bool):  # runs asked for by serve itself (`plays.retry`), not by an event
            return [r for r in flow_runs() if ":retry " in r.name and r.deployment_id and r.state
                    and r.state.is_final() and r.state.is_completed() == ok]
        wait_for(lambda: retried(False), timeout=90, what="a retry run while the CRM still refuses")

        sandbox.set_faults(None)  # the CRM answers again; nothing else happens

        def landed():
            lead = records(sandbox.state(), "salesforce", "Lead")["00Q5g00000Demo001A"]
            return lead["Unify_Most_Recent_Play__c"] == "replied-to-lead-status"
        wait_for(landed, timeout=90, what="the parked event applied by a retry run")
        wait_for(lambda: retried(True), timeout=60, what="the retry run that applied it")
        wait_for(lambda: not [r for r in store.last_batch() if r["stopped"]], timeout=30,
                 what="the newest batch recorded without a stop")
        assert sum(1 for a in store.audit() if a["field"] == "Unify_Most_Recent_Play__c") == 1  # once
    finally:
        if store is not None:
            store.close()
        stop_process_group(proc)
        sandbox.stop()
