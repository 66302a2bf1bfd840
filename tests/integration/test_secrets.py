"""D-OPS-2 secrets never leak: known secrets are planted — a store password (in PLAYS_DATABASE_URL;
the local PostgreSQL trusts us, so any password works), the sandbox CRM's tokens and the ingest
secret — and every surface is searched for them after real commands ran: the Prefect deployments'
job variables (`plays worker --deploy-only`), the flow runs' logs and artifacts and the command's
output (`plays run` on PostgreSQL), the store's audit, skipped and outbox rows, and the error texts
of commands that fail on the store or on the ingest endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store import Store
from sandbox.server import start_sandbox

pytest.register_assert_rewrite("tests.integration.prefect_fixtures")
from tests.integration.prefect_fixtures import flow_runs  # noqa: E402
from tests.integration.store_fixtures import ensure_pg_database, new_schema, PG_DB  # noqa: E402

pytest_plugins = ["tests.integration.prefect_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "plays"
DB_PASSWORD = "PLANTED-db-pw-4e1f9a"
INGEST_SECRET = "PLANTED-ingest-secret-0123456789abcdef"
PW_URL = f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:5432/{PG_DB}"


def leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s and s in text]


def crm_secrets(info: dict) -> list[str]:
    return [info["salesforce"]["session_id"], info["hubspot"]["access_token"]]


def plays(args: list[str], env: dict, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.postgres
def test_planted_secrets_appear_on_no_surface(prefect_env, tmp_path) -> None:
    from prefect.client.orchestration import get_client

    ensure_pg_database()
    schema = new_schema()
    box = start_sandbox(seed=json.loads((PLAYS / "events" / "demo-crm-state.json").read_text()))
    info = tmp_path / "box.json"
    info.write_text(json.dumps(box.info))
    secrets = [DB_PASSWORD, INGEST_SECRET, *crm_secrets(box.info)]
    env = dict(prefect_env, PLAYS_DATABASE_URL=PW_URL, PLAYS_DATABASE_SCHEMA=schema, PLAYS_INGEST_SECRET=INGEST_SECRET,
               PLAYS_SANDBOX_INFO=json.dumps(box.info))
    store = None
    try:
        # 1. job variables of the deployments a worker registers
        deployed = plays(["worker", "--deploy-only", "--pool", "plays-secrets", "--plays", str(PLAYS)], env)
        assert deployed.returncode == 0, deployed.stderr[-2000:]
        assert not leaks(deployed.stdout + deployed.stderr, secrets)
        with get_client(sync_client=True) as client:
            deps = [d for d in client.read_deployments() if d.work_pool_name == "plays-secrets"]
        assert deps
        for d in deps:
            assert not leaks(d.model_dump_json(), secrets), d.name
            assert d.job_variables["env"].get("PLAYS_STORE_FROM_ENV") == "1"
            assert "PLAYS_DATABASE_URL" not in d.job_variables["env"]

        # 2. a real run on the store with a password: its output, logs, artifacts and store rows
        run_env = {k: v for k, v in env.items() if k != "PLAYS_SANDBOX_INFO"}
        ran = plays(["run", "--plays", str(PLAYS), "--events", str(PLAYS / "events" / "demo.jsonl"),
                     "--sandbox-info", str(info), "--format", "json"], run_env)
        assert ran.returncode == 0, ran.stderr[-2000:]
        assert not leaks(ran.stdout + ran.stderr, secrets)
        runs = flow_runs()
        assert runs
        with get_client(sync_client=True) as client:
            from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

            ids = [r.id for r in runs]
            logs: list = []
            while True:  # the API pages logs by 200
                page = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)), limit=200,
                                        offset=len(logs))
                logs.extend(page)
                if len(page) < 200:
                    break
            arts = client.read_artifacts()
        assert logs and arts
        assert not leaks("\n".join(log.message for log in logs), secrets)
        assert not leaks("\n".join(json.dumps(a.data, default=str) + str(a.description) for a in arts), secrets)
        assert not leaks(json.dumps([r.model_dump(mode="json") for r in runs]), secrets)
        store = Store(PW_URL, schema=schema)
        rows = store.audit() + store.skipped() + store.outbox_pending(10_000)
        assert store.audit() and not leaks(json.dumps(rows, default=str), secrets)
        assert DB_PASSWORD not in store.describe()

        # 3. error texts: an unreachable store, a refused ingest endpoint
        bad = dict(run_env, PLAYS_DATABASE_URL=f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:1/{PG_DB}")
        failed = plays(["skipped"], bad, timeout=60)
        assert failed.returncode == 2 and "cannot open the store" in failed.stderr
        assert "Traceback" not in failed.stderr and not leaks(failed.stdout + failed.stderr, secrets)
        posted = plays(["ingest", str(PLAYS / "events" / "demo.jsonl"), "--url", "http://127.0.0.1:9/events"], env,
                       timeout=60)
        assert posted.returncode == 2 and not leaks(posted.stdout + posted.stderr, secrets)
    finally:
        if store is not None:
            store.drop()
            store.close()
        box.stop()
