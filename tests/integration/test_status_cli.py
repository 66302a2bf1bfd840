"""`plays status` after real runs (D-RUN-5, D-RUN-4): a `plays run` against the sandbox, then
`plays status --json` shows the calls the sandbox counted — every one, by kind and per batch — and
the day's usage it reported; after a run that the API budget stopped (`api_budget_share` tiny in
integration.yaml), the work shows as parked, with why and how many events wait. With no store it
refuses without creating one, and bad options are one-line errors, never tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.connectors.budget import CODE

pytest.register_assert_rewrite("tests.integration.prefect_fixtures")
from tests.integration.prefect_fixtures import artifacts_of, flow_runs  # noqa: E402

pytest_plugins = ["tests.integration.prefect_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "plays"
EVENTS = PLAYS / "events" / "demo.jsonl"
STATE = PLAYS / "events" / "demo-crm-state.json"


def plays(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "cli", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"plays {' '.join(args)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def _setup(sandbox, tmp_path: Path, share: float | None = None) -> tuple[Path, Path, str]:
    folder = tmp_path / "plays"
    shutil.copytree(PLAYS, folder)
    if share is not None:
        text = (folder / "integration.yaml").read_text()
        text = text.replace("  sync_every: 15m\n", f"  sync_every: 15m\n  api_budget_share: {share}\n", 1)
        (folder / "integration.yaml").write_text(text)
    sandbox.load(json.loads(STATE.read_text()))
    info = tmp_path / "sandbox.json"
    info.write_text(json.dumps(sandbox.info) + "\n")
    return folder, info, f"sqlite:///{tmp_path / 'store.db'}"


def test_status_shows_the_calls_the_sandbox_counted(prefect_env, clean_sandbox, tmp_path) -> None:
    """D-RUN-5: every call of the run is in the ledger, and the last usage reported is the
    sandbox's count."""
    folder, info, db = _setup(clean_sandbox, tmp_path)
    run = json.loads(plays("run", "--plays", str(folder), "--events", str(EVENTS), "--sandbox-info", str(info),
                           "--db", db, "--format", "json", env=prefect_env).stdout)
    assert run["events"]["stored"] == 43 and not run["failed"]

    status = json.loads(plays("status", "--plays", str(folder), "--db", db, "--json").stdout)
    counted = clean_sandbox.usage()
    assert set(status["crms"]) == {"salesforce", "hubspot"}
    for crm, c in status["crms"].items():
        assert c["today"]["calls"] == counted[crm]["used"] > 0, (crm, c["today"], counted[crm])
        assert sum(n for k, n in c["today"]["kinds"].items() if k != "retries") == c["today"]["calls"]
        assert c["usage"]["api_day_used"] == counted[crm]["used"] and c["usage"]["api_day_max"] == counted[crm]["max"]
        assert c["usage"]["api_budget"] == int(counted[crm]["max"] * 0.5) and c["usage"]["today"]
        assert c["batches"] and all(b["calls"] >= 0 for b in c["batches"])
        assert c["today"]["batches"] >= 1 and c["today"]["written"] >= 1
        # the run's own `calls` count each call once (not once per flow run that reported it)
        made = {k: n for k, n in run["calls"][crm].items() if k not in ("api_day_used", "api_day_max", "api_budget")}
        assert sum(n for k, n in made.items() if k != "retries") == counted[crm]["used"], (crm, run["calls"][crm])
    # the batches' calls are those the run reported for its batches (D-RUN-3: each record read once)
    sf_batches = sum(b["calls"] for b in status["crms"]["salesforce"]["batches"])
    assert sf_batches <= status["crms"]["salesforce"]["today"]["calls"]
    assert status["parked"] is None and status["consumers"]["batch"]["pending"] == 0
    assert status["events"]["ingested"] == 43
    assert status["lease"] is None or not status["lease"]["running"]

    # the run's summary artifact lists the calls made today, from the same ledger
    parent = flow_runs("plays-run")[0]
    (summary,) = [a for a in artifacts_of(parent.id) if a.key == "plays-run-summary"]
    sf_today = status["crms"]["salesforce"]["today"]["calls"]
    assert f"salesforce: {sf_today:,} calls today" in summary.data

    text = plays("status", "--plays", str(folder), "--db", db, "--days", "3").stdout
    assert "Parked: no" in text and "today (" in text and "salesforce:" in text
    assert f"{counted['salesforce']['used']:,} API calls" in text
    assert text.count("per day:") == 2  # --days 3: one line per CRM


def test_status_shows_the_work_parked_by_the_api_budget(prefect_env, clean_sandbox, tmp_path) -> None:
    """D-RUN-5: a tiny `api_budget_share` stops the run before the budget is exceeded; status says
    the work is parked, why, and how many events wait."""
    folder, info, db = _setup(clean_sandbox, tmp_path, share=0.0001)  # 1 call of 15,000
    plays("run", "--plays", str(folder), "--events", str(EVENTS), "--sandbox-info", str(info), "--db", db,
          "--format", "json", env=prefect_env, check=False)
    status = json.loads(plays("status", "--plays", str(folder), "--db", db, "--format", "json").stdout)
    parked = status["parked"]
    assert parked is not None and parked["code"] == CODE, status
    assert parked["pending"] == status["consumers"]["batch"]["pending"] > 0
    assert "api_budget_share" in parked["detail"]  # the hint says what sets it
    assert any(b["stopped"] == CODE for c in status["crms"].values() for b in c["batches"])
    text = plays("status", "--plays", str(folder), "--db", db).stdout
    assert f"Parked: {parked['pending']:,} events wait" in text and CODE in text


def test_status_refuses_without_a_store_and_bad_options_are_one_line(tmp_path) -> None:
    """No store: exit 2 and nothing created; bad options: usage errors (exit 2), no traceback."""
    missing = tmp_path / "none.db"
    out = plays("status", "--db", f"sqlite:///{missing}", check=False)
    assert out.returncode == 2 and "no store at" in out.stderr and not missing.exists()
    for bad in (["--days", "0"], ["--days", "x"], ["--batches", "-1"], ["--plays", str(tmp_path / "nope")],
                ["--db", "nonsense://x"], ["--db", "not a url"]):
        out = plays("status", "--db", f"sqlite:///{missing}", *bad, check=False)
        assert out.returncode == 2 and "Traceback" not in out.stderr, (bad, out.stderr)
