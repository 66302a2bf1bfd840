"""Acceptance: no traceback reaches a user for bad input (cli.md: every mistake is a coded diagnostic
with a location and a hint; exit 0 ok, 1 input has errors, 2 wrong usage or a setup problem).

The goldens in ``plan_cases/`` pin the exact text for realistic mistakes; this file sweeps wider:
arbitrary JSON values and text through the event and CRM state readers (hypothesis, bounded and
derandomised), and the demo files cut short at many points through the real `plays plan`.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from typer.testing import CliRunner

from cli.main import app
from engine.evaluate.crmstate import check_crm_state, parse_crm_state_text
from engine.evaluate.events import parse_event, parse_events_text

ROOT = Path(__file__).resolve().parents[2]
PLAYS = Path(__file__).parent / "plan_cases" / "_plays"
DEMO_EVENTS = ROOT / "plays" / "events" / "demo.jsonl"
DEMO_STATE = ROOT / "plays" / "events" / "demo-crm-state.json"
DIAG = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning) (?P<code>[A-Z]+\d{3}) \S.*$")
SUMMARY = re.compile(r"^\d+ files? checked: \d+ errors?, \d+ warnings?$")

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=12))
JSON = st.recursive(SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                     st.dictionaries(st.text(max_size=8), kids, max_size=4)),
                    max_leaves=12)
KEYS = st.sampled_from(["id", "type", "at", "contact", "reply", "message", "to", "from", "status", "url",
                        "in_thread", "sequence", "classification", "tags", "email", "manual", "Id", "Email",
                        "LastModifiedDate", "properties", "updatedAt", "Lead", "Contact", "contacts",
                        "salesforce", "hubspot", "Leads"])
SHAPED = st.recursive(SCALARS, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                       st.dictionaries(KEYS, kids, max_size=5)), max_leaves=15)
FAST = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@FAST
@given(obj=st.one_of(JSON, SHAPED))
def test_any_json_value_is_an_event_or_coded_errors(obj):
    ev, diags = parse_event(obj, file="ev.jsonl", line=3, col=1, text=json.dumps(obj))
    assert ev is not None or any(d.severity == "error" for d in diags)
    assert all(re.fullmatch(r"EVENT\d{3}", d.code) and d.line >= 3 and d.col >= 1 for d in diags)


@FAST
@given(obj=st.one_of(JSON, SHAPED))
def test_any_json_value_is_a_crm_state_or_coded_issues(obj):
    for issue in check_crm_state(obj):
        assert re.fullmatch(r"CRMSTATE\d{3}", issue.code) and issue.message
    data, diags = parse_crm_state_text(json.dumps(obj, indent=1), "crm.json")
    assert (data is None) == any(d.severity == "error" for d in diags)


@FAST
@given(text=st.lists(st.sampled_from(list('{}[]":,\n 0aeNx\\') + ["true", "null", '"id"', '"at"', "\ufeff"]),
                    max_size=40).map("".join))
def test_any_text_reads_without_an_exception(text):
    events, diags = parse_events_text(text, "ev.jsonl")
    assert all(d.line >= 1 and d.col >= 1 for d in diags)
    parse_crm_state_text(text, "crm.json")


def _plan(tmp: Path, events: str, state: str, *extra: str):
    (tmp / "events.jsonl").write_text(events, encoding="utf-8")
    (tmp / "crm.json").write_text(state, encoding="utf-8")
    return CliRunner().invoke(app, ["plan", "--plays", str(PLAYS), "--events", str(tmp / "events.jsonl"),
                                    "--crm-state", str(tmp / "crm.json"), *extra])


def _check_failure(result) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code == 1:
        assert result.stdout == ""
        lines = result.stderr.rstrip("\n").splitlines()
        assert SUMMARY.match(lines[-1]), lines[-1]
        assert all(DIAG.match(line) for line in lines[:-1]), result.stderr
    else:
        assert result.exit_code == 0, result.stdout + result.stderr


@pytest.mark.parametrize("cut", [1, 37, 200, 1001, 4000, 9999, -2])
def test_demo_files_cut_short(tmp_path: Path, cut: int) -> None:
    events, state = DEMO_EVENTS.read_text(), DEMO_STATE.read_text()
    _check_failure(_plan(tmp_path, events[:cut], state))
    _check_failure(_plan(tmp_path, events, state[:cut]))


def test_json_plan_is_strict_json_with_z_times(tmp_path: Path) -> None:
    result = _plan(tmp_path, DEMO_EVENTS.read_text(), DEMO_STATE.read_text(), "--format", "json")
    assert result.exit_code == 0, result.stderr

    def no_constants(name):
        raise AssertionError(f"{name} in JSON output")

    doc = json.loads(result.stdout, parse_constant=no_constants)
    times = [v for w in doc["writes"] + doc["activities"] for v in w["fields"].values()
             if isinstance(v, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", v)]
    assert times and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", t) for t in times)


@pytest.mark.parametrize("args", [
    ["plan", "--plays", "nowhere", "--events", "e.jsonl", "--crm-state", "c.json"],
    ["plan", "--events", "e.jsonl", "--crm-state", "c.json"],
    ["plan", "--plays", "p", "--events", "e.jsonl", "--crm-state", "c.json", "--format", "yaml"],
    ["test", "nowhere"],
    ["test"],  # no plays/ folder here
])
def test_usage_and_setup_problems_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p").mkdir()
    shutil.copy(PLAYS / "replied-to-lead-status.play.yaml", tmp_path / "p")
    (tmp_path / "e.jsonl").write_text("")
    (tmp_path / "c.json").write_text("{}")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
