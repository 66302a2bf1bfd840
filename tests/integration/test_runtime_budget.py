"""The daily API budget guard at runtime level (D-RUN-5, D-RUN-4, D-OPS): a real `plays run` against
the sandbox, with `api_budget_share` set in integration.yaml and the org's allowance small enough
that the guard trips mid-run. The run reports the stop `api_budget_reached`; the events it could
not apply stay pending in the store (the consumer's cursor is not moved past them) and nothing is
written twice. After the sandbox's daily usage resets, the same command applies exactly the rest:
the CRM ends as after an uninterrupted run and the audit log holds each field change of that run
exactly once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from engine.connectors.budget import CODE
from engine.store import Store
from flows.consumers import BATCH
from sandbox.server import start_sandbox
from tests.integration.test_runtime_crash import comparable, field_changes, workload

pytest_plugins = ["tests.integration.prefect_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
SHARE = 0.25


def plays_dir(tmp: Path, share: float) -> Path:
    """The example Plays with `api_budget_share` set for Salesforce."""
    target = tmp / "plays"
    shutil.copytree(ROOT / "plays", target, ignore=shutil.ignore_patterns("events"))
    path = target / "integration.yaml"
    text = path.read_text()
    assert "\nsalesforce:\n" in text
    path.write_text(text.replace("\nsalesforce:\n", f"\nsalesforce:\n  api_budget_share: {share}\n", 1))
    return target


def run(plays: Path, events: Path, info: Path, db: str, env: dict) -> tuple[int, dict, str]:
    proc = subprocess.run([sys.executable, "-m", "cli", "run", "--plays", str(plays), "--events", str(events),
                           "--sandbox-info", str(info), "--db", db, "--format", "json"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"plays run -> {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}") from exc
    return proc.returncode, out, proc.stderr


def test_budget_parks_events_pending_then_a_later_run_applies_exactly_the_rest(prefect_env, tmp_path) -> None:
    events, seed = workload(tmp_path)
    env = dict(prefect_env, PLAYS_BATCH_SIZE="25")

    # reference: one uninterrupted run with a whole allowance
    ref_box = start_sandbox(seed=seed)
    try:
        (tmp_path / "ref.json").write_text(json.dumps(ref_box.info))
        code, _ref, err = run(plays_dir(tmp_path / "ref", SHARE), events, tmp_path / "ref.json",
                              f"sqlite:///{tmp_path / 'ref.db'}", env)
        assert code == 0, err[-2000:]
        reference = comparable(ref_box.state())
        ref_calls = ref_box.usage()["salesforce"]["used"]
    finally:
        ref_box.stop()
    with Store(f"sqlite:///{tmp_path / 'ref.db'}") as ref_store:
        ref_audit = field_changes(ref_store)
    assert ref_audit and max(ref_audit.values()) == 1 and ref_calls >= 6

    box = start_sandbox(seed=seed)
    db = f"sqlite:///{tmp_path / 'budget.db'}"
    plays = plays_dir(tmp_path / "run", SHARE)
    store = Store(db)
    try:
        (tmp_path / "box.json").write_text(json.dumps(box.info))
        # the budget (share x allowance) is 60% of the calls the whole run needs: the guard trips
        # mid-run, and the rest fits in the next day's budget
        box.set_api_limits(salesforce=int(ref_calls * 0.6 / SHARE))
        code, first, err = run(plays, events, tmp_path / "box.json", db, env)
        assert code == 1, err[-2000:]
        assert any(f"({CODE})" in f for f in first["failed"]), first["failed"]
        calls = first["calls"]["salesforce"]
        assert calls["api_budget"] == int(box.usage()["salesforce"]["max"] * SHARE)
        assert box.usage()["salesforce"]["used"] <= calls["api_budget"]  # refused before spending more
        left = store.pending_count(BATCH)
        assert 0 < left < first["events"]["read"]  # parked: the cursor stopped before them
        assert store.cursor(BATCH) == first["events"]["read"] - left
        parked = field_changes(store)
        assert parked and max(parked.values()) == 1 and parked - ref_audit == Counter()  # nothing twice

        box.reset_usage()  # a new day: the allowance is whole again
        code, second, err = run(plays, events, tmp_path / "box.json", db, env)
        assert code == 0 and not second["failed"], (second["failed"], err[-2000:])
        assert second["events"]["stored"] == 0  # every event was stored by the first run
        assert store.pending_count(BATCH) == 0
        assert comparable(box.state()) == reference  # the CRM ends as after an uninterrupted run
        got = field_changes(store)
        assert got - ref_audit == Counter() and ref_audit - got == Counter(), (got - ref_audit, ref_audit - got)
    finally:
        store.close()
        box.stop()
