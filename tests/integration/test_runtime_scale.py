"""Scale-out as far as one machine allows: a Prefect server on PostgreSQL (its own database), the
store on PostgreSQL (its own schema), `plays worker` registering module-path deployments on a
process work pool and running them; `plays ingest` from another process wakes the Play's
deployment through its event trigger and the write lands in the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from engine.store import Store
from flows.server import LocalPrefect
from sandbox.server import start_sandbox

pytest.register_assert_rewrite("tests.integration.prefect_fixtures")
from tests.integration.prefect_fixtures import stop_process_group, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "plays"
PG = "host=127.0.0.1 port=5432 user=postgres dbname=test"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_prefect(tmp_path):
    psycopg = pytest.importorskip("psycopg")
    name = f"plays_prefect_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    server = LocalPrefect(tmp_path / "prefect-pg", ui=False, fast_services=True,
                          database_url=f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    try:
        yield server.start(timeout=120)
    finally:
        server.stop()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_worker_on_postgres_prefect_runs_the_same_plays(pg_prefect: LocalPrefect, tmp_path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    sandbox = start_sandbox(seed=json.loads((PLAYS / "events" / "demo-crm-state.json").read_text()))
    (tmp_path / "sandbox.json").write_text(json.dumps(sandbox.info))
    schema = f"plays_scale_{uuid.uuid4().hex[:10]}"
    env = dict(os.environ, **pg_prefect.env(), PLAYS_DATABASE_URL=PG_URL, PLAYS_DATABASE_SCHEMA=schema,
               PLAYS_SANDBOX_INFO=str(tmp_path / "sandbox.json"), PLAYS_PATHS=str(PLAYS),
               PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="WARNING")
    worker = subprocess.Popen([sys.executable, "-m", "cli", "worker", "--pool", "plays-scale", "--plays", str(PLAYS)],
                              env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        with temporary_settings(updates={PREFECT_API_URL: pg_prefect.api_url}):
            def registered():
                with get_client(sync_client=True) as client:
                    deps = client.read_deployments()
                    autos = client.read_automations()
                return len(deps) == len(list(PLAYS.glob("*.play.yaml"))) + 1 and len(autos) >= 5 and deps
            deps = wait_for(registered, timeout=120, what="deployments and their triggers on the pool")
            assert {d.work_pool_name for d in deps} == {"plays-scale"}
            assert all(d.entrypoint.startswith("flows.entry.") for d in deps)

            event = {"id": "scale-1", "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z",
                     "contact": {"email": "ann@acme.io"}, "sequence": "Q4 Outbound", "from": "Engaged",
                     "to": "Completed: Replied", "reply": {"classification": "Willing to meet"}}
            (tmp_path / "events.jsonl").write_text(json.dumps(event) + "\n")
            subprocess.run([sys.executable, "-m", "cli", "ingest", str(tmp_path / "events.jsonl"), "--plays",
                            str(PLAYS)], env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)

            def landed():
                lead = next(r for r in sandbox.state()["salesforce"]["Lead"] if r["Id"] == "00Q5g00000Demo001A")
                return lead["Unify_Most_Recent_Play__c"] == "replied-to-lead-status"
            wait_for(landed, timeout=120, what="the worker's write in the sandbox")

            def finished():
                with get_client(sync_client=True) as client:
                    runs = [r for r in client.read_flow_runs() if r.name.startswith("replied-to-lead-status:")]
                # the Play's own deployment run (the event triggered it); a subflow run that only shows
                # the Play's share of a batch the sync run applied first has no deployment and no pool
                return [r for r in runs if r.deployment_id and r.state and r.state.is_final()]
            run = wait_for(finished, timeout=60, what="the Play's deployment run to finish")[0]
            assert run.state.is_completed() and run.work_pool_name == "plays-scale"
        store = Store(PG_URL, schema=schema, create=False)
        try:
            assert store.cursor("batch") >= 1
            assert any(a["field"] == "Unify_Most_Recent_Play__c" for a in store.audit())
        finally:
            store.drop()
            store.close()
    finally:
        stop_process_group(worker)
        sandbox.stop()
