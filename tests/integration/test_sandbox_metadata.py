"""The sandbox's CRM field metadata: describe results valid against the Salesforce describe schema,
HubSpot property lists of the right shape, and the saved snapshots in step with the generator."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from sandbox import metadata

ROOT = Path(__file__).resolve().parents[2]
# Vendored with its licence and origin: tests/integration/specs/salesforce/README.md
SCHEMA = json.loads((Path(__file__).parent / "specs/salesforce/sobject-describe.json").read_text())
SF_OBJECTS = ["Lead", "Contact", "Task", "EmailMessage", "EmailMessageRelation"]


@pytest.mark.parametrize("sobject", SF_OBJECTS)
def test_describe_is_valid(sobject: str) -> None:
    describe = metadata.load_salesforce()[sobject]
    jsonschema.validate(describe, SCHEMA)
    assert describe["name"] == sobject
    assert describe["keyPrefix"] == metadata.KEY_PREFIXES[sobject]


def test_snapshots_match_generator() -> None:
    sf, hs = metadata.all_salesforce(), metadata.all_hubspot()
    assert metadata.load_salesforce() == sf
    assert metadata.load_hubspot() == hs
    plays_sf = json.loads((ROOT / "plays/crm/salesforce.describe.json").read_text())
    plays_hs = json.loads((ROOT / "plays/crm/hubspot.properties.json").read_text())
    assert plays_sf == {"Lead": sf["Lead"], "Contact": sf["Contact"]}
    assert plays_hs == hs["contacts"]


def test_required_fields_and_vocabularies() -> None:
    sf = metadata.load_salesforce()
    lead = {f["name"]: f for f in sf["Lead"]["fields"]}
    assert [p["value"] for p in lead["Unify_Reply_Classification__c"]["picklistValues"]] == list(
        metadata.REPLY_CLASSIFICATIONS)
    assert len(lead["Unify_Sequence_Status__c"]["picklistValues"]) == 10
    assert lead["Status"]["nillable"] is False
    assert lead["Status"]["defaultValue"] == "Open - Not Contacted"
    assert lead["SystemModstamp"]["updateable"] is False
    assert lead["Unify_Interests__c"]["type"] == "multipicklist"
    assert lead["OwnerId"]["referenceTo"] == ["User"]
    task = {f["name"]: f for f in sf["Task"]["fields"]}
    assert task["Unify_Event_Id__c"]["externalId"] and task["Unify_Event_Id__c"]["unique"]
    assert task["WhoId"]["referenceTo"] == ["Lead", "Contact"]


def test_hubspot_shape() -> None:
    hs = metadata.load_hubspot()
    keys = {"name", "label", "type", "fieldType", "options", "groupName", "description", "hidden",
            "modificationMetadata", "hasUniqueValue", "formField", "calculated", "externalOptions",
            "displayOrder"}
    for obj in ("contacts", "emails", "tasks"):
        for prop in hs[obj]["results"]:
            assert keys <= prop.keys(), prop["name"]
            assert "readOnlyValue" in prop["modificationMetadata"]
    contacts = {p["name"]: p for p in hs["contacts"]["results"]}
    assert contacts["unify_interests"]["fieldType"] == "checkbox"
    assert contacts["lifecyclestage"]["fieldType"] == "radio"
    assert contacts["hs_object_id"]["modificationMetadata"]["readOnlyValue"] is True
    emails = {p["name"]: p for p in hs["emails"]["results"]}
    assert emails["unify_event_id"]["hasUniqueValue"] is True
