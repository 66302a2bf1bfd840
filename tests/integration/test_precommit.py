"""`.pre-commit-hooks.yaml` works for real: `pre-commit try-repo` against this repository's HEAD, in
a temporary git repository holding a Play workspace. pre-commit builds the hooks' environment from
this repository with pip (the registry the machine is set up with; ~1 minute on an idle machine, once:
try-repo builds afresh each time, so the test calls it once). Because the hooks check the whole
workspace (``pass_filenames: false``), a change to one file still finds a problem that needs
another file (a duplicate Play id, PLAY001). (`plays init`'s tests run the same hooks green.)"""

from __future__ import annotations

import os
import re
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
    """One `try-repo` (each builds a fresh environment: one build keeps the test bounded). Only a
    new Play file is handed to the hooks; it copies another Play's id, which only a check across
    files can see: both hooks run over the whole workspace and fail on it."""
    if not (ROOT / ".git").exists():
        pytest.skip("needs this repository's git history (try-repo installs from a commit)")
    rev = _git(ROOT, "rev-parse", "HEAD").strip()
    work = tmp_path / "workspace"
    work.mkdir()
    _git(work, "init", "-q")
    shutil.copytree(ROOT / "plays", work / "plays", ignore=shutil.ignore_patterns("events"))
    _git(work, "add", "-A")
    _git(work, "commit", "-qm", "a Play workspace")
    (work / "plays" / "copy.play.yaml").write_text((work / "plays" / "weekly-engaged.play.yaml").read_text())
    _git(work, "add", "-A")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"), PRE_COMMIT_COLOR="never")
    done = subprocess.run([str(PRE_COMMIT), "try-repo", str(ROOT), "--ref", rev, "--files", "plays/copy.play.yaml",
                           "--verbose"], cwd=work, env=env, capture_output=True, text=True, timeout=800)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert re.search(r"^plays validate\.+Failed$", done.stdout, re.M), out
    assert re.search(r"^plays test\.+Failed$", done.stdout, re.M), out
    assert "error PLAY001 duplicate Play id 'weekly-engaged'" in done.stdout
    n_files = sum(1 for p in (work / "plays").rglob("*") if p.suffix in (".yaml", ".yml"))
    assert f"{n_files} files checked: 1 error" in done.stdout  # the whole workspace, not one file
    assert re.search(r"^PASSED plays/replied-to-lead-status\.test\.yaml::", done.stdout, re.M)  # tests ran too
