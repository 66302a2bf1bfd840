"""Checks of the JSON Schemas in `schemas/` and of the example files in `plays/`.

The schemas must be valid draft 2020-12 schemas, document every property, close every object,
and accept every example Play, integration file, Play test, event and CRM state; a second,
independent tool (check-jsonschema) must agree. Negative cases pin down that mistakes produce
precise errors (one error at the offending key, not a wall of oneOf failures), and that the
vocabulary enums sit at `$defs/status` / `$defs/classification`, where the validator finds them.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
PLAYS = ROOT / "plays"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"

STATUSES = ["Queued", "Engaged", "Blocked", "Paused", "Completed", "Completed: Replied",
            "Bounced", "Bounce Stopped", "Canceled", "Excluded"]
CLASSIFICATIONS = ["Positive", "Willing to meet", "Needs more info", "Bad Timing", "Has solution",
                   "Neutral", "Left Job", "Updated contact info", "Referral", "Negative",
                   "Objection/Negative", "NSFW", "Opt out", "OOO", "Soft Bounce", "Hard Bounce",
                   "Automated"]
SCHEMA_NAMES = ["play", "integration", "playtest", "event"]


def load_yaml(path: Path):
    yaml = YAML(typ="safe")
    yaml.version = (1, 2)
    return yaml.load(path.read_text())


def load_schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.schema.json").read_text())


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


PLAY_FILES = sorted(PLAYS.glob("*.play.yaml"))
TEST_FILES = sorted(PLAYS.glob("*.test.yaml"))
INTEGRATION = PLAYS / "integration.yaml"
DEMO_EVENTS = PLAYS / "events" / "demo.jsonl"
DEMO_STATE = PLAYS / "events" / "demo-crm-state.json"


def errors(name: str, doc) -> list:
    return sorted(validator(name).iter_errors(doc), key=lambda e: list(map(str, e.path)))


# ---------------------------------------------------------------- the schemas themselves

@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_schema_is_valid_2020_12(name):
    schema = load_schema(name)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"https://plays.dev/schemas/{name}.schema.json"
    Draft202012Validator.check_schema(schema)


def _walk(node, path=()):
    """Yield (path, subschema) for every subschema reachable through schema keywords."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            if key in ("properties", "patternProperties", "$defs", "dependentSchemas"):
                for name, sub in value.items():
                    yield from _walk(sub, path + (key, name))
            elif key in ("items", "additionalProperties", "not", "if", "then", "else",
                         "propertyNames", "contains", "unevaluatedProperties"):
                yield from _walk(value, path + (key,))
            elif key in ("allOf", "anyOf", "oneOf", "prefixItems"):
                for i, sub in enumerate(value):
                    yield from _walk(sub, path + (key, i))


def _is_discriminator(path) -> bool:
    # `if: {properties: {type: {const: ...}}}` is how node/trigger kinds are told apart; it
    # describes nothing an editor shows.
    return "if" in path


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_property_has_a_description(name):
    missing = []
    for path, sub in _walk(load_schema(name)):
        if _is_discriminator(path):
            continue
        for kw in ("properties", "patternProperties"):
            for prop, prop_schema in sub.get(kw, {}).items():
                if not prop_schema.get("description", "").strip():
                    missing.append("/".join(map(str, path + (kw, prop))))
    assert missing == []


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_every_object_is_closed_or_a_dispatcher(name):
    """Objects with properties say what else they allow: `false`, or a schema for a field map."""
    open_objects = []
    for path, sub in _walk(load_schema(name)):
        if _is_discriminator(path) or "properties" not in sub:
            continue
        if "additionalProperties" in sub:
            continue
        is_dispatcher = any("if" in c and "then" in c for c in sub.get("allOf", []))
        if not is_dispatcher:
            open_objects.append("/".join(map(str, path)))
    assert open_objects == []


def test_vocabulary_enums_match_domain():
    play = load_schema("play")
    assert play["$defs"]["status"]["enum"] == STATUSES
    assert play["$defs"]["classification"]["enum"] == CLASSIFICATIONS


def test_playtest_embeds_the_event_schema_verbatim():
    event = load_schema("event")
    embedded = load_schema("playtest")["$defs"]["event"]
    expected = {k: v for k, v in event.items() if k not in ("$schema", "$id")}
    assert embedded == expected


def test_event_schema_has_no_refs():
    # embedded verbatim in playtest.schema.json, so it must not depend on its own $defs
    assert "$ref" not in (SCHEMAS / "event.schema.json").read_text()


# ---------------------------------------------------------------- the examples validate

def test_examples_exist():
    ids = {load_yaml(p)["play"] for p in PLAY_FILES}
    assert ids == {"replied-to-lead-status", "enrolled-contacted", "reply-follow-up-task",
                   "hubspot-outcomes", "engagement-tracking", "weekly-engaged"}
    assert INTEGRATION.exists() and DEMO_EVENTS.exists() and DEMO_STATE.exists()


@pytest.mark.parametrize("path", PLAY_FILES + TEST_FILES + [INTEGRATION], ids=lambda p: p.name)
def test_example_validates(path):
    name = ("play" if path.name.endswith(".play.yaml")
            else "playtest" if path.name.endswith(".test.yaml") else "integration")
    first_line = path.read_text().splitlines()[0]
    assert first_line == f"# yaml-language-server: $schema=../schemas/{name}.schema.json"
    assert [e.message for e in errors(name, load_yaml(path))] == []


def test_play_ids_match_file_names_and_each_play_has_two_tests():
    plays = {load_yaml(p)["play"]: p for p in PLAY_FILES}
    for play_id, path in plays.items():
        assert path.name == f"{play_id}.play.yaml"
    tested: dict[str, int] = {}
    for path in TEST_FILES:
        play_id = load_yaml(path)["play"]
        assert play_id in plays, f"{path.name} tests unknown play {play_id}"
        assert path.name.startswith(play_id + ".")
        tested[play_id] = tested.get(play_id, 0) + 1
    assert {p: n for p, n in tested.items() if n < 2} == {}
    assert set(tested) == set(plays)


def test_test_events_have_unique_ids():
    for path in TEST_FILES:
        ids = [e["id"] for e in load_yaml(path)["events"]]
        assert len(ids) == len(set(ids)), path.name


def test_demo_events_validate():
    v = validator("event")
    lines = [json.loads(line) for line in DEMO_EVENTS.read_text().splitlines() if line.strip()]
    assert 35 <= len(lines) <= 60
    for event in lines:
        assert [e.message for e in v.iter_errors(event)] == [], event["id"]
    ids = [e["id"] for e in lines]
    assert len(ids) == len(set(ids))
    types = {e["type"] for e in lines}
    assert types == set(load_schema("event")["properties"]["type"]["enum"])
    # what the demo must show
    assert any("email" not in e["contact"] for e in lines)
    assert any(e.get("in_thread") is False for e in lines)
    assert any(e.get("message", {}).get("manual") is True for e in lines)
    assert any("{{person.firstName}}" in (e.get("message", {}).get("body_template") or "") for e in lines)
    urls = [e["url"] for e in lines if e["type"] == "email_clicked"]
    assert any("yourcompany.com/" in u for u in urls) and any("yourcompany.com" not in u for u in urls)


def _crm_state_validator() -> Draft202012Validator:
    registry = Registry().with_resources(
        (load_schema(n)["$id"], Resource.from_contents(load_schema(n))) for n in SCHEMA_NAMES)
    ref = {"$ref": "https://plays.dev/schemas/playtest.schema.json#/$defs/crmState"}
    return Draft202012Validator(ref, registry=registry)


def test_demo_crm_state_validates():
    state = json.loads(DEMO_STATE.read_text())
    assert [e.message for e in _crm_state_validator().iter_errors(state)] == []
    leads = state["salesforce"]["Lead"]
    norm = [(lead["Email"] or "").strip().lower() for lead in leads]
    assert any(norm.count(e) > 1 for e in norm if e)            # a duplicate email pair
    assert any(not lead["Email"] for lead in leads)             # a Lead without email
    assert any(lead["Status"] for lead in leads)                # a Status already set
    assert any(lead["LeadSource"] == "Web" for lead in leads)
    assert state["hubspot"]["contacts"]


# ---------------------------------------------------------------- examples vs CRM metadata

def _sf_describe():
    path = PLAYS / "crm" / "salesforce.describe.json"
    if not path.exists():
        pytest.skip("salesforce.describe.json not written yet")
    return {obj: {f["name"]: f for f in d["fields"]} for obj, d in json.loads(path.read_text()).items()}


def _hs_properties():
    path = PLAYS / "crm" / "hubspot.properties.json"
    if not path.exists():
        pytest.skip("hubspot.properties.json not written yet")
    return {p["name"]: p for p in json.loads(path.read_text())["results"]}


def _nodes(kind):
    for path in PLAY_FILES:
        for node_id, node in load_yaml(path)["nodes"].items():
            if node["type"] == kind:
                yield path.name, node_id, node


def test_example_salesforce_fields_exist_and_literals_fit():
    describe = _sf_describe()
    for file, node_id, node in _nodes("sync_to_salesforce"):
        objects = ["Lead", "Contact"] if node.get("object", "auto") == "auto" else [node["object"]]
        values = {**node.get("default_values", {}), **node["fields"]}
        for obj in objects:
            for field, value in values.items():
                meta = describe[obj].get(field)
                assert meta is not None, f"{file}:{node_id}: {obj}.{field} unknown"
                assert meta["updateable"] and meta["type"] not in ("reference", "multipicklist")
                if meta["type"] == "picklist" and "{{" not in str(value):
                    assert value in [p["value"] for p in meta["picklistValues"]], (file, field, value)


def test_example_hubspot_properties_exist_and_literals_fit():
    props = _hs_properties()
    for file, node_id, node in _nodes("sync_to_hubspot"):
        values = {**node.get("default_values", {}), **node["properties"]}
        for name, value in values.items():
            meta = props.get(name)
            assert meta is not None, f"{file}:{node_id}: {name} unknown"
            if meta["type"] == "enumeration" and "{{" not in str(value):
                assert meta["fieldType"] in ("select", "radio")
                assert value in [o["value"] for o in meta["options"]], (file, name, value)


# ---------------------------------------------------------------- an independent tool agrees

def _check_jsonschema(schema: str, files: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CHECK_JSONSCHEMA), "--schemafile", str(SCHEMAS / f"{schema}.schema.json"),
         *map(str, files)],
        capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("schema,files", [
    ("play", PLAY_FILES), ("playtest", TEST_FILES), ("integration", [INTEGRATION])],
    ids=["play", "playtest", "integration"])
def test_check_jsonschema_accepts_examples(schema, files):
    result = _check_jsonschema(schema, files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_jsonschema_accepts_demo_events(tmp_path):
    files = []
    for i, line in enumerate(DEMO_EVENTS.read_text().splitlines()):
        f = tmp_path / f"event{i:03d}.json"
        f.write_text(line)
        files.append(f)
    result = _check_jsonschema("event", files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_jsonschema_rejects_a_typo(tmp_path):
    bad = tmp_path / "bad.play.yaml"
    bad.write_text((PLAYS / "enrolled-contacted.play.yaml").read_text().replace("fields:", "feilds:"))
    result = _check_jsonschema("play", [bad])
    assert result.returncode == 1
    assert "feilds" in result.stdout


# ---------------------------------------------------------------- negative cases: precise errors

def _play() -> dict:
    return copy.deepcopy(load_yaml(PLAYS / "replied-to-lead-status.play.yaml"))


def test_unknown_key_in_a_node_is_one_precise_error():
    doc = _play()
    doc["nodes"]["mark_replied"]["overwite"] = ["Status"]
    errs = errors("play", doc)
    assert len(errs) == 1
    assert errs[0].validator == "additionalProperties"
    assert list(errs[0].path) == ["nodes", "mark_replied"]
    assert "overwite" in errs[0].message


def test_unknown_key_in_a_trigger_and_at_top_level():
    doc = _play()
    doc["trigger"]["sequence"] = ["Q4 Outbound"]
    doc["enable"] = True
    errs = errors("play", doc)
    assert [(e.validator, list(e.path)) for e in errs] == [
        ("additionalProperties", []), ("additionalProperties", ["trigger"])]


def test_unknown_node_type_and_condition_key():
    doc = _play()
    doc["nodes"]["mark_replied"]["type"] = "sync_to_salesfroce"
    doc["nodes"]["route"]["cases"][0]["when"]["Title"] = "VP"
    errs = errors("play", doc)
    assert [(e.validator, list(e.path)) for e in errs] == [
        ("enum", ["nodes", "mark_replied", "type"]),
        ("additionalProperties", ["nodes", "route", "cases", 0, "when"])]


def test_bad_status_and_classification_are_enum_errors_from_the_vocabulary_defs():
    schema = load_schema("play")
    doc = _play()
    doc["trigger"]["to"] = ["Completed Replied"]
    when = doc["nodes"]["route"]["cases"][0]["when"]
    when["sequence_status"] = {"not": "completed"}
    when["reply_classification"] = ["Willing To Meet"]
    errs = errors("play", doc)
    got = {tuple(e.path): e for e in errs}
    assert set(got) == {
        ("trigger", "to", 0),
        ("nodes", "route", "cases", 0, "when", "sequence_status", "not"),
        ("nodes", "route", "cases", 0, "when", "reply_classification", 0)}
    for path, e in got.items():
        assert e.validator == "enum"
        want = "classification" if "reply_classification" in path else "status"
        # the validator recognises vocabulary errors by the $defs they come from
        assert e.schema == schema["$defs"][want]
        assert e.validator_value == schema["$defs"][want]["enum"]


def test_condition_operators():
    doc = _play()
    when = doc["nodes"]["route"]["cases"][0]["when"]
    when.update({"contact.Title": {"contains": "VP"}, "event.url": {"exists": True},
                 "reply.tags": {"contains": "pricing"}, "message.subject": ["a", "b"],
                 "contact.Score": {"gt": 3}, "sequence": {"in": ["Q4 Outbound"]},
                 "event": "sequence_status_changed"})
    assert errors("play", doc) == []
    when["contact.Score"] = {"gt": 3, "lt": 9}
    assert [e.validator for e in errors("play", doc)] == ["maxProperties"]
    when["contact.Score"] = {"between": [3, 9]}
    assert [e.validator for e in errors("play", doc)] == ["additionalProperties"]


def test_ids_and_references():
    doc = _play()
    doc["play"] = "Replied_To_Lead"
    doc["nodes"]["Mark-Replied"] = doc["nodes"].pop("mark_replied")
    doc["nodes"]["stop"] = {"type": "branch", "cases": [{"when": {}, "goto": "stop"}]}
    paths = [list(e.path) for e in errors("play", doc)]
    assert ["play"] in paths and paths.count(["nodes"]) == 2


def test_schedule_trigger_needs_exactly_one_of_every_and_cron():
    doc = load_yaml(PLAYS / "weekly-engaged.play.yaml")
    doc["trigger"]["cron"] = "0 6 * * 1"
    assert [e.validator for e in errors("play", doc)] == ["oneOf"]
    del doc["trigger"]["every"]
    assert errors("play", doc) == []
    doc["trigger"]["audience"]["within"] = "2 weeks"
    assert [list(e.path) for e in errors("play", doc)] == [["trigger", "audience", "within"]]


def test_create_task_fields():
    doc = load_yaml(PLAYS / "reply-follow-up-task.play.yaml")
    doc["nodes"]["follow_up"]["due_in_days"] = -1
    doc["nodes"]["follow_up"]["crm"] = "pipedrive"
    assert sorted(e.validator for e in errors("play", doc)) == ["enum", "minimum"]


def test_integration_rejects_unknown_tracking_key_and_bad_writeback():
    doc = load_yaml(INTEGRATION)
    doc["salesforce"]["tracking_fields"]["open_count"] = "X__c"
    doc["salesforce"]["email_writeback"] = "email"
    doc["hubspot"]["sync_every"] = "15 minutes"
    got = sorted((e.validator, list(e.path)) for e in errors("integration", doc))
    assert got == [("additionalProperties", ["salesforce", "tracking_fields"]),
                   ("enum", ["salesforce", "email_writeback"]),
                   ("pattern", ["hubspot", "sync_every"])]


def test_integration_auth_pairs():
    doc = load_yaml(INTEGRATION)
    del doc["salesforce"]["instance_url"]
    assert [e.validator for e in errors("integration", doc)] == ["dependentRequired"]
    doc = load_yaml(INTEGRATION)
    del doc["salesforce"]["session_id"]
    doc["salesforce"].update(username="api@acme.io", password="${SF_PASSWORD}")
    assert [e.validator for e in errors("integration", doc)] == ["dependentRequired"]


def test_playtest_rejects_unknown_reason_and_key():
    doc = load_yaml(PLAYS / "replied-to-lead-status.no-match.test.yaml")
    doc["expect"]["skipped"][0]["reason"] = "missing_email"
    doc["expect"]["write"] = []
    got = sorted((e.validator, list(e.path)) for e in errors("playtest", doc))
    assert got == [("additionalProperties", ["expect"]),
                   ("enum", ["expect", "skipped", 0, "reason"])]


def test_events_are_structural_only():
    ok = {"id": "e1", "type": "reply_classified", "at": "2026-11-20T10:00:00+01:00",
          "contact": {"email": "ann@acme.io", "Custom_Score__c": 7},
          # D-VOC-2: unknown values arriving at run time are accepted
          "reply": {"classification": "Willing To Meet"}, "status": "completed"}
    assert errors("event", ok) == []
    for broken, validator_name in [
            ({k: v for k, v in ok.items() if k != "id"}, "required"),
            (dict(ok, type="email_forwarded"), "enum"),
            (dict(ok, at="2026-11-20 10:00"), "pattern"),
            (dict(ok, at="2026-11-20T10:00:00"), "pattern"),  # no zone
            (dict(ok, id=7), "type"),
            (dict(ok, reply={"clasification": "Positive"}), "additionalProperties")]:
        assert [e.validator for e in errors("event", broken)] == [validator_name]
