"""The sandbox's Salesforce REST API, driven only through simple-salesforce: SOQL subset and
paging, sObject get / create / update / upsert / delete, describe, composite/sobjects with
allOrNone and per-record errors, write-time type checks, system stamps and limit headers."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import (SalesforceExpiredSession, SalesforceMalformedRequest,
                                          SalesforceResourceNotFound)

from sandbox.clients import salesforce_client
from sandbox.metadata import REPLY_CLASSIFICATIONS

L1, L2, L3 = "00Q000000000001AAA", "00Q000000000002AAA", "00Q000000000003AAA"
SEED = {"salesforce": {
    "Lead": [
        {"Id": L1, "Email": "Ann@Acme.io", "FirstName": "Ann", "LastName": "Lee", "Company": "Acme",
         "Status": None, "NumberOfEmployees": 50, "LastModifiedDate": "2026-11-01T00:00:00Z"},
        {"Id": L2, "Email": "bo@beta.io", "LastName": "Bo", "Company": "Beta",
         "Status": "Working - Contacted", "NumberOfEmployees": 500,
         "LastModifiedDate": "2026-11-05T12:00:00Z"},
        {"Id": L3, "Email": "cy@gamma.io", "LastName": "Cy", "Company": "Gamma",
         "Status": "Replied", "NumberOfEmployees": 5},
    ],
    "Contact": [{"Id": "003000000000001AAA", "Email": "dee@acme.io", "LastName": "Dee"}]}}


@pytest.fixture
def sf(sandbox_sf, clean_sandbox):
    clean_sandbox.load(SEED)
    return sandbox_sf


def ids(result):
    return [r["Id"] for r in result["records"]]


def test_query_filters(sf) -> None:
    q = "SELECT Id FROM Lead WHERE "
    assert ids(sf.query(q + "Email = 'ann@acme.io'")) == [L1]  # case-insensitive, as Salesforce
    assert ids(sf.query(q + "Status = null")) == [L1]
    assert ids(sf.query(q + "Status != null ORDER BY Email")) == [L2, L3]
    assert ids(sf.query(q + "Status IN ('Replied', 'Nurturing')")) == [L3]
    assert ids(sf.query(q + "Status NOT IN ('Replied') ORDER BY Company DESC")) == [L2, L1]
    assert ids(sf.query(q + "Email LIKE '%@acme.io'")) == [L1]
    assert ids(sf.query(q + "NumberOfEmployees > 10 AND NumberOfEmployees < 100")) == [L1]
    assert ids(sf.query(q + "(Company = 'Beta' OR Company = 'Gamma') AND NOT Status = 'Replied'")
               ) == [L2]
    assert ids(sf.query(q + "LastModifiedDate > 2026-11-02T00:00:00Z AND "
                            "LastModifiedDate < 2026-11-06T00:00:00Z")) == [L2]
    assert ids(sf.query("SELECT Id FROM Lead ORDER BY NumberOfEmployees DESC LIMIT 2")) == [L2, L1]
    assert sf.query("SELECT COUNT() FROM Lead WHERE Company != 'Acme'")["totalSize"] == 2


def test_query_projection_and_errors(sf) -> None:
    rec = sf.query("SELECT email, Status FROM Lead WHERE Id = '00Q000000000001'")["records"][0]
    assert list(rec) == ["attributes", "Email", "Status"]
    assert rec["Email"] == "Ann@Acme.io"  # stored as given
    assert rec["attributes"] == {"type": "Lead", "url": f"/services/data/v59.0/sobjects/Lead/{L1}"}
    with pytest.raises(SalesforceMalformedRequest) as bad_field:
        sf.query("SELECT Id, Nope__c FROM Lead")
    assert bad_field.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as bad_object:
        sf.query("SELECT Id FROM Nope")
    assert bad_object.value.content[0]["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as quoted_date:
        sf.query("SELECT Id FROM Lead WHERE LastModifiedDate > '2026-11-01T00:00:00Z'")
    assert quoted_date.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as syntax:
        sf.query("SELECT Id FROM Lead WHERE")
    assert syntax.value.content[0]["errorCode"] == "MALFORMED_QUERY"


def test_query_paging_through_next_records_url(sf, clean_sandbox) -> None:
    result = sf.restful("composite/sobjects", method="POST", json={
        "allOrNone": True, "records": [{"attributes": {"type": "Contact"}, "LastName": f"P{i}",
                                        "Email": f"p{i}@page.io"} for i in range(45)]})
    assert all(r["success"] for r in result)
    clean_sandbox.set_page_size(10)
    first = sf.query("SELECT Id, Email FROM Contact WHERE Email LIKE '%@page.io'")
    assert first["totalSize"] == 45 and not first["done"] and len(first["records"]) == 10
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    everything = sf.query_all("SELECT Id, Email FROM Contact WHERE Email LIKE '%@page.io'")
    assert everything["totalSize"] == 45 and len({r["Id"] for r in everything["records"]}) == 45
    # The Sforce-Query-Options batch size, as in a real org, wins over the default.
    clean_sandbox.set_page_size(2000)
    small = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=7"})
    assert len(small["records"]) == 7 and not small["done"]
    routes = clean_sandbox.counters()["by_route"]
    assert routes["sf.query_more"] == 4


def test_query_all_sees_deleted(sf) -> None:
    assert sf.Lead.delete(L3) == 204
    assert ids(sf.query("SELECT Id FROM Lead WHERE Id = '%s'" % L3)) == []
    deleted = sf.query_all("SELECT Id, IsDeleted FROM Lead WHERE Id = '%s'" % L3,
                           include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get(L3)
    with pytest.raises(SalesforceResourceNotFound) as again:
        sf.Lead.delete(L3)
    assert again.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_crud_and_system_stamps(sf) -> None:
    created = sf.Lead.create({"Email": "new@x.io", "LastName": "New", "Company": "X",
                              "Unify_Interests__c": "Pricing;Security"})
    rid = created["id"]
    assert created["success"] and len(rid) == 18 and rid.startswith("00Q")
    lead = sf.Lead.get(rid)
    assert lead["Status"] == "Open - Not Contacted"  # the picklist default
    assert lead["HasOptedOutOfEmail"] is False
    assert lead["CreatedDate"] == lead["LastModifiedDate"] == lead["SystemModstamp"]
    assert lead["CreatedDate"].endswith("+0000")
    assert sf.Lead.update(rid, {"Status": "Contacted", "Unify_Score__c": "4.5"}) == 204
    after = sf.Lead.get(rid)
    assert after["Status"] == "Contacted" and after["Unify_Score__c"] == 4.5
    assert after["LastModifiedDate"] >= lead["LastModifiedDate"]
    seeded = sf.Lead.get(L1)
    assert seeded["LastModifiedDate"] == "2026-11-01T00:00:00.000+0000"  # from the seed
    sf.Lead.update(L1, {"Title": "CTO"})
    assert sf.Lead.get(L1)["LastModifiedDate"] > "2026-11-01T00:00:00.000+0000"
    assert sf.Contact.create({"LastName": "C"})["id"].startswith("003")
    assert sf.Lead.delete(rid) == 204


def test_type_checks_on_write(sf) -> None:
    cases = [
        ({"Status": "Bogus"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"Unify_Reply_Classification__c": "Willing To Meet"},
         "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"Unify_Interests__c": "Pricing;Nope"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"Nope__c": 1}, "INVALID_FIELD"),
        ({"SystemModstamp": "2026-11-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"IsDeleted": True}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"NumberOfEmployees": "lots"}, "JSON_PARSER_ERROR"),
        ({"NumberOfEmployees": 2.5}, "JSON_PARSER_ERROR"),
        ({"HasOptedOutOfEmail": "maybe"}, "JSON_PARSER_ERROR"),
        ({"Unify_Enrolled_On__c": "next week"}, "JSON_PARSER_ERROR"),
        ({"Unify_Clicked_At__c": "yesterday"}, "JSON_PARSER_ERROR"),
        ({"Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS"),
        ({"FirstName": "x" * 41}, "STRING_TOO_LONG"),
        ({"OwnerId": "00Q000000000001AAA"}, "FIELD_INTEGRITY_EXCEPTION"),
        ({"OwnerId": "bad"}, "MALFORMED_ID"),
        ({"Status": None}, "REQUIRED_FIELD_MISSING"),
    ]
    for data, code in cases:
        with pytest.raises(SalesforceMalformedRequest) as exc:
            sf.Lead.update(L1, data)
        assert exc.value.content[0]["errorCode"] == code, data
    for value in REPLY_CLASSIFICATIONS:
        assert sf.Lead.update(L1, {"Unify_Reply_Classification__c": value}) == 204
    assert sf.Lead.update(L1, {"Unify_Enrolled_On__c": "2026-11-20",
                               "Unify_Clicked_At__c": "2026-11-20T10:00:00Z",
                               "Unify_Email_Replies__c": True}) == 204
    lead = sf.Lead.get(L1)
    assert lead["Unify_Clicked_At__c"] == "2026-11-20T10:00:00.000+0000"
    assert lead["Unify_Enrolled_On__c"] == "2026-11-20"


def test_upsert_by_external_id_and_activities(sf) -> None:
    task = {"Subject": "Follow up", "WhoId": L1, "ActivityDate": "2026-11-22",
            "TaskSubtype": "Task"}
    assert sf.Task.upsert("Unify_Event_Id__c/evt-1", task) == 201
    assert sf.Task.upsert("Unify_Event_Id__c/evt-1", {**task, "Subject": "Again"}) == 200
    found = sf.query("SELECT Id, Subject, Status, Priority FROM Task WHERE "
                     "Unify_Event_Id__c = 'evt-1'")
    assert found["totalSize"] == 1 and found["records"][0]["Subject"] == "Again"
    assert found["records"][0]["Status"] == "Not Started"
    assert found["records"][0]["Id"].startswith("00T")
    assert sf.Task.get_by_custom_id("Unify_Event_Id__c", "evt-1")["Subject"] == "Again"
    with pytest.raises(SalesforceMalformedRequest) as dup:
        sf.Task.create({**task, "Unify_Event_Id__c": "EVT-1"})
    assert dup.value.content[0]["errorCode"] == "DUPLICATE_VALUE"
    with pytest.raises(SalesforceMalformedRequest) as who:
        sf.Task.create({**task, "WhoId": "00Q00000000009Z"})
    assert who.value.content[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    with pytest.raises(SalesforceMalformedRequest) as not_external:
        sf.Lead.upsert("Email/ann@acme.io", {"Title": "x"})
    assert not_external.value.content[0]["errorCode"] == "INVALID_FIELD"
    email = sf.EmailMessage.create({"Subject": "Hi", "TextBody": "Hello", "Status": "3",
                                    "Incoming": False, "ToAddress": "Ann@Acme.io",
                                    "MessageDate": "2026-11-20T10:00:00Z",
                                    "Unify_Event_Id__c": "evt-2"})
    assert email["id"].startswith("02s")
    rel = sf.EmailMessageRelation.create({"EmailMessageId": email["id"], "RelationId": L1,
                                          "RelationType": "ToAddress"})
    assert rel["success"]
    with pytest.raises(SalesforceMalformedRequest) as status:
        sf.EmailMessage.create({"Subject": "No status"})
    assert status.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


def test_describe(sf) -> None:
    for name in ("Lead", "Contact", "Task", "EmailMessage", "EmailMessageRelation"):
        describe = getattr(sf, name).describe()
        assert describe["name"] == name and describe["fields"]
    assert {s["name"] for s in sf.describe()["sobjects"]} >= {"Lead", "Contact", "Task"}
    with pytest.raises(SalesforceResourceNotFound):
        sf.Opportunity.describe()


def test_composite_partial_and_all_or_none(sf, clean_sandbox) -> None:
    records = [{"attributes": {"type": "Lead"}, "LastName": "A", "Email": "a@c.io"},
               {"attributes": {"type": "Lead"}, "LastName": "B", "Status": "Bogus"},
               {"attributes": {"type": "Contact"}, "LastName": "C"}]
    partial = sf.restful("composite/sobjects", method="POST",
                         json={"allOrNone": False, "records": records})
    assert [r["success"] for r in partial] == [True, False, True]
    assert partial[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert partial[1]["errors"][0]["fields"] == ["Status"]
    before = clean_sandbox.state()
    rolled = sf.restful("composite/sobjects", method="POST",
                        json={"allOrNone": True, "records": records})
    assert [r["success"] for r in rolled] == [False, False, False]
    assert rolled[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert rolled[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert clean_sandbox.state() == before
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Lead"}, "Id": L1, "Status": "Replied"},
        {"attributes": {"type": "Lead"}, "Id": "00Q0000000000ZZAAA", "Status": "Replied"}]})
    assert updated[0] == {"id": L1, "success": True, "errors": []}
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    upserted = sf.restful("composite/sobjects/Task/Unify_Event_Id__c", method="PATCH", json={
        "allOrNone": False, "records": [
            {"attributes": {"type": "Task"}, "Unify_Event_Id__c": "e1", "Subject": "S1"},
            {"attributes": {"type": "Task"}, "Unify_Event_Id__c": "e1", "Subject": "S2"}]})
    assert [r["created"] for r in upserted] == [True, False]
    assert upserted[0]["id"] == upserted[1]["id"]
    fetched = sf.restful("composite/sobjects/Task", params={"ids": upserted[0]["id"],
                                                            "fields": "Subject"})
    assert fetched[0]["Subject"] == "S2"
    too_many = [{"attributes": {"type": "Contact"}, "LastName": str(i)} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as limit:
        sf.restful("composite/sobjects", method="POST", json={"records": too_many})
    assert limit.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    gone = sf.restful("composite/sobjects", method="DELETE",
                      params={"ids": f"{L2},{L3}", "allOrNone": "false"})
    assert [r["success"] for r in gone] == [True, True]


def test_auth_and_limit_header(sf, clean_sandbox) -> None:
    sf.query("SELECT Id FROM Lead")
    usage = sf.api_usage["api-usage"]
    assert usage.total == 15000 and usage.used >= 1
    bad = salesforce_client({"salesforce": {**clean_sandbox.info["salesforce"],
                                            "session_id": "wrong"}})
    with pytest.raises(SalesforceExpiredSession) as exc:
        bad.query("SELECT Id FROM Lead")
    assert exc.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    log = clean_sandbox.requests()
    assert log[-1]["status"] == 401 and log[0]["route"] == "sf.query"
    assert log[0]["records"] == 3 and log[0]["method"] == "GET"
