"""`.pre-commit-hooks.yaml` works for real: `pre-commit try-repo` against this repository's HEAD, in
a temporary git repository holding a Play workspace. pre-commit builds the hooks' environment from
this repository with pip (the registry the machine is set up with; once per run, ~1 minute), then:
both hooks pass on the example workspace; a broken Play fails `plays-validate` with its diagnostic;
and, because the hooks check the whole workspace (``pass_filenames: false``), a change to one file
still finds a problem that needs another file (a duplicate Play id, PLAY001)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=cwd,
                          check=True, capture_output=True, text=True, timeout=60).stdout


def test_hooks_file_declares_whole_workspace_hooks():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"plays-validate", "plays-test"}
    for hook in hooks.values():
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        assert hook["entry"].split()[0] == "plays"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_pre_commit_try_repo(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("needs this repository's git history (try-repo installs from a commit)")
    rev = _git(ROOT, "rev-parse", "HEAD").strip()
    work = tmp_path / "workspace"
    work.mkdir()
    _git(work, "init", "-q")
    shutil.copytree(ROOT / "plays", work / "plays", ignore=shutil.ignore_patterns("events"))
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "a Play workspace")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"), PRE_COMMIT_COLOR="never")

    def try_repo(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(PRE_COMMIT), "try-repo", str(ROOT), *args, "--ref", rev], cwd=work, env=env,
                              capture_output=True, text=True, timeout=800)

    green = try_repo("--all-files")
    assert green.returncode == 0, green.stdout + green.stderr
    assert "plays validate" in green.stdout and "plays test" in green.stdout
    assert "Failed" not in green.stdout

    (work / "plays" / "bad.play.yaml").write_text(
        "play: bad\ntrigger: {type: sequence_status_changed, to: [Completed Replied]}\nstart: a\n"
        "nodes:\n  a: {type: sync_to_salesforce, object: Lead, fields: {Status: Replied}}\n")
    _git(work, "add", "-A")
    broken = try_repo("plays-validate", "--files", "plays/bad.play.yaml")
    assert broken.returncode == 1
    assert "plays/bad.play.yaml:2:" in broken.stdout and "VOCAB001" in broken.stdout

    (work / "plays" / "bad.play.yaml").unlink()
    (work / "plays" / "copy.play.yaml").write_text((work / "plays" / "weekly-engaged.play.yaml").read_text())
    _git(work, "add", "-A")
    dup = try_repo("plays-validate", "--files", "plays/copy.play.yaml")
    assert dup.returncode == 1
    assert "PLAY001" in dup.stdout and "weekly-engaged" in dup.stdout
