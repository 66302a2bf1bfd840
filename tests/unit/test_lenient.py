"""Every problem in one run, each once: schema findings merged (engine/language/schema_merge.py), Plays and
integration settings built leniently from their valid parts (engine/language/lenient.py), and the graph and
content checks that run on them (engine/language/graph.py, engine/checks, engine/workspace.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.language import graph, schema_check
from engine.language.checks import check_play
from engine.language.lenient import Loose, build_partial_integration, build_partial_play, is_uncertain
from engine.language.loader import load_yaml
from engine.language.metadata import salesforce_objects
from engine.language.model import DEFAULT_INTEGRATION, STOP, build_play
from engine.language.vocab import NodeKind
from engine.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
INTEG = """salesforce:
  schema_file: crm/salesforce.describe.json
hubspot:
  schema_file: crm/hubspot.properties.json
"""
BASE = """\
play: p
trigger:
  type: sequence_status_changed
  to: ["Completed: Replied"]
start: route
nodes:
  route:
    type: branch
    cases:
      - when: {reply_classification: Positive}
        goto: mark
    default: stop
  mark:
    type: sync_to_salesforce
    object: Lead
    fields:
      Status: Replied
    next: stop
"""
BRIEF = """\
play: bad-one
trigger: {type: sequence_status_changed, to: ["Completed Replied"]}
start: route
nodes:
  route:
    type: branch
    cases:
      - when: {reply_classification: "Willing To Meet"}
        goto: sync_sf
    default: stop
  sync_sfdc:
    type: sync_to_salesforce
    object: Lead
    feilds: {Status: Replied}
  other:
    type: sync_to_salesforce
    object: Lead
    fields: {Status: "{{ reply.classification }}", Unify_Interests__c: x, NumberOfEmployees: lots, Titel: x}
"""


def _doc(text: str, file: str = "p.play.yaml"):
    doc, problems = load_yaml(text, file)
    assert not problems, problems
    return doc


def _findings(text: str, kind: str = "play"):
    doc = _doc(text)
    return doc, schema_check.findings(doc, kind)


def _short(text: str, kind: str = "play") -> list[tuple[str, str, str | None]]:
    return [(f.diag.code, f.diag.message, f.diag.hint) for f in _findings(text, kind)[1] if f.diag]


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], integ: str | None = INTEG):
    shutil.copytree(ROOT / "plays" / "crm", tmp_path / "crm")
    if integ is not None:
        (tmp_path / "integration.yaml").write_text(integ)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return load_workspace(["."])


def codes(ws) -> list[str]:
    return [d.code for d in ws.diagnostics]


# -- merging schema findings -------------------------------------------------------------------

def test_misspelt_required_key_is_reported_once_as_unknown():
    out = _short(BASE.replace("    fields:", "    feilds:"))
    assert out == [("SCHEMA001", "unknown key 'feilds'", "did you mean 'fields'?")]
    out = _short(BASE.replace("play: p", "paly: p"))
    assert out == [("SCHEMA001", "unknown key 'paly'", "did you mean 'play'?")]


def test_a_word_for_another_key_is_suggested_and_merged_with_missing():
    text = BASE.replace("type: sync_to_salesforce\n    object: Lead\n", "type: sync_to_hubspot\n")
    out = _short(text.replace("Status: Replied", "hs_lead_status: OPEN"))
    assert len(out) == 1 and out[0][:2] == ("SCHEMA001", "unknown key 'fields'")
    assert out[0][2].startswith("did you mean 'properties'?") and "sync_to_salesforce" in out[0][2]


def test_key_of_another_type_names_the_type():
    out = _short(BASE.replace("    object: Lead\n", "    object: Lead\n    subject: Call\n"))
    assert out == [("SCHEMA001", "unknown key 'subject'",
                    "'subject' is a key of create_task nodes, not of sync_to_salesforce")]


def test_keys_not_indented_under_an_empty_key_are_one_report():
    out = _short(BASE.replace("      Status: Replied\n", "    Status: Replied\n    Rating: Hot\n    Title: x\n"))
    assert out == [("SCHEMA001", "unknown key 'Status'",
                    "indent it and the 2 keys after it under 'fields:' above, which is empty")]


def test_node_keys_not_indented_under_the_node_are_one_report_and_not_nodes():
    text = BASE.replace("  mark:\n    type: sync_to_salesforce\n    object: Lead\n    fields:\n      Status: Replied\n"
                        "    next: stop\n", "  mark:\n  type: sync_to_salesforce\n  object: Lead\n  fields: {Status: x}\n")
    doc, found = _findings(text)
    assert [(f.diag.code, f.diag.line, f.diag.hint) for f in found if f.diag] == \
        [("SCHEMA003", 14, "indent type, object, fields under 'mark:'")]
    partial = build_partial_play(doc.data, found, doc.file)
    assert set(partial.play.nodes) == {"route", "mark"} and partial.loose.opaque == {"mark"}


def test_reference_to_a_badly_named_node_is_reported_at_the_node_only():
    out = _short(BASE.replace("  mark:", "  Mark:").replace("goto: mark", "goto: Mark"))
    assert [c for c, _m, _h in out] == ["SCHEMA005"] and "key 'Mark' of 'nodes'" in out[0][1]


def test_wrong_type_is_not_also_checked_against_rules_of_the_right_type():
    out = _short(BASE.replace('  type: sequence_status_changed\n  to: ["Completed: Replied"]', "  - schedule"))
    assert out == [("SCHEMA003", "'trigger' must be a mapping, not a list", None)]


@pytest.mark.parametrize("old,new,hint", [
    ('  to: ["Completed: Replied"]', "  to: [Completed: Replied]", 'quote it, "Completed: Replied"'),
    ('  to: ["Completed: Replied"]', '  to: "Completed: Replied"', 'write a list, even of one item: ["Completed: Replied"]'),
    ("Status: Replied", "Status: { reply.classification }", '"{{ reply.classification }}"'),
    ("      Status: Replied", "      - Status: Replied", "without '- '"),
    ("play: p", "play: p\nenabled: yes", "write true or false"),
])
def test_common_yaml_slips_get_a_hint(old, new, hint):
    out = _short(BASE.replace(old, new))
    assert len(out) == 1 and hint in (out[0][2] or ""), out


def test_list_items_are_named_by_position():
    out = _short(BASE.replace("        goto: mark\n", ""))
    assert out == [("SCHEMA002", "missing required key 'goto' in item 1 of 'cases'", None)]


# -- building a Play leniently -----------------------------------------------------------------

def test_opaque_nodes_keep_their_id_and_readable_edges():
    doc, found = _findings(BRIEF)
    partial = build_partial_play(doc.data, found, doc.file)
    assert list(partial.play.nodes) == ["route", "sync_sfdc", "other"]
    assert partial.loose.opaque == {"sync_sfdc"} and partial.trigger_ok and partial.loose.start_ok
    assert list(partial.content.nodes) == ["route", "other"]
    assert dict(partial.play.nodes["other"].fields)["NumberOfEmployees"] == "lots"


def test_misspelt_edge_keys_give_probable_targets():
    text = BASE.replace("    next: stop", "    nxt: extra") + "  extra:\n    type: branch\n    cases: [{goto: stop}]\n"
    doc, found = _findings(text)
    partial = build_partial_play(doc.data, found, doc.file)
    assert partial.loose.probable == {"mark": frozenset({"extra"})}
    assert partial.loose.opaque == {"mark", "extra"}  # `extra`'s case has no `when`
    assert partial.loose.unknown == frozenset()  # ... but its `goto` can be read
    assert partial.play.nodes["extra"].cases[0].goto == STOP


def test_unreadable_edges_are_unknown_and_guessed_kinds_write_nowhere():
    text = BASE.replace("        goto: mark\n", "").replace("type: sync_to_salesforce", "type: sync_to_salesfroce")
    doc, found = _findings(text)
    partial = build_partial_play(doc.data, found, doc.file)
    assert partial.loose.unknown == {"route"}
    mark = partial.play.nodes["mark"]
    assert mark.kind == NodeKind.SYNC_TO_SALESFORCE and mark.crm is None and not mark.fields


def test_broken_trigger_and_start_are_flagged():
    text = BASE.replace('  to: ["Completed: Replied"]', "  to: Replied").replace("start: route\n", "")
    doc, found = _findings(text)
    partial = build_partial_play(doc.data, found, doc.file)
    assert not partial.trigger_ok and not partial.loose.start_ok and partial.play.start == ""


def test_node_named_stop_and_non_mapping_nodes_never_crash():
    doc, found = _findings("play: p\ntrigger: {type: sequence_enrolled}\nstart: stop\nnodes: {stop: {type: x}, a: 1}\n")
    partial = build_partial_play(doc.data, found, doc.file)
    assert list(partial.play.nodes) == ["a"] and partial.loose.unknown == {"a"}
    assert build_partial_play(["a list"], [], "p.play.yaml") is None


# -- the graph check on a lenient Play ---------------------------------------------------------

def _pos(path, key=False):
    return (len(path), 1 if key else 2)


def _graph(nodes: dict, loose: Loose | None = None):
    play = build_play({"play": "p", "trigger": {"type": "sequence_enrolled"}, "start": "a", "nodes": nodes})
    return [(d.code, d.message) for d in graph.check(play, _pos, "p.play.yaml", loose)]


def _sync(next_: str = STOP) -> dict:
    return {"type": "sync_to_salesforce", "fields": {"Title": "CEO"}, "next": next_}


def test_probable_edges_make_nodes_reachable():
    nodes = {"a": _sync(), "b": _sync("c"), "c": _sync()}
    assert [c for c, _m in _graph(nodes)] == ["GRAPH004", "GRAPH004"]
    assert _graph(nodes, Loose(opaque=frozenset({"a"}), probable={"a": frozenset({"b"})})) == []


def test_an_unreadable_edge_turns_unreachable_off_and_opaque_nodes_can_stop():
    nodes = {"a": _sync("b"), "b": _sync("b"), "c": _sync()}
    assert _graph(nodes, Loose(opaque=frozenset({"a"}), unknown=frozenset({"a"}))) == \
        [("GRAPH003", "cycle: b --> b")]
    assert ("GRAPH005", "node 'a' has no way to reach stop") in _graph({"a": _sync("b"), "b": _sync("b")})
    assert ("GRAPH005", "node 'a' has no way to reach stop") not in \
        _graph({"a": _sync("b"), "b": _sync("b")}, Loose(opaque=frozenset({"a"})))


def test_dangling_reference_counts_as_going_to_the_node_it_meant_and_beyond():
    nodes = {"a": _sync("mrak"), "mark": _sync("after"), "after": _sync()}
    assert [c for c, _m in _graph(nodes)] == ["GRAPH001"]


def test_broken_start_reports_no_unknown_start():
    play = build_play({"play": "p", "trigger": {"type": "sequence_enrolled"}, "start": "", "nodes": {"a": _sync()}})
    assert graph.check(play, _pos, "p.play.yaml", Loose(start_ok=False)) == []


# -- integration settings built leniently ------------------------------------------------------

def test_integration_drops_only_broken_settings_and_entries():
    text = ("salesforce:\n  schema_file: crm/salesforce.describe.json\n  default_value: {Status: Open}\n"
            "  default_values: {LeadSource: Unify, 'Bad Name': x, Rating: {a: b}}\n  enhanced_email: yes\n"
            "hubspott: {}\n")
    doc, found = _findings(text, "integration")
    partial = build_partial_integration(doc.data, found, "integration.yaml")
    sf = partial.integration.salesforce
    assert sf.schema_file == "crm/salesforce.describe.json" and dict(sf.default_values) == {"LeadSource": "Unify"}
    u = partial.uncertain
    assert is_uncertain(u, "salesforce", "default_values", "Rating") and is_uncertain(u, "salesforce", "enhanced_email")
    assert is_uncertain(u, "hubspot") and not is_uncertain(u, "salesforce", "schema_file")
    assert is_uncertain(u, "salesforce", "default_values", "LeadSource")  # `default_value` may be meant


def test_check_play_on_a_partial_play_skips_opaque_nodes_and_uncertain_defaults():
    doc, found = _findings(BRIEF)
    partial = build_partial_play(doc.data, found, doc.file)
    objects = {"salesforce": salesforce_objects(
        json.loads((ROOT / "plays" / "crm" / "salesforce.describe.json").read_text()))}
    out = [d.code for d in check_play(doc, partial, DEFAULT_INTEGRATION, objects)]
    assert sorted(out) == ["FIELD001", "FIELD002", "FIELD003", "FIELD005", "GRAPH001", "GRAPH004"]
    out = [d.code for d in check_play(doc, partial, DEFAULT_INTEGRATION, objects,
                                      frozenset({("salesforce", "default_values")}))]
    assert "FIELD003" not in out


# -- through the workspace ---------------------------------------------------------------------

def test_the_brief_file_reports_every_problem_once(tmp_path, monkeypatch):
    ws = run(tmp_path, monkeypatch, {"p.play.yaml": BRIEF})
    assert codes(ws) == ["VOCAB001", "VOCAB002", "GRAPH001", "SCHEMA001", "GRAPH004",
                         "FIELD003", "FIELD002", "FIELD005", "FIELD001"]
    assert ws.plays == {} and ws.built == {}  # nothing with errors runs or is drawn


def test_integration_typo_keeps_field_checks_and_hides_consequences(tmp_path, monkeypatch):
    integ = INTEG.replace("hubspot:", "hubspott:").replace(
        "  schema_file: crm/salesforce.describe.json",
        "  schema_file: crm/salesforce.describe.json\n  default_value: {Status: Open}\n"
        "  email_writeback: email_message\n  enhanced_email: yes")
    text = BASE.replace("Status: Replied", "Status: '{{ reply.classification }}'\n      Titel: x") + \
        "  hub:\n    type: sync_to_hubspot\n    properties: {x: 1}\n"
    ws = run(tmp_path, monkeypatch, {"p.play.yaml": text}, integ)
    assert codes(ws) == ["SCHEMA001", "SCHEMA003", "SCHEMA001", "FIELD001", "GRAPH004"]
    assert ws.integration is DEFAULT_INTEGRATION and ws.crm_objects == {}  # nothing runs with it


def test_schema_file_typo_is_not_also_a_missing_schema_file(tmp_path, monkeypatch):
    ws = run(tmp_path, monkeypatch, {"p.play.yaml": BASE}, INTEG.replace("  schema_file: crm/sal", "  schemafile: crm/sal"))
    assert codes(ws) == ["SCHEMA001"]


def test_test_file_with_errors_still_names_an_unknown_play(tmp_path, monkeypatch):
    test = "test: t\nplay: q\nevents: []\nexpect: {write: []}\n"
    ws = run(tmp_path, monkeypatch, {"p.play.yaml": BASE, "p.test.yaml": test})
    assert codes(ws) == ["PLAY002", "SCHEMA001"] and ws.tests == []


MUTATIONS = ("", "[x]", "{a: b}", "null", "1", "yes", "Mark", "'{{ contact.Nope }}'", "[Completed: Replied]")


def test_no_mutation_of_a_play_crashes_the_checks():
    """Every line of a Play with its value replaced, its key misspelt, deleted or re-indented:
    the checks never raise, and every file with a schema error still gets a diagnostic."""
    objects = {"salesforce": salesforce_objects(
        json.loads((ROOT / "plays" / "crm" / "salesforce.describe.json").read_text()))}
    lines = (BASE + "  extra:\n    type: create_task\n    crm: salesforce\n    subject: hi\n").split("\n")
    variants = []
    for i, line in enumerate(lines):
        key, colon, _value = line.partition(":")
        if colon:
            variants += [lines[:i] + [f"{key}: {m}"] + lines[i + 1:] for m in MUTATIONS]
            variants.append(lines[:i] + [key + "x:" + _value] + lines[i + 1:])
        variants.append(lines[:i] + lines[i + 1:])
        variants.append(lines[:i] + ["  " + line] + lines[i + 1:])
    assert len(variants) > 150
    for v in variants:
        doc, problems = load_yaml("\n".join(v), "p.play.yaml")
        if doc is None:
            continue
        found = schema_check.findings(doc, "play")
        partial = build_partial_play(doc.data, found, doc.file)
        if partial is not None:
            check_play(doc, partial, DEFAULT_INTEGRATION, objects)
        assert not found or any(f.diag for f in found)


def test_unknown_play_hint_names_files_whose_id_cannot_be_read(tmp_path, monkeypatch):
    broken = BASE.replace("play: p", "paly: p")
    test = "test: t\nplay: {pid}\nevents: []\nexpect: {{writes: []}}\n"
    ws = run(tmp_path, monkeypatch, {"p.play.yaml": broken, "p.test.yaml": test.format(pid="p"),
                                     "x.test.yaml": test.format(pid="x")})
    assert [(d.code, d.file, d.hint) for d in ws.diagnostics] == [
        ("SCHEMA001", "p.play.yaml", "did you mean 'play'?"),
        ("PLAY002", "x.test.yaml", "known Plays: none; the id of p.play.yaml cannot be read")]


@pytest.mark.parametrize("old,new,hint", [
    ("    object: Lead", "      object: Lead", "line 15 is indented deeper than the line above ('type: ...')"),
    ("        goto: mark", "        goto: Completed: Replied", "a value containing ': ' must be quoted"),
    ("    next: stop", "   next: stop", "the keys of one mapping start in the same column"),
    ("Status: Replied", "Status: {{ reply.classification }}", 'quote templates: "{{ reply.classification }}"'),
])
def test_yaml_errors_say_whether_to_indent_or_to_quote(old, new, hint):
    doc, problems = load_yaml(BASE.replace(old, new), "p.play.yaml")
    assert doc is None and [p.code for p in problems] == ["YAML001"] and hint in problems[0].hint
