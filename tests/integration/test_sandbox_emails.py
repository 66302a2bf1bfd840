"""Emails as the real CRMs keep them, seen through the real clients: Salesforce trims email fields
on save (keeping their case) and compares strings case-insensitively in SOQL (`=`, `!=`, `IN`,
`NOT IN`, `LIKE`); HubSpot stores a contact's email trimmed and lower-cased and finds it
case-insensitively (search `EQ` / `IN`, `idProperty=email`, unique-value conflicts). Seeds are
stored the same way, and `state()` round-trips through `load()`."""

from __future__ import annotations

import json

import pytest
from hubspot.crm.contacts import (ApiException, BatchInputSimplePublicObjectBatchInput,
                                  BatchInputSimplePublicObjectBatchInputForCreate,
                                  BatchInputSimplePublicObjectBatchInputUpsert, Filter,
                                  FilterGroup, PublicObjectSearchRequest,
                                  SimplePublicObjectBatchInput,
                                  SimplePublicObjectBatchInputForCreate,
                                  SimplePublicObjectBatchInputUpsert, SimplePublicObjectInput,
                                  SimplePublicObjectInputForCreate)
from simple_salesforce.exceptions import SalesforceMalformedRequest

CY, DEE = "00Q000000000001AAA", "003000000000001AAA"
SEED = {"salesforce": {"Lead": [{"Id": CY, "Email": " Cy@Initech.com", "LastName": "Cy",
                                 "Company": "Initech"},
                                {"Id": "00Q000000000002AAA", "Email": "bo@beta.io",
                                 "LastName": "Bo", "Company": "Beta"}],
                       "Contact": [{"Id": DEE, "Email": "\tDee@Acme.IO  ", "LastName": "Dee"}]},
        "hubspot": {"contacts": [{"id": "101", "properties": {"email": " Cy@Initech.com"}},
                                 {"id": "102", "properties": {"email": "bo@beta.io "}}]}}


@pytest.fixture
def seeded(clean_sandbox):
    clean_sandbox.load(SEED)
    return clean_sandbox


def lead_ids(sf, where: str) -> list[str]:
    return [r["Id"] for r in sf.query(f"SELECT Id FROM Lead WHERE {where}")["records"]]


def test_seeded_emails_are_stored_as_each_crm_stores_them(seeded) -> None:
    state = seeded.state()
    assert [r["Email"] for r in state["salesforce"]["Lead"]] == ["Cy@Initech.com", "bo@beta.io"]
    assert state["salesforce"]["Contact"][0]["Email"] == "Dee@Acme.IO"
    assert [c["properties"]["email"] for c in state["hubspot"]["contacts"]] == [
        "cy@initech.com", "bo@beta.io"]
    seeded.load(state)
    assert seeded.state() == state  # normalising is idempotent: state() round-trips


def test_salesforce_trims_emails_on_save(seeded, sandbox_sf) -> None:
    assert sandbox_sf.Lead.get(CY)["Email"] == "Cy@Initech.com"
    made = sandbox_sf.Lead.create({"LastName": "Zed", "Company": "Z",
                                   "Email": "  Zed@Example.COM "})
    assert sandbox_sf.Lead.get(made["id"])["Email"] == "Zed@Example.COM"
    sandbox_sf.Lead.update(made["id"], {"Email": "\tnew@Example.com\n"})
    assert sandbox_sf.Lead.get(made["id"])["Email"] == "new@Example.com"
    sandbox_sf.Contact.update(DEE, {"Email": "   "})  # blank after trimming: no value
    assert sandbox_sf.Contact.get(DEE)["Email"] is None
    batch = sandbox_sf.restful("composite/sobjects", method="POST", json={
        "allOrNone": True, "records": [{"attributes": {"type": "Contact"}, "LastName": "Eve",
                                        "Email": " Eve@Acme.io"}]})
    assert sandbox_sf.Contact.get(batch[0]["id"])["Email"] == "Eve@Acme.io"
    with pytest.raises(SalesforceMalformedRequest) as bad:  # trimming does not excuse a bad one
        sandbox_sf.Lead.create({"LastName": "X", "Company": "X", "Email": " not an email "})
    assert bad.value.content[0]["errorCode"] == "INVALID_EMAIL_ADDRESS"


def test_soql_string_comparisons_ignore_case(seeded, sandbox_sf) -> None:
    sf = sandbox_sf
    assert lead_ids(sf, "Email = 'cy@initech.com'") == [CY]
    assert lead_ids(sf, "Email = 'CY@INITECH.COM'") == [CY]
    assert lead_ids(sf, "Email = ' Cy@Initech.com'") == []  # the stored value is trimmed
    assert lead_ids(sf, "Email != 'cY@iNITECH.com'") == ["00Q000000000002AAA"]
    assert lead_ids(sf, "Email <> 'BO@BETA.IO'") == [CY]
    assert lead_ids(sf, "Email IN ('CY@initech.COM', 'nobody@x.io')") == [CY]
    assert lead_ids(sf, "Email IN ('BO@Beta.io', 'cy@INITECH.com')") == [CY, "00Q000000000002AAA"]
    assert lead_ids(sf, "Email NOT IN ('CY@INITECH.COM')") == ["00Q000000000002AAA"]
    assert lead_ids(sf, "Email LIKE 'CY@%'") == [CY]
    assert lead_ids(sf, "Email LIKE '%@INITECH.com'") == [CY]
    assert lead_ids(sf, "Company = 'INITECH' AND Email = 'cy@initech.com'") == [CY]
    contacts = sf.query("SELECT Email FROM Contact WHERE Email = 'dee@acme.io'")["records"]
    assert [c["Email"] for c in contacts] == ["Dee@Acme.IO"]


def _search(hs, op: str, **value) -> list[str]:
    found = hs.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(property_name="email", operator=op, **value)])],
        properties=["email"]))
    return [r.id for r in found.results]


def test_hubspot_stores_contact_emails_trimmed_and_lower_cased(seeded, sandbox_hs) -> None:
    api = sandbox_hs.crm.contacts
    assert api.basic_api.get_by_id("101", properties=["email"]).properties["email"] == \
        "cy@initech.com"
    made = api.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": " Zed@Example.COM "}))
    assert made.properties["email"] == "zed@example.com"
    with pytest.raises(ApiException) as taken:  # unique, case-insensitively
        api.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"email": "ZED@example.com"}))
    assert taken.value.status == 409 and json.loads(taken.value.body)["category"] == "CONFLICT"
    batch = api.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        SimplePublicObjectBatchInputForCreate(properties={"email": "\tAnn@Acme.IO"})]))
    assert batch.results[0].properties["email"] == "ann@acme.io"
    api.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=made.id, properties={"email": "NEW@Example.com "})]))
    api.basic_api.update("102", SimplePublicObjectInput(properties={"email": " Bo@Beta.IO"}))
    by_email = api.basic_api.get_by_id("cy@INITECH.com", id_property="email", properties=["email"])
    assert by_email.id == "101"
    upsert = [SimplePublicObjectBatchInputUpsert(id=" Up@Sert.IO", id_property="email",
                                                 properties={"jobtitle": "VP"})]
    first = api.batch_api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=upsert))
    assert first.results[0].new is True and first.results[0].properties["email"] == "up@sert.io"
    upsert[0].id = "UP@sert.io"
    again = api.batch_api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=upsert))
    assert (again.results[0].id, again.results[0].new) == (first.results[0].id, False)
    emails = {c["id"]: c["properties"]["email"] for c in seeded.state()["hubspot"]["contacts"]}
    assert emails == {"101": "cy@initech.com", "102": "bo@beta.io", made.id: "new@example.com",
                      batch.results[0].id: "ann@acme.io", first.results[0].id: "up@sert.io"}


def test_hubspot_search_on_email_ignores_case(seeded, sandbox_hs) -> None:
    assert _search(sandbox_hs, "EQ", value="CY@Initech.COM") == ["101"]
    assert _search(sandbox_hs, "IN", values=["Bo@Beta.io", "CY@INITECH.COM", "x@y.io"]) == [
        "101", "102"]
    assert _search(sandbox_hs, "NEQ", value="CY@INITECH.COM") == ["102"]
    assert _search(sandbox_hs, "NOT_IN", values=["BO@BETA.IO"]) == ["101"]
    # Two live contacts seeded with one email (HubSpot would refuse it; a seed can): both found.
    seeded.load({"hubspot": {"contacts": [{"id": "7", "properties": {"email": "Dup@x.io"}},
                                          {"id": "8", "properties": {"email": "dup@X.io"}}]}})
    assert _search(sandbox_hs, "EQ", value="DUP@x.io") == ["7", "8"]
