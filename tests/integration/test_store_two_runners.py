"""D-RUN-4 one writer, with two real runners: two `plays run` processes drain the same Play (a
``create: true`` node) against one store — PostgreSQL and a SQLite file — on one sandbox CRM and one
Prefect server, started so that they overlap. The store's lease lets one apply batches; the other
sends nothing and says so, naming the holder. Afterwards every email has exactly one Lead (no
duplicate create), every field in the CRM that a Play wrote has its audit row, and none twice."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from engine.store import Store
from flows.consumers import BATCH
from sandbox.server import start_sandbox

pytest.register_assert_rewrite("tests.integration.prefect_fixtures")
from tests.integration.prefect_fixtures import wait_for  # noqa: E402
from tests.integration.store_fixtures import PG_URL, ensure_pg_database, new_schema  # noqa: E402

pytest_plugins = ["tests.integration.prefect_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
CONTACTS = 16
PLAY = """play: create-on-enroll
description: Create a Lead for every enrolled contact we do not know yet (D-WB-3)
trigger: {type: sequence_enrolled}
start: upsert
nodes:
  upsert:
    type: sync_to_salesforce
    object: Lead
    create: true
    fields:
      Title: "{{ contact.title }}"
      Unify_Most_Recent_Play__c: "{{ play.id }}"
"""


def workspace(tmp: Path) -> tuple[Path, Path]:
    plays = tmp / "plays"
    plays.mkdir()
    shutil.copy(ROOT / "plays" / "integration.yaml", plays / "integration.yaml")
    shutil.copytree(ROOT / "plays" / "crm", plays / "crm")
    (plays / "create-on-enroll.play.yaml").write_text(PLAY)
    lines = [json.dumps({"id": f"en{i}", "type": "sequence_enrolled", "at": f"2026-11-20T10:{i:02d}:00Z",
                         "sequence": "Q4", "status": "Queued",
                         "contact": {"email": f"new{i}@corp{i % 5}.com", "firstName": f"N{i}",
                                     "lastName": "Two", "company": f"Corp{i % 5}", "title": f"VP {i}"}})
             for i in range(CONTACTS)]
    events = tmp / "events.jsonl"
    events.write_text("\n".join(lines) + "\n")
    return plays, events


def runner(plays: Path, events: Path, info: Path, db: str) -> list[str]:
    return [sys.executable, "-m", "cli", "run", "--plays", str(plays), "--events", str(events),
            "--sandbox-info", str(info), "--db", db, "--format", "json"]


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_runners_one_store_one_writer_no_duplicate_create_every_write_audited(prefect_env, tmp_path,
                                                                                  dialect: str) -> None:
    plays, events = workspace(tmp_path)
    env = dict(prefect_env, PLAYS_BATCH_SIZE="1", PLAYS_LEASE_WAIT="2")
    env.pop("PLAYS_DATABASE_SCHEMA", None)
    if dialect == "sqlite":
        db, schema = f"sqlite:///{tmp_path / 'shared.db'}", None
    else:
        ensure_pg_database()
        db, schema = PG_URL, new_schema()
        env["PLAYS_DATABASE_SCHEMA"] = schema
    box = start_sandbox(seed={"salesforce": {"Lead": [], "Contact": []}, "hubspot": {"contacts": []}})
    info = tmp_path / "box.json"
    info.write_text(json.dumps(box.info))
    # every Salesforce read answers 1 s late and a batch is one event: the first runner holds the lease
    # for CONTACTS seconds at least, well past the second one's start-up
    box.set_faults({"slow_seconds": 1.0, "rules": [{"kind": "slow", "crm": "salesforce", "method": "GET",
                                                    "path": "query"}]})
    store = Store(db, schema=schema)
    procs = []
    try:
        first = subprocess.Popen(runner(plays, events, info, db), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        procs.append(first)
        holder = wait_for(store.lease_holder, timeout=120, interval=0.1, what="the first runner to take the lease")
        second = subprocess.Popen(runner(plays, events, info, db), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        procs.append(second)
        outs = [p.communicate(timeout=240) for p in procs]
        box.set_faults(None)
        said = "\n".join(o + e for o, e in outs)
        assert f"held by {holder.holder}" in said, said[-3000:]  # the loser names the holder

        # whatever the loser left pending, a later run finishes (and creates nothing twice)
        last = subprocess.run(runner(plays, events, info, db), env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=240)
        assert last.returncode == 0, last.stderr[-2000:]
        assert store.pending_count(BATCH) == 0

        leads = box.state()["salesforce"]["Lead"]
        per_email = Counter(lead["Email"] for lead in leads)
        assert len(per_email) == CONTACTS and max(per_email.values()) == 1, per_email.most_common(3)
        audit = store.audit()
        audited = Counter((a["record"], a["field"]) for a in audit if a["field"] != "*")
        assert max(audited.values()) == 1  # no field recorded as written twice
        for lead in leads:  # every field a Play wrote into the CRM has its audit row
            for field in ("Title", "Unify_Most_Recent_Play__c"):
                assert lead.get(field) and audited[(lead["Id"], field)] == 1, (lead, field)
        assert Counter(a["op"] for a in audit if a["field"] == "Title") == {"create": CONTACTS}
        assert not store.intents(BATCH)
        assert store.lease_holder() is None  # released at the end of each run
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        if schema:
            store.drop()
        store.close()
        box.stop()
