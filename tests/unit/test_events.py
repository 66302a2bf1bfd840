"""Event parsing (§5): coded diagnostics with file:line:col, email normalisation (D-WB-5), times."""

from __future__ import annotations

import json

import pytest

from engine.events import (EventError, add_days, event_from, iso_z, normalize_email, parse_event, parse_events_text,
                           parse_time)

GOOD = {"id": "evt-001", "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z",
        "contact": {"email": " Ann@Acme.io", "firstName": "Ann"}, "sequence": "Q4 Outbound",
        "from": "Engaged", "to": "Completed: Replied", "reply": {"classification": "Willing to meet", "tags": ["pricing"]}}


def test_good_event():
    ev, diags = parse_event(GOOD)
    assert diags == [] and ev is not None
    assert (ev.email, ev.email_problem, ev.sequence_status, ev.classification) == (
        "ann@acme.io", None, "Completed: Replied", "Willing to meet")
    assert ev.at_text == "2026-11-20T10:00:00Z"


def test_sequence_status_is_status_for_other_events():
    ev = event_from({"id": "e", "type": "email_opened", "at": "2026-11-20T10:00:00Z", "status": "Engaged", "to": "X"})
    assert ev.sequence_status == "Engaged"


@pytest.mark.parametrize("value,expected", [
    (" Ann@Acme.io", ("ann@acme.io", None)), ("ann@acme.io\t", ("ann@acme.io", None)),
    (None, (None, "no_email")), ("", (None, "no_email")), ("   ", (None, "no_email")),
    ("ann", ("ann", "invalid_email")), ("ann@acme", ("ann@acme", "invalid_email")),
    ("a b@acme.io", ("a b@acme.io", "invalid_email")), (42, (None, "invalid_email")),
])
def test_normalize_email_d_wb_5(value, expected):
    assert normalize_email(value) == expected


def test_times():
    assert parse_time("2026-11-20T10:00:00+01:00") == parse_time("2026-11-20T09:00:00Z")
    assert parse_time("2026-11-20T10:00:00") is None  # a zone is required
    assert parse_time("2026-11-20T10:00:00", need_zone=False) == parse_time("2026-11-20T10:00:00Z")
    assert iso_z(parse_time("2026-11-20T10:00:00.5Z")) == "2026-11-20T10:00:00.500Z"
    assert iso_z(parse_time("2026-11-20T10:00:00.000123Z")) == "2026-11-20T10:00:00.000123Z"
    assert add_days(parse_time("2026-12-31T23:30:00-05:00"), 2) == "2027-01-03"  # UTC date, then days


@pytest.mark.parametrize("obj,code", [
    ([1], "EVENT002"), ({"type": "email_sent", "at": "2026-11-20T10:00:00Z"}, "EVENT003"),
    ({"id": 5, "type": "email_sent", "at": "2026-11-20T10:00:00Z"}, "EVENT004"),
    ({"id": "e", "type": "email_sent", "at": "yesterday"}, "EVENT005"),
    ({"id": "e", "type": "email_open", "at": "2026-11-20T10:00:00Z"}, "EVENT006"),
    ({"id": "e", "type": "email_sent", "at": "2026-11-20T10:00:00Z", "contcat": {}}, "EVENT007"),
    ({"id": "e", "type": "email_sent", "at": "2026-11-20T10:00:00Z", "reply": {"tags": "a,b"}}, "EVENT004"),
    ({"id": "e", "type": "email_sent", "at": "2026-11-20T10:00:00Z", "in_thread": "yes"}, "EVENT004"),
    ({"id": "e", "type": "email_sent", "at": "2026-11-20T10:00:00Z", "message": {"manual": 1}}, "EVENT004"),
])
def test_broken_events_are_coded_errors(obj, code):
    ev, diags = parse_event(obj)
    assert ev is None
    assert code in {d.code for d in diags}
    with pytest.raises(EventError):
        event_from(obj)


def test_unknown_type_hint():
    _, diags = parse_event({"id": "e", "type": "email_open", "at": "2026-11-20T10:00:00Z"})
    assert "email_opened" in diags[0].hint


def test_unknown_status_and_classification_are_warnings_and_kept_d_voc_2():
    ev, diags = parse_event(dict(GOOD, to="Completed Replied", reply={"classification": "Willing To Meet"}))
    assert ev is not None
    assert {(d.code, d.severity) for d in diags} == {("EVENT008", "warning"), ("EVENT009", "warning")}
    assert "Willing to meet" in next(d.hint for d in diags if d.code == "EVENT009")
    assert ev.classification == "Willing To Meet"


def test_jsonl_positions_and_blank_lines():
    lines = [json.dumps(GOOD), "", '{"id": "e2", "type": "email_sent", "at": "nope"}', "{broken", json.dumps(GOOD)]
    events, diags = parse_events_text("\n".join(lines), "ev.jsonl")
    assert len(events) == 2
    assert [(d.code, d.file, d.line) for d in diags] == [("EVENT005", "ev.jsonl", 3), ("EVENT001", "ev.jsonl", 4)]
    at_col = lines[2].index('"at"') + 1
    assert diags[0].col == at_col
    assert diags[0].format().startswith(f"ev.jsonl:3:{at_col}: error EVENT005")


def test_json_array_form_with_positions():
    text = "[\n  " + json.dumps(GOOD) + ",\n  {\"id\": \"x\"}\n]\n"
    events, diags = parse_events_text(text, "ev.json")
    assert len(events) == 1
    assert {(d.code, d.line, d.col) for d in diags} == {("EVENT003", 3, 3)}


def test_json_array_syntax_error():
    events, diags = parse_events_text("[{\"id\": 1},, ]", "ev.json")
    assert events == [] and "EVENT001" in {d.code for d in diags}
