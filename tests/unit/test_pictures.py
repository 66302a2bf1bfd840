"""The pictures drawn without Graphviz: the layered layout (engine/language/layout.py), the picture
model (render_graph.diagram: what each box says and writes) and the SVG (engine/language/svg.py),
and `plays graph --format svg`. Checked on the example Plays and on generated graphs: every node
and every reference is drawn, boxes never overlap, routes join the boxes they connect."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from typer.testing import CliRunner

from cli.main import app
from engine.language.graph import edges
from engine.language.layout import Box, Link, _isotonic, layout
from engine.language.model import build_play
from engine.language.render_graph import (BLANK_ONLY, OVERWRITE, OWNED, condition_sentence, diagram, node_notes,
                                          trigger_sentence)
from engine.language.svg import render, text_width
from engine.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def ws():
    return load_workspace([str(ROOT / "plays")])


def _overlap(a, b) -> bool:
    return not (a.left + a.width <= b.left or b.left + b.width <= a.left or
                a.top + a.height <= b.top or b.top + b.height <= a.top)


def _check_layout(boxes, links, lay):
    placed = list(lay.boxes.values())
    for i, a in enumerate(placed):
        assert a.left >= 0 and a.top >= 0 and a.left + a.width <= lay.width + 0.01
        for b in placed[i + 1:]:
            assert not _overlap(a, b), (a, b)
    for link, route in zip(links, lay.routes):
        assert route.link == link
        if link.src == link.dst:
            continue
        src, dst = lay.boxes[link.src], lay.boxes[link.dst]
        start, end = (route.points[0], route.points[-1])
        if lay.ranks[link.src] < lay.ranks[link.dst]:  # forward: bottom of the source, top of the target
            assert start[1] == pytest.approx(src.top + src.height) and end[1] == pytest.approx(dst.top)
            assert src.left <= start[0] <= src.left + src.width and dst.left <= end[0] <= dst.left + dst.width
        if link.label:
            assert route.label_at is not None
            w, h = link.label
            label = type(src)("label", route.label_at[0], route.label_at[1], w, h)
            assert not any(_overlap(label, b) for b in placed)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "plays").glob("*.play.yaml")))
def test_every_example_play_is_drawn_whole(ws, name: str):
    file = str(ROOT / "plays" / name)
    play = ws.built[file]
    svg, lay = render(diagram(play, ws.integration, ws.crm_objects))
    root = ET.fromstring(svg)
    nodes = [g.get("data-node") for g in root.iter(SVG + "g") if "node" in (g.get("class") or "").split()]
    assert set(nodes) == set(play.nodes) | {"__trigger", "__stop"}
    assert sorted(n for n in nodes if n != "__stop") == sorted(list(play.nodes) + ["__trigger"])
    arrows = [(p.get("data-from"), p.get("data-to")) for p in root.iter(SVG + "path")
              if "edge" in (p.get("class") or "").split()]
    want = [("__trigger", play.start)] + [(s, "__stop" if d == "stop" else d) for s, d, _p, _l in edges(play)]
    assert sorted((a, b.rstrip("0123456789") if b.startswith("__stop") else b) for a, b in arrows) == sorted(want)
    assert lay.crossings == 0
    boxes = [Box(k, p.width, p.height) for k, p in lay.boxes.items()]
    _check_layout(boxes, [r.link for r in lay.routes], lay)


def test_what_a_sync_node_writes(ws):
    play = ws.plays["replied-to-lead-status"]
    d = diagram(play, ws.integration, ws.crm_objects, node_notes(ws.play_docs[play.id].data))
    shape = next(s for s in d.shapes if s.id == "mark_replied")
    writes = {w.field: w for w in shape.writes}
    assert writes["Status"].mode == BLANK_ONLY and writes["Status"].picklist and writes["Status"].value == "Replied"
    klass = writes["Unify_Reply_Classification__c"]
    assert klass.mode == OWNED and klass.template and klass.default == "Neutral"  # D-WB-1, D-FT-3
    assert writes["LeadSource"].source == "integration default" and writes["LeadSource"].mode == BLANK_ONLY  # D-WB-7
    assert next(s for s in d.shapes if s.id == "route").lines == ("Pick the Lead Status from the reply classification",)
    labels = [tuple(line.replace("\u00a0", " ") for line in a.label) for a in d.arrows if a.src == "route"]
    assert labels[0] == ("if sequence status is Completed: Replied",
                         "and reply classification is Willing to meet or Positive")
    assert labels[-1] == ("otherwise",)
    assert trigger_sentence(play) == ["When a contact's sequence status changes to Completed:\u00a0Replied"]


def test_overwrite_opt_in_and_unknown_objects_are_drawn():
    data = {"play": "p", "trigger": {"type": "email_engagement", "events": ["opened", "clicked"]}, "start": "a",
            "nodes": {"a": {"type": "sync_to_salesforce", "object": "Contact", "fields": {"Title": "CEO"},
                            "overwrite": ["Title"], "next": "nowhere"}}}
    play = build_play(data, "p.play.yaml")
    d = diagram(play)
    assert d.shapes[1].writes[0].mode == OVERWRITE
    assert any(s.kind == "missing" and s.title == "missing: nowhere" for s in d.shapes)
    assert any(a.missing for a in d.arrows)
    assert trigger_sentence(play) == ["When a contact opens or clicks an email"]
    svg, _ = render(d)
    assert "edge-missing" in svg and "overwrite" in svg
    ET.fromstring(svg)


@pytest.mark.parametrize("value, text", [
    ({"reply_classification": "Positive"}, "reply classification is Positive"),
    ({"reply_classification": ["A", "B", "C"]}, "reply classification is A, B or C"),
    ({"sequence_status": {"not": ["A", "B"]}}, "sequence status is not A nor B"),
    ({"contact.Title": {"contains": "VP"}}, "contact.Title contains VP"),
    ({"contact.title": {"exists": False}}, "contact.title is not set"),
])
def test_conditions_in_plain_words(value, text):
    data = {"play": "p", "trigger": {"type": "sequence_enrolled"}, "start": "b",
            "nodes": {"b": {"type": "branch", "cases": [{"when": value, "goto": "stop"}]}}}
    play = build_play(data, "p.play.yaml")
    assert condition_sentence(play.nodes["b"].cases[0].when[0]).replace("\u00a0", " ") == text


def test_a_cycle_and_a_self_loop_are_laid_out():
    boxes = [Box(i, 80, 40) for i in "abc"]
    links = [Link("a", "b"), Link("b", "c", (60, 20)), Link("c", "a"), Link("c", "c")]
    lay = layout(boxes, links)
    assert lay.ranks == {"a": 0, "b": 2, "c": 4}
    back = lay.routes[2]
    assert back.points[0][1] > back.points[-1][1]  # drawn upwards, from c to a
    _check_layout(boxes, links, lay)


def test_isotonic_keeps_order_and_gaps():
    assert _isotonic([0, 0, 0], [1, 1, 1], [0, 10, 20]) == pytest.approx([-10, 0, 10])
    assert _isotonic([0, 50, 100], [1, 1, 1], [0, 10, 20]) == pytest.approx([0, 50, 100])


def test_barycentre_removes_avoidable_crossings():
    # two chains given interleaved: a1 -> b2, a2 -> b1 must not cross
    boxes = [Box("a1", 50, 20), Box("a2", 50, 20), Box("b1", 50, 20), Box("b2", 50, 20), Box("r", 50, 20)]
    links = [Link("r", "a1"), Link("r", "a2"), Link("a2", "b1"), Link("a1", "b2"), Link("r", "b1")]
    lay = layout(boxes, links)
    assert lay.crossings == 0
    _check_layout(boxes, links, lay)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11), st.booleans()), max_size=24))
def test_generated_graphs_never_overlap(pairs):
    ids = [f"n{i}" for i in range(12)]
    boxes = [Box(i, 40 + 13 * (k % 5), 20 + 7 * (k % 3)) for k, i in enumerate(ids)]
    links = [Link(ids[a], ids[b], (70, 18) if lab else None) for a, b, lab in pairs]
    _check_layout(boxes, links, layout(boxes, links))


def test_text_width_is_arial():
    assert text_width("Status", 12) == pytest.approx(12 * (667 + 278 + 556 + 278 + 556 + 500) / 1000)


def test_cli_graph_svg_needs_no_graphviz(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "g.svg"
    result = CliRunner().invoke(app, ["graph", "replied-to-lead-status", "-f", "svg", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    root = ET.fromstring(out.read_text())
    assert root.get("data-play") == "replied-to-lead-status"
    assert "Pick the Lead Status" in out.read_text() and "owned" in out.read_text()


def test_the_path_of_a_run_through_a_play(ws):
    from engine.language.run_view import run_path_markdown

    play = ws.plays["replied-to-lead-status"]
    rows = {"writes": [{"play": play.id, "node": "mark_replied", "email": "Ann@acme.io ", "crm": "salesforce",
                        "object": "Lead", "record": "L1", "field": f} for f in ("Status", "LeadSource")],
            "kept": [{"play": play.id, "node": "mark_nurturing", "email": "bo@acme.io"}],
            "skipped": [{"play": "other", "node": "mark_nurturing", "email": "cy@acme.io"}]}
    text = run_path_markdown(play, 6, rows, "http://docs/plays/replied-to-lead-status.html")
    lines = text.splitlines()
    assert "**When a contact's sequence status changes to Completed: Replied**: 6 events in this run." in lines
    assert "| `route` | Branch | 2 | → mark_replied 1; → mark_nurturing 1; → mark_unqualified 0 |" in lines
    assert "| `mark_replied` | Update the Salesforce Lead | 1 | 1 record written (2 fields) |" in lines
    assert "| `mark_nurturing` | Update the Salesforce Lead | 1 | 1 kept (not blank) |" in lines
    assert "| `mark_unqualified` | Update the Salesforce Lead | 0 | — |" in lines
    assert lines[-1].endswith("(http://docs/plays/replied-to-lead-status.html)")


def test_deployment_description_links_the_docs_page(ws):
    from engine.language.run_view import deployment_description

    play = ws.plays["weekly-engaged"]
    text = deployment_description(play, "http://127.0.0.1:8000/")
    assert text.startswith(play.description)
    assert text.endswith("(http://127.0.0.1:8000/plays/weekly-engaged.html)")
    assert deployment_description(play, None) == play.description


def test_the_run_picture_marks_the_steps_reached(ws):
    import base64
    import re

    from engine.language.run_view import run_path_markdown

    play = ws.plays["replied-to-lead-status"]
    rows = {"kept": [{"play": play.id, "node": "mark_nurturing", "email": "bo@acme.io"}]}
    text = run_path_markdown(play, 3, rows, picture=True, integration=ws.integration, objects=ws.crm_objects)
    svg = base64.b64decode(re.search(r"\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", text).group(1)).decode()
    root = ET.fromstring(svg)
    badges = ["".join(g.itertext()) for g in root.iter(SVG + "g") if g.get("class") == "run-badge"]
    assert badges == ["3 events", "1 contact", "1 contact"]  # trigger, route, mark_nurturing
    faded = {g.get("data-node") for g in root.iter(SVG + "g") if g.get("opacity") == "0.45"}
    assert faded == {"mark_replied", "mark_unqualified"}
