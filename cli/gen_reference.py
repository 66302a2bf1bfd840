"""Generates ``docs/reference.md``, the language reference, from the JSON Schemas and the engine's
vocabulary, so the reference cannot drift from what `plays validate` accepts.

    python -m cli.gen_reference            # rewrite docs/reference.md
    python -m cli.gen_reference --check    # exit 1 when docs/reference.md is not up to date

Every trigger, node type, condition key and operator, audience key, template variable,
integration key, Play test key and event key comes from the schemas' ``properties`` and
``description`` texts (edit those, then regenerate); statuses, classifications and template
variables come from the engine's vocabulary. `tests/unit/test_docs.py` checks the committed file
equals this output.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from engine.language import vocab
from engine.language.checks.template_vars import ATTRIBUTES, OPEN_ROOTS
from engine.language.schema_check import _PATTERNS, schemas_dir
from engine.language.templates import ROOTS

OUT = Path(__file__).resolve().parents[1] / "docs" / "reference.md"


class _Schema:
    """One schema file, with `$ref`s into its `$defs` resolved on demand."""

    def __init__(self, name: str):
        self.doc = json.loads((schemas_dir() / name).read_text(encoding="utf-8"))
        self.name = name

    def resolve(self, s: dict) -> dict:
        while "$ref" in s and s["$ref"].startswith("#/$defs/"):
            rest = {k: v for k, v in s.items() if k != "$ref"}
            s = {**self.doc["$defs"][s["$ref"].split("/")[-1]], **rest}
        return s

    def defn(self, name: str) -> dict:
        return self.resolve(self.doc["$defs"][name])


_RULE_ID = re.compile(r"(?<![\w\[-])(D-[A-Z]+-\d+)(?![\w\]])")


def _cell(text: str) -> str:
    """One line of table text; rule ids link to their explanation."""
    text = " ".join(str(text).split()).replace("|", "\\|")
    return _RULE_ID.sub(lambda m: f"[{m.group(1)}](rules.md#{m.group(1).lower()})", text)


def _kind(schema: _Schema, s: dict) -> str:
    """What a value is, in words: ``Lead`` | ``Contact`` | ``auto``, a list of ..., a mapping, ..."""
    s = schema.resolve(s)
    if "const" in s:
        return f"`{s['const']}`"
    if "enum" in s and tuple(s["enum"]) == vocab.STATUSES:
        return "a sequence status ([list](#statuses-and-classifications))"
    if "enum" in s and tuple(s["enum"]) == vocab.CLASSIFICATIONS:
        return "a reply classification ([list](#statuses-and-classifications))"
    if "enum" in s:
        return " \\| ".join(f"`{v if isinstance(v, str) else json.dumps(v)}`" for v in s["enum"])
    if "pattern" in s and s["pattern"] in _PATTERNS:
        return _PATTERNS[s["pattern"]][0]
    if s.get("format") == "date-time":
        return _PATTERNS["date-time"][0]
    types = s.get("type")
    if types == "array":
        return f"a list of {_kind(schema, s.get('items', {})).removeprefix('a ')}" if s.get("items") else "a list"
    if types == "object":
        if isinstance(s.get("additionalProperties"), dict):
            return "a mapping of name → " + _kind(schema, s["additionalProperties"]).removeprefix("a ")
        return "a mapping"
    names = {"string": "text", "integer": "an integer", "number": "a number", "boolean": "`true`/`false`",
             "null": "null", "object": "a mapping", "array": "a list"}
    if isinstance(types, list):
        return ", ".join(names[t] for t in types)
    if isinstance(types, str):
        return names[types]
    if "oneOf" in s or "anyOf" in s:
        return " or ".join(_kind(schema, x) for x in s.get("oneOf", s.get("anyOf")))
    return "see description"


def _keys_table(schema: _Schema, s: dict, skip: tuple[str, ...] = ()) -> list[str]:
    s = schema.resolve(s)
    required = set(s.get("required", ()))
    rows = ["| key | value | required | default | meaning |", "|---|---|---|---|---|"]
    for key, sub in s.get("properties", {}).items():
        if key in skip:
            continue
        sub_r = schema.resolve(sub)
        default = f"`{json.dumps(sub_r['default'])}`" if "default" in sub_r else ""
        rows.append(f"| `{key}` | {_kind(schema, sub)} | {'yes' if key in required else ''} | {default} | "
                    f"{_cell(sub_r.get('description', ''))} |")
    for pattern, sub in s.get("patternProperties", {}).items():
        shown = pattern.replace("|", "\\|")
        rows.append(f"| `{shown}` | {_kind(schema, sub)} |  |  | {_cell(schema.resolve(sub).get('description', ''))} |")
    return rows


def _typed(schema: _Schema, union: str, prefix: str) -> list[tuple[str, dict]]:
    """The variants of a ``type``-switched definition (triggers, nodes): (type, its definition)."""
    out = []
    for branch in schema.defn(union).get("allOf", []):
        const = branch["if"]["properties"]["type"]["const"]
        out.append((const, schema.resolve(branch["then"])))
    assert out, f"no variants under {union}"
    return out


def generate() -> str:
    play, integ, test, event = (_Schema(n) for n in ("play.schema.json", "integration.schema.json",
                                                       "playtest.schema.json", "event.schema.json"))
    lines: list[str] = [
        "# Language reference",
        "",
        "<!-- Generated by `python -m cli.gen_reference` from schemas/*.json and the engine's vocabulary.",
        "     Do not edit by hand: change the schema descriptions, then regenerate. -->",
        "",
        "Every key a Play, `integration.yaml`, a Play test or an event can hold, with what it accepts.",
        "This page is generated from the JSON Schemas that `plays validate` and your editor use, so it is",
        "always exact. For a walk-through start with [Your first Play](first-play.md); rule ids such as",
        "D-WB-2 are explained in [rules.md](rules.md).",
        "",
        "Contents: [Play file](#play-file) · [triggers](#triggers) · [node types](#node-types) ·",
        "[conditions](#conditions) · [operators](#operators) · [audiences](#audiences) ·",
        "[template variables](#template-variables) · [statuses and classifications](#statuses-and-classifications) ·",
        "[integration.yaml](#integrationyaml) · [Play tests](#play-tests) · [events](#events)",
        "",
        "## Play file",
        "",
        f"`*.play.yaml`, checked against `schemas/{play.name}`. {_cell(play.doc.get('description', ''))}",
        "",
        *_keys_table(play, play.doc),
        "",
        "## Triggers",
        "",
        "`trigger.type` decides which other keys the trigger takes.",
        "",
    ]
    for name, d in _typed(play, "trigger", "trigger_"):
        lines += [f"### `{name}`", "", _cell(d.get("description", "")), "", *_keys_table(play, d, skip=("type",)), ""]
    lines += ["## Node types", "", "Each node under `nodes:` has a `type` that decides its other keys.", ""]
    for name, d in _typed(play, "node", "node_"):
        lines += [f"### `{name}`", "", _cell(d.get("description", "")), "", *_keys_table(play, d, skip=("type",)), ""]
        if name == "branch":
            lines += ["Each case:", "", *_keys_table(play, play.defn("case")), ""]
    when = play.defn("when")
    lines += ["## Conditions", "", _cell(when.get("description", "")), "", *_keys_table(play, when), "",
              "## Operators", "", _cell(play.defn("valueCondition").get("description", "")), "",
              "| operator | value | meaning |", "|---|---|---|"]
    for op, sub in play.defn("operator").get("properties", {}).items():
        lines.append(f"| `{op}` | {_kind(play, sub)} | {_cell(play.resolve(sub).get('description', ''))} |")
    lines += ["", "## Audiences", "", _cell(play.defn("audience").get("description", "")), "",
              *_keys_table(play, play.defn("audience")), ""]
    lines += ["## Template variables", "",
              "Values and conditions may use `{{ ... }}` templates (field values, defaults, task subjects).",
              "At run time a missing value renders empty, and then a default may apply.", "",
              "| variable | meaning |", "|---|---|"]
    for attr in vocab.STANDARD_CONTACT_ATTRIBUTES:
        lines.append(f"| `contact.{attr}` | the event's contact attribute `{attr}` |")
    lines.append("| `contact.<Field>` | a field of the matched CRM record, as named in the CRM snapshot "
                 "(case-sensitive; checked where a snapshot is known) |")
    lines.append("| `person.<name>` | the same as `contact.<name>` |")
    for root, attrs in ATTRIBUTES.items():
        for attr in attrs:
            lines.append(f"| `{root}.{attr}` | {_TEMPLATE_MEANINGS.get(f'{root}.{attr}', '')} |")
    for root in OPEN_ROOTS:
        lines.append(f"| `{root}.<key>` | {_TEMPLATE_MEANINGS[root]} |")
    assert set(ROOTS) == {"contact", "person", *ATTRIBUTES, *OPEN_ROOTS}, "a template root is missing here"
    lines += ["", "## Statuses and classifications", "",
              "Exact strings, case and punctuation included ([D-VOC-1](rules.md#d-voc-1), "
              "[D-VOC-2](rules.md#d-voc-2)).", "",
              "| sequence status | group |", "|---|---|"]
    lines += [f"| `{s}` | {'finished' if vocab.is_finished(s) else 'in progress'} |" for s in vocab.STATUSES]
    lines += ["", "Reply classifications: " + ", ".join(f"`{c}`" for c in vocab.CLASSIFICATIONS) + ".", ""]
    lines += ["## integration.yaml", "", f"Checked against `schemas/{integ.name}`. "
              "`${ENV}` values are read from the environment only when connecting to a CRM.", "",
              *_keys_table(integ, integ.doc), ""]
    for crm in ("salesforce", "hubspot", "tracking"):
        d = integ.defn(crm)
        lines += [f"### `{crm}`", "", _cell(d.get("description", "")), "", *_keys_table(integ, d), ""]
        for key, sub in d.get("properties", {}).items():
            sub_r = integ.resolve(sub)
            if sub_r.get("type") == "object" and sub_r.get("properties"):
                lines += [f"#### `{crm}.{key}`", "", *_keys_table(integ, sub_r), ""]
    lines += ["## Play tests", "", f"`*.test.yaml`, checked against `schemas/{test.name}`.", "",
              *_keys_table(test, test.doc), "", "### `expect`", "", *_keys_table(test, test.defn("expect")), ""]
    for part in ("write", "kept", "activity", "skipped"):
        lines += [f"#### an expected `{part}` entry", "", *_keys_table(test, test.defn(part)), ""]
    lines += ["## Events", "", "One JSON object per line of an events file, or posted to the ingest endpoint "
              f"(`schemas/{event.name}`).", "", *_keys_table(event, event.doc)]
    return "\n".join(lines).rstrip() + "\n"


_TEMPLATE_MEANINGS = {
    "sequence.name": "the sequence's name",
    "sequence.status": "the contact's sequence status (for a status change: the new one)",
    "reply.classification": "the reply's classification",
    "reply.tags": "the reply's tags, rendered comma-separated",
    "reply.subject": "the reply's subject",
    "reply.body": "the reply's text",
    "play.id": "the id of the Play that is running",
    "event": "any key of the event itself, e.g. `event.at`, `event.url`, `event.id`",
    "message": "any key of the email the event is about, e.g. `message.subject`",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = generate()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{OUT} is out of date: run `python -m cli.gen_reference`\n")
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {OUT}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
