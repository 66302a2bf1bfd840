"""Acceptance: `plays plan` (and `plays test`) on data-driven cases, compared with golden output.

Each folder of ``plan_cases/`` (except ``_plays``, a snapshot of the example Plays shared by cases)
holds the inputs, ``args`` (a JSON list of arguments after the command), ``command`` (``plan``
when absent, or ``test``) and the goldens: ``expected.json`` (stdout of ``--format json``) or
``expected.txt`` (stdout as text), ``expected.stderr`` (stderr: compared whenever the file exists or
the exit code is not 0; a case whose stderr is not empty must have one), and ``exit`` (default 0).
A failing ``plan`` prints nothing on stdout. Cases run on a copy in a temporary folder; output is
not a terminal, so it has no colours.

Regenerate with ``UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/acceptance/test_plan_cases.py -q``
and review every changed golden by eye.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

CASES = Path(__file__).parent / "plan_cases"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir() and not p.name.startswith("_"))


def _run(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    src = CASES / name
    work = tmp_path / name
    shutil.copytree(src, work)
    shutil.copytree(CASES / "_plays", tmp_path / "_plays")
    args = json.loads((work / "args").read_text())
    command = (src / "command").read_text().strip() if (src / "command").exists() else "plan"
    monkeypatch.chdir(work)
    return src, command, args, CliRunner().invoke(app, [command, *args])


@pytest.mark.parametrize("name", NAMES)
def test_case(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, command, args, result = _run(name, tmp_path, monkeypatch)
    want_exit = int((src / "exit").read_text()) if (src / "exit").exists() else 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stdout + result.stderr
    assert "\x1b[" not in result.stdout + result.stderr  # no colours when not a terminal
    assert result.exit_code == want_exit, result.stdout + result.stderr
    outputs: dict[str, str] = {}
    if command == "plan" and want_exit:
        assert result.stdout == ""
    else:
        outputs["expected.json" if "json" in args else "expected.txt"] = result.stdout
    if want_exit or (src / "expected.stderr").exists() or result.stderr:
        outputs["expected.stderr"] = result.stderr
    if UPDATE:
        for fname, text in outputs.items():
            (src / fname).write_text(text)
    for fname, text in outputs.items():
        golden = (src / fname).read_text()
        if fname == "expected.json":
            assert json.loads(text) == json.loads(golden), f"{name}: plan differs from {fname}"
        assert text == golden, f"{name}: output differs from {fname}"
    if command == "test":
        last = result.stdout.rstrip("\n").splitlines()[-1]
        assert re.fullmatch(r"\d+ passed, \d+ failed", last), last


# Codes a golden cannot show: a 5 MiB line is tested in tests/unit/test_events.py.
NOT_IN_A_CASE = {"EVENT011"}


def test_every_plan_code_has_a_case() -> None:
    """Every EVENT / CRMSTATE / AUDIENCE code of docs/diagnostics.md appears in a golden here."""
    documented = set(re.findall(r"`((?:EVENT|CRMSTATE|AUDIENCE)\d{3})`", (CASES.parents[2] / "docs" /
                                                                          "diagnostics.md").read_text()))
    seen: set[str] = set()
    for golden in CASES.glob("*/expected.*"):
        seen |= set(re.findall(r"\b((?:EVENT|CRMSTATE|AUDIENCE)\d{3})\b", golden.read_text()))
    assert len(documented) >= 20
    assert not (documented - seen - NOT_IN_A_CASE), f"codes without a case: {sorted(documented - seen - NOT_IN_A_CASE)}"
    assert not (seen - documented), f"codes not in docs/diagnostics.md: {sorted(seen - documented)}"


def test_json_plan_has_exactly_the_cli_md_keys() -> None:
    doc = json.loads((CASES / "demo-json" / "expected.json").read_text())
    assert list(doc) == ["writes", "kept", "activities", "skipped"]
    for w in doc["writes"]:
        assert set(w) <= {"play", "node", "crm", "object", "record", "email", "op", "fields", "overwrite"}
        assert w["op"] in ("update", "create") and (w["record"] is None) == (w["op"] == "create" or w["record"] is None)
    for s in doc["skipped"]:
        assert set(s) == {"reason", "crm", "object", "record", "email", "event", "play", "node", "field", "detail"}


_TIMEISH = re.compile(r"^\d{4}-\d{2}-\d{2}T")
_ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?Z$")


def _values(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _values(v)
    elif isinstance(node, list):
        for v in node:
            yield from _values(v)
    else:
        yield node


@pytest.mark.parametrize("name", [n for n in NAMES if (CASES / n / "expected.json").exists()])
def test_json_goldens_use_z_times_and_json_numbers(name: str) -> None:
    """cli.md: times in JSON output are ISO 8601 UTC with Z; numbers are JSON numbers. (Values the
    CRM state already holds, `kept.current`, are the CRM's own and left out.)"""
    doc = json.loads((CASES / name / "expected.json").read_text())
    for section in ("writes", "activities"):
        for entry in doc[section]:
            for v in _values(entry["fields"]):
                if isinstance(v, str) and _TIMEISH.match(v):
                    assert _ISO_Z.match(v), f"{name}: {section} time {v!r} is not ISO 8601 UTC with Z"
    for entry in doc["writes"]:
        for field, v in entry["fields"].items():
            if field.endswith(("Track_Opens__c", "Click_Count__c")) or field in ("unify_track_opens",
                                                                                   "unify_click_count"):
                assert isinstance(v, (int, float)) and not isinstance(v, bool), f"{name}: {field}={v!r}"
