"""Event parsing (§5): coded diagnostics with file:line:col, email normalisation (D-WB-5), times."""

from __future__ import annotations

import json

import pytest

from engine.evaluate.events import (EventError, add_days, event_from, iso_z, normalize_email, parse_event, parse_events_text,
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
    at_col = lines[2].index('"nope"') + 1  # at the offending value (cli.md)
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


# ---------------------------------------------------------------------------------------- files

def _codes(diags):
    return [(d.code, d.line, d.col) for d in diags]


def test_positions_point_at_nested_values_and_keys():
    line = json.dumps({"id": "e", "type": "email_replied", "at": "2026-11-20T10:00:00Z", "message": {"id": 7},
                       "reply": {"classification": "Positive", "tag": []}})
    _, diags = parse_events_text(line + "\n", "ev.jsonl")
    assert _codes(diags) == [("EVENT007", 1, line.index('"tag"') + 1), ("EVENT004", 1, line.index("7}") + 1)]


def test_json_array_positions_span_lines():
    text = json.dumps([GOOD, dict(GOOD, id="e2", reply={"classification": 3})], indent=2)
    events, diags = parse_events_text(text, "ev.json")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"classification": 3' in t)
    assert len(events) == 1 and _codes(diags) == [("EVENT004", line, text.splitlines()[line - 1].index("3") + 1)]


def test_duplicate_ids_same_event_silent_different_event_warned():
    other = dict(GOOD, type="email_opened")
    other.pop("to"), other.pop("from")
    text = "\n".join(json.dumps(e) for e in (GOOD, GOOD, other))
    events, diags = parse_events_text(text, "ev.jsonl")
    assert len(events) == 3  # the planner applies an id once
    assert [(d.code, d.severity, d.line) for d in diags] == [("EVENT010", "warning", 3)]
    assert "(line 1)" in diags[0].message


@pytest.mark.parametrize("text,code,severity", [
    ("", "EVENT012", "warning"), ("  \n\n", "EVENT012", "warning"), ("[]", "EVENT012", "warning"),
    ('{"id": "e", "type": "email_opened", "at": "2026-11-20T10:00:00Z", "contact": {"n": NaN}}', "EVENT001", "error"),
    ('{"id": "e", "type": "email_opened", "at": "2026-11-20T10:00:00Z", "c": ' + "[" * 5000 + "]" * 5000 + "}",
     "EVENT001", "error"),
    ("[" + "[" * 5000 + "]" * 5000 + "]", "EVENT001", "error"),
    (json.dumps(GOOD, indent=2), "EVENT001", "error"),
    (json.dumps([GOOD]) + "\n" + json.dumps([GOOD]), "EVENT001", "error"),
    ('{"salesforce": {"Lead": []}}', "EVENT002", "error"),
    (json.dumps([GOOD]) + "\n" + "x", "EVENT001", "error"),
])
def test_file_level_problems_are_single_coded_diagnostics(text, code, severity):
    _, diags = parse_events_text(text, "ev.jsonl")
    assert [(d.code, d.severity) for d in diags] == [(code, severity)]


def test_byte_order_mark_is_ignored():
    events, diags = parse_events_text("\ufeff" + json.dumps(GOOD) + "\n", "ev.jsonl")
    assert len(events) == 1 and diags == []


def test_huge_line_is_refused_without_parsing():
    from engine.evaluate.eventfile import MAX_EVENT_CHARS

    big = json.dumps(dict(GOOD, contact={"email": "a@b.io", "note": "x" * MAX_EVENT_CHARS}))
    events, diags = parse_events_text(big + "\n" + json.dumps(dict(GOOD, id="e2")), "ev.jsonl")
    assert len(events) == 1 and _codes(diags) == [("EVENT011", 1, 1)]


def test_lines_that_are_not_json_are_capped():
    events, diags = parse_events_text("\n".join(f"line {i}" for i in range(50)), "ev.jsonl")
    assert [d.code for d in diags] == ["EVENT001"] * 21
    assert diags[-1].line == 21 and "29 more" in diags[-1].message


@pytest.mark.parametrize("key,hint", [("classification", '"reply"'), ("email", '"contact"'), ("timestamp", "'at'"),
                                      ("sequnce", "'sequence'")])
def test_misplaced_keys_say_where_they_belong(key, hint):
    _, diags = parse_event({"id": "e", "type": "email_opened", "at": "2026-11-20T10:00:00Z", key: "x"})
    assert diags[0].code == "EVENT007" and hint in diags[0].hint


@pytest.mark.parametrize("obj", [
    {"id": "e", "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z", "status": "Completed"},
    {"id": "e", "type": "email_clicked", "at": "2026-11-20T10:00:00Z"},
    {"id": "e", "type": "reply_classified", "at": "2026-11-20T10:00:00Z", "reply": {"tags": []}},
])
def test_events_missing_what_their_type_needs_are_kept_with_a_warning(obj):
    ev, diags = parse_event(obj)
    assert ev is not None and [(d.code, d.severity) for d in diags] == [("EVENT013", "warning")]


@pytest.mark.parametrize("raw,hint", [("2026-11-20T10:00:00", "2026-11-20T10:00:00Z"), ("2026-11-20", "T00:00:00Z"),
                                      (1763632800, "epoch"), ("2026-13-45T10:00:00Z", "not a real")])
def test_timestamp_hints(raw, hint):
    _, diags = parse_event({"id": "e", "type": "email_opened", "at": raw})
    assert diags[0].code == "EVENT005" and hint in diags[0].hint


def test_json_locator():
    from engine.language.jsonpos import Locator

    text = '{"a": [1, {"b": "x"}, []],\n "c": {}, "d": {"e": null}}'
    loc = Locator(text)
    assert loc.pos(("a", 1, "b")) == (1, 17) and loc.pos(("a", 1, "b"), key=True) == (1, 12)
    assert loc.pos(("d", "e")) == (2, 22) and loc.pos(("d", "e"), key=True) == (2, 17)
    assert loc.pos(("missing", 3)) == (1, 1) and loc.pos(("a", 9)) == (1, 7)  # nearest ancestor
    deep = "[" * 3000 + "]" * 3000
    assert Locator(deep).pos((0,) * 2999) == (1, 3000)  # iterative: any depth


def test_first_copy_in_ingest_order_wins_whatever_its_time_d_run_1():
    """D-RUN-1: of two events with one id, the first in ingest order (file line order) counts, even
    when a later copy has an earlier `at`; later copies are returned to be reported."""
    from engine.evaluate.events import first_copies, make_event

    a = make_event("e1", "email_opened", "2026-11-20T12:00:00Z", contact={"email": "a@b.io"})
    b = make_event("e1", "email_clicked", "2026-11-20T09:00:00Z", contact={"email": "a@b.io"}, url="https://x.io")
    c = make_event("e2", "email_opened", "2026-11-20T10:00:00Z", contact={"email": "a@b.io"})
    firsts, later = first_copies([a, b, c, a])
    assert firsts == [a, c] and later == [b, a]
    seen = {"e1"}  # ids of earlier batches
    assert first_copies([b, c], seen) == ([c], [b]) and seen == {"e1"}  # across batches; not modified


def test_reused_id_warning_says_the_first_counts_d_run_1():
    other = dict(GOOD, type="email_opened")
    other.pop("to"), other.pop("from")
    _, diags = parse_events_text("\n".join(json.dumps(e) for e in (GOOD, other)), "ev.jsonl")
    assert "first copy (line 1) counts" in diags[0].message and "D-RUN-1" in diags[0].message


def test_sequence_active_is_read_absent_means_active_d_play_6():
    """D-PLAY-6 / play-language §5: `sequence_active` (boolean, default true)."""
    assert event_from(dict(GOOD)).sequence_active is True
    assert event_from(dict(GOOD, sequence_active=False)).sequence_active is False
    assert event_from(dict(GOOD, sequence_active=True)).sequence_active is True
    ev, diags = parse_event(dict(GOOD, sequence_active="no"))
    assert ev is None and [d.code for d in diags] == ["EVENT004"]


def test_one_email_key_and_one_time_parser_for_every_room():
    """One rule, one place: the store's email key and time parser are the engine's (D-WB-5, §5)."""
    from datetime import UTC, datetime, timedelta, timezone

    import engine.store
    from engine.evaluate.events import email_key, to_datetime

    assert engine.store.normalize_email is email_key and engine.store.parse_time is to_datetime
    assert email_key(" Ann@Acme.io ") == "ann@acme.io" and email_key("   ") is None and email_key(3) is None
    assert email_key("not-an-email") == "not-an-email"  # a key, not a validity check (normalize_email)
    assert normalize_email(" Ann@Acme.io") == ("ann@acme.io", None)
    want = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    for text in ("2026-11-20T09:00:00Z", "2026-11-20T09:00:00z", "2026-11-20T10:00:00+01:00",
                 "2026-11-20T09:00:00.000+0000", "2026-11-20T09:00:00"):
        assert to_datetime(text) == want, text
        assert parse_time(text, need_zone=False) == parse_time("2026-11-20T09:00:00Z")
    assert to_datetime(datetime(2026, 11, 20, 10, tzinfo=timezone(timedelta(hours=1)))) == want
    assert to_datetime(datetime(2026, 11, 20, 9)) == want
    assert to_datetime("soon") is None and to_datetime(None) is None and to_datetime("") is None
