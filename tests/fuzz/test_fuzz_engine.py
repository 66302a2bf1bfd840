"""D-OPS-3 fuzz suite, engine level (fast, so many cases): the events reader, the CRM state reader
and the template renderer, on seeded random input. Each returns values or coded diagnostics and
never raises; a template render returns text within the output limit or a `RenderFailed`.
Case `i` uses `random.Random(SEED + i)` (see `tests/fuzz/generators.py`)."""

from __future__ import annotations

import random
import re

import pytest

from engine.evaluate.crmstate import parse_crm_state_text
from engine.evaluate.eventfile import parse_events_text
from engine.language.templates import (MAX_OUTPUT_CHARS, RenderFailed, TemplateSyntaxProblem, problems, render,
                                       variables)
from tests.fuzz import generators as g

SEED = 7_2026
CODE = re.compile(r"[A-Z]+\d{3}")
DEMO_EVENTS = g.load_example(g.PLAYS / "events" / "demo.jsonl")
DEMO_STATE = g.load_example(g.PLAYS / "events" / "demo-crm-state.json")
CONTEXT = {"contact": {"firstName": "Ann", "title": "VP " * 30}, "reply": {"tags": ["a"] * 50, "body": "x" * 5000},
           "sequence": {"name": "Q4"}, "event": {"id": "e1"}, "play": {"id": "p"}, "message": {}}


@pytest.mark.timeout(120)
def test_events_reader_fuzz_2000_cases():
    for i in range(2000):
        rng = random.Random(SEED + i)
        events, diags = parse_events_text(g.event_text(rng, DEMO_EVENTS), "ev.jsonl")
        assert all(CODE.fullmatch(d.code) and d.line >= 1 and d.col >= 1 for d in diags), f"seed {SEED + i}"
        assert all(ev.at_text.endswith("Z") for ev in events)


@pytest.mark.timeout(120)
def test_crm_state_reader_fuzz_2000_cases():
    for i in range(2000):
        rng = random.Random(SEED + 10_000 + i)
        data, diags = parse_crm_state_text(g.state_text(rng, DEMO_STATE), "st.json")
        assert data is not None or any(d.severity == "error" for d in diags), f"seed {SEED + 10_000 + i}"
        assert all(CODE.fullmatch(d.code) for d in diags)


@pytest.mark.timeout(120)
def test_template_fuzz_1500_cases():
    for i in range(1500):
        rng = random.Random(SEED + 20_000 + i)
        text = g.template(rng)
        out = render(text, CONTEXT)
        assert isinstance(out, RenderFailed) or (isinstance(out, str) and len(out) <= MAX_OUTPUT_CHARS), \
            f"seed {SEED + 20_000 + i}: {text!r}"
        assert all(CODE.fullmatch(code) for code, _msg in problems(text))
        try:
            variables(text)
        except TemplateSyntaxProblem as exc:
            assert CODE.fullmatch(exc.code)
