"""`plays schema`: the packaged schemas written out, their finite vocabularies as `enum`s equal to
`engine.language.vocab` (so an editor completes them), and the `--workspace` Play schema that knows
the CRM snapshot's fields: every example Play still validates against it, while a field-name typo or
a picklist value the CRM does not have is rejected."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from engine.language import vocab
from engine.workspace import load_workspace
from cli.schema_cmd import workspace_play_schema

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
PLAYS = ROOT / "plays"


def _load(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text())


def _yaml(text: str):
    y = YAML(typ="safe")
    y.version = (1, 2)
    return y.load(text)


def _plays(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = "import sys; from cli.main import app; app(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------- vocabularies are enums (complete in editors)

def test_schema_enums_equal_the_vocabulary():
    play = _load("play.schema.json")
    d = play["$defs"]
    assert d["status"]["enum"] == list(vocab.STATUSES)  # D-VOC-1
    assert d["classification"]["enum"] == list(vocab.CLASSIFICATIONS)  # D-VOC-2
    assert d["eventType"]["enum"] == [e.value for e in vocab.EventType]
    assert d["node"]["properties"]["type"]["enum"] == [k.value for k in vocab.NodeKind]
    assert d["trigger"]["properties"]["type"]["enum"] == [t.value for t in vocab.TriggerType]
    assert d["trigger_email_engagement"]["properties"]["events"]["items"]["enum"] == list(vocab.ENGAGEMENT_EVENTS)
    assert d["audience"]["properties"]["engaged"]["items"]["enum"] == list(vocab.ENGAGEMENT_EVENTS)
    assert d["node_create_task"]["properties"]["crm"]["enum"] == [c.value for c in vocab.Crm]
    # trigger filters and `when` refer to the vocabulary definitions
    assert d["trigger_sequence_status_changed"]["properties"]["to"]["items"] == {"$ref": "#/$defs/status"}
    assert d["trigger_sequence_status_changed"]["properties"]["from"]["items"] == {"$ref": "#/$defs/status"}
    assert d["trigger_reply_classified"]["properties"]["classifications"]["items"] == {"$ref": "#/$defs/classification"}
    assert d["when"]["properties"]["sequence_status"]["$ref"] == "#/$defs/statusCondition"
    assert d["when"]["properties"]["reply_classification"]["$ref"] == "#/$defs/classificationCondition"
    # inside `when` the value is still empty while typing, so the `if string then enum` of the
    # conditions cannot offer the values: `examples` (annotation only) lists them for completion
    assert d["statusCondition"]["examples"] == list(vocab.STATUSES)
    assert d["classificationCondition"]["examples"] == list(vocab.CLASSIFICATIONS)
    assert d["eventTypeCondition"]["examples"] == [e.value for e in vocab.EventType]
    event = _load("event.schema.json")
    assert event["properties"]["type"]["enum"] == [e.value for e in vocab.EventType]


# ---------------------------------------------------------------- the command

def test_schema_writes_the_packaged_schemas(tmp_path):
    done = _plays("schema", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("play", "integration", "playtest", "event"):
        written = json.loads((tmp_path / "out" / f"{name}.schema.json").read_text())
        assert written == _load(f"{name}.schema.json")
        Draft202012Validator.check_schema(written)
    assert "wrote out/play.schema.json" in done.stdout


def test_schema_workspace_without_snapshots_is_a_setup_error(tmp_path):
    (tmp_path / "plays").mkdir()
    done = _plays("schema", "--workspace", cwd=tmp_path)
    assert done.returncode == 2
    assert "no CRM field snapshots" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "schemas").exists()


@pytest.fixture(scope="module")
def ws_validator() -> Draft202012Validator:
    schema = workspace_play_schema(_load("play.schema.json"), load_workspace([str(PLAYS)]).crm_objects)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.mark.parametrize("path", sorted(PLAYS.glob("*.play.yaml")), ids=lambda p: p.name)
def test_workspace_schema_accepts_every_example_play(ws_validator, path):
    errors = [e.message for e in ws_validator.iter_errors(_yaml(path.read_text()))]
    assert errors == []


SF_PLAY = """\
play: p
trigger: {type: sequence_status_changed, to: ["Completed: Replied"]}
start: w
nodes:
  w:
    type: sync_to_salesforce
    object: {object}
    fields: {fields}
"""


def _sf(obj: str, fields: str) -> dict:
    return _yaml(SF_PLAY.replace("{object}", obj).replace("{fields}", fields))


def _messages(v: Draft202012Validator, doc) -> str:
    return " | ".join(sorted(e.message for e in v.iter_errors(doc)))


@pytest.mark.parametrize("obj", ["Lead", "Contact", "auto"])
def test_workspace_schema_rejects_a_field_typo(ws_validator, obj):
    assert _messages(ws_validator, _sf(obj, "{Unify_Reply_Classification__c: Positive}")) == ""
    assert "Unify_Reply_Clasification__c" in _messages(ws_validator, _sf(obj, "{Unify_Reply_Clasification__c: x}"))


def test_workspace_schema_picklist_values(ws_validator):
    assert _messages(ws_validator, _sf("Lead", "{Status: Replied}")) == ""
    assert _messages(ws_validator, _sf("Lead", "{Status: '{{ reply.classification }}'}")) == ""
    assert "Repplied" in _messages(ws_validator, _sf("Lead", "{Status: Repplied}"))


def test_workspace_schema_knows_hubspot_properties(ws_validator):
    doc = _yaml("play: p\ntrigger: {type: reply_classified}\nstart: h\nnodes:\n  h:\n"
                "    type: sync_to_hubspot\n    properties: {hs_lead_status: OPEN_DEAL}\n")
    assert _messages(ws_validator, doc) == ""
    doc["nodes"]["h"]["properties"] = {"hs_lead_stauts": "OPEN_DEAL"}
    assert "hs_lead_stauts" in _messages(ws_validator, doc)
    doc["nodes"]["h"]["properties"] = {"hs_lead_status": "OPEN_DEEL"}
    assert "OPEN_DEEL" in _messages(ws_validator, doc)


def test_schema_workspace_command_writes_the_narrowed_play_schema(tmp_path):
    done = _plays("schema", "--workspace", "--plays", str(PLAYS), "--out", str(tmp_path / "s"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    play = json.loads((tmp_path / "s" / "play.schema.json").read_text())
    assert "sf_fields_Lead" in play["$defs"] and "hs_properties" in play["$defs"]
    assert "salesforce Contact/Lead" in done.stdout


def test_workspace_integration_schema_knows_the_fields():
    from cli.schema_cmd import workspace_integration_schema

    schema = workspace_integration_schema(_load("integration.schema.json"), load_workspace([str(PLAYS)]).crm_objects)
    Draft202012Validator.check_schema(schema)
    v = Draft202012Validator(schema)
    doc = _yaml((PLAYS / "integration.yaml").read_text())
    assert _messages(v, doc) == ""
    doc["salesforce"]["owned_fields"].append("Unify_Most_Recent_Ply__c")
    doc["hubspot"]["default_values"]["lifecyclestag"] = "lead"
    text = _messages(v, doc)
    assert "Unify_Most_Recent_Ply__c" in text and "lifecyclestag" in text
