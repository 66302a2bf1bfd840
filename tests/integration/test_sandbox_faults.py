"""Faults on demand, seen through the real clients: 429 / 503 / 403 REQUEST_LIMIT_EXCEEDED (HubSpot:
429 DAILY) / slow past a timeout / dropped connection / expired session / per-record rejections, on
Salesforce and HubSpot; rule filters (every kind on both CRMs unless `crm` narrows it); the same
seed giving the same faults; the admin endpoint."""

from __future__ import annotations

import json

import pytest
import requests
import urllib3
from hubspot.crm.contacts import (ApiException, BatchInputSimplePublicObjectBatchInputForCreate,
                                  SimplePublicObjectBatchInputForCreate)
from simple_salesforce.exceptions import (SalesforceExpiredSession, SalesforceGeneralError,
                                          SalesforceRefusedRequest)

from sandbox.clients import hubspot_client, salesforce_session
from sandbox.faults import FaultSpecError, parse_spec

Q = "SELECT Id FROM Lead"
SEED = {"salesforce": {"Lead": [{"Id": "00Q000000000001AAA", "Email": "a@b.io"}]},
        "hubspot": {"contacts": [{"id": "1", "properties": {"email": "a@b.io"}}]}}


@pytest.fixture
def sb(clean_sandbox):
    clean_sandbox.load(SEED)
    return clean_sandbox


def test_salesforce_request_faults(sb, sandbox_sf, wait) -> None:
    sb.set_faults({"rules": [{"kind": "429", "count": 1, "crm": "salesforce"}]})
    with pytest.raises(SalesforceGeneralError) as rate:
        sandbox_sf.query(Q)
    assert rate.value.status == 429 and rate.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert sandbox_sf.query(Q)["totalSize"] == 1  # count=1: the next call goes through
    sb.set_faults({"rules": [{"kind": "503", "count": 1}]})
    with pytest.raises(SalesforceGeneralError) as down:
        sandbox_sf.query(Q)
    assert down.value.status == 503 and down.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    sb.set_faults({"rules": [{"kind": "403", "count": 1}]})
    with pytest.raises(SalesforceRefusedRequest) as limit:
        sandbox_sf.query(Q)
    assert limit.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    sb.set_faults({"rules": [{"kind": "expired_session", "count": 1}]})
    with pytest.raises(SalesforceExpiredSession) as expired:
        sandbox_sf.Lead.update("00Q000000000001AAA", {"Title": "x"})
    assert expired.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    sb.set_faults({"slow_seconds": 0.5, "rules": [{"kind": "slow", "count": 1}]})
    with pytest.raises(requests.exceptions.Timeout):
        sandbox_sf.query(Q, timeout=0.1)
    # The slow call is logged when the sandbox finally answers (to nobody).
    wait(lambda: sb.counters()["by_fault"].get("slow"))
    sb.set_faults({"rules": [{"kind": "drop", "count": 1}]})
    with pytest.raises(requests.exceptions.ConnectionError):
        sandbox_sf.query(Q)
    assert sandbox_sf.query(Q)["totalSize"] == 1
    faults = sb.counters()["by_fault"]
    assert faults == {"429": 1, "503": 1, "403": 1, "expired_session": 1, "slow": 1, "drop": 1}


def test_salesforce_per_record_rejections_are_deterministic(sb, sandbox_sf) -> None:
    spec = {"seed": 5, "rules": [{"kind": "reject", "rate": 0.4}]}
    records = [{"attributes": {"type": "Contact"}, "LastName": f"R{i}"} for i in range(20)]

    def outcome() -> list[bool]:
        sb.set_faults(spec)
        result = sandbox_sf.restful("composite/sobjects", method="POST",
                                    json={"allOrNone": False, "records": records})
        for r in result:
            if not r["success"]:
                assert r["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
        return [r["success"] for r in result]

    first, second = outcome(), outcome()
    assert first == second and 0 < first.count(False) < 20
    assert sb.requests()[-1]["rejected"] == first.count(False)
    sb.set_faults({**spec, "seed": 6})
    third = [r["success"] for r in sandbox_sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": records})]
    assert third != first
    sb.set_faults({"rules": [{"kind": "reject", "count": 1}]})
    with pytest.raises(Exception) as single:
        sandbox_sf.Contact.create({"LastName": "L"})
    assert single.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"


def test_hubspot_request_faults(sb, sandbox_hs, wait) -> None:
    api = sandbox_hs.crm.contacts.basic_api
    sb.set_faults({"retry_after": 3, "rules": [{"kind": "429", "count": 1, "crm": "hubspot"}]})
    with pytest.raises(ApiException) as rate:
        api.get_page()
    assert rate.value.status == 429 and rate.value.headers["Retry-After"] == "3"
    assert json.loads(rate.value.body)["errorType"] == "RATE_LIMIT"
    sb.set_faults({"rules": [{"kind": "503", "count": 1}]})
    with pytest.raises(ApiException) as down:
        api.get_page()
    assert down.value.status == 503
    sb.set_faults({"rules": [{"kind": "403", "count": 1}]})  # no `crm`: applies to HubSpot too
    with pytest.raises(ApiException) as limit:
        api.get_page()
    # HubSpot's daily-limit answer is a 429 with policyName DAILY and no Retry-After.
    daily = json.loads(limit.value.body)
    assert limit.value.status == 429 and "Retry-After" not in limit.value.headers
    assert (daily["status"], daily["errorType"], daily["policyName"]) == ("error", "RATE_LIMIT",
                                                                        "DAILY")
    assert daily["message"] == "You have reached your daily limit." and daily["correlationId"]
    assert api.get_page().results
    sb.set_faults({"rules": [{"kind": "expired_session", "count": 1}]})
    with pytest.raises(ApiException) as expired:
        api.get_page()
    assert json.loads(expired.value.body)["category"] == "EXPIRED_AUTHENTICATION"
    sb.set_faults({"slow_seconds": 0.5, "rules": [{"kind": "slow", "count": 1}]})
    with pytest.raises(urllib3.exceptions.HTTPError):
        api.get_page(_request_timeout=0.1)
    wait(lambda: sb.counters()["by_fault"].get("slow"))
    sb.set_faults({"rules": [{"kind": "drop", "count": 1}]})
    with pytest.raises(urllib3.exceptions.HTTPError):
        api.get_page()
    assert api.get_page().results


def test_rules_narrow_by_crm(sb, sandbox_sf, sandbox_hs) -> None:
    """Every kind applies to both CRMs; `crm` narrows a rule to one of them."""
    contacts = sandbox_hs.crm.contacts.basic_api
    for kind in ("403", "503", "expired_session"):
        sb.set_faults({"rules": [{"kind": kind, "crm": "salesforce"}]})
        assert contacts.get_page().results
        with pytest.raises(Exception):
            sandbox_sf.query(Q)
        sb.set_faults({"rules": [{"kind": kind, "crm": "hubspot"}]})
        assert sandbox_sf.query(Q)["totalSize"] == 1
        with pytest.raises(ApiException):
            contacts.get_page()
    sb.set_faults({"rules": [{"kind": "403", "count": 2}]})
    with pytest.raises(SalesforceRefusedRequest):
        sandbox_sf.query(Q)
    with pytest.raises(ApiException) as daily:
        contacts.get_page()
    assert daily.value.status == 429 and json.loads(daily.value.body)["policyName"] == "DAILY"
    assert sb.counters()["by_fault"] == {"403": 4, "503": 2, "expired_session": 2}


def test_hubspot_client_retries_429_by_itself(sb) -> None:
    # The client's default urllib3 Retry honours Retry-After on GET: one 429, then success.
    sb.set_faults({"retry_after": 0, "rules": [{"kind": "429", "count": 1}]})
    client = hubspot_client(sb.info)
    assert client.crm.contacts.basic_api.get_page().results
    assert [r["status"] for r in sb.requests()] == [429, 200]


def test_hubspot_per_record_rejection_207(sb, sandbox_hs) -> None:
    sb.set_faults({"seed": 1, "rules": [{"kind": "reject", "skip": 1, "count": 2,
                                         "path": "/batch/create"}]})
    result = sandbox_hs.crm.contacts.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"email": f"r{i}@x.io"})
            for i in range(5)]))
    assert len(result.results) == 3 and result.num_errors == 2
    assert {e.category for e in result.errors} == {"LOCKED"}
    emails = {c["properties"]["email"] for c in sb.state()["hubspot"]["contacts"]}
    assert {"r0@x.io", "r3@x.io", "r4@x.io"} <= emails and "r1@x.io" not in emails


def test_rule_filters_and_admin_endpoint(sb) -> None:
    session = salesforce_session(sb.info)
    admin = sb.info["admin"]
    spec = {"seed": 9, "rules": [{"kind": "503", "rate": 1, "method": "POST",
                                  "path": "/search", "crm": "hubspot"}]}
    assert session.post(admin + "/faults", json=spec).json()["rules"][0]["kind"] == "503"
    assert session.get(admin + "/faults").json()["seed"] == 9
    assert session.post(admin + "/faults", json={"rules": [{"kind": "nope"}]}).status_code == 400
    client = hubspot_client(sb.info)
    assert client.crm.contacts.basic_api.get_page().results  # GET: not matched
    from hubspot.crm.contacts import PublicObjectSearchRequest
    with pytest.raises(ApiException):
        client.crm.contacts.search_api.do_search(PublicObjectSearchRequest())
    assert session.get(admin + "/counters").json()["by_fault"] == {"503": 1}
    log = session.get(admin + "/requests").json()
    assert [(e["method"], e["status"]) for e in log] == [("GET", 200), ("POST", 503)]
    assert session.get(admin + "/state").json()["hubspot"]["contacts"][0]["id"] == "1"


def test_same_seed_same_faults(sb) -> None:
    session = salesforce_session(sb.info)
    url = sb.info["salesforce"]["instance_url"] + "/services/data/v59.0/query"
    headers = {"Authorization": "Bearer " + sb.info["salesforce"]["session_id"]}

    def pattern(seed: int) -> list[int]:
        sb.set_faults(f"429=0.3,503=0.2,seed={seed}")
        return [session.get(url, params={"q": Q}, headers=headers).status_code
                for _ in range(30)]

    first = pattern(4)
    assert pattern(4) == first and {429, 503, 200} <= set(first)
    assert pattern(8) != first


def test_fault_spec_parsing() -> None:
    assert parse_spec("429=0.5,seed=3") == {"rules": [{"kind": "429", "rate": 0.5}], "seed": 3.0}
    assert parse_spec('{"drop": 1}')["rules"] == [{"kind": "drop", "rate": 1.0}]
    assert parse_spec(None) == {"rules": []}
    for bad in ("429", "bogus=1", "{", '{"rules": [{"kind": "429", "when": 1}]}'):
        with pytest.raises(FaultSpecError):
            parse_spec(bad)
