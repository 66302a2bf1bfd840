"""The sandbox as a whole: state in and out in the CRM state format,
SQLite persistence across restarts, the request log and counters, the admin API, and the
`plays sandbox` command (one JSON line, then serving until interrupted)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from sandbox.clients import hubspot_client, salesforce_client, salesforce_session
from sandbox.server import start_sandbox

ROOT = Path(__file__).resolve().parents[2]
SPEC_EXAMPLE = {
    "salesforce": {"Lead": [{"Id": "00Q000000000001AAA", "Email": "ann@acme.io", "Status": None,
                             "LastModifiedDate": "2026-11-01T00:00:00Z"}],
                   "Contact": []},
    "hubspot": {"contacts": [{"id": "51", "properties": {"email": "bo@acme.io"},
                              "updatedAt": "2026-11-01T00:00:00Z"}]}}


def test_state_round_trip(clean_sandbox) -> None:
    clean_sandbox.load(SPEC_EXAMPLE)
    state = clean_sandbox.state()
    lead = state["salesforce"]["Lead"][0]
    assert lead["Email"] == "ann@acme.io" and lead["Status"] is None
    assert lead["LastModifiedDate"] == "2026-11-01T00:00:00.000+0000"
    assert set(state["salesforce"]) >= {"Lead", "Contact", "Task", "EmailMessage",
                                        "EmailMessageRelation"}
    assert set(state["hubspot"]) == {"contacts", "emails", "tasks"}
    contact = state["hubspot"]["contacts"][0]
    assert contact["id"] == "51" and contact["updatedAt"] == "2026-11-01T00:00:00.000Z"
    assert contact["properties"]["email"] == "bo@acme.io"
    assert contact["properties"]["hs_object_id"] == "51"
    clean_sandbox.load(state)
    assert clean_sandbox.state() == state  # the output is valid input, and a fixed point
    clean_sandbox.load({"salesforce": {"Lead": [{"Email": "noid@x.io"}]}})
    fresh = clean_sandbox.state()
    new_id = fresh["salesforce"]["Lead"][0]["Id"]
    assert len(new_id) == 18 and new_id.startswith("00Q") and fresh["hubspot"]["contacts"] == []


def test_activities_appear_in_state(clean_sandbox) -> None:
    clean_sandbox.load(SPEC_EXAMPLE)
    sf = salesforce_client(clean_sandbox.info)
    sf.Task.upsert("Unify_Event_Id__c/e1", {"Subject": "Follow up",
                                             "WhoId": "00Q000000000001AAA"})
    msg = sf.EmailMessage.create({"Subject": "Hi", "Status": "3", "Unify_Event_Id__c": "e2"})
    sf.EmailMessageRelation.create({"EmailMessageId": msg["id"], "RelationId": "00Q000000000001AAA",
                                    "RelationType": "ToAddress"})
    state = clean_sandbox.state()["salesforce"]
    assert state["Task"][0]["Unify_Event_Id__c"] == "e1"
    assert state["EmailMessageRelation"][0]["EmailMessageId"] == msg["id"]


def test_request_log_and_counters(clean_sandbox) -> None:
    clean_sandbox.load(SPEC_EXAMPLE)
    sf = salesforce_client(clean_sandbox.info)
    hs = hubspot_client(clean_sandbox.info)
    sf.query("SELECT Id FROM Lead")
    sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Contact"}, "LastName": str(i)} for i in range(4)]})
    hs.crm.contacts.basic_api.get_page()
    log = clean_sandbox.requests()
    assert [(e["crm"], e["method"], e["path"], e["status"], e["records"]) for e in log] == [
        ("salesforce", "GET", "/services/data/v59.0/query/", 200, 1),
        ("salesforce", "POST", "/services/data/v59.0/composite/sobjects", 200, 4),
        ("hubspot", "GET", "/crm/v3/objects/contacts", 200, 1)]
    counters = clean_sandbox.counters()
    assert counters["requests"] == 3 and counters["records"] == 6
    assert counters["by_crm"] == {"salesforce": 2, "hubspot": 1}
    assert counters["by_route"]["sf.composite.create"] == 1
    clean_sandbox.reset_log()
    assert clean_sandbox.requests() == [] and clean_sandbox.counters()["requests"] == 0


def test_admin_api(clean_sandbox) -> None:
    session = salesforce_session(clean_sandbox.info)
    admin = clean_sandbox.info["admin"]
    assert session.post(admin + "/state", json=SPEC_EXAMPLE).status_code == 204
    assert session.get(admin + "/state").json()["hubspot"]["contacts"][0]["id"] == "51"
    assert session.get(admin + "/info").json() == clean_sandbox.info
    assert session.get(admin + "/requests").json() == []
    assert session.delete(admin + "/requests").status_code == 204
    assert session.get(admin + "/nope").status_code == 404


def test_sqlite_keeps_records_across_restarts(tmp_path) -> None:
    db = str(tmp_path / "crm.sqlite")
    with start_sandbox(seed=SPEC_EXAMPLE, db=db) as first:
        sf = salesforce_client(first.info)
        made = sf.Lead.create({"LastName": "Kept", "Email": "kept@x.io"})
        hubspot_client(first.info).crm.contacts.basic_api.update(
            "51", __import__("hubspot").crm.contacts.SimplePublicObjectInput(
                properties={"firstname": "Bo"}))
    with start_sandbox(db=db) as second:
        state = second.state()
        assert {r["Id"] for r in state["salesforce"]["Lead"]} == {"00Q000000000001AAA",
                                                                 made["id"]}
        assert state["hubspot"]["contacts"][0]["properties"]["firstname"] == "Bo"
        again = salesforce_client(second.info).Lead.create({"LastName": "Next"})
        assert again["id"] != made["id"]  # the id counter survives too
    with start_sandbox(seed={}, db=db) as third:  # a seed replaces what the file held
        assert third.state()["salesforce"]["Lead"] == []


def test_cli_prints_info_and_stops_on_interrupt(tmp_path, wait) -> None:
    seed = tmp_path / "crm.json"
    seed.write_text(json.dumps(SPEC_EXAMPLE))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import typer; from cli import sandbox_cmd; app = typer.Typer(); "
         "sandbox_cmd.register(app); app.command('noop')(lambda: None); app()",
         "sandbox", "--seed", str(seed), "--faults", "503=0,seed=1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    reader.start()
    try:
        wait(lambda: lines or proc.poll() is not None, timeout=60)
        info = json.loads(lines[0])
        assert set(info["salesforce"]) >= {"instance_url", "session_id", "ca_file"}
        assert set(info["hubspot"]) >= {"host", "access_token"}
        sf = salesforce_client(info)
        assert sf.query("SELECT Email FROM Lead")["records"][0]["Email"] == "ann@acme.io"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0, proc.stderr.read()
    bad = subprocess.run(
        [sys.executable, "-c", "import typer; from cli import sandbox_cmd; app = typer.Typer(); "
         "sandbox_cmd.register(app); app.command('noop')(lambda: None); app()",
         "sandbox", "--faults", "nope=1"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60)
    assert bad.returncode == 2 and "unknown fault key" in bad.stderr
