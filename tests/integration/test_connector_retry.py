"""Retries and limits against the sandbox: `Retry-After` honoured, the HubSpot rate-limit headers
respected, a wait too long to make stops the sync, retries that run out stop it too — with the
unsent writes pending. The policy's `sleep` is recorded instead of slept, so no time is lost."""

from __future__ import annotations

from engine.connectors.auth import connect_info
from engine.connectors.base import RecordWrite
from engine.connectors.retry import RetryPolicy
from engine.language.model import build_integration

INTEGRATION = build_integration({"salesforce": {}, "hubspot": {}})


def policy(waits: list[float], **kw) -> RetryPolicy:
    base = dict(attempts=4, initial=0.001, max_wait=0.01, jitter=0.0, timeout=5, sleep=waits.append)
    base.update(kw)
    return RetryPolicy(**base)


def test_retry_after_is_honoured(clean_sandbox) -> None:
    clean_sandbox.load({"salesforce": {"Lead": [{"Email": "ann@acme.io", "LastName": "Lee", "Company": "A"}]}})
    waits: list[float] = []
    sf = connect_info(INTEGRATION.salesforce, clean_sandbox.info["salesforce"], policy=policy(waits))
    sf.describe("Lead")
    clean_sandbox.set_faults({"retry_after": 3, "rules": [{"kind": "429", "path": "/query", "count": 2}]})
    got = sf.read_records(["ann@acme.io"], objects=["Lead"])
    assert len(got["Lead"]) == 1 and waits == [3.0, 3.0] and sf.calls()["retries"] == 2


def test_long_retry_after_stops_and_keeps_pending(clean_sandbox) -> None:
    clean_sandbox.load({"hubspot": {"contacts": [{"id": "1", "properties": {"email": "a@b.io"}}]}})
    waits: list[float] = []
    hs = connect_info(INTEGRATION.hubspot, clean_sandbox.info["hubspot"],
                      policy=policy(waits, max_retry_after=60))
    clean_sandbox.set_faults({"retry_after": 3600, "rules": [{"kind": "429", "crm": "hubspot"}]})
    writes = [RecordWrite("hubspot", "contacts", "1", "a@b.io", "update", {"jobtitle": "CEO"})]
    out = hs.apply_writes(writes)
    assert out.stopped.code == "rate_limited" and out.pending == writes and waits == []
    assert "3600" in out.stopped.message


def test_hubspot_rate_limit_headers_hold_the_next_call(clean_sandbox) -> None:
    """A 429 with X-HubSpot-RateLimit-Remaining: 0 holds the next call for the window."""
    clean_sandbox.load({"hubspot": {"contacts": [{"id": "1", "properties": {"email": "a@b.io"}}]}})
    waits: list[float] = []
    hs = connect_info(INTEGRATION.hubspot, clean_sandbox.info["hubspot"], policy=policy(waits, max_wait=30))
    hs.properties()
    clean_sandbox.set_faults({"retry_after": 0, "rules": [{"kind": "429", "crm": "hubspot", "count": 1}]})
    out = hs.apply_writes([RecordWrite("hubspot", "contacts", "1", "a@b.io", "update", {"jobtitle": "CEO"})])
    assert len(out.written) == 1
    assert any(5.0 < w <= 10.0 for w in waits), waits  # the 10 s window, counted from the answer


def test_retries_that_run_out_stop_the_sync(clean_sandbox) -> None:
    clean_sandbox.load({"salesforce": {"Lead": [{"Email": f"p{i}@acme.io", "LastName": "L", "Company": "A",
                                                 "Id": f"00Q5g00000000{i:02d}AAA"} for i in range(3)]}})
    waits: list[float] = []
    sf = connect_info(INTEGRATION.salesforce, clean_sandbox.info["salesforce"], policy=policy(waits))
    clean_sandbox.set_faults({"rules": [{"kind": "503", "path": "composite"}]})
    writes = [RecordWrite("salesforce", "Lead", f"00Q5g00000000{i:02d}AAA", None, "update", {"Title": "T"})
              for i in range(3)]
    out = sf.apply_writes(writes)
    assert out.stopped.code == "crm_unavailable" and "4 attempts" in out.stopped.message
    assert out.pending == writes and len(waits) == 3
    clean_sandbox.set_faults({"rules": [{"kind": "drop", "path": "composite", "count": 2}]})
    again = sf.apply_writes(out.pending)
    assert len(again.written) == 3 and again.stopped is None
