"""Seeded input generators for the fuzz suite: structural (random YAML/JSON trees, deep nesting, huge
numbers, unicode, surrogates, NULs, long strings, duplicate keys, anchors) and targeted (a valid
example file from ``plays/`` with one value mutated).

Everything is driven by a `random.Random(seed)`, so a failing case is reproduced from its seed alone;
sizes are bounded so every case runs in milliseconds.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "plays"

WEIRD_STRINGS = [
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\ufeff", "é", "😀" * 3, "\u202e", "\n", "\t",
    "{{", "}}", "{%", "{{ contact.firstName }}", "{{ ' x' * 1000000000 }}", "{{ 'x'|center(1000000000) }}",
    "{{ 10**10000000 }}", "{% include 'a' %}", "{% extends 'a' %}", "{% import 'a' as b %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{{ " + "(" * 500 + "1" + ")" * 500 + " }}", "{{ contact" + ".a" * 2000 + " }}",
    "{{ " + "9" * 5000 + " }}", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{{ '%0999999999d' % 1 }}", "{{ '{:>999999999}'.format(1) }}", "{{ lipsum(n=100000) }}",
    "{{ range(10**9)|list }}", "{{ contact.__class__ }}", "{{ ''.__class__.__mro__ }}",
    "*alias", "&anchor", "!!python/object:os.system", "0x" + "f" * 4000, "1e400", "-.inf", ".nan",
    "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-13-45T99:99:99Z", "2026-11-20T10:00:00Z",
    "x" * 3000, "é" * 2000, "Positive", "Completed: Replied", "stop", "start", "ann@acme.io", "@", "a@b",
    "${HOME}", "true", "null", "~", "yes",
]
HUGE_NUMBERS = [0, -1, 1, 2**31, 2**63, 2**64 + 1, 10**30, -(10**30), 10**4000, 1e308, -1e308, 1e-320,
                0.5, True, False]
KEYS = ["id", "type", "at", "contact", "email", "reply", "message", "classification", "tags", "status", "from",
        "to", "sequence", "play", "trigger", "start", "nodes", "next", "goto", "default", "cases", "when",
        "fields", "object", "crm", "subject", "description", "due_in_days", "salesforce", "hubspot", "Lead",
        "Contact", "contacts", "Id", "Email", "properties", "LastModifiedDate", "events", "expect", "writes",
        "test", "enabled", "default_values", "owned_fields", "schema_file", "\x00", "\ud800", "é", ""]


def scalar(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.45:
        return rng.choice(WEIRD_STRINGS)
    if r < 0.7:
        return rng.choice(HUGE_NUMBERS)
    if r < 0.8:
        return None
    if r < 0.9:
        return "".join(chr(rng.randrange(0, 0x11000)) for _ in range(rng.randrange(0, 12)))
    return rng.choice(KEYS)


def tree(rng: random.Random, depth: int = 0, max_depth: int = 6) -> Any:
    """A random JSON-like value (dicts, lists, scalars), at most `max_depth` deep, a few dozen leaves."""
    if depth >= max_depth or rng.random() < 0.35:
        return scalar(rng)
    if rng.random() < 0.5:
        return [tree(rng, depth + 1, max_depth) for _ in range(rng.randrange(0, 4))]
    return {rng.choice(KEYS) if rng.random() < 0.8 else str(scalar(rng)): tree(rng, depth + 1, max_depth)
            for _ in range(rng.randrange(0, 5))}


def deep(n: int, kind: str = "list") -> Any:
    value: Any = 1
    for _ in range(min(n, 200)):  # deeper values are written as text (`deep_text`): json.dumps recurses
        value = [value] if kind == "list" else {"a": value}
    return value


def deep_text(n: int, kind: str = "list") -> str:
    """JSON text nested `n` levels deep."""
    return ("[" * n + "1" + "]" * n) if kind == "list" else ('{"a":' * n + "1" + "}" * n)


def _surrogate_safe(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def to_yaml(value: Any) -> str:
    """A YAML text of `value` (JSON is YAML); lone surrogates written as escapes."""
    return json.dumps(value, ensure_ascii=True, default=str)


def yaml_text(rng: random.Random) -> str:
    """A random YAML text: a tree, or one of the structural oddities YAML allows."""
    r = rng.random()
    if r < 0.4:
        return to_yaml(tree(rng))
    if r < 0.5:
        return deep_text(rng.choice([50, 70, 200, 1200, 5000]), rng.choice(["list", "dict"]))
    if r < 0.6:  # duplicate keys, anchors and aliases, merge keys
        return rng.choice([
            "play: a\nplay: b\n", "a: &x {b: 1}\nc: *x\nd: {<<: *x}\n", "a: *undefined\n",
            "a: &a [*a]\n", "x: &x [1,1,1,1,1,1,1,1,1]\ny: &y [*x,*x,*x,*x,*x,*x,*x,*x,*x]\n"
            "z: &z [*y,*y,*y,*y,*y,*y,*y,*y,*y]\nw: [*z,*z,*z,*z,*z,*z,*z,*z,*z]\n",
            "? [a, b]\n: c\n", "{{ x }}: 1\n", "!!python/object:os.system {}\n", "---\na: 1\n---\nb: 2\n",
            "a:\n\t- b\n", "%YAML 1.1\n---\na: yes\n", "a: !!binary aGVsbG8=\n", "a: 0o777777777777777777\n",
            "a: 0x" + "f" * 4000 + "\n", "a: " + "9" * 5000 + "\n", "a: 1e99999\n", "a: .inf\n",
        ])
    if r < 0.7:  # raw bytes-ish text
        return "".join(chr(rng.randrange(0, 0x800)) for _ in range(rng.randrange(0, 200)))
    return to_yaml(tree(rng, max_depth=3))


def example_files(pattern: str) -> list[Path]:
    return sorted(PLAYS.glob(pattern))


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


def mutate(value: Any, rng: random.Random) -> Any:
    """`value` (a loaded example) with one value replaced, one key renamed or one item dropped/doubled."""
    import copy

    value = copy.deepcopy(value)
    paths = _paths(value)
    path = rng.choice(paths)
    if not path:
        return tree(rng)
    parent = value
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    op = rng.random()
    if op < 0.6:
        parent[last] = tree(rng, max_depth=2) if rng.random() < 0.3 else scalar(rng)
    elif op < 0.75 and isinstance(parent, dict):
        parent[str(scalar(rng)) if rng.random() < 0.5 else rng.choice(KEYS)] = parent.pop(last)
    elif op < 0.9:
        if isinstance(parent, dict):
            parent.pop(last)
        else:
            parent.pop(last)
    else:
        parent[last] = deep(rng.choice([10, 60, 300]))
    return value


def load_example(path: Path) -> Any:
    """An example file as plain data (YAML via the project's loader, JSON/JSONL as JSON)."""
    if path.suffix in (".yaml", ".yml"):
        from engine.language.loader import load_file

        doc, _ = load_file(path)
        return doc.data
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


def event_text(rng: random.Random, demo: list[dict]) -> str:
    """An events file: demo events with mutations, random trees, odd lines."""
    lines = []
    for _ in range(rng.randrange(1, 6)):
        r = rng.random()
        if r < 0.6:
            lines.append(json.dumps(mutate(rng.choice(demo), rng), ensure_ascii=rng.random() < 0.5, default=str))
        elif r < 0.8:
            lines.append(json.dumps(tree(rng, max_depth=4), default=str))
        else:
            lines.append(rng.choice(["", "{", "[]", "NaN", '{"id": "\\ud800"}', "\x00", '"\\udfff"',
                                     deep_text(rng.choice([100, 3000])), "[" * 5000,
                                     '{"id":"a","type":"email_opened","at":"9999-12-31T23:59:59-14:00"}',
                                     '{"id":"a","type":"email_opened","at":"0001-01-01T00:00:00+14:00"}',
                                     '{"id":"y","type":"reply_classified","at":"9999-12-31T20:00:00Z",'
                                     '"contact":{"email":"ann@acme.io"},"reply":{"classification":"Positive"}}']))
    text = "\n".join(lines)
    if rng.random() < 0.1:
        text = json.dumps([json.loads(x) for x in lines if _is_json(x)], default=str)
    return text


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def state_text(rng: random.Random, demo: dict) -> str:
    r = rng.random()
    if r < 0.7:
        return json.dumps(mutate(demo, rng), ensure_ascii=rng.random() < 0.5, default=str)
    if r < 0.9:
        return json.dumps(tree(rng, max_depth=5), default=str)
    return rng.choice(["", "{", "[", "{}", "\x00", '{"salesforce": {"Lead": [{"Id": "\\ud800", "Email": "\\udfff@a.io"}]}}',
                       deep_text(3000, "dict")])


TEMPLATE_PIECES = [
    "{{ ", " }}", "{% ", " %}", "contact.firstName", "contact.title", "reply.tags", "reply.body", "event.id",
    "sequence.name", "play.id", "x", "loop.index", "(", ")", "[", "]", "{", "}", ", ", ": ", "~", "+", "-", "*", "**",
    "/", "//", "%", " and ", " or ", " not ", " if ", " else ", " in ", " is ", "defined", "|upper", "|lower",
    "|join(', ')", "|replace('a', 'bb')", "|center(", "|default('-')", "|int", "|float", "|length", "|list",
    "|sort", "|map('upper')", "|wordwrap(", "|indent(", "|truncate(", "|format(", "|round", "|sum", "|first",
    "|batch(", "|slice(", "|unique", "|tojson", "|attr('__class__')", ".__class__", ".format(", ".join(",
    ".replace(", ".center(", ".ljust(", ".split()", "range(", "namespace(", "dict(", "lipsum(", "cycler(",
    "for ", "endfor", "if ", "elif ", "endif", "set ", "= ", "include ", "macro ", "endmacro", "filter ",
    "raw", "endraw", "with ", "endwith", "'x'", "'%s'", "'{:>99}'", "'%0999999999d'", "'\\x00'", "'\ud800'",
    "0", "1", "2", "7", "10", "99", "1000", "99999", "100000", "1000000000", "10**9", "9" * 30, "1e308", "-1",
    "0.5", "true", "none", " ", "\n", "{#", "#}",
]


def template(rng: random.Random) -> str:
    """A random template: mostly well formed ``{{ expr }}`` / ``{% for %}`` shapes, some token soup."""
    def expr(depth: int = 0) -> str:
        r = rng.random()
        if depth > 3 or r < 0.3:
            return rng.choice(["contact.firstName", "reply.tags", "'x'", "1000", "99999", "10", "range(10)",
                               "contact.title", "'ab' * 3", "none", "[1, 2]", "{'a': 1}"])
        if r < 0.55:
            return f"({expr(depth + 1)} {rng.choice(['+', '*', '**', '~', '-', '/', '//', '%', 'and', 'or'])} " \
                   f"{expr(depth + 1)})"
        if r < 0.8:
            f = rng.choice(["upper", "join(', ')", "replace('x', 'yy')", "center(99999)", "default('a')", "int",
                            "length", "list", "map('upper')|list", "wordwrap(5)", "indent(4)", "truncate(5)",
                            "sort", "sum", "first", "unique|list", "batch(3)|list", "string", "format(1)"])
            return f"{expr(depth + 1)}|{f}"
        method = rng.choice(["upper()", "split()", "join([1])", "center(50)", "replace('a', 'b')", "format(1)"])
        return f"{expr(depth + 1)}.{method}"

    r = rng.random()
    if r < 0.5:
        return "{{ " + expr() + " }}"
    if r < 0.7:
        return "{% for i in " + expr() + " %}{{ " + expr() + " }}{% for j in " + expr() + " %}{{ i }}{% endfor %}" \
            "{% endfor %}"
    if r < 0.8:
        return "{% set ns = namespace(v=" + expr() + ") %}{% for i in range(" + rng.choice(["5", "50", "5000"]) + \
            ") %}{% set ns.v = ns.v " + rng.choice(["~", "+", "*", "**"]) + " ns.v %}{% endfor %}{{ ns.v }}"
    return "".join(rng.choice(TEMPLATE_PIECES) for _ in range(rng.randrange(1, 30)))
