"""The workspace (engine/workspace.py) and the reporter (cli/report.py): file discovery, names as
the user gave them, integration lookup, what the planner gets (valid Plays, snapshots, tests), and
the text / JSON output of `plays validate` with its exit codes."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import report
from cli.main import app
from engine.diagnostics import error, warning
from engine.language.model import DEFAULT_INTEGRATION
from engine.workspace import PathNotFound, load_workspace

ROOT = Path(__file__).resolve().parents[2]
GOOD = "play: {id}\ntrigger: {{type: sequence_enrolled}}\nstart: a\nnodes:\n  a:\n    type: sync_to_salesforce\n" \
       "    object: Lead\n    fields: {{Status: Contacted}}\n"
BAD = GOOD + "    next: nowhere\n"


def tree(tmp_path: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def test_the_examples_load_for_the_planner(monkeypatch):
    monkeypatch.chdir(ROOT)
    ws = load_workspace("plays/")
    assert ws.errors == 0 and ws.warnings == 0
    assert "replied-to-lead-status" in ws.plays and ws.integration.salesforce is not None
    assert set(ws.crm_objects) == {"salesforce", "hubspot"} and "Lead" in ws.crm_objects["salesforce"]
    assert "contacts" in ws.crm_objects["hubspot"]
    assert ws.tests and all(doc.file.startswith("plays/") for doc, _ in ws.tests)
    assert ws.files == len(list((ROOT / "plays").rglob("*.y*ml")))


def test_discovery_and_names(tmp_path, monkeypatch):
    tree(tmp_path, {"plays/a.play.yaml": GOOD.format(id="a"), "plays/sub/b.play.yml": BAD.format(id="b"),
                    "plays/notes.yaml": "not: checked\n", "plays/a.test.yml": "test: t\nplay: a\nevents: []\nexpect: {}\n"})
    monkeypatch.chdir(tmp_path)
    ws = load_workspace(["plays"])
    assert ws.files == 3 and list(ws.plays) == ["a"] and set(ws.built) == {"plays/a.play.yaml", "plays/sub/b.play.yml"}
    assert [(d.code, d.file) for d in ws.diagnostics] == [("INTEG001", "plays/a.play.yaml"), ("GRAPH001", "plays/sub/b.play.yml")]
    assert ws.integration is DEFAULT_INTEGRATION and ws.crm_objects == {} and len(ws.tests) == 1
    assert ws.errors == 1 and ws.warnings == 1


def test_single_file_finds_integration_in_a_parent(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "plays" / "crm", tmp_path / "plays" / "crm")
    tree(tmp_path, {"plays/integration.yaml": "salesforce:\n  schema_file: crm/salesforce.describe.json\n",
                    "plays/deep/er/p.play.yaml": GOOD.format(id="p").replace("Status:", "Statsu:")})
    monkeypatch.chdir(tmp_path / "plays" / "deep")
    ws = load_workspace("er/p.play.yaml")
    assert [(d.code, d.file) for d in ws.diagnostics] == [("FIELD001", "er/p.play.yaml")]
    assert ws.integration.file == "../integration.yaml" and ws.files == 2


def test_absolute_paths_stay_absolute(tmp_path):
    tree(tmp_path, {"p.play.yaml": BAD.format(id="p")})
    ws = load_workspace([str(tmp_path)])
    assert {d.file for d in ws.diagnostics} == {str(tmp_path / "p.play.yaml")}


def test_duplicate_ids_and_test_of_unknown_play(tmp_path, monkeypatch):
    tree(tmp_path, {"a.play.yaml": GOOD.format(id="same"), "b.play.yaml": GOOD.format(id="same"),
                    "x.test.yaml": "test: t\nplay: sme\nevents: []\nexpect: {}\n", "integration.yaml": "{}\n"})
    monkeypatch.chdir(tmp_path)
    ws = load_workspace(".")
    assert [(d.code, d.file, d.hint) for d in ws.diagnostics if d.code.startswith("PLAY")] == [
        ("PLAY001", "b.play.yaml", "already used by a.play.yaml; Play ids are unique across the folder"),
        ("PLAY002", "x.test.yaml", "did you mean 'same'?")]
    assert list(ws.plays) == ["same"] and ws.plays["same"].file == "a.play.yaml"


def test_missing_path_raises(tmp_path):
    with pytest.raises(PathNotFound):
        load_workspace([str(tmp_path / "nope")])


def test_diagnostics_are_sorted_and_unique(tmp_path, monkeypatch):
    tree(tmp_path, {"b.play.yaml": BAD.format(id="b"), "a.play.yaml": "play: [\n", "integration.yaml": "{}\n"})
    monkeypatch.chdir(tmp_path)
    ws = load_workspace(".")
    assert [(d.file, d.code) for d in ws.diagnostics if d.severity == "error"] == \
        [("a.play.yaml", "YAML001"), ("b.play.yaml", "GRAPH001")]
    assert ws.diagnostics == sorted(set(ws.diagnostics), key=lambda d: (d.file, d.line, d.col, d.code, d.message))


# -- reporter ----------------------------------------------------------------------------------

DIAGS = [error("GRAPH001", "p.yaml", (3, 5), "bad", "hint"), warning("GRAPH004", "p.yaml", (4, 1), "meh")]


def test_text_format_and_summary():
    out = io.StringIO()
    report.print_text(DIAGS, 2, stream=out)
    assert out.getvalue() == ("p.yaml:3:5: error GRAPH001 bad (hint)\np.yaml:4:1: warning GRAPH004 meh\n"
                              "2 files checked: 1 error, 1 warning\n")
    assert report.summary(1, 0, 2) == "1 file checked: 0 errors, 2 warnings"


def test_json_format():
    data = json.loads(report.to_json(3, DIAGS))
    assert list(data) == ["files", "errors", "warnings", "diagnostics"]
    assert (data["files"], data["errors"], data["warnings"]) == (3, 1, 1)
    assert data["diagnostics"][0] == {"code": "GRAPH001", "severity": "error", "file": "p.yaml", "line": 3,
                                      "col": 5, "message": "bad", "hint": "hint"}
    assert data["diagnostics"][1]["hint"] is None


def test_exit_codes():
    assert report.exit_code([]) == 0
    assert report.exit_code(DIAGS[1:]) == 0 and report.exit_code(DIAGS[1:], strict=True) == 1
    assert report.exit_code(DIAGS) == 1


def test_cli_strict_and_default_path(tmp_path, monkeypatch):
    tree(tmp_path, {"plays/p.play.yaml": GOOD.format(id="p") + "  orphan:\n    type: sync_to_salesforce\n"
                    "    object: Lead\n    fields: {Title: CEO}\n", "plays/integration.yaml": "{}\n"})
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    plain = runner.invoke(app, ["validate"])
    assert plain.exit_code == 0 and "plays/p.play.yaml:9:3: warning GRAPH004" in plain.stdout
    assert runner.invoke(app, ["validate", "--strict"]).exit_code == 1
    as_json = runner.invoke(app, ["validate", "--format", "json", "plays/p.play.yaml"])
    data = json.loads(as_json.stdout)
    assert as_json.exit_code == 0 and data["errors"] == 0
    assert [d["code"] for d in data["diagnostics"]] == ["INTEG007", "GRAPH004", "INTEG007"]  # {} configures no CRM


# -- robustness: a mangled file gives diagnostics, never an exception --------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

SOURCES = [p.read_text() for p in sorted((ROOT / "plays").glob("*.play.yaml"))] + \
    [(ROOT / "plays" / "integration.yaml").read_text()]
TOKENS = ["stop", "auto", "Lead", "[]", "{}", "null", "1", "-1", "true", '"{{ contact.x }}"', '"{{"', "- a",
          "Completed", "x: y", "branch", "create_task", "sync_to_hubspot", "&a", "*a", "0m", "[1, {a: b}]",
          "{not: {}}", "{in: 3}", "[Positive, 3]", "{gt: x}", "email_message", "Unify_Interests__c"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.integers(0, len(SOURCES) - 1),
       st.lists(st.tuples(st.sampled_from(["del", "set", "dup"]), st.integers(0, 10_000), st.sampled_from(TOKENS)),
                min_size=1, max_size=5))
def test_mangled_files_never_raise(tmp_path_factory, which, edits):
    lines = SOURCES[which].split("\n")
    for op, at, token in edits:
        k = at % len(lines)
        if op == "del" and len(lines) > 1:
            del lines[k]
        elif op == "set" and ":" in lines[k]:
            lines[k] = lines[k].split(":")[0] + ": " + token
        else:
            lines.insert(k, lines[at % len(lines)])
    folder = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(ROOT / "plays" / "crm", folder / "crm")
    is_integ = which == len(SOURCES) - 1
    (folder / "integration.yaml").write_text("\n".join(lines) if is_integ else SOURCES[-1])
    (folder / "p.play.yaml").write_text(SOURCES[0] if is_integ else "\n".join(lines))
    ws = load_workspace([str(folder)])
    assert all(d.line >= 1 and d.col >= 1 and d.code[:3].isalpha() for d in ws.diagnostics)
