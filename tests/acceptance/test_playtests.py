"""Acceptance: `plays test plays/` runs every example Play's tests and they all pass; every example
Play has at least one test; a failing test prints a diff, `N passed, N failed`, and exits 1."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")


def test_example_play_tests_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["test", "plays/"])
    lines = result.stdout.rstrip("\n").splitlines()
    m = SUMMARY.match(lines[-1])
    assert m, result.stdout
    assert int(m.group(2)) == 0 and result.exit_code == 0, result.stdout + result.stderr
    assert int(m.group(1)) == sum(1 for line in lines if line.startswith("PASSED "))


def test_every_example_play_has_a_test() -> None:
    import yaml

    plays = {yaml.safe_load(p.read_text())["play"] for p in (ROOT / "plays").glob("*.play.yaml")}
    tested = {yaml.safe_load(p.read_text())["play"] for p in (ROOT / "plays").glob("*.test.yaml")}
    assert plays and plays <= tested, f"Plays without a test: {sorted(plays - tested)}"


def test_a_failing_test_prints_a_diff_and_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "plays"
    shutil.copytree(ROOT / "plays", work, ignore=shutil.ignore_patterns("*.test.yaml", "events"))
    (work / "wrong.test.yaml").write_text(
        "test: expects the wrong status\n"
        "play: replied-to-lead-status\n"
        "crm: {salesforce: {Lead: [{Id: L1, Email: ann@acme.io, Status: null}]}}\n"
        "events: [{id: e1, type: sequence_status_changed, at: '2026-11-20T10:00:00Z',\n"
        "          to: 'Completed: Replied', contact: {email: ann@acme.io},\n"
        "          reply: {classification: Willing to meet}}]\n"
        "expect:\n"
        "  writes: [{crm: salesforce, record: L1, fields: {Status: Nurturing}}]\n"
        "  skipped: []\n")
    (work / "right.test.yaml").write_text(
        "test: replied contacts become Replied\n"
        "play: replied-to-lead-status\n"
        "crm: {salesforce: {Lead: [{Id: L1, Email: ann@acme.io, Status: null}]}}\n"
        "events: [{id: e1, type: sequence_status_changed, at: '2026-11-20T10:00:00Z',\n"
        "          to: 'Completed: Replied', contact: {email: ann@acme.io},\n"
        "          reply: {classification: Willing to meet}}]\n"
        "expect:\n"
        "  writes: [{crm: salesforce, record: L1, fields: {Status: Replied}}]\n"
        "  skipped: []\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["test", "plays"])
    out = result.stdout
    assert result.exit_code == 1
    assert out.rstrip("\n").splitlines()[-1] == "1 passed, 1 failed"
    assert "FAILED plays/wrong.test.yaml::expects the wrong status" in out
    assert "PASSED plays/right.test.yaml::replied contacts become Replied" in out
    assert 'fields.Status: expected "Nurturing", got "Replied"' in out


def test_missing_path_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(app, ["test", "nowhere"]).exit_code == 2
