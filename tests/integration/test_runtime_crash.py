"""Kill -9 of the runner (`plays run`) in the middle of its syncs, then the same command again:
nothing is lost (every event is processed, the CRM ends exactly as after an uninterrupted run) and
nothing is written twice (no duplicate activity, no field recorded as written twice)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from engine.store import Store
from engine.workspace import load_workspace
from flows.consumers import TRACKING_TYPES, trigger_types
from sandbox.server import start_sandbox
pytest.register_assert_rewrite("tests.integration.prefect_fixtures")
from tests.integration.prefect_fixtures import wait_for  # noqa: E402

pytest_plugins = ["tests.integration.prefect_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "plays"
CONTACTS = 150
VOLATILE = {"LastModifiedDate", "SystemModstamp", "CreatedDate", "Id", "WhoId", "ActivityDate", "ParentId",
            "RelationId", "EmailMessageId"}


def workload(tmp: Path) -> tuple[Path, dict]:
    leads, lines = [], []
    for i in range(CONTACTS):
        email = f"p{i}@corp{i % 7}.com"
        leads.append({"Id": f"00Q5g0000CRASH{i:04d}", "Email": email, "FirstName": f"P{i}", "LastName": "Crash",
                      "Company": f"Corp{i % 7}", "Status": None, "LeadSource": None,
                      "LastModifiedDate": "2026-11-01T00:00:00Z"})
        contact = {"email": email, "firstName": f"P{i}"}
        base = f"2026-11-{2 + i % 20:02d}T"
        msg = {"id": f"m{i}", "subject": "Hi", "body_template": "Hi {{person.firstName}}",
               "body_rendered": f"Hi P{i}", "manual": False}
        for n, (kind, extra) in enumerate([
            ("sequence_enrolled", {"status": "Queued"}),
            ("email_sent", {"status": "Queued", "message": msg}),
            ("email_opened", {"status": "Engaged", "message": {"id": f"m{i}"}}),
            ("email_clicked", {"status": "Engaged", "message": {"id": f"m{i}"},
                               "url": "https://www.yourcompany.com/pricing"}),
            ("email_opened", {"status": "Engaged", "message": {"id": f"m{i}"}}),
            ("sequence_status_changed", {"from": "Engaged", "to": "Completed: Replied",
                                         "reply": {"classification": ["Willing to meet", "Bad Timing",
                                                                      "Negative"][i % 3]}}),
        ]):
            lines.append(json.dumps({"id": f"c{i}-{n}", "type": kind, "at": f"{base}{9 + n:02d}:00:00Z",
                                     "contact": contact, "sequence": "Q4 Outbound", **extra}))
    path = tmp / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, {"salesforce": {"Lead": leads, "Contact": []}, "hubspot": {"contacts": []}}


def run_cmd(events: Path, info: Path, db: str) -> list[str]:
    return [sys.executable, "-m", "cli", "run", "--plays", str(PLAYS), "--events", str(events),
            "--sandbox-info", str(info), "--db", db, "--format", "json"]


def comparable(state: dict) -> dict:
    out = {}
    for obj, rows in state["salesforce"].items():
        key = "Unify_Event_Id__c" if obj in ("Task", "EmailMessage") else "Email"
        out[obj] = sorted((json.dumps({k: v for k, v in r.items() if k not in VOLATILE}, sort_keys=True)
                           for r in rows), key=str)
        if obj in ("Task", "EmailMessage"):
            ids = [r.get(key) for r in rows]
            assert len(ids) == len(set(ids)), f"duplicate {obj} activities"
    return out


def test_kill_9_mid_sync_then_restart_loses_nothing_writes_nothing_twice(prefect_env, tmp_path) -> None:
    events, seed = workload(tmp_path)
    env = dict(prefect_env, PLAYS_BATCH_SIZE="25")

    # reference: one uninterrupted run
    ref_box = start_sandbox(seed=seed)
    (tmp_path / "ref.json").write_text(json.dumps(ref_box.info))
    subprocess.run(run_cmd(events, tmp_path / "ref.json", f"sqlite:///{tmp_path / 'ref.db'}"), env=env, cwd=ROOT,
                   check=True, capture_output=True, timeout=300)
    reference = comparable(ref_box.state())
    ref_box.stop()

    box = start_sandbox(seed=seed)
    (tmp_path / "box.json").write_text(json.dumps(box.info))
    db = f"sqlite:///{tmp_path / 'crash.db'}"
    store = Store(db)
    try:
        proc = subprocess.Popen(run_cmd(events, tmp_path / "box.json", db), env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

        def mid_sync():  # some batches recorded, the first Plays not done yet
            done = sum(p["events_done"] for p in store.progress().values())
            return 50 <= done and store.pending_count("tracking") > 0
        wait_for(mid_sync, timeout=240, interval=0.05, what="the runner to be mid-sync")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert store.pending_count("tracking") > 0  # it really died with work left

        again = subprocess.run(run_cmd(events, tmp_path / "box.json", db), env=env, cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-2000:]
        summary = json.loads(again.stdout)
        assert summary["events"]["stored"] == 0  # every event had been stored before the kill

        assert comparable(box.state()) == reference  # nothing lost, nothing extra
        ws = load_workspace([str(PLAYS)])
        for pid, play in ws.plays.items():
            if play.trigger.type != "schedule":
                assert store.pending_count(pid, trigger_types(play)) == 0, pid
        assert store.pending_count("tracking", TRACKING_TYPES) == 0
        writes = Counter((a["record"], a["field"], json.dumps(a["after"])) for a in store.audit())
        assert max(writes.values()) == 1  # no value recorded as written twice
    finally:
        store.close()
        box.stop()
