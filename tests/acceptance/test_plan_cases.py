"""Acceptance: `plays plan` on data-driven cases, compared with golden output.

Each folder of ``plan_cases/`` (except ``_plays``, a snapshot of the example Plays shared by cases)
holds the inputs, ``args`` (a JSON list of arguments after ``plan``), and the goldens:
``expected.json`` (``--format json``) or ``expected.txt`` (text), ``expected.stderr`` when stderr
matters, and ``exit`` (default 0). Cases run on a copy in a temporary folder.

Regenerate with ``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/acceptance/test_plan_cases.py -q``
and review every changed golden by eye.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

CASES = Path(__file__).parent / "plan_cases"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir() and not p.name.startswith("_"))
GOLDENS = ("expected.json", "expected.txt", "expected.stderr")


@pytest.mark.parametrize("name", NAMES)
def test_plan_case(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = CASES / name
    work = tmp_path / name
    shutil.copytree(src, work)
    shutil.copytree(CASES / "_plays", tmp_path / "_plays")
    args = json.loads((work / "args").read_text())
    want_exit = int((src / "exit").read_text()) if (src / "exit").exists() else 0
    monkeypatch.chdir(work)
    result = CliRunner().invoke(app, ["plan", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exit_code == want_exit, result.stdout + result.stderr
    is_json = "json" in args
    outputs = {"expected.json" if is_json else "expected.txt": result.stdout}
    if want_exit:
        outputs = {"expected.stderr": result.stderr}
        assert result.stdout == ""
    if UPDATE:
        for fname, text in outputs.items():
            (src / fname).write_text(text)
    for fname, text in outputs.items():
        golden = (src / fname).read_text()
        if fname == "expected.json":
            assert json.loads(text) == json.loads(golden), f"{name}: plan differs from {fname}"
        assert text == golden, f"{name}: output differs from {fname}"


def test_json_plan_has_exactly_the_cli_md_keys() -> None:
    doc = json.loads((CASES / "demo-json" / "expected.json").read_text())
    assert list(doc) == ["writes", "kept", "activities", "skipped"]
    for w in doc["writes"]:
        assert set(w) <= {"play", "node", "crm", "object", "record", "email", "op", "fields", "overwrite"}
        assert w["op"] in ("update", "create") and (w["record"] is None) == (w["op"] == "create" or w["record"] is None)
    for s in doc["skipped"]:
        assert set(s) == {"reason", "crm", "object", "record", "email", "event", "play", "node", "field", "detail"}
