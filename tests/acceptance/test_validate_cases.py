"""Acceptance: `plays validate` on data-driven cases, compared with golden output.

Each folder of ``cases/`` (except ``_shared``) holds the input files and ``expected.txt``, the exact
stdout of ``plays validate`` run from inside the folder (arguments from ``args``, a JSON list,
default ``["."]``). ``setup.json`` describes inputs too large to keep in git (made at test time).
Cases run on a copy in a temporary folder, with ``_shared`` (the CRM snapshots) beside it.

Regenerate goldens with ``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/acceptance -q`` and
review every changed file by eye (``git diff tests/acceptance/cases``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

CASES = Path(__file__).parent / "cases"
ROOT = Path(__file__).resolve().parents[2]
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir() and not p.name.startswith("_"))
SUMMARY = re.compile(r"^\d+ files? checked: (\d+) errors?, (\d+) warnings?$")


def _prepare(name: str, tmp_path: Path) -> tuple[Path, list[str]]:
    src = CASES / name
    work = tmp_path / name
    shutil.copytree(src, work, symlinks=True)
    (tmp_path / "_shared").symlink_to(CASES / "_shared", target_is_directory=True)
    setup = work / "setup.json"
    if setup.exists():
        for fname, spec in json.loads(setup.read_text()).items():
            (work / fname).write_text(spec["line"] * spec["times"])
        setup.unlink()
    args_file = work / "args"
    args = json.loads(args_file.read_text()) if args_file.exists() else ["."]
    if args_file.exists():
        args_file.unlink()
    (work / "expected.txt").unlink(missing_ok=True)
    return work, args


def _counts(out: str, args: list[str]) -> tuple[int, int]:
    if "json" in args:
        data = json.loads(out)
        return data["errors"], data["warnings"]
    m = SUMMARY.match(out.rstrip("\n").splitlines()[-1])
    assert m, f"no summary line in:\n{out}"
    return int(m.group(1)), int(m.group(2))


@pytest.mark.parametrize("name", NAMES)
def test_case(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work, args = _prepare(name, tmp_path)
    monkeypatch.chdir(work)
    result = CliRunner().invoke(app, ["validate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr
    out = result.stdout
    golden = CASES / name / "expected.txt"
    if UPDATE:
        golden.write_text(out)
    assert out == golden.read_text(), f"{name}: output differs from expected.txt"
    errors, warnings = _counts(out, args)
    want = 1 if errors or ("--strict" in args and warnings) else 0
    assert result.exit_code == want
    if name.startswith("valid-"):
        assert (errors, warnings) == (0, 0)
    else:
        assert errors + warnings > 0, "an invalid case must produce a diagnostic"


def _codes(text: str) -> set[str]:
    return set(re.findall(r"\b([A-Z]+\d{3})\b", text))


def test_every_code_is_covered_and_documented() -> None:
    # The catalogue also holds the codes of other commands (EVENT, CRMSTATE, AUDIENCE: `plays plan`
    # cases; COMPILE, CONN: run time); those of `plays validate` are covered here.
    validate_prefixes = ("YAML", "SCHEMA", "GRAPH", "VOCAB", "TRIGGER", "FIELD", "TEMPLATE", "INTEG", "PLAY")
    catalogue = _codes((ROOT / "docs" / "diagnostics.md").read_text())
    documented = {c for c in catalogue if c.rstrip("0123456789") in validate_prefixes}
    seen: set[str] = set()
    for name in NAMES:
        seen |= _codes((CASES / name / "expected.txt").read_text())
    assert documented, "docs/diagnostics.md lists no codes"
    assert not (documented - seen), f"codes without an acceptance case: {sorted(documented - seen)}"
    # validate also reports other commands' codes (CRMSTATE on a Play test's `crm`): documented too
    assert not (seen - catalogue), f"codes not in docs/diagnostics.md: {sorted(seen - catalogue)}"


def test_enough_cases() -> None:
    invalid = [n for n in NAMES if not n.startswith("valid-")]
    assert len(invalid) >= 60


def test_missing_path_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["validate", "no-such-folder/"])
    assert result.exit_code == 2
    assert "no-such-folder/" in result.stderr and result.stdout == ""


def test_examples_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["validate", "plays/", "--strict"])
    assert result.exit_code == 0, result.stdout
    assert result.stdout.rstrip().endswith("0 errors, 0 warnings")


def test_console_script(tmp_path: Path) -> None:
    """The real `plays` console script, in a subprocess: plain text, exit 1, no traceback."""
    work, args = _prepare("many-problems-one-file", tmp_path)
    exe = Path(sys.executable).parent / "plays"
    done = subprocess.run([str(exe), "validate", *args], cwd=work, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stdout == (CASES / "many-problems-one-file" / "expected.txt").read_text()
    assert done.stderr == ""
