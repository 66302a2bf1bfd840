"""The repository stands alone: a clone in an empty folder collects every test, and no tracked file
reads or names a path outside the repository (the project once read specs from a sibling folder).

The clone is of the committed HEAD (what CI and a newcomer get), into a temporary folder with
nothing beside it; collection runs there with this interpreter, so the clone's own packages and
files are the ones imported and read (``python -m pytest`` puts the clone first on ``sys.path``).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Written in pieces so that this file does not match itself.
OUTSIDE = re.compile("|".join([r"\.\./" + "shared", "shared/" + "spec", "/work" + "/", "play-" + r"language\.md",
                               r"\bdomain" + r"\.md\b", r"(?<!docs/)\barchitecture" + r"\.md\b"]))  # docs/architecture.md is ours
# Text files a user or a test reads: code, docs, help, schemas, examples, config.
TEXT = {".py", ".md", ".json", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".jsonl", ".csv", ""}


def _git(*args: str, cwd: Path = ROOT) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _tracked() -> list[Path]:
    return [ROOT / p for p in _git("ls-files", "-z").split("\0") if p]


def test_no_tracked_file_names_a_path_outside_the_repository():
    offenders = []
    for path in _tracked():
        if path.suffix not in TEXT or not path.is_file() or path == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line) and " not in " not in line:  # a check of absence names nothing
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}")
    assert not offenders, "paths outside the repository:\n" + "\n".join(offenders)


def test_vendored_describe_schema_has_licence_and_origin():
    folder = ROOT / "tests/integration/specs/salesforce"
    assert "Apache License" in (folder / "LICENSE").read_text()
    readme = (folder / "README.md").read_text()
    assert "@salesforce/plugin-schema" in readme and "4.0.12" in readme


@pytest.mark.slow
def test_a_fresh_clone_collects_every_test(tmp_path):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "empty" / "plays"
    clone.parent.mkdir()
    _git("clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone), cwd=tmp_path)
    head = _git("rev-parse", "HEAD").strip()
    assert _git("rev-parse", "HEAD", cwd=clone).strip() == head, "the clone is not of this HEAD"
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                          cwd=clone, capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert not re.search(r"\berrors?\b", out.splitlines()[-1] if out.strip() else ""), out[-4000:]
    collected = {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}
    # Every test module of the clone contributes (none silently skipped at import).
    modules = {str(p.relative_to(clone)) for p in (clone / "tests").rglob("test_*.py")}
    assert modules <= collected, f"not collected: {sorted(modules - collected)}"
    # And the clone's files are the ones imported, not this checkout's (its .venv is where pytest is).
    assert not re.search(re.escape(str(ROOT)) + r"/(?!\.venv/)", out), out[-4000:]
