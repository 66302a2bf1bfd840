"""Kill -9 of the runner (`plays run`) in the middle of its syncs, then the same command again:
nothing is lost (every event is processed, the CRM ends exactly as after an uninterrupted run, and
the audit log holds every field change exactly as the uninterrupted run's does, including those
the killed batch sent before dying) and nothing is written twice (no duplicate activity, no field
recorded as written twice)."""

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
from flows.consumers import BATCH
from sandbox.server import start_sandbox
pytest.register_assert_rewrite("tests.integration.prefect_fixtures")
from tests.integration.prefect_fixtures import wait_for  # noqa: E402

pytest_plugins = ["tests.integration.prefect_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "plays"
CONTACTS = 150
SLOW, SLOW_SKIP = 2.0, 3  # the 4th Salesforce update request is answered 2 s late (well within the timeout)
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


def field_changes(store: Store) -> Counter:
    """The audit log's field changes (activities aside), keyed without run ids and times."""
    return Counter((a["crm"], a["object"], (a["email"] or "").lower() or a["record"], a["field"],
                    json.dumps(a["before"]), json.dumps(a["after"]), a["play"], a["node"], a["op"])
                   for a in store.audit() if a["field"] != "*")


def test_kill_9_mid_sync_then_restart_loses_nothing_writes_nothing_twice(prefect_env, tmp_path) -> None:
    events, seed = workload(tmp_path)
    # the killed runner's lease frees itself after its TTL (D-RUN-4): short here, so the restart
    # (which waits a few seconds for a held lease) takes it over instead of stopping
    env = dict(prefect_env, PLAYS_BATCH_SIZE="25", PLAYS_LEASE_TTL="4")

    # reference: one uninterrupted run
    ref_box = start_sandbox(seed=seed)
    (tmp_path / "ref.json").write_text(json.dumps(ref_box.info))
    subprocess.run(run_cmd(events, tmp_path / "ref.json", f"sqlite:///{tmp_path / 'ref.db'}"), env=env, cwd=ROOT,
                   check=True, capture_output=True, timeout=300)
    reference = comparable(ref_box.state())
    ref_box.stop()
    with Store(f"sqlite:///{tmp_path / 'ref.db'}") as ref_store:
        ref_audit = field_changes(ref_store)
    assert ref_audit and max(ref_audit.values()) == 1

    box = start_sandbox(seed=seed)
    (tmp_path / "box.json").write_text(json.dumps(box.info))
    db = f"sqlite:///{tmp_path / 'crash.db'}"
    store = Store(db)
    # one Salesforce write mid-run is answered late: the runner is killed while the CRM applies it,
    # so that batch's writes land but the batch is never recorded
    box.set_faults({"slow_seconds": SLOW, "rules": [{"kind": "slow", "crm": "salesforce", "method": "PATCH",
                                                     "path": "composite/sobjects", "skip": SLOW_SKIP,
                                                     "count": 1}]})
    try:
        proc = subprocess.Popen(run_cmd(events, tmp_path / "box.json", db), env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

        def mid_write():  # the slowed write is in flight: sent, not yet answered
            return box.faults()["rules"][0]["fired"] == 1
        wait_for(mid_write, timeout=240, interval=0.05, what="the runner to be mid-write")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: any(r["fault"] == "slow" for r in box.requests()), timeout=30, interval=0.05,
                 what="the slowed write to land in the CRM")
        box.set_faults(None)
        assert sum(p["events_done"] for p in store.progress().values()) >= 50  # some batches were recorded
        assert store.pending_count(BATCH) > 0  # it really died with work left
        ws = load_workspace([str(PLAYS)])
        assert store.intents(BATCH)  # landed, not yet audited

        again = subprocess.run(run_cmd(events, tmp_path / "box.json", db), env=env, cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-2000:]
        summary = json.loads(again.stdout)
        assert summary["events"]["stored"] == 0  # every event had been stored before the kill

        assert comparable(box.state()) == reference  # nothing lost, nothing extra
        assert store.pending_count(BATCH) == 0
        writes = Counter((a["record"], a["field"], json.dumps(a["after"])) for a in store.audit())
        assert max(writes.values()) == 1  # no value recorded as written twice
        # the audit trail is whole: every field change of the uninterrupted run, each exactly once,
        # those the killed batch sent before dying included (from its write intents)
        got = field_changes(store)
        assert got - ref_audit == Counter() and ref_audit - got == Counter(), (got - ref_audit, ref_audit - got)
        assert not store.intents(BATCH)  # every intent settled
    finally:
        store.close()
        box.stop()


def test_a_stopped_batch_keeps_its_unconfirmed_intents_and_the_next_attempt_audits_once(tmp_path) -> None:
    """No Prefect: one Play's consumer drained directly. Its Salesforce update is refused with the
    daily-limit answer, so the sync stops: the intents of the writes not known to have landed stay;
    the next attempt (limit lifted) finds them not applied, drops them and audits its own writes once."""
    from flows.consumers import drain
    from flows.run import ingest, read_events
    from flows.runtime import Runtime, RuntimeSettings

    events, seed = workload(tmp_path)
    box = start_sandbox(seed=seed)
    db = f"sqlite:///{tmp_path / 'stop.db'}"
    store = Store(db)
    settings = RuntimeSettings(plays=(str(PLAYS),), database_url=db, crm="sandbox", sandbox_info=box.info,
                               batch_size=1000)
    rt = Runtime(settings, load_workspace([str(PLAYS)]), store)
    try:
        ingest(store, read_events(events).events)
        box.set_faults({"rules": [{"kind": "403", "crm": "salesforce", "method": "PATCH",
                                   "path": "composite/sobjects"}]})
        first = drain(rt)
        assert first.stopped is not None and first.counts["fields"] == 0
        kept = store.intents(BATCH)
        assert kept and all(i["consumer"] == BATCH for i in kept)  # not known to have landed: kept
        box.set_faults(None)
        second = drain(rt)
        assert second.ok and second.counts["fields"] > 0
        assert store.intents(BATCH) == []
        rows = [a for a in store.audit() if a["field"] != "*"]
        assert len(rows) == second.counts["fields"]  # each write audited once: the stale intents were dropped
        assert {(a["record"], a["field"]) for a in rows} == {(i["record"], i["field"]) for i in kept}
    finally:
        rt.close()
        store.close()
        box.stop()
