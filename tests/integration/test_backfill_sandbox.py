"""`plays backfill --field F --since T` end to end: a SQLite store in tmp_path holding clicks before
and after Click Count's mapping start (D-WB-8), the sandbox CRM (Salesforce Leads + HubSpot
contacts), the runtime's write path (`sync_batch`) counting only from the mapping start, then the
backfill writing the full count through the connectors (only F), `--dry-run` changing nothing, and
a second backfill changing nothing more."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.store import Store
from engine.workspace import load_workspace
from flows.consumers import drain
from flows.runtime import Runtime, RuntimeSettings

ROOT = Path(__file__).resolve().parents[2]
URL = "https://yourcompany.com/pricing"
EMAILS = ("ann@acme.io", "bo@acme.io", "cy@acme.io")


def _events() -> list[dict]:
    out = []
    # Click Count is mapped from 2026-11-01 (plays/integration.yaml); 2 clicks each before, 1 after
    for i, email in enumerate(EMAILS):
        for j, at in enumerate(("2026-10-05T10:00:00Z", "2026-10-20T10:00:00Z", "2026-11-10T10:00:00Z")):
            out.append({"id": f"clk-{i}-{j}", "type": "email_clicked", "at": at, "url": URL,
                        "contact": {"email": email}})
        out.append({"id": f"opn-{i}", "type": "email_opened", "at": "2026-10-06T10:00:00Z",
                    "contact": {"email": email}})
    out.append({"id": "clk-early", "type": "email_clicked", "at": "2026-09-01T10:00:00Z", "url": URL,
                "contact": {"email": "ann@acme.io"}})  # before T: never counted
    return out


def _seed() -> dict:
    leads = [{"Id": f"00Q5g00000Bf{i:04d}A", "Email": e, "LastName": e.split("@")[0].title(),
              "Company": "Acme", "Status": "Open - Not Contacted", "LastModifiedDate": "2026-10-01T00:00:00Z"}
             for i, e in enumerate(EMAILS)]
    contacts = [{"id": str(700 + i), "properties": {"email": e, "firstname": e.split("@")[0]},
                 "updatedAt": "2026-10-01T00:00:00Z"} for i, e in enumerate(EMAILS)]
    return {"salesforce": {"Lead": leads}, "hubspot": {"contacts": contacts}}


def _field(state: dict, crm: str, name: str) -> dict:
    if crm == "salesforce":
        return {r["Email"]: r.get(name) for r in state["salesforce"]["Lead"]}
    return {r["properties"]["email"]: r["properties"].get(name) for r in state["hubspot"]["contacts"]}


@pytest.fixture
def setup(clean_sandbox, tmp_path):
    plays = tmp_path / "plays"
    plays.mkdir()
    shutil.copy(ROOT / "plays" / "integration.yaml", plays / "integration.yaml")
    shutil.copytree(ROOT / "plays" / "crm", plays / "crm")
    info = tmp_path / "sandbox.json"
    info.write_text(json.dumps(clean_sandbox.info) + "\n")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(db)
    store.ingest(_events(), datetime.now(UTC))
    store.close()
    clean_sandbox.load(_seed())
    s = {"plays": str(plays), "info": str(info), "db": db, "sandbox": clean_sandbox}
    assert _tracking_pass(s).ok  # what `plays run` does for tracking fields: forward only (D-WB-8)
    return s


def _tracking_pass(s: dict):
    """The runtime's tracking consumer (the one `plays run` / the sync flow drains), without Prefect."""
    settings = RuntimeSettings(plays=(s["plays"],), database_url=s["db"], crm="sandbox",
                               sandbox_info=s["sandbox"].info)
    rt = Runtime(settings, load_workspace([s["plays"]]), Store(s["db"]))
    try:
        return drain(rt)
    finally:
        rt.close()


def _backfill(s: dict, *extra: str):
    return CliRunner().invoke(app, ["backfill", "--plays", s["plays"], "--crm", "sandbox", "--sandbox-info",
                                    s["info"], "--db", s["db"], *extra], catch_exceptions=False)


def test_backfill_writes_full_count_dry_run_changes_nothing_second_run_nothing_more(setup):
    sb = setup["sandbox"]
    before = sb.state()
    # the run counted Click Count only from the mapping start: 1 click each (D-WB-8)
    assert set(_field(before, "salesforce", "Unify_Click_Count__c").values()) == {1}
    assert {int(v) for v in _field(before, "hubspot", "unify_click_count").values()} == {1}
    opens = _field(before, "salesforce", "Unify_Track_Opens__c")
    assert set(opens.values()) == {1}

    dry = _backfill(setup, "--field", "Unify_Click_Count__c", "--since", "2026-10-01T00:00:00Z", "--dry-run",
                    "--format", "json")
    assert dry.exit_code == 0, dry.output
    out = json.loads(dry.stdout)
    assert out["dry_run"] and out["crms"] == ["salesforce"] and len(out["writes"]) == 3
    assert {w["after"] for w in out["writes"]} == {3} and {w["before"] for w in out["writes"]} == {1}
    assert sb.state() == before  # --dry-run changes nothing

    real = _backfill(setup, "--field", "Unify_Click_Count__c", "--since", "2026-10-01T00:00:00Z")
    assert real.exit_code == 0, real.output
    assert "3 records written" in real.stdout
    after = sb.state()
    assert set(_field(after, "salesforce", "Unify_Click_Count__c").values()) == {3}
    # only F: other tracking fields, the other CRM's Click Count and every other field stay as they were
    assert _field(after, "salesforce", "Unify_Track_Opens__c") == opens
    assert after["hubspot"] == before["hubspot"]
    strip = lambda st: [{k: v for k, v in r.items() if k not in ("Unify_Click_Count__c", "LastModifiedDate",
                                                                  "SystemModstamp")}
                        for r in st["salesforce"]["Lead"]]
    assert strip(after) == strip(before)
    store = Store(setup["db"])
    try:
        audit = [a for a in store.audit() if a["node"] == "backfill"]
        ledger = store.api_calls(source="backfill")  # D-RUN-5: its calls are in the ledger too
    finally:
        store.close()
    assert len(audit) == 3 and {a["field"] for a in audit} == {"Unify_Click_Count__c"}
    assert [(r["crm"], r["written"]) for r in ledger] == [("salesforce", 3), ("salesforce", 0)]  # newest first
    assert all(r["calls"] > 0 for r in ledger) and ledger[0]["kinds"].get("write")

    again = _backfill(setup, "--field", "Unify_Click_Count__c", "--since", "2026-10-01T00:00:00Z",
                      "--format", "json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["writes"] == [] and json.loads(again.stdout)["unchanged"] == 3
    assert sb.state() == after  # a second backfill changes nothing more

    # the runtime goes on from the backfilled figure: one more click makes 4, not the forward-only 2
    store = Store(setup["db"])
    store.ingest([{"id": "clk-late", "type": "email_clicked", "at": "2026-11-20T10:00:00Z", "url": URL,
                   "contact": {"email": "ann@acme.io"}}], datetime.now(UTC))
    store.close()
    assert _tracking_pass(setup).ok
    clicks = _field(sb.state(), "salesforce", "Unify_Click_Count__c")
    assert clicks == {"ann@acme.io": 4, "bo@acme.io": 3, "cy@acme.io": 3}
    assert {int(v) for v in _field(sb.state(), "hubspot", "unify_click_count").values()} == {2, 1}

    hs = _backfill(setup, "--field", "unify_click_count", "--since", "2026-10-01T00:00:00Z", "--format", "json")
    assert hs.exit_code == 0, hs.output
    assert _field(sb.state(), "hubspot", "unify_click_count") == {"ann@acme.io": "4", "bo@acme.io": "3",
                                                                  "cy@acme.io": "3"}


def test_unknown_field_is_a_coded_diagnostic_exit_1(setup):
    r = _backfill(setup, "--field", "Unify_Most_Recent_Play__c", "--since", "2026-10-01T00:00:00Z")
    assert r.exit_code == 1 and "BACKFILL001" in r.stderr
    bad = _backfill(setup, "--field", "Unify_Click_Count__c", "--since", "last tuesday")
    assert bad.exit_code == 2 and "--since" in bad.stderr
