"""Conditions (§1): keys, operators, and unknown vocabulary at run time (D-VOC-1/2)."""

from __future__ import annotations

import pytest

from engine.evaluate.conditions import compile_condition, compile_when, evaluate
from engine.evaluate.events import event_from
from engine.language.model import build_condition


class Ctx:
    def __init__(self, event, record=None):
        self.event = event_from(event)
        self.record = record or {}

    def contact_value(self, name):
        v = self.event.contact.get(name)
        return v if v is not None else self.record.get(name)


BASE = {"id": "e", "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z", "sequence": "Q4",
        "to": "Completed: Replied", "status": "Engaged", "url": "https://x.io",
        "contact": {"email": "a@b.io", "title": "VP Sales", "score": 7},
        "reply": {"classification": "Bad Timing", "tags": ["pricing", "later"]}, "message": {"id": "m1"}}


def holds(key, value, event=BASE, record=None):
    cond = build_condition(key, value, ())
    ctx = Ctx(event, record)
    compiled = compile_condition(cond)(ctx)
    assert compiled == evaluate(cond, ctx)  # the compiled form agrees with the interpreter
    return compiled


@pytest.mark.parametrize("key,value,expected", [
    ("sequence_status", "Completed: Replied", True),
    ("sequence_status", ["Engaged", "Completed: Replied"], True),
    ("sequence_status", "Engaged", False),  # a status change looks at `to`
    ("reply_classification", "Bad Timing", True),
    ("reply_classification", {"not": "Positive"}, True),
    ("reply_classification", {"not": ["Positive", "Bad Timing"]}, False),
    ("reply_classification", {"in": ["Neutral", "Bad Timing"]}, True),
    ("sequence", "Q4", True),
    ("event", "sequence_status_changed", True),
    ("event", "email_clicked", False),
    ("contact.title", {"contains": "VP"}, True),
    ("contact.title", {"contains": "vp"}, False),
    ("contact.score", {"gt": 5}, True),
    ("contact.score", {"lt": 5}, False),
    ("contact.score", 7, True),
    ("contact.score", "7", True),
    ("contact.missing", {"exists": True}, False),
    ("contact.missing", {"exists": False}, True),
    ("contact.title", {"exists": True}, True),
    ("reply.tags", {"contains": "pricing"}, True),
    ("event.url", "https://x.io", True),
    ("event.at", {"gt": "2026-11-19T00:00:00Z"}, True),
    ("message.id", "m1", True),
])
def test_operators(key, value, expected):
    assert holds(key, value) is expected


def test_contact_falls_back_to_the_crm_record():
    assert holds("contact.Status", "Open", record={"Status": "Open"})
    assert not holds("contact.title", "CEO", record={"title": "CEO"})  # the event attribute wins


def test_sequence_status_of_other_events_is_status():
    e = dict(BASE, type="email_opened")
    assert holds("sequence_status", "Engaged", event=e)


@pytest.mark.parametrize("value", ["Bad Timing", {"not": "Positive"}, {"exists": True}, ["Bad timing"]])
def test_unknown_classification_matches_no_when(value):
    e = dict(BASE, reply={"classification": "bad timing"})  # not a D-VOC-2 value
    assert holds("reply_classification", value, event=e) is False


def test_unknown_status_matches_no_when():
    assert holds("sequence_status", {"not": "Engaged"}, event=dict(BASE, to="Done")) is False


def test_missing_classification_uses_normal_semantics():
    e = dict(BASE, reply=None)
    e.pop("reply")
    assert holds("reply_classification", {"not": "Positive"}, event=e)
    assert not holds("reply_classification", {"exists": True}, event=e)


def test_when_is_an_and():
    conds = tuple(build_condition(k, v, ()) for k, v in {"sequence": "Q4", "reply_classification": "Positive"}.items())
    assert compile_when(conds)(Ctx(BASE)) is False
    assert compile_when(())(Ctx(BASE)) is True


def test_exists_uses_the_one_blank_d_wb_2():
    """D-WB-2: one definition of blank; `{exists: true}` is false for a whitespace-only value."""
    from engine.evaluate.conditions import make_test

    assert make_test("exists", True)("   ") is False
    assert make_test("exists", False)("   ") is True
    assert make_test("exists", True)([]) is False


_ANY_TEST = ["Negative", {"not": "Negative"}, {"not": ["Negative", "Positive"]}, ["Negative", "Positive"],
             {"in": ["Negative"]}, {"exists": True}, {"exists": False}, {"contains": "x"}]


@pytest.mark.parametrize("key", ["reply_classification", "reply.classification"])
@pytest.mark.parametrize("value", _ANY_TEST)
def test_unknown_run_time_classification_matches_no_when_whatever_the_name_d_voc_2(key, value):
    """D-VOC-2: an unknown classification in an event makes every condition that tests it false,
    negated, list and equality alike, however the Play names the attribute."""
    e = dict(BASE, reply={"classification": "Maybe Later"})
    assert holds(key, value, event=e) is False


@pytest.mark.parametrize("key,attr", [("sequence_status", "to"), ("event.to", "to"), ("event.from", "from"),
                                      ("event.status", "status"), ("event.sequence_status", "to")])
@pytest.mark.parametrize("value", ["Engaged", {"not": "Engaged"}, {"not": ["Engaged"]}, ["Engaged", "Queued"],
                                   {"exists": True}, {"exists": False}])
def test_unknown_run_time_status_matches_no_when_whatever_the_name_d_voc_1(key, attr, value):
    """D-VOC-1 (as D-VOC-2): an unknown status in `sequence_status`, `to`, `from` or `status`."""
    e = dict(BASE, **{attr: "Done"})
    assert holds(key, value, event=e) is False


@pytest.mark.parametrize("key", ["reply.classification", "event.from", "event.status"])
def test_known_values_keep_their_normal_semantics_d_voc_1_d_voc_2(key):
    assert holds(key, {"not": "Negative"}) is True
