"""The `plays plan` tracebacks the event and CRM-state fuzzer of issue 13 found, each reproduced:
an `at` past year 9999 once in UTC, a follow-up task due past 9999-12-31, a `due_in_days` too large
for any calendar (D-OPS-3: a coded diagnostic, never a traceback)."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app
from engine.evaluate.events import parse_event
from engine.evaluate.plan import plan
from engine.language.model import build_integration, build_play

ROOT = Path(__file__).resolve().parents[2]


def test_an_at_past_year_9999_in_utc_is_event005_not_an_overflow():
    for at in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        ev, diags = parse_event({"id": "e1", "type": "email_opened", "at": at})
        assert ev is None and [d.code for d in diags] == ["EVENT005"]
    ev, diags = parse_event({"id": "e1", "type": "email_opened", "at": "9999-12-31T09:59:59-14:00"})
    assert ev is not None and ev.at_text == "9999-12-31T23:59:59Z"


def test_a_task_due_past_the_last_calendar_day_is_due_that_day():
    play = build_play({"play": "t", "trigger": {"type": "reply_classified"}, "start": "t", "nodes": {
        "t": {"type": "create_task", "crm": "salesforce", "subject": "Follow up", "due_in_days": 5}}})
    integ = build_integration({"salesforce": {"owned_fields": [], "task_sync": True, "follow_up_due_days": 2}})
    event = {"id": "e1", "type": "reply_classified", "at": "9999-12-31T20:00:00Z", "contact": {"email": "a@b.io"},
             "reply": {"classification": "Positive"}}
    r = plan([play], integ, [event], {"salesforce": {"Lead": [{"Id": "L1", "Email": "a@b.io"}]}})
    assert {a.fields["ActivityDate"] for a in r.activities} == {"9999-12-31"}


def test_due_in_days_beyond_ten_years_is_refused_by_validate(tmp_path):
    shutil.copytree(ROOT / "plays" / "crm", tmp_path / "crm")
    shutil.copy(ROOT / "plays" / "integration.yaml", tmp_path / "integration.yaml")
    text = (ROOT / "plays" / "reply-follow-up-task.play.yaml").read_text()
    (tmp_path / "r.play.yaml").write_text(text.replace("due_in_days: 1", "due_in_days: 99999999999999999999"))
    result = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert " error SCHEMA" in result.stdout and "3650" in result.stdout, result.stdout


def test_every_diagnostic_prints_on_one_line():
    """Found by the fuzz suite: libyaml's reader error spans two lines; user text may hold newlines."""
    from engine.diagnostics import Diagnostic, Severity
    from engine.language.loader import load_yaml

    _doc, diags = load_yaml("play: a\nb: \x88\n", "p.play.yaml")
    assert [(d.code, d.line, d.col) for d in diags] == [("YAML001", 2, 4)]
    assert "\n" not in diags[0].format()
    assert Diagnostic("EVENT007", Severity.ERROR, "e", 1, 1, "unknown event key 'a\nb\x00'").format() == \
        "e:1:1: error EVENT007 unknown event key 'a\\nb\\x00'"
