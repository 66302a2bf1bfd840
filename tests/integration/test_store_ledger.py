"""The ledger of CRM API calls (D-RUN-5) on SQLite and PostgreSQL: its rows are written in the
transaction that records the batch (nothing when the cursor moved or the lease was lost, D-RUN-4),
every call a connector makes lands in exactly one row, and the readers `plays status` uses add
calls up per UTC day, keep the newest usage the CRM reported and tell whether the last batch
parked the work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.connectors.base import SyncStopped
from engine.connectors.budget import CODE, CallMeter, ledger_rows
from engine.connectors.memory import MemoryCrm
from engine.results import AuditRow
from engine.store import CursorMoved, LeaseLost

pytest_plugins = ["tests.integration.store_fixtures"]

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _row(crm: str = "salesforce", calls: int = 3, **extra) -> dict:
    return {"consumer": "batch", "source": "batch", "crm": crm, "calls": calls,
            "kinds": {"read": 1, "write": calls - 1}, "events": 4, "written": 2, **extra}


def test_ledger_rows_go_with_the_batch_and_are_fenced(any_store) -> None:
    """D-RUN-5 / D-RUN-4: the batch's rows commit with its cursor move; a batch that loses the race
    or the lease records no row."""
    any_store.ingest([{"id": f"e{i}", "type": "email_opened"} for i in range(4)], NOW)
    lease = any_store.acquire("runner-a", 30, now=NOW)
    any_store.record_batch("batch", 0, 4, NOW, run="r1", events_done=4, calls=[_row(), _row("hubspot", 2)],
                           lease=lease)
    rows = any_store.api_calls()
    assert [(r["crm"], r["calls"], r["run"], r["events"], r["written"]) for r in rows] == [
        ("hubspot", 2, "r1", 4, 2), ("salesforce", 3, "r1", 4, 2)]  # newest first
    assert rows[1]["kinds"] == {"read": 1, "write": 2} and rows[1]["at"] == NOW

    with pytest.raises(CursorMoved):
        any_store.record_batch("batch", 0, 4, NOW, calls=[_row()], lease=lease)
    newer = any_store.acquire("runner-b", 30, now=NOW + timedelta(seconds=40))
    with pytest.raises(LeaseLost):
        any_store.record(NOW, calls=[_row()], lease=lease)
    with pytest.raises(LeaseLost):
        any_store.record_calls([_row()], NOW, lease=lease)
    assert len(any_store.api_calls()) == 2
    any_store.record(NOW + timedelta(minutes=1), calls=[_row(calls=1)], lease=newer)
    assert len(any_store.api_calls()) == 3


def test_calls_by_day_usage_and_the_last_batch(any_store) -> None:
    """Calls add up per UTC day and CRM (kinds merged); the usage is the newest reported; the last
    batch tells whether the work is parked, and why."""
    yesterday = NOW - timedelta(days=1)
    any_store.record_calls([_row(calls=5, api_day_used=100, api_day_max=1000, api_budget=500)], yesterday)
    any_store.record_calls([_row(calls=3, api_day_used=7, api_day_max=1000, api_budget=500)], NOW)
    any_store.record_calls([{"consumer": "pull", "source": "pull", "crm": "salesforce", "calls": 2,
                             "kinds": {"pull": 1, "describe": 1}}], NOW + timedelta(minutes=1))
    any_store.record_calls([_row(calls=4, stopped=CODE, detail="salesforce: sync stopped (api_budget_reached)",
                                 api_day_used=500, api_day_max=1000, api_budget=500),
                            _row("hubspot", calls=0)], NOW + timedelta(minutes=2))

    today = any_store.calls_by_day(NOW, days=1)
    assert set(today) == {"salesforce", "hubspot"}
    sf = today["salesforce"]["2026-11-20"]
    assert sf["calls"] == 3 + 2 + 4 and sf["batches"] == 2 and sf["stopped"] == 1 and sf["events"] == 4
    assert sf["kinds"] == {"read": 2, "write": 5, "pull": 1, "describe": 1}
    two = any_store.calls_by_day(NOW, days=2)["salesforce"]
    assert sorted(two) == ["2026-11-19", "2026-11-20"] and two["2026-11-19"]["calls"] == 5

    usage = any_store.last_usage()
    assert set(usage) == {"salesforce"}  # HubSpot never reported its usage
    assert (usage["salesforce"]["api_day_used"], usage["salesforce"]["api_budget"]) == (500, 500)

    last = any_store.last_batch()
    assert [(r["crm"], r["stopped"]) for r in last] == [("salesforce", CODE), ("hubspot", None)]
    assert [r["calls"] for r in any_store.api_calls(crm="salesforce", source="batch", limit=2)] == [4, 3]


def test_the_meter_puts_every_call_in_exactly_one_row() -> None:
    """D-RUN-5: each reading gives the calls made since the previous one; the rows carry the
    records written per CRM (activities not counted) and the stop that parked the work."""
    crm = MemoryCrm("salesforce", {"Lead": [{"Id": "00Q1", "Email": "ann@acme.io"}]})
    meter = CallMeter()
    crm.read_records(["ann@acme.io"])
    crm.read_records(["ann@acme.io"])
    made = dict(crm.calls())
    assert made["read"] >= 2 and meter.take({"salesforce": crm}) == {"salesforce": made}
    assert meter.take({"salesforce": crm}) == {"salesforce": {}}
    crm.read_records(["ann@acme.io"])
    one = crm.calls()["read"] - made["read"]
    audit = [AuditRow(play="p", node="n", crm="salesforce", object="Lead", record="00Q1", email="ann@acme.io",
                      op="update", field=f, before=None, after="x") for f in ("Status", "Title", "*")]
    stop = SyncStopped("salesforce", CODE, "the budget is spent", "parked until the allowance resets")
    (row,) = ledger_rows(meter.take({"salesforce": crm}), consumer="batch", source="batch", events=3, audit=audit,
                         stopped=stop)
    assert (row["calls"], row["kinds"], row["written"], row["events"]) == (one, {"read": one}, 1, 3)
    assert row["stopped"] == CODE and "parked until the allowance resets" in row["detail"]
    assert row["api_day_used"] is None  # the in-memory CRM reports no usage


def test_status_snapshot_on_both_dialects(any_store) -> None:
    """What `plays status` shows (D-RUN-5, D-RUN-4): pending events of the Plays' types, the work
    parked by the newest batch's stop, the lease holder, and per CRM today's calls against the
    reported usage and budget."""
    from engine.store.status import snapshot

    any_store.ingest([{"id": f"e{i}", "type": "email_opened" if i % 2 else "email_sent"} for i in range(6)], NOW)
    lease = any_store.acquire("host:1:abc", 120, now=NOW)
    any_store.record_batch("batch", 0, 2, NOW, events_done=2, calls=[_row(api_day_used=10, api_day_max=1000,
                                                                            api_budget=500)], lease=lease)
    later = NOW + timedelta(minutes=1)
    any_store.record(later, calls=[_row(calls=0, stopped=CODE, detail=f"salesforce: sync stopped ({CODE})",
                                        api_day_used=500, api_day_max=1000, api_budget=500)], lease=lease)
    status = snapshot(any_store, later + timedelta(seconds=1), types={"email_opened"}, days=2, batches=5)
    assert status["events"] == {"ingested": 6, "last_seq": 6}
    assert status["consumers"]["batch"]["pending"] == 2  # e3, e5: the opened ones after the cursor
    assert status["parked"]["code"] == CODE and status["parked"]["pending"] == 2
    assert status["lease"]["holder"] == "host:1:abc" and status["lease"]["running"]
    sf = status["crms"]["salesforce"]
    assert (sf["today"]["calls"], sf["today"]["batches"], sf["today"]["stopped"]) == (3, 2, 1)
    assert sf["today"]["share_of_allowance"] == 0.003 and len(sf["days"]) == 2 and sf["days"][1]["calls"] == 0
    assert (sf["usage"]["api_day_used"], sf["usage"]["share_used"], sf["usage"]["share_of_budget"]) == (500, 0.5, 1.0)
    assert [b["stopped"] for b in sf["batches"]] == [CODE, None]
    assert not snapshot(any_store, NOW + timedelta(minutes=5))["lease"]["running"]  # expired: taken over next
    any_store.release(lease)
    assert snapshot(any_store, later, types=None)["lease"] is None
