"""The loader (engine/language/loader.py): positions of every value and key, YAML 1.2 semantics, safety
limits (tags, aliases, size, depth) and duplicate keys as coded diagnostics, never exceptions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from engine.language.loader import MAX_ALIASES, MAX_BYTES, MAX_DEPTH, load_file, load_yaml

TEXT = """\
play: p
trigger:
  type: sequence_status_changed
  to: ["Completed: Replied", Engaged]
nodes:
  mark:
    fields:
      Status: Replied
"""


def _codes(text: str) -> list[str]:
    doc, diags = load_yaml(text, "x.yaml")
    return [d.code for d in diags]


def test_positions_of_values_and_keys():
    doc, diags = load_yaml(TEXT, "x.yaml")
    assert diags == [] and doc is not None
    assert doc.data["trigger"]["to"] == ["Completed: Replied", "Engaged"]
    assert doc.pos(("play",)) == (1, 7)
    assert doc.pos(("play",), key=True) == (1, 1)
    assert doc.pos(("trigger", "to", 0)) == (4, 8)
    assert doc.pos(("trigger", "to", 1)) == (4, 30)
    assert doc.pos(("nodes", "mark", "fields", "Status")) == (8, 15)
    assert doc.pos(("nodes", "mark", "fields", "Status"), key=True) == (8, 7)


def test_pos_falls_back_to_nearest_ancestor():
    doc, _ = load_yaml(TEXT, "x.yaml")
    assert doc.pos(("nodes", "mark", "fields", "Nope")) == doc.pos(("nodes", "mark", "fields"))
    assert doc.pos(("nodes", "missing"), key=True) == doc.pos(("nodes",))
    assert doc.pos(()) == (1, 1)


def test_yaml_1_2_semantics():
    doc, diags = load_yaml("a: yes\nb: no\nc: on\nd: true\ne: 0o17\nf: ~\ng: 1.5\nh: 2026-11-20\ni: 1_000\n", "x")
    assert diags == []
    assert doc.data == {"a": "yes", "b": "no", "c": "on", "d": True, "e": 15, "f": None, "g": 1.5,
                        "h": "2026-11-20", "i": 1000}


def test_env_references_stay_references():
    doc, _ = load_yaml("token: ${HUBSPOT_TOKEN}\nurl: \"${SF_URL}\"\n", "x")
    assert doc.data == {"token": "${HUBSPOT_TOKEN}", "url": "${SF_URL}"}


def test_anchors_aliases_and_merge_keys_are_allowed():
    doc, diags = load_yaml("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\nlist: [*b, *b]\n", "x")
    assert diags == []
    assert doc.data["use"] == {"x": 1, "y": 3}
    assert doc.data["list"] == [{"x": 1, "y": 2}] * 2


def test_duplicate_key_is_an_error_with_both_lines():
    doc, diags = load_yaml("a: 1\nb: 2\na: 3\n", "x")
    assert doc is None
    assert [(d.code, d.line, d.col, d.hint) for d in diags] == [("YAML007", 3, 1, "first defined at line 1")]


@pytest.mark.parametrize("text", [
    "a: !!python/object/apply:os.system ['echo hi']\n",
    "a: !!python/name:os.system\n",
    "a: !custom 1\n",
    "!!python/object:__main__.X {}\n",
])
def test_object_tags_are_refused(text):
    assert _codes(text) == ["YAML004"]


def test_alias_bomb_is_refused_quickly():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    assert _codes("\n".join(lines) + "\n") == ["YAML003"]


def test_many_aliases_are_refused():
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 5)) + "]\n"
    assert _codes(text) == ["YAML003"]


def test_depth_limit_flow_and_block():
    assert _codes("a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n") == ["YAML006"]
    block = "".join("  " * i + f"k{i}:\n" for i in range(MAX_DEPTH + 5)) + "  " * (MAX_DEPTH + 5) + "v\n"
    assert _codes(block) == ["YAML006"]


def test_size_limit():
    assert _codes("# x\n" * (MAX_BYTES // 4 + 10)) == ["YAML005"]


def test_tabs_are_a_coded_error():
    doc, diags = load_yaml("a:\n\tb: 1\n", "x")
    assert [(d.code, d.line) for d in diags] == [("YAML002", 2)]


@pytest.mark.parametrize("text,code", [
    ("", "YAML008"), ("# only a comment\n", "YAML008"),
    ("a: 1\n---\nb: 2\n", "YAML009"),
    ("a: [1, 2\n", "YAML001"),
    ("a: *nope\n", "YAML001"),
    ("a: b: c\n", "YAML001"),
])
def test_other_errors_are_coded(text, code):
    assert _codes(text) == [code]


def test_undefined_alias_has_a_hint():
    _, diags = load_yaml("a: *nope\n", "x")
    assert "anchor" in diags[0].hint


def test_load_file_names_the_file_as_given(tmp_path: Path):
    p = tmp_path / "a.play.yaml"
    p.write_text("play: p\n")
    doc, diags = load_file(p, "plays/a.play.yaml")
    assert diags == [] and doc.file == "plays/a.play.yaml"


def test_load_file_errors(tmp_path: Path):
    bad = tmp_path / "latin.yaml"
    bad.write_bytes("a: caf\xe9\n".encode("latin-1"))
    assert [d.code for d in load_file(bad)[1]] == ["YAML011"]
    assert [d.code for d in load_file(tmp_path / "missing.yaml")[1]] == ["YAML010"]
    assert [d.code for d in load_file(tmp_path)[1]] == ["YAML010"]
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_BYTES + 1))
    assert [d.code for d in load_file(big)[1]] == ["YAML005"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!#'\"\t\n ,?|>%@`~0")), max_size=80))
def test_any_text_gives_a_document_or_coded_diagnostics(text):
    doc, diags = load_yaml(text, "x")
    assert (doc is None) == bool(diags)
    for d in diags:
        assert d.code.startswith("YAML") and d.line >= 1 and d.col >= 1
