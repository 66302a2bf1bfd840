"""Template limits (D-OPS-3): each template the issue found exhausting memory or CPU, or raising, is
refused at validate time with a code where that can be known, and at render time bounded, returning
a `RenderFailed` value; plan turns a failed template into a skipped `template_error`, never a write
and never a traceback. Sizes are bounded so each case runs in milliseconds (no timing asserts)."""

from __future__ import annotations

import pytest

from engine.evaluate.plan import plan
from engine.language.model import build_integration, build_play
from engine.language.templates import (MAX_OUTPUT_CHARS, RenderFailed, TemplateSyntaxProblem, problems, render,
                                       variables)

CTX = {"contact": {"firstName": "Ann", "title": "VP"}, "reply": {"tags": ["pricing", "demo"]}}

# (template, the code validation gives) — every one of them used to pass validation and then blow up
REFUSED = [
    ("{{ 'x' * 1000000000 }}", "TEMPLATE006"),
    ("{{ 'x'|center(1000000000) }}", "TEMPLATE006"),
    ("{{ 10**10000000 }}", "TEMPLATE006"),
    ("{{ range(10**9)|list }}", "TEMPLATE006"),
    ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", "TEMPLATE006"),
    ("{{ '%0999999999d' % 1 }}", "TEMPLATE006"),
    ("{{ '{:>999999999}'.format(1) }}", "TEMPLATE006"),
    ("{{ range(10000)|join('x' * 99999) }}", "TEMPLATE006"),
    ("{{ ('x' * 99999)|replace('x', 'yy') }}", "TEMPLATE006"),
    ("{{ ('x' * 50000)|wordwrap(1, wrapstring='y' * 50000) }}", "TEMPLATE006"),
    ("{{ range(10000)|map('center', 99999)|list|length }}", "TEMPLATE006"),
    ("{% set ns = namespace(s='xx') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     "TEMPLATE006"),
    ("{% set ns = namespace(n=3) %}{% for i in range(100) %}{% set ns.n = ns.n * ns.n %}{% endfor %}",
     "TEMPLATE006"),
    ("{% include 'x' %}", "TEMPLATE004"),
    ("{% extends 'x' %}", "TEMPLATE004"),
    ("{% import 'x' as y %}", "TEMPLATE004"),
    ("{% from 'x' import y %}", "TEMPLATE004"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "TEMPLATE004"),
    ("{% filter upper %}x{% endfilter %}", "TEMPLATE004"),
    ("{% for x in reply.tags recursive %}{{ loop(x) }}{% endfor %}", "TEMPLATE004"),
    ("{{ " + "(" * 500 + "1" + ")" * 500 + " }}", "TEMPLATE005"),
    ("{{ contact" + ".a" * 2000 + " }}", "TEMPLATE005"),
    ("{{ " + "not " * 800 + "x }}", "TEMPLATE005"),
    ("{{ 'x' }}" * 5000, "TEMPLATE005"),
    ("{{ " + "9" * 5000 + " }}", "TEMPLATE001"),
    ("{{ 'x'|tojson }}", "TEMPLATE001"),
]


@pytest.mark.parametrize("text,code", REFUSED, ids=[f"{c}-{i}" for i, (_t, c) in enumerate(REFUSED)])
def test_validation_refuses_with_a_code_and_render_returns_a_failure(text, code):
    assert [c for c, _m in problems(text)] == [code]
    out = render(text, CTX)
    assert isinstance(out, RenderFailed) and out.code == code


def test_include_used_to_raise_a_type_error_now_a_value():
    out = render("{% include 'header' %}", CTX)
    assert out == RenderFailed("TEMPLATE004", "template does not parse: '{% include %}' is not allowed in a template")


@pytest.mark.parametrize("text,expected", [
    ("Hi {{ contact.firstName }}", "Hi Ann"),
    ("{{ reply.tags|join(', ') }}", "pricing, demo"),
    ("{% for t in reply.tags %}{{ t|upper }};{% endfor %}", "PRICING;DEMO;"),
    ("{{ contact.firstName ~ ' ' ~ contact.title }}", "Ann VP"),
    ("{{ contact.missing|int + 1 }}", "1"),
    ("{{ ('x' * 1000)|length }}", "1000"),
    ("{{ reply.tags }}", "pricing, demo"),
    ("{% set n = 2 ** 10 %}{{ n }}", "1024"),
    ("{{ ''.__class__ }}", ""),
])
def test_ordinary_templates_render_as_before(text, expected):
    assert problems(text) == []
    assert render(text, CTX) == expected


def test_loop_variables_and_globals_are_not_unknown_variables():
    assert variables("{% for t in reply.tags %}{{ t }}{{ loop.index }}{% endfor %}{{ range(3)|list }}") == ["reply.tags"]


def test_a_template_that_fails_only_on_data_fails_at_render_with_a_value():
    text = "{{ contact.title * 100000 }}"
    assert problems(text) == []  # an empty title renders nothing: fine at validate time
    out = render(text, {"contact": {"title": "VP Sales"}})
    assert isinstance(out, RenderFailed) and out.code == "TEMPLATE006" and str(MAX_OUTPUT_CHARS // 1000) in out.message


def test_a_template_that_fails_with_empty_variables_is_a_warning():
    assert problems("{{ 100 / (contact.title|int) }}") == [
        ("TEMPLATE007", "the template fails when its variables are empty: ZeroDivisionError: division by zero")]


def test_static_problems_raise_a_coded_syntax_problem():
    with pytest.raises(TemplateSyntaxProblem) as info:
        variables("{% include 'x' %}")
    assert info.value.code == "TEMPLATE004"


def test_plan_skips_a_field_whose_template_fails_and_writes_the_others():
    play = build_play({"play": "p", "trigger": {"type": "sequence_status_changed"}, "start": "n", "nodes": {
        "n": {"type": "sync_to_salesforce", "object": "Lead",
              "fields": {"Title": "{{ contact.title * 100000 }}", "Status": "Replied"}, "next": "t"},
        "t": {"type": "create_task", "crm": "salesforce", "subject": "{{ contact.title * 100000 }}",
              "due_in_days": 1}}})
    integ = build_integration({"salesforce": {"owned_fields": [], "task_sync": False}})
    event = {"id": "e1", "type": "sequence_status_changed", "at": "2026-11-20T10:00:00Z",
             "contact": {"email": "ann@acme.io", "title": "VP Sales"}}
    state = {"salesforce": {"Lead": [{"Id": "L1", "Email": "ann@acme.io", "Status": None,
                                      "LastModifiedDate": "2026-11-01T00:00:00Z"}]}}
    r = plan([play], integ, [event], state)
    assert [w.fields for w in r.writes] == [{"Status": "Replied"}]
    skipped = [(s.reason, s.node, s.field) for s in r.skipped]
    assert ("template_error", "n", "Title") in skipped and ("template_error", "t", None) in skipped
    assert all("TEMPLATE006" in s.detail for s in r.skipped if s.reason == "template_error")
    assert not r.activities


@pytest.mark.timeout(20)
def test_format_width_check_stays_linear_on_hostile_text():
    """The width check itself was quadratic on '{:1:1:1...' (a hang of its own): now linear."""
    for text in ("{{ '{" + ":1" * 40_000 + "'.format(1) }}", "{{ '" + "%0 " * 30_000 + "' % 1 }}"):
        out = render(text, CTX)
        assert isinstance(out, (str, RenderFailed))
