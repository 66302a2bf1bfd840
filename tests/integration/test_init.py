"""`plays init`: a new workspace is green as created (`plays validate`, `plays test`, the commands of
its CI workflow and its pre-commit hooks all pass in it), never overwrites a file, and pulls the CRM
snapshots when it can reach a CRM (here the sandbox, through `--sandbox-info`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def plays(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=180, env=env)


def _yaml(path: Path):
    y = YAML(typ="safe")
    y.version = (1, 2)
    return y.load(path.read_text())


def _clean_env() -> dict:
    """No CRM credentials: `plays init` keeps the placeholder snapshots."""
    env = dict(os.environ)
    for name in ("SF_INSTANCE_URL", "SF_SESSION_ID", "HUBSPOT_TOKEN"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("init")
    done = plays("init", "team-plays", cwd=base, env=_clean_env())
    assert done.returncode == 0, done.stderr
    assert "placeholders" in done.stdout
    return base / "team-plays"


EXPECTED = [".github/workflows/plays.yml", ".gitignore", ".pre-commit-config.yaml", ".vscode/settings.json",
            "README.md", "plays/crm/hubspot.properties.json", "plays/crm/salesforce.describe.json",
            "plays/integration.yaml", "plays/promising-reply.play.yaml", "plays/promising-reply.test.yaml",
            "schemas/event.schema.json", "schemas/integration.schema.json", "schemas/play.schema.json",
            "schemas/playtest.schema.json"]


def test_init_writes_the_workspace(workspace):
    files = sorted(str(p.relative_to(workspace)) for p in workspace.rglob("*") if p.is_file())
    assert files == EXPECTED
    # the editor set-up is the repository's own, and the Play schema knows the snapshot's fields
    assert (workspace / ".vscode/settings.json").read_text() == (ROOT / ".vscode/settings.json").read_text()
    play_schema = json.loads((workspace / "schemas/play.schema.json").read_text())
    assert "Unify_Reply_Classification__c" in play_schema["$defs"]["sf_fields_Lead"]["properties"]
    integration = (workspace / "plays/integration.yaml").read_text()
    assert integration.count("\n#") + integration.count("  #") >= 10, "integration.yaml is commented"


def test_init_workspace_validates_and_tests_green(workspace):
    done = plays("validate", cwd=workspace)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 errors, 0 warnings" in done.stdout
    done = plays("test", cwd=workspace)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().splitlines()[-1] == "1 passed, 0 failed"


def test_init_ci_workflow_commands_pass(workspace, tmp_path):
    """The workflow's `plays` steps, run as written (offline: validate, test with JUnit XML)."""
    flow = _yaml(workspace / ".github/workflows/plays.yml")
    steps = flow["jobs"]["plays"]["steps"]
    runs = [s["run"] for s in steps if "run" in s]
    assert any(r.startswith("pip install \"plays==") and "@" not in r for r in runs), runs
    commands = [r for r in runs if r.startswith("plays ")]
    assert [c.split()[1] for c in commands] == ["validate", "test"]
    assert "--format github" in commands[0] and "--junit-xml" in commands[1]
    copy = tmp_path / "ws"
    shutil.copytree(workspace, copy)
    for command in commands:
        done = plays(*command.split()[1:], cwd=copy)
        assert done.returncode == 0, f"{command}:\n{done.stdout}{done.stderr}"
    assert "<testsuite" in (copy / "plays-test-results.xml").read_text()


def test_init_pre_commit_hooks_pass(workspace, tmp_path):
    config = _yaml(workspace / ".pre-commit-config.yaml")
    ids = [h["id"] for repo in config["repos"] for h in repo["hooks"]]
    assert ids == ["plays-validate", "plays-test"]
    pre_commit = BIN / "pre-commit"
    if not pre_commit.exists():
        pytest.skip("pre-commit is not installed (it is in the test extra)")
    copy = tmp_path / "ws"
    shutil.copytree(workspace, copy)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home")}
    for args in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=copy, check=True, capture_output=True, timeout=60)
    done = subprocess.run([str(pre_commit), "run", "--all-files"], cwd=copy, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Passed") == 2, done.stdout


def test_init_refuses_to_overwrite_and_names_the_files(workspace, tmp_path):
    before = {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()}
    done = plays("init", str(workspace), cwd=tmp_path)
    assert done.returncode == 2
    assert "not overwriting" in done.stderr and "plays/integration.yaml" in done.stderr
    assert {p: p.read_bytes() for p in workspace.rglob("*") if p.is_file()} == before
    # one existing file is enough to write nothing at all
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "README.md").write_text("ours\n")
    done = plays("init", str(partial), cwd=tmp_path)
    assert done.returncode == 2 and "README.md" in done.stderr and "plays/" not in done.stderr
    assert [p.name for p in partial.iterdir()] == ["README.md"]
    assert (partial / "README.md").read_text() == "ours\n"


def test_init_pulls_the_snapshots_from_a_reachable_crm(sandbox, tmp_path):
    done = plays("init", "ws", "--sandbox-info", json.dumps(sandbox.info), cwd=tmp_path, env=_clean_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "salesforce: wrote" in done.stdout and "hubspot: wrote" in done.stdout
    assert "pulled from your CRM" in done.stdout
    sf = json.loads((tmp_path / "ws/plays/crm/salesforce.describe.json").read_text())
    assert {"Lead", "Contact"} <= set(sf)
    assert plays("validate", cwd=tmp_path / "ws").returncode == 0
