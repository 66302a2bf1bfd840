"""The editor experience, checked with the real yaml-language-server (npm; the server behind VS Code's
YAML extension) driven over stdio like an editor: the repository's `.vscode/settings.json` associates
the schemas by glob (no modeline), the README's sample Play is clean as printed, a broken Play is
underlined where it is broken, node types / statuses / classifications complete, and the schema of
`plays schema --workspace` completes CRM field names and underlines a field-name typo.

The server is installed from `tests/editor/package.json` (pinned, lock file) with `npm ci` when
missing; without npm the tests are skipped, saying so.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "editor"))
from lsp import LanguageServer, ensure_server  # noqa: E402

pytestmark = pytest.mark.timeout(600)


def _settings(root: Path) -> dict:
    """`.vscode/settings.json` (flat `yaml.x` keys) as the nested settings an editor sends."""
    flat = json.loads((root / ".vscode" / "settings.json").read_text())
    nested: dict = {}
    for key, value in flat.items():
        section, _, name = key.partition(".")
        nested.setdefault(section, {})[name] = value
    return nested


@pytest.fixture(scope="module")
def server_js() -> Path:
    try:
        js = ensure_server()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    if js is None:
        pytest.skip("npm (Node.js) is not installed: the yaml-language-server editor checks need it")
    return js


def _start(server_js: Path, root: Path) -> LanguageServer:
    ls = LanguageServer(server_js, root)
    ls.initialize(_settings(root))
    return ls


@pytest.fixture(scope="module")
def repo_server(server_js):
    ls = _start(server_js, ROOT)
    yield ls
    ls.close()


def _nonempty(diags):
    return bool(diags)


BROKEN = """\
play: broken
trigger:
  type: sequence_status_changed
  to: ["Completed: Replyed"]
start: route
nodes:
  route:
    type: branch
    cases:
      - when: {reply_classification: Postive}
        goto: mark
  mark:
    type: sync_to_salesfroce
    fields: {Status: Replied}
    colour: blue
"""


def test_broken_play_is_underlined_where_it_is_broken(repo_server):
    uri = repo_server.open(ROOT / "plays" / "editor-broken.play.yaml", BROKEN)
    diags = repo_server.diagnostics(uri, want=_nonempty)
    lines = {d["range"]["start"]["line"] + 1 for d in diags}
    text = " | ".join(d["message"] for d in diags)
    assert 4 in lines, text  # the status typo in the trigger filter
    assert 10 in lines, text  # the classification typo inside `when`
    assert 13 in lines, text  # the unknown node type
    assert re.search(r"Value is not accepted|not accepted|must be equal to one of", text), text


def test_readme_sample_play_is_clean_as_printed(repo_server):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"A Play looks like this.*?```yaml\n(.*?)```", readme, re.S)
    assert block, "README has no sample Play"
    # First a broken document, to be sure the schema is loaded, then the sample.
    probe = repo_server.open(ROOT / "plays" / "editor-probe.play.yaml", "play: x\nbogus: 1\n")
    assert repo_server.diagnostics(probe, want=_nonempty)
    uri = repo_server.open(ROOT / "plays" / "editor-readme-sample.play.yaml", block.group(1))
    assert repo_server.diagnostics(uri) == []


def _labels_at(ls: LanguageServer, path: Path, text: str, marker: str = "@@") -> list[str]:
    """Completion labels at `marker` (removed from the text)."""
    before = text.split(marker)[0]
    line, character = before.count("\n"), len(before.rsplit("\n", 1)[-1])
    uri = ls.open(path, text.replace(marker, ""))
    ls.diagnostics(uri)  # the document is parsed
    return ls.completion(uri, line, character)


PLAY_HEAD = "play: p\ntrigger:\n  type: sequence_status_changed\n  to: [Completed]\nstart: a\nnodes:\n"


def test_node_types_complete(repo_server):
    labels = _labels_at(repo_server, ROOT / "plays" / "editor-types.play.yaml",
                        PLAY_HEAD + "  a:\n    type: @@\n")
    assert {"branch", "sync_to_salesforce", "sync_to_hubspot", "create_task"} <= set(labels), labels


def test_statuses_complete_in_trigger_filters(repo_server):
    text = "play: p\ntrigger:\n  type: sequence_status_changed\n  to:\n    - @@\nstart: stop\nnodes: {}\n"
    labels = _labels_at(repo_server, ROOT / "plays" / "editor-statuses.play.yaml", text)
    assert {"Completed: Replied", "Bounced", "Queued"} <= set(labels), labels


def test_classifications_complete_inside_when(repo_server):
    text = PLAY_HEAD + ("  a:\n    type: branch\n    cases:\n      - when:\n"
                        "          reply_classification: @@\n        goto: stop\n")
    labels = _labels_at(repo_server, ROOT / "plays" / "editor-when.play.yaml", text)
    assert {"Positive", "Willing to meet", "OOO", "Automated"} <= set(labels), labels


def test_statuses_complete_inside_when(repo_server):
    text = PLAY_HEAD + ("  a:\n    type: branch\n    cases:\n      - when:\n"
                        "          sequence_status: @@\n        goto: stop\n")
    labels = _labels_at(repo_server, ROOT / "plays" / "editor-when-status.play.yaml", text)
    assert {"Completed: Replied", "Engaged"} <= set(labels), labels


def test_integration_and_test_files_are_associated(repo_server):
    uri = repo_server.open(ROOT / "plays" / "sub" / "integration.yaml", "salesforce:\n  enhanced_emial: true\n")
    assert any("enhanced_emial" in d["message"] or d["range"]["start"]["line"] == 1
               for d in repo_server.diagnostics(uri, want=_nonempty))
    uri = repo_server.open(ROOT / "plays" / "editor.test.yaml", "name: t\nplay: p\nbogus_key: 1\n")
    assert repo_server.diagnostics(uri, want=_nonempty)


# ---------------------------------------------------------------- the workspace schema


@pytest.fixture(scope="module")
def workspace_server(server_js, tmp_path_factory):
    ws = tmp_path_factory.mktemp("editor-ws")
    (ws / ".vscode").mkdir()
    (ws / ".vscode" / "settings.json").write_text((ROOT / ".vscode" / "settings.json").read_text())
    done = subprocess.run([sys.executable, "-c", "import sys; from cli.main import app; app(sys.argv[1:])",
                           "schema", "--workspace", "--plays", str(ROOT / "plays"), "--out", "schemas"],
                          cwd=ws, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    ls = _start(server_js, ws)
    yield ws, ls
    ls.close()


SF_NODE = PLAY_HEAD + "  a:\n    type: sync_to_salesforce\n    object: Lead\n    fields:\n"


def test_workspace_schema_underlines_a_field_typo(workspace_server):
    ws, ls = workspace_server
    uri = ls.open(ws / "plays" / "typo.play.yaml", SF_NODE + "      Unify_Reply_Clasification__c: Positive\n")
    diags = ls.diagnostics(uri, want=_nonempty)
    assert [d["range"]["start"]["line"] for d in diags] == [SF_NODE.count("\n")], diags
    uri = ls.open(ws / "plays" / "ok.play.yaml", SF_NODE + "      Unify_Reply_Classification__c: Positive\n")
    assert ls.diagnostics(uri) == []


def test_workspace_schema_completes_field_names_and_picklist_values(workspace_server):
    ws, ls = workspace_server
    labels = _labels_at(ls, ws / "plays" / "names.play.yaml", SF_NODE + "      @@\n")
    assert {"Status", "LeadSource", "Unify_Reply_Classification__c"} <= set(labels), labels
    labels = _labels_at(ls, ws / "plays" / "values.play.yaml", SF_NODE + "      Status: @@\n")
    assert "Replied" in labels, labels


def test_readme_sample_play_also_passes_plays_validate(tmp_path):
    """The same sample, with the example integration and CRM snapshots beside it: no error."""
    block = re.search(r"A Play looks like this.*?```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (tmp_path / "crm").mkdir()
    for name in ("salesforce.describe.json", "hubspot.properties.json"):
        (tmp_path / "crm" / name).write_text((ROOT / "plays" / "crm" / name).read_text())
    (tmp_path / "integration.yaml").write_text((ROOT / "plays" / "integration.yaml").read_text())
    (tmp_path / "sample.play.yaml").write_text(block.group(1))
    done = subprocess.run([sys.executable, "-m", "cli", "validate", "sample.play.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 errors" in done.stdout
