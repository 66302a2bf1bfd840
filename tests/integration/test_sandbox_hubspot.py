"""The sandbox's HubSpot CRM API, driven only through hubspot-api-client: contacts paging, batch
read / create / update / upsert with 207 partial failures, search (filter groups, operators,
sorts, paging, the 10,000 cap), properties of contacts / emails / tasks, associations (v3 inline
and v4 default), `updatedAt`, errors and rate-limit headers.

Every HubSpot request and response of these tests is checked against the OpenAPI description in
`openapi/hubspot-crm.yaml` (openapi-core, both directions): a request the description rejects
must have been refused by the sandbox with a 4xx.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from hubspot.crm.associations.v4 import (BatchInputPublicDefaultAssociationMultiPost,
                                         BatchInputPublicFetchAssociationsBatchRequest,
                                         PublicDefaultAssociationMultiPost,
                                         PublicFetchAssociationsBatchRequest)
from hubspot.crm.associations.v4 import PublicObjectId as V4Id
from hubspot.crm.contacts import (ApiException, BatchInputSimplePublicObjectBatchInput,
                                  BatchInputSimplePublicObjectBatchInputForCreate,
                                  BatchInputSimplePublicObjectBatchInputUpsert,
                                  BatchReadInputSimplePublicObjectId, Filter, FilterGroup,
                                  PublicObjectSearchRequest, SimplePublicObjectBatchInput,
                                  SimplePublicObjectBatchInputForCreate,
                                  SimplePublicObjectBatchInputUpsert, SimplePublicObjectId,
                                  SimplePublicObjectInput, SimplePublicObjectInputForCreate)
from hubspot.crm.objects.emails import AssociationSpec, PublicAssociationsForObject, PublicObjectId
from hubspot.crm.objects.emails import \
    SimplePublicObjectInputForCreate as EmailInput
from hubspot.crm.objects.tasks import SimplePublicObjectInputForCreate as TaskInput
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from sandbox.clients import hubspot_client

SPEC = OpenAPI.from_file_path(str(Path(__file__).parent / "openapi" / "hubspot-crm.yaml"))


class _Request:
    """openapi-core's request protocol over one captured exchange."""

    def __init__(self, ex: dict) -> None:
        self.host_url = "https://api.hubapi.com"
        self.path = ex["path"]
        self.method = ex["method"].lower()
        self.body = ex["body"].encode() or None
        self.content_type = ex["headers"].get("content-type", "application/json")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(ex["query"], keep_blank_values=True)),
            header=Headers(ex["headers"]), cookie=ImmutableMultiDict())


class _Response:
    def __init__(self, ex: dict) -> None:
        self.status_code = ex["status"]
        self.data = ex["response_body"].encode()
        self.content_type = "application/json" if self.data else ""
        self.headers = Headers(ex["response_headers"])


@pytest.fixture(autouse=True)
def openapi_checked(clean_sandbox):
    clean_sandbox.set_capture(True)
    yield
    checked = 0
    for ex in clean_sandbox.exchanges():
        if ex["crm"] != "hubspot":
            continue
        request = _Request(ex)
        try:
            SPEC.validate_request(request)
        except Exception as exc:  # the description says the request is wrong: so must we
            assert 400 <= ex["status"] < 500, f"{ex['method']} {ex['path']}: {exc}"
            continue
        try:
            SPEC.validate_response(request, _Response(ex))
        except Exception as exc:
            raise AssertionError(f"response to {ex['method']} {ex['path']} ({ex['status']}) "
                                 f"breaks the OpenAPI description: {exc}\n"
                                 f"{ex['response_body'][:800]}") from exc
        checked += 1
    assert checked or not clean_sandbox.exchanges()


SEED = {"hubspot": {"contacts": [
    {"id": str(100 + i), "properties": {"email": f"c{i}@acme.io", "firstname": f"F{i}",
                                        "lifecyclestage": "lead" if i % 2 else "customer",
                                        "unify_score": str(i)},
     "updatedAt": f"2026-11-{i + 1:02d}T00:00:00Z"} for i in range(25)]}}


@pytest.fixture
def hs(sandbox_hs, clean_sandbox):
    clean_sandbox.load(SEED)
    return sandbox_hs


def body(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_get_page_paging(hs) -> None:
    seen, after, pages = [], None, 0
    while True:
        page = hs.crm.contacts.basic_api.get_page(limit=10, after=after,
                                                  properties=["email", "unify_score"])
        seen += [c.id for c in page.results]
        pages += 1
        if not page.paging:
            break
        after = page.paging.next.after
    assert pages == 3 and seen == [str(100 + i) for i in range(25)]
    one = hs.crm.contacts.basic_api.get_by_id("c3@acme.io", id_property="email",
                                              properties=["unify_score"])
    assert one.id == "103" and one.properties["unify_score"] == "3"
    assert one.updated_at.isoformat().startswith("2026-11-04T00:00:00")
    with pytest.raises(ApiException) as missing:
        hs.crm.contacts.basic_api.get_by_id("999")
    assert missing.value.status == 404 and body(missing.value)["category"] == "OBJECT_NOT_FOUND"


def test_batch_read_partial(hs) -> None:
    result = hs.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id="101"), SimplePublicObjectId(id="999")],
        properties=["email"], properties_with_history=[]))
    assert [r.id for r in result.results] == ["101"]
    assert result.num_errors == 1 and result.errors[0].category == "OBJECT_NOT_FOUND"
    assert result.errors[0].context == {"ids": ["999"]}
    by_email = hs.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id="C2@ACME.IO")], id_property="email", properties=[],
        properties_with_history=[]))
    assert by_email.results[0].id == "102"


def test_create_update_upsert_and_updated_at(hs, clean_sandbox) -> None:
    created = hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": "new@x.io", "lifecyclestage": "lead", "unify_email_replies": "true"}))
    assert created.properties["email"] == "new@x.io" and created.created_at == created.updated_at
    updated = hs.crm.contacts.basic_api.update(created.id, SimplePublicObjectInput(
        properties={"unify_sequence_status": "Completed: Replied"}))
    assert updated.updated_at >= created.updated_at
    assert updated.properties["lastmodifieddate"] is not None
    batch = hs.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[SimplePublicObjectBatchInputForCreate(properties={"email": f"b{i}@x.io"})
                for i in range(3)]))
    assert batch.status == "COMPLETE" and len(batch.results) == 3
    changed = hs.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=r.id, properties={"jobtitle": "CTO"})
        for r in batch.results]))
    assert {r.properties["jobtitle"] for r in changed.results} == {"CTO"}
    upserted = hs.crm.contacts.batch_api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[SimplePublicObjectBatchInputUpsert(id="c1@acme.io", id_property="email",
                                                   properties={"jobtitle": "VP"}),
                SimplePublicObjectBatchInputUpsert(id="fresh@x.io", id_property="email",
                                                   properties={"jobtitle": "VP"})]))
    assert [(r.id, r.new) for r in upserted.results][0] == ("101", False)
    assert upserted.results[1].new is True
    state = {c["id"]: c for c in clean_sandbox.state()["hubspot"]["contacts"]}
    assert state["101"]["properties"]["jobtitle"] == "VP"
    assert state["101"]["updatedAt"] > "2026-11-02T00:00:00.000Z"
    assert state[upserted.results[1].id]["properties"]["email"] == "fresh@x.io"


def test_batch_partial_failure_207(hs) -> None:
    result = hs.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[SimplePublicObjectBatchInputForCreate(properties={"email": "ok@x.io"}),
                SimplePublicObjectBatchInputForCreate(properties={"email": "C1@acme.io"})]))
    assert len(result.results) == 1 and result.num_errors == 1
    assert result.errors[0].category == "CONFLICT"
    assert "Existing ID: 101" in result.errors[0].message
    update = hs.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id="101", properties={"jobtitle": "x"}),
        SimplePublicObjectBatchInput(id="424242", properties={"jobtitle": "x"})]))
    assert [r.id for r in update.results] == ["101"] and update.errors[0].context["ids"] == [
        "424242"]


def test_validation_errors_and_limits(hs, clean_sandbox) -> None:
    bad = [({"lifecyclestage": "prospect"}, "INVALID_OPTION"),
           ({"unify_score": "lots"}, "INVALID_DOUBLE"),
           ({"unify_email_replies": "yes"}, "INVALID_BOOLEAN"),
           ({"unify_enrolled_on": "soon"}, "INVALID_DATE"),
           ({"unify_clicked_at": "soon"}, "INVALID_DATETIME"),
           ({"nope": "x"}, "PROPERTY_DOESNT_EXIST"),
           ({"hs_object_id": "5"}, "READ_ONLY_VALUE"),
           ({"unify_sequence_status": "Completed Replied"}, "INVALID_OPTION")]
    for props, code in bad:
        with pytest.raises(ApiException) as exc:
            hs.crm.contacts.basic_api.update("101", SimplePublicObjectInput(properties=props))
        err = body(exc.value)
        assert exc.value.status == 400 and err["category"] == "VALIDATION_ERROR", props
        assert err["errors"][0]["code"] == code and err["status"] == "error"
    too_many = BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        SimplePublicObjectBatchInputForCreate(properties={"email": f"m{i}@x.io"})
        for i in range(101)])
    with pytest.raises(ApiException) as limit:
        hs.crm.contacts.batch_api.create(too_many)
    assert limit.value.status == 400
    unauthorized = hubspot_client({"hubspot": {**clean_sandbox.info["hubspot"],
                                               "access_token": "nope"}})
    with pytest.raises(ApiException) as auth:
        unauthorized.crm.contacts.basic_api.get_page()
    assert auth.value.status == 401 and body(auth.value)["category"] == "INVALID_AUTHENTICATION"


def _search(hs, groups, **kw):
    return hs.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
        filter_groups=[FilterGroup(filters=[Filter(**f) for f in g]) for g in groups], **kw))


def test_search(hs) -> None:
    eq = _search(hs, [[{"property_name": "email", "operator": "EQ", "value": "C7@acme.io"}]])
    assert eq.total == 1 and eq.results[0].id == "107"
    ors = _search(hs, [[{"property_name": "unify_score", "operator": "LT", "value": "2"}],
                       [{"property_name": "unify_score", "operator": "GTE", "value": "23"}]],
                  sorts=[{"propertyName": "unify_score", "direction": "DESCENDING"}],
                  properties=["unify_score"])
    assert [r.properties["unify_score"] for r in ors.results] == ["24", "23", "1", "0"]
    ands = _search(hs, [[{"property_name": "lifecyclestage", "operator": "EQ", "value": "lead"},
                         {"property_name": "unify_score", "operator": "BETWEEN", "value": "3",
                          "high_value": "9"}]])
    assert sorted(int(r.id) for r in ands.results) == [103, 105, 107, 109]
    ins = _search(hs, [[{"property_name": "firstname", "operator": "IN", "values": ["F1", "F2"]},
                        {"property_name": "jobtitle", "operator": "NOT_HAS_PROPERTY"}]])
    assert ins.total == 2
    recent = _search(hs, [[{"property_name": "lastmodifieddate", "operator": "GTE",
                            "value": "2026-11-20T00:00:00Z"}]])
    assert recent.total == 6
    token = _search(hs, [[{"property_name": "email", "operator": "CONTAINS_TOKEN",
                           "value": "c1*"}]])
    assert token.total == 11  # c1, c10..c19
    pages, after, ids = 0, None, []
    while True:
        page = _search(hs, [], limit=10, after=after)
        ids += [r.id for r in page.results]
        pages += 1
        if not page.paging:
            break
        after = page.paging.next.after
    assert pages == 3 and len(set(ids)) == 25 and page.total == 25
    with pytest.raises(ApiException) as cap:
        _search(hs, [], limit=100, after="9950")
    assert cap.value.status == 400 and "10000" in body(cap.value)["message"]


def test_properties(hs) -> None:
    for obj in ("contacts", "emails", "tasks"):
        props = hs.crm.properties.core_api.get_all(obj).results
        assert props and all(p.modification_metadata is not None for p in props)
    interests = hs.crm.properties.core_api.get_by_name("contacts", "unify_interests")
    assert interests.field_type == "checkbox" and interests.type == "enumeration"
    assert hs.crm.properties.core_api.get_by_name("emails", "unify_event_id").has_unique_value


def test_associations(hs, clean_sandbox) -> None:
    email = hs.crm.objects.emails.basic_api.create(EmailInput(
        properties={"hs_timestamp": "2026-11-20T10:00:00Z", "hs_email_subject": "Hi",
                    "hs_email_direction": "EMAIL", "unify_event_id": "evt-9"},
        associations=[PublicAssociationsForObject(to=PublicObjectId(id="101"), types=[
            AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=198)])]))
    listed = hs.crm.associations.v4.basic_api.get_page("emails", email.id, "contacts")
    assert [str(r.to_object_id) for r in listed.results] == ["101"]
    made = hs.crm.associations.v4.basic_api.create_default("contacts", "102", "emails", email.id)
    assert made.results[0].association_spec.association_type_id == 197
    batch = hs.crm.associations.v4.batch_api.create_default(
        "tasks", "contacts", BatchInputPublicDefaultAssociationMultiPost(inputs=[]))
    assert batch.results == []
    task = hs.crm.objects.tasks.basic_api.create(TaskInput(properties={
        "hs_timestamp": "2026-11-22T00:00:00Z", "hs_task_subject": "Call", "hs_task_status":
        "NOT_STARTED", "hs_task_priority": "HIGH", "unify_event_id": "evt-10"}))
    hs.crm.associations.v4.batch_api.create_default("tasks", "contacts",
                                                    BatchInputPublicDefaultAssociationMultiPost(
        inputs=[PublicDefaultAssociationMultiPost(_from=V4Id(id=task.id), to=V4Id(id="101"))]))
    read = hs.crm.associations.v4.batch_api.get_page("contacts", "emails",
                                                     BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id="101")]))
    assert str(read.results[0].to[0].to_object_id) == email.id
    contact = hs.crm.contacts.basic_api.get_by_id("101", associations=["emails", "tasks"])
    assert [a.id for a in contact.associations["emails"].results] == [email.id]
    assert [a.id for a in contact.associations["tasks"].results] == [task.id]
    hs.crm.associations.v4.basic_api.archive("contacts", "102", "emails", email.id)
    state = clean_sandbox.state()["hubspot"]
    assert state["emails"][0]["associations"] == {"contacts": ["101"]}
    assert state["tasks"][0]["properties"]["hs_task_subject"] == "Call"
    with pytest.raises(Exception) as no_ts:
        hs.crm.objects.emails.basic_api.create(EmailInput(properties={"hs_email_subject": "x"}))
    assert getattr(no_ts.value, "status", None) == 400
    with pytest.raises(Exception) as dup:
        hs.crm.objects.emails.basic_api.create(EmailInput(properties={
            "hs_timestamp": "2026-11-20T10:00:00Z", "unify_event_id": "EVT-9"}))
    assert getattr(dup.value, "status", None) == 409


def test_archive_and_rate_limit_headers(hs, clean_sandbox) -> None:
    hs.crm.contacts.basic_api.archive("124")
    page = hs.crm.contacts.basic_api.get_page_with_http_info(limit=100)
    data, status, headers = page
    assert status == 200 and len(data.results) == 24
    assert headers["X-HubSpot-RateLimit-Max"] == "190"
    assert int(headers["X-HubSpot-RateLimit-Remaining"]) < 190
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert "124" not in {c["id"] for c in clean_sandbox.state()["hubspot"]["contacts"]}


def test_openapi_check_is_not_vacuous(hs, clean_sandbox) -> None:
    hs.crm.contacts.basic_api.get_page(limit=2)
    ex = [e for e in clean_sandbox.exchanges() if e["crm"] == "hubspot"][-1]
    request = _Request(ex)
    SPEC.validate_request(request)
    SPEC.validate_response(request, _Response(ex))
    broken = dict(ex, response_body=json.dumps({"results": [{"id": 1, "properties": {}}]}))
    with pytest.raises(Exception):
        SPEC.validate_response(request, _Response(broken))
    wrong_request = dict(ex, query="limit=500")
    with pytest.raises(Exception):
        SPEC.validate_request(_Request(wrong_request))


def test_engagement_objects(hs, clean_sandbox) -> None:
    from hubspot.crm.objects.emails import BatchInputSimplePublicObjectBatchInputForCreate as EIn
    from hubspot.crm.objects.emails import BatchInputSimplePublicObjectId as EIds
    from hubspot.crm.objects.emails import Filter as EFilter
    from hubspot.crm.objects.emails import FilterGroup as EGroup
    from hubspot.crm.objects.emails import PublicObjectSearchRequest as ESearch
    from hubspot.crm.objects.emails import SimplePublicObjectBatchInputForCreate as EOne
    from hubspot.crm.objects.emails import SimplePublicObjectId as EId

    emails = hs.crm.objects.emails
    made = emails.batch_api.create(EIn(inputs=[EOne(properties={
        "hs_timestamp": "2026-11-20T10:00:00Z", "hs_email_subject": f"S{i}",
        "hs_email_direction": "EMAIL", "unify_event_id": f"ev-{i}"}) for i in range(3)]))
    assert len(made.results) == 3
    found = emails.search_api.do_search(ESearch(filter_groups=[EGroup(filters=[EFilter(
        property_name="unify_event_id", operator="EQ", value="ev-1")])],
        properties=["hs_email_subject"]))
    assert found.total == 1 and found.results[0].properties["hs_email_subject"] == "S1"
    assert len(emails.basic_api.get_page(limit=2).results) == 2
    emails.batch_api.archive(EIds(inputs=[EId(id=r.id) for r in made.results[:2]]))
    assert [e["properties"]["unify_event_id"] for e in clean_sandbox.state()["hubspot"]["emails"]
            ] == ["ev-2"]
    assert hs.crm.objects.tasks.basic_api.get_page().results == []
