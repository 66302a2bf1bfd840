"""The API budget guard (D-RUN-5, play-language §3 `api_budget_share`): the connectors read the
usage each CRM reports (Salesforce `Sforce-Limit-Info`, HubSpot's daily headers), report it with
the calls of each sync, and park the work (a coded stop, the writes pending, nothing written)
once the share of the day's allowance is used; after the allowance resets a later run completes
it, once."""

from __future__ import annotations

from typing import Any

import pytest

from engine.connectors.auth import connect_info
from engine.connectors.budget import CODE, read_usage
from engine.connectors.retry import RetryPolicy
from engine.run import sync_batch
from engine.language.model import build_integration, build_play

FAST = RetryPolicy(attempts=3, initial=0.001, max_wait=0.01, jitter=0.001, timeout=10, settle=0.01)


def _integration(crm: str, share: float | None) -> Any:
    block: dict[str, Any] = {"owned_fields": ["Unify_Most_Recent_Play__c" if crm == "salesforce"
                                              else "unify_most_recent_play"]}
    if share is not None:
        block["api_budget_share"] = share
    return build_integration({crm: block})


def _play(crm: str) -> Any:
    node = ({"type": "sync_to_salesforce", "object": "Lead", "fields": {"Unify_Most_Recent_Play__c": "{{ play.id }}"}}
            if crm == "salesforce" else
            {"type": "sync_to_hubspot", "properties": {"unify_most_recent_play": "{{ play.id }}"}})
    return build_play({"play": "guarded", "trigger": {"type": "sequence_status_changed"}, "start": "n",
                       "nodes": {"n": {**node, "next": "stop"}}})


def _events(n: int) -> list[dict[str, Any]]:
    return [{"id": f"e{i}", "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z",
             "to": "Completed: Replied", "contact": {"email": f"p{i}@acme.io"},
             "reply": {"classification": "Positive"}} for i in range(n)]


def _seed(crm: str, n: int) -> dict[str, Any]:
    if crm == "salesforce":
        return {"salesforce": {"Lead": [{"Email": f"p{i}@acme.io", "LastName": "L", "Company": "A"}
                                        for i in range(n)]}}
    return {"hubspot": {"contacts": [{"id": str(500 + i), "properties": {"email": f"p{i}@acme.io"}}
                                     for i in range(n)]}}


def _marked(sandbox, crm: str) -> int:
    state = sandbox.state()[crm]
    if crm == "salesforce":
        return sum(r.get("Unify_Most_Recent_Play__c") == "guarded" for r in state["Lead"])
    return sum(r["properties"].get("unify_most_recent_play") == "guarded" for r in state["contacts"])


def test_default_share_is_half_and_schema_knows_it() -> None:
    assert _integration("salesforce", None).salesforce.api_budget_share == 0.5
    assert _integration("hubspot", 0.2).hubspot.api_budget_share == 0.2
    assert read_usage({"Sforce-Limit-Info": "api-usage=12/100"}) == (12, 100)
    assert read_usage({"X-HubSpot-RateLimit-Daily": "500", "X-HubSpot-RateLimit-Daily-Remaining": "120"}) == (380, 500)
    assert read_usage({}) is None


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_guard_parks_work_at_the_threshold_and_a_later_run_completes_it(clean_sandbox, crm) -> None:
    limit, share = 40, 0.5
    clean_sandbox.load(_seed(crm, 5))
    clean_sandbox.set_api_limits(**{crm: limit})
    try:
        integration = _integration(crm, share)
        conn = connect_info(getattr(integration, crm), clean_sandbox.info[crm], policy=FAST)
        # another integration of the org has used all but one call of this engine's share
        other = connect_info(getattr(integration, crm), clean_sandbox.info[crm], policy=FAST)
        other.read_records(["x@acme.io"])
        spent = clean_sandbox.usage()[crm]["used"]
        for _ in range(int(limit * share) - 1 - spent):
            other.read_records(["x@acme.io"])
        assert clean_sandbox.usage()[crm]["used"] == int(limit * share) - 1

        parked = sync_batch(conn, plays=[_play(crm)], integration=integration, events=_events(5))
        assert parked.stopped is not None and parked.stopped.code == CODE
        assert "50%" in parked.stopped.message and "20 calls" in parked.stopped.message
        assert parked.tracking_state is None and not parked.written and _marked(clean_sandbox, crm) == 0
        assert clean_sandbox.usage()[crm]["used"] <= int(limit * share)  # stopped before spending more
        calls = parked.calls[crm]
        assert calls["api_day_max"] == limit and calls["api_budget"] == int(limit * share)

        clean_sandbox.reset_usage()  # a new day: the allowance is whole again
        later = connect_info(getattr(integration, crm), clean_sandbox.info[crm], policy=FAST)
        done = sync_batch(later, plays=[_play(crm)], integration=integration, events=_events(5))
        assert done.ok and len(done.written) == 5 and _marked(clean_sandbox, crm) == 5
        assert done.calls[crm]["api_day_used"] == clean_sandbox.usage()[crm]["used"]
        again = sync_batch(later, plays=[_play(crm)], integration=integration, events=_events(5))
        assert again.ok and again.written == []  # nothing twice
        for c in (conn, other, later):
            c.close()
    finally:
        clean_sandbox.set_api_limits(salesforce=15_000, hubspot=500_000)
