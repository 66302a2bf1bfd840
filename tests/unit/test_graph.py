"""The graph module (engine/language/graph.py) and the pictures (engine/language/render_graph.py, `plays graph`):
dangling references, cycles as `a --> b --> a`, reachability, ways to stop; Mermaid and DOT."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.language import graph
from engine.language.loader import load_yaml
from engine.language.model import STOP, build_play
from engine.language.render_graph import to_dot, to_mermaid

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "plays").glob("*.play.yaml"))


def _play(nodes: dict, start: str = "a"):
    data = {"play": "p", "trigger": {"type": "sequence_enrolled"}, "start": start, "nodes": nodes}
    return build_play(data, "p.play.yaml")


def _sync(next_: str = STOP) -> dict:
    return {"type": "sync_to_salesforce", "fields": {"Title": "CEO"}, "next": next_}


def _branch(*gotos: str, default: str | None = None) -> dict:
    node = {"type": "branch", "cases": [{"when": {"reply_classification": "Positive"}, "goto": g} for g in gotos]}
    if default is not None:
        node["default"] = default
    return node


def _check(play):
    return graph.check(play, lambda path, key=False: (len(path), 1 if key else 2), "p.play.yaml")


def _codes(play) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in _check(play)]


def test_a_clean_play_has_no_problems():
    assert _codes(_play({"a": _branch("b", default="c"), "b": _sync("c"), "c": _sync()})) == []


def test_build_graph_has_every_node_and_labelled_edges():
    g = graph.build_graph(_play({"a": _branch("b", "b", default=STOP), "b": _sync()}))
    assert set(g.nodes) == {"a", "b", STOP}
    assert g["a"]["b"]["labels"] == ["case 1", "case 2"]
    assert g["a"][STOP]["labels"] == ["default"]


def test_dangling_references_with_did_you_mean():
    play = _play({"a": _branch("makr", default="c"), "mark": _sync(), "c": _sync("nowhere")})
    diags = _check(play)
    assert [(d.code, d.message, d.hint) for d in diags] == [
        ("GRAPH001", "node 'a' goes to unknown node 'makr'", "did you mean 'mark'?"),
        ("GRAPH001", "node 'c' goes to unknown node 'nowhere'", "known nodes: a, mark, c, stop"),
    ]  # 'mark' is what 'makr' meant: not also reported unreachable


def test_unknown_start():
    assert _codes(_play({"first": _sync()}, start="frist")) == [("GRAPH002", "start node 'frist' does not exist")]


def test_cycle_is_shown_as_arrows_from_the_first_node_in_the_file():
    play = _play({"a": _sync("b"), "b": _branch("c", default=STOP), "c": _sync("b")})
    assert _codes(play) == [("GRAPH003", "cycle: b --> c --> b")]
    d = _check(play)[0]
    assert (d.line, d.col) == (3, 2)  # the `next` of c (path nodes/c/next), which closes the loop
    assert "never reaches" not in d.hint


def test_self_loop_and_trapped_loop():
    diags = _check(_play({"a": _sync("a")}))
    assert [(d.code, d.message) for d in diags] == [("GRAPH003", "cycle: a --> a")]
    assert "never reaches 'stop'" in diags[0].hint


def test_a_node_leading_only_into_a_loop_has_no_way_to_stop():
    play = _play({"a": _sync("b"), "b": _sync("c"), "c": _sync("b")})
    assert sorted(_codes(play)) == [("GRAPH003", "cycle: b --> c --> b"), ("GRAPH005", "node 'a' has no way to reach stop")]


def test_unreachable_is_a_warning():
    diags = _check(_play({"a": _sync(), "orphan": _sync()}))
    assert [(d.code, str(d.severity)) for d in diags] == [("GRAPH004", "warning")]


def test_format_cycle():
    assert graph.format_cycle(["a", "b"]) == "a --> b --> a"


def test_reachable_and_topological_order():
    play = _play({"a": _branch("c", default="b"), "b": _sync("c"), "c": _sync(), "x": _sync()})
    assert graph.reachable_nodes(play) == {"a", "b", "c"}
    assert graph.topological_order(play) == ["a", "b", "c", "x"]


def test_positions_come_from_the_document():
    text = "play: p\ntrigger: {type: sequence_enrolled}\nstart: a\nnodes:\n  a:\n    type: sync_to_salesforce\n" \
           "    fields: {Title: CEO}\n    next: b\n"
    doc, _ = load_yaml(text, "p.play.yaml")
    diags = graph.check(build_play(doc.data, doc.file), doc.pos, doc.file)
    assert [(d.code, d.line, d.col) for d in diags] == [("GRAPH001", 8, 11)]


# -- pictures ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_draws_in_mermaid_and_dot(path: Path):
    doc, diags = load_yaml(path.read_text(), str(path))
    play = build_play(doc.data, str(path))
    mermaid, dot = to_mermaid(play), to_dot(play)
    assert mermaid.startswith("flowchart TD\n") and "trigger -->" in mermaid and "stop_" in mermaid
    assert dot.startswith(f'digraph "{play.id}" {{') and dot.rstrip().endswith("}")
    for nid in play.nodes:
        assert f'"{nid}" [' in dot
    assert dot.count("{") == dot.count("}") or "{{" in dot  # templates may hold braces


def test_missing_nodes_are_drawn_dashed():
    play = _play({"a": _sync("nowhere")})
    assert "missing: nowhere" in to_mermaid(play) and "-.->" in to_mermaid(play)
    assert '"missing: nowhere" [shape=box, style=dashed, color=red]' in to_dot(play)


def test_labels_are_escaped():
    play = _play({"a": {"type": "create_task", "crm": "salesforce", "subject": 'Say "hi"\\now'}})
    assert '#quot;hi#quot;' in to_mermaid(play)
    assert '\\"hi\\"' in to_dot(play)


def test_cli_graph_by_id_and_by_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(ROOT)
    runner = CliRunner()
    by_id = runner.invoke(app, ["graph", "replied-to-lead-status"])
    assert by_id.exit_code == 0 and by_id.stdout.startswith("flowchart TD")
    by_file = runner.invoke(app, ["graph", "plays/replied-to-lead-status.play.yaml", "--format", "dot"])
    assert by_file.exit_code == 0 and by_file.stdout.startswith('digraph "replied-to-lead-status"')
    out = tmp_path / "g.dot"
    to_file = runner.invoke(app, ["graph", "weekly-engaged", "-f", "dot", "-o", str(out)])
    assert to_file.exit_code == 0 and out.read_text().startswith("digraph")


def test_cli_graph_unknown_id_exits_2_with_a_hint(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["graph", "replied-to-lead"])
    assert result.exit_code == 2 and "did you mean 'replied-to-lead-status'?" in result.stderr


def test_cli_graph_of_a_broken_play_reports_and_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "p.play.yaml").write_text("play: p\ntrigger: {type: sequence_enrolled}\nstart: a\nnodes: {a: {type: nope}}\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["graph", "p.play.yaml"])
    assert result.exit_code == 1 and "SCHEMA004" in result.stderr and result.stdout == ""


def test_cli_graph_png_needs_graphviz(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "g.png"
    result = CliRunner().invoke(app, ["graph", "replied-to-lead-status", "-f", "png", "-o", str(out)])
    if shutil.which("dot") is None:
        assert result.exit_code == 2 and "install Graphviz" in result.stderr
    else:
        assert result.exit_code == 0 and out.stat().st_size > 0
