"""The sandbox's Composite and Bulk API 2.0 on the wire, through the real simple-salesforce client
(D-RUN-5): subrequests with `referenceId` references, `allOrNone` rollback, the 25 / 5 limits with
Salesforce's error shape, sObject Collections inside a Composite request; Bulk ingest jobs with
successful / failed / unprocessed results (a job that fails midway), query jobs paged by
`Sforce-Locator`; `/limits` and `Sforce-Limit-Info` counting calls as Salesforce does.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

V = "/services/data/v59.0"
SEED = {"salesforce": {"Lead": [
    {"Id": "00Q5g00000SEED1AAA", "LastName": "One", "Company": "A", "Email": "one@example.com"},
    {"Id": "00Q5g00000SEED2AAA", "LastName": "Two", "Company": "B", "Email": "two@example.com"},
]}}


def _emails(handle: Any) -> set[str]:
    return {r.get("Email") for r in handle.state()["salesforce"]["Lead"]}


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_composite_references_collections_and_one_call(sandbox_sf, clean_sandbox) -> None:
    """D-RUN-5: subrequests see earlier results through @{ref...}; a whole request is one call."""
    clean_sandbox.load(SEED)
    answer = sandbox_sf.restful("composite", method="POST", json={"allOrNone": False, "compositeRequest": [
        {"method": "POST", "url": f"{V}/sobjects/Lead", "referenceId": "newLead",
         "body": {"LastName": "Three", "Company": "C", "Email": "three@example.com"}},
        {"method": "GET", "url": f"{V}/sobjects/Lead/@{{newLead.id}}?fields=Email",
         "referenceId": "readBack"},
        {"method": "PATCH", "url": f"{V}/composite/sobjects", "referenceId": "collection",
         "body": {"allOrNone": False, "records": [
             {"attributes": {"type": "Lead"}, "Id": "@{newLead.id}", "Title": "CEO"},
             {"attributes": {"type": "Lead"}, "Id": "00Q5g00000SEED1AAA", "Email": "not-an-email"}]}},
        {"method": "GET", "url": f"{V}/query?q=SELECT+Id,Email+FROM+Lead+WHERE+Email='two@example.com'",
         "referenceId": "query"},
    ]})
    subs = {s["referenceId"]: s for s in answer["compositeResponse"]}
    new_id = subs["newLead"]["body"]["id"]
    assert subs["newLead"]["httpStatusCode"] == 201
    assert subs["readBack"]["body"]["Email"] == "three@example.com"
    results = subs["collection"]["body"]
    assert results[0] == {"id": new_id, "success": True, "errors": []}
    assert results[1]["success"] is False and results[1]["errors"][0]["statusCode"] == "INVALID_EMAIL_ADDRESS"
    assert subs["query"]["body"]["records"][0]["Email"] == "two@example.com"
    assert sandbox_sf.api_usage["api-usage"].used == 1  # four subrequests, one call
    assert clean_sandbox.usage()["salesforce"]["used"] == 1
    titles = {r["Id"]: r.get("Title") for r in clean_sandbox.state()["salesforce"]["Lead"]}
    assert titles[new_id] == "CEO"


def test_composite_all_or_none_rolls_back_and_halts(sandbox_sf, clean_sandbox) -> None:
    clean_sandbox.load(SEED)
    answer = sandbox_sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": f"{V}/sobjects/Lead", "referenceId": "ok",
         "body": {"LastName": "Kept?", "Company": "C", "Email": "kept@example.com"}},
        {"method": "PATCH", "url": f"{V}/sobjects/Lead/00Q5g00000SEED1AAA", "referenceId": "bad",
         "body": {"Email": "broken"}},
        {"method": "GET", "url": f"{V}/sobjects/Lead/@{{ok.id}}", "referenceId": "later"},
    ]})
    codes = [(s["referenceId"], s["httpStatusCode"], s["body"][0]["errorCode"]) for s in answer["compositeResponse"]]
    assert codes == [("ok", 400, "PROCESSING_HALTED"), ("bad", 400, "INVALID_EMAIL_ADDRESS"),
                     ("later", 400, "PROCESSING_HALTED")]
    assert "kept@example.com" not in _emails(clean_sandbox)  # the create was rolled back
    # without allOrNone, only the subrequest that depends on a failed one is halted
    answer = sandbox_sf.restful("composite", method="POST", json={"compositeRequest": [
        {"method": "POST", "url": f"{V}/sobjects/Lead", "referenceId": "bad",
         "body": {"LastName": "X", "Company": "C", "Email": "broken"}},
        {"method": "GET", "url": f"{V}/sobjects/Lead/@{{bad.id}}", "referenceId": "dependent"},
        {"method": "POST", "url": f"{V}/sobjects/Lead", "referenceId": "fine",
         "body": {"LastName": "Y", "Company": "C", "Email": "fine@example.com"}},
    ]})
    statuses = [s["httpStatusCode"] for s in answer["compositeResponse"]]
    assert statuses == [400, 400, 201]
    assert answer["compositeResponse"][1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert "fine@example.com" in _emails(clean_sandbox)


def test_composite_limits_answer_like_salesforce(sandbox_sf, clean_sandbox) -> None:
    """At most 25 subrequests, of which at most 5 collections or queries: a 400 error list."""
    gets = [{"method": "GET", "url": f"{V}/limits", "referenceId": f"r{i}"} for i in range(26)]
    with pytest.raises(SalesforceMalformedRequest) as too_many:
        sandbox_sf.restful("composite", method="POST", json={"compositeRequest": gets})
    assert too_many.value.status == 400
    assert too_many.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    queries = [{"method": "GET", "url": f"{V}/query?q=SELECT+Id+FROM+Lead", "referenceId": f"q{i}"}
               for i in range(6)]
    with pytest.raises(SalesforceMalformedRequest) as heavy:
        sandbox_sf.restful("composite", method="POST", json={"compositeRequest": queries})
    assert heavy.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert "5" in heavy.value.content[0]["message"]
    ok = sandbox_sf.restful("composite", method="POST", json={"compositeRequest": queries[:5] + gets[:20]})
    assert len(ok["compositeResponse"]) == 25
    dup = [gets[0], dict(gets[1], referenceId="r0")]
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sandbox_sf.restful("composite", method="POST", json={"compositeRequest": dup})
    assert duplicate.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_bulk_ingest_insert_update_upsert_with_failures(sandbox_sf, clean_sandbox) -> None:
    clean_sandbox.load(SEED)
    lead = sandbox_sf.bulk2.Lead
    records = [{"LastName": f"B{i}", "Company": "Bulk", "Email": f"b{i}@example.com"} for i in range(20)]
    records.append({"LastName": "Bad", "Company": "Bulk", "Email": "no-at-sign"})
    [job] = lead.insert(records=records, wait=0)
    assert (job["numberRecordsProcessed"], job["numberRecordsFailed"]) == (21, 1)
    results = lead.get_all_ingest_records(job["job_id"])
    assert len(results["successfulRecords"]) == 20 and results["unprocessedRecords"] == []
    assert all(r["sf__Created"] == "true" for r in results["successfulRecords"])
    assert results["failedRecords"][0]["sf__Error"].startswith("INVALID_EMAIL_ADDRESS:")
    ids = {r["Email"]: r["sf__Id"] for r in results["successfulRecords"]}
    # update: `#N/A` nulls a field, an empty cell leaves it as it is
    [job] = lead.update(records=[{"Id": ids["b0@example.com"], "Title": "#N/A", "Company": ""},
                                 {"Id": ids["b1@example.com"], "Title": "VP", "Company": "New"}], wait=0)
    assert job["numberRecordsFailed"] == 0
    by_id = {r["Id"]: r for r in clean_sandbox.state()["salesforce"]["Lead"]}
    assert by_id[ids["b0@example.com"]]["Company"] == "Bulk" and by_id[ids["b0@example.com"]].get("Title") is None
    assert (by_id[ids["b1@example.com"]]["Title"], by_id[ids["b1@example.com"]]["Company"]) == ("VP", "New")
    # upsert on an external id field: one created, one updated
    task = sandbox_sf.bulk2.Task
    rows = [{"Unify_Event_Id__c": "ev-1", "Subject": "first"}, {"Unify_Event_Id__c": "ev-2", "Subject": "second"}]
    task.upsert(records=rows, external_id_field="Unify_Event_Id__c", wait=0)
    [job] = task.upsert(records=[{"Unify_Event_Id__c": "ev-1", "Subject": "again"},
                                 {"Unify_Event_Id__c": "ev-3", "Subject": "third"}],
                        external_id_field="Unify_Event_Id__c", wait=0)
    created = {r["Unify_Event_Id__c"]: r["sf__Created"] for r in
               _rows(task.get_successful_records(job["job_id"]))}
    assert created == {"ev-1": "false", "ev-3": "true"}
    assert sorted(t["Subject"] for t in clean_sandbox.state()["salesforce"]["Task"]) == ["again", "second", "third"]


def test_bulk_job_failing_midway_leaves_the_rest_unprocessed(sandbox_sf, clean_sandbox) -> None:
    """The `bulk_fail` fault stops a job at a record: the ones before it succeeded or failed (a
    `reject` on one), that record and the ones after it come back in `unprocessedrecords`."""
    clean_sandbox.set_faults({"rules": [
        {"kind": "reject", "crm": "salesforce", "path": "/jobs/ingest", "skip": 2, "count": 1},
        {"kind": "bulk_fail", "crm": "salesforce", "path": "/jobs/ingest", "skip": 5, "count": 1}]})
    client = sandbox_sf.bulk2.Lead._client
    info = client.create_job("insert")
    data = "LastName,Company,Email\n" + "".join(f"M{i},Mid,m{i}@example.com\n" for i in range(10))
    client.upload_job_data(info["id"], data)
    client.close_job(info["id"])
    job = client.get_job(info["id"], False)
    assert job["state"] == "Failed" and "InternalServerError" in job["errorMessage"]
    assert (job["numberRecordsProcessed"], job["numberRecordsFailed"]) == (5, 1)
    ok = _rows(client.get_ingest_results(info["id"], "successfulResults"))
    failed = _rows(client.get_ingest_results(info["id"], "failedResults"))
    unprocessed = _rows(client.get_ingest_results(info["id"], "unprocessedrecords"))
    assert [r["LastName"] for r in ok] == ["M0", "M1", "M3", "M4"]
    assert failed[0]["LastName"] == "M2" and failed[0]["sf__Error"].startswith("UNABLE_TO_LOCK_ROW")
    assert [r["LastName"] for r in unprocessed] == [f"M{i}" for i in range(5, 10)]
    assert len(clean_sandbox.state()["salesforce"]["Lead"]) == 4
    # a job takes one upload, while Open
    with pytest.raises(Exception):
        client.upload_job_data(info["id"], data)


def test_bulk_query_pages_by_locator(sandbox_sf, clean_sandbox) -> None:
    clean_sandbox.load({"salesforce": {"Lead": [
        {"LastName": f"Q{i}", "Company": "Q", "Email": f"q{i}@example.com"} for i in range(7)]}})
    pages = list(sandbox_sf.bulk2.Lead.query("SELECT Id, Email, IsDeleted FROM Lead ORDER BY Email",
                                             max_records=3, wait=0))
    rows = [r for page in pages for r in _rows(page)]
    assert len(pages) == 3 and [len(_rows(p)) for p in pages] == [3, 3, 1]
    assert rows[0]["Email"] == "q0@example.com" and rows[0]["IsDeleted"] == "false"
    client = sandbox_sf.bulk2.Lead._client
    with pytest.raises(SalesforceMalformedRequest):
        client.create_job("query", query="SELECT Nope FROM Lead")


def test_limits_and_usage_header_count_calls_as_salesforce(sandbox_sf, clean_sandbox) -> None:
    """Each Bulk job call is one call; a Composite request is one; `/limits` reports the rest."""
    clean_sandbox.set_api_limits(salesforce=1000)
    seen: list[str] = []
    sandbox_sf.session.hooks["response"].append(lambda r, *a, **k: seen.append(r.headers["Sforce-Limit-Info"]))
    try:
        sandbox_sf.bulk2.Lead.insert(records=[{"LastName": "L", "Company": "C"}], wait=0)
        # create, upload, close, at least one status check, then get_job once more
        bulk_calls = clean_sandbox.usage()["salesforce"]["used"]
        assert bulk_calls >= 5
        assert seen == [f"api-usage={n}/1000" for n in range(1, bulk_calls + 1)]
        limits = sandbox_sf.restful("limits")
        assert limits["DailyApiRequests"] == {"Max": 1000, "Remaining": 1000 - bulk_calls - 1}
        assert limits["DailyBulkApiBatches"]["Remaining"] == limits["DailyBulkApiBatches"]["Max"] - 1
        clean_sandbox.reset_usage()
        sandbox_sf.query("SELECT Id FROM Lead")
        assert sandbox_sf.api_usage["api-usage"].used == 1
        assert sandbox_sf.api_usage["api-usage"].total == 1000
    finally:
        clean_sandbox.set_api_limits(salesforce=15000)


def test_hubspot_daily_headers_count_its_own_calls(sandbox_hs, clean_sandbox) -> None:
    clean_sandbox.set_api_limits(hubspot=50)
    try:
        page = sandbox_hs.crm.contacts.basic_api.get_page_with_http_info(limit=1)
        headers = page[2]
        assert headers["X-HubSpot-RateLimit-Daily"] == "50"
        assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "49"
        assert clean_sandbox.usage()["hubspot"]["used"] == 1
        assert clean_sandbox.usage()["salesforce"]["used"] == 0
    finally:
        clean_sandbox.set_api_limits(hubspot=500_000)
