"""Vocabulary (D-VOC-1/2, branch coverage), triggers that can never match, template variables,
integration settings and conflicts between Plays (engine/language/checks/*), through `load_workspace`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.language.checks.template_vars import variable_problem
from engine.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
INTEG = """salesforce:
  schema_file: crm/salesforce.describe.json
hubspot:
  schema_file: crm/hubspot.properties.json
"""


def play(trigger: str, nodes: str, pid: str = "p") -> str:
    return f"play: {pid}\ntrigger:\n  {trigger}\nstart: a\nnodes:\n{nodes}"


def branch(*whens: str, default: bool = True) -> str:
    cases = "".join(f"      - when: {w}\n        goto: stop\n" for w in whens)
    return "  a:\n    type: branch\n    cases:\n" + cases + ("    default: stop\n" if default else "")


def sf(fields: str, obj: str = "Lead") -> str:
    return f"  a:\n    type: sync_to_salesforce\n    object: {obj}\n    fields: {fields}\n"


STATUS = 'type: sequence_status_changed\n  to: ["Completed: Replied"]'


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], integ: str | None = INTEG):
    shutil.copytree(ROOT / "plays" / "crm", tmp_path / "crm")
    if integ is not None:
        (tmp_path / "integration.yaml").write_text(integ)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    return load_workspace(["."])


def diags(*args, **kw) -> list[tuple[str, str, str | None]]:
    return [(d.code, d.message, d.hint) for d in run(*args, **kw).diagnostics]


# -- vocabulary --------------------------------------------------------------------------------

def test_status_and_classification_typos_with_hints(tmp_path, monkeypatch):
    text = play('type: sequence_status_changed\n  from: [engaged]\n  to: ["Completed Replied"]',
                branch("{reply_classification: [Willing To Meet]}", "{reply_classification: {not: Not interested}}",
                       "{event.to: Bounce stopped}"))
    out = diags(tmp_path, monkeypatch, {"p.play.yaml": text})
    assert [(c, h) for c, _m, h in out] == [
        ("VOCAB001", "did you mean 'Engaged'?"), ("VOCAB001", "did you mean 'Completed: Replied'?"),
        ("VOCAB002", "did you mean 'Willing to meet'?"), ("VOCAB002", "did you mean 'Negative'?"),
        ("VOCAB001", "did you mean 'Bounce Stopped'?")]


def test_vocab_is_checked_even_when_the_schema_fails(tmp_path, monkeypatch):
    text = play(STATUS, branch("{reply_classification: Positve}")) + "extra: 1\n"
    assert sorted(c for c, *_ in diags(tmp_path, monkeypatch, {"p.play.yaml": text})) == ["SCHEMA001", "VOCAB002"]


def test_branch_coverage_warning_respects_the_trigger_filter(tmp_path, monkeypatch):
    covered = play(STATUS, branch('{sequence_status: "Completed: Replied"}', default=False))
    assert diags(tmp_path, monkeypatch, {"p.play.yaml": covered}) == []


def test_branch_coverage_warning(tmp_path, monkeypatch):
    text = play("type: reply_classified\n  classifications: [Positive, Negative]",
                branch("{reply_classification: Positive}", "{reply_classification: Negative, contact.title: x}",
                       default=False))
    out = diags(tmp_path, monkeypatch, {"p.play.yaml": text})
    assert [(c, m) for c, m, _h in out] == [
        ("VOCAB003", "branch 'a' tests classifications but has no default and does not cover 'Negative'")]


def test_branch_coverage_sees_the_attribute_under_its_other_name(tmp_path, monkeypatch):
    """D-VOC-2: `reply.classification` is `reply_classification`: the same coverage warning."""
    text = play("type: reply_classified\n  classifications: [Positive, Negative]",
                branch("{reply.classification: Positive}", default=False))
    out = diags(tmp_path, monkeypatch, {"p.play.yaml": text})
    assert [c for c, _m, _h in out] == ["VOCAB003"]


# -- triggers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("trigger,when,code", [
    ("type: sequence_status_changed\n  from: [Engaged]\n  to: [Engaged]", None, "TRIGGER001"),
    ("type: schedule\n  every: 0h\n  audience: {csv: a.csv}", None, "TRIGGER001"),
    ("type: schedule\n  cron: '61 * * * *'\n  audience: {csv: a.csv}", None, "TRIGGER001"),
    ("type: schedule\n  cron: '0 9 * 13 *'\n  audience: {csv: a.csv}", None, "TRIGGER001"),
    (STATUS, "{sequence_status: [Bounced, Canceled]}", "TRIGGER002"),
    (STATUS, '{sequence_status: {not: ["Completed: Replied"]}}', "TRIGGER002"),
    (STATUS, "{event: email_opened}", "TRIGGER002"),
    ("type: reply_classified\n  classifications: [Positive]", "{reply_classification: {in: [OOO]}}", "TRIGGER002"),
    ("type: email_engagement\n  events: [opened, clicked]", "{event: [email_replied]}", "TRIGGER002"),
    ("type: sequence_enrolled\n  sequences: [A]", "{sequence: B}", "TRIGGER002"),
    ("type: sequence_status_changed\n  from: [Engaged]", "{event.from: Paused}", "TRIGGER002"),
    # the same filters under the attributes' other names (D-VOC-1/2: one set of condition keys)
    ("type: reply_classified\n  classifications: [Positive]", "{reply.classification: Negative}", "TRIGGER002"),
    (STATUS, "{event.sequence_status: Bounced}", "TRIGGER002"),
])
def test_never_matching(tmp_path, monkeypatch, trigger, when, code):
    nodes = branch(when) if when else sf("{Title: CEO}")
    assert [c for c, *_ in diags(tmp_path, monkeypatch, {"p.play.yaml": play(trigger, nodes)})] == [code]


@pytest.mark.parametrize("trigger,when", [
    ("type: schedule\n  cron: '*/15 9-17 * jan-dec mon-fri'\n  audience: {csv: a.csv}", None),
    ("type: schedule\n  cron: '@daily'\n  audience: {csv: a.csv}", None),
    (STATUS, '{sequence_status: ["Completed: Replied", Bounced]}'),
    ("type: email_engagement\n  events: [clicked]", "{event: email_clicked}"),
    ("type: sequence_status_changed", "{sequence_status: Bounced}"),
    ("type: reply_classified", "{sequence_status: Engaged}"),
])
def test_matching_is_fine(tmp_path, monkeypatch, trigger, when):
    nodes = branch(when) if when else sf("{Title: CEO}")
    assert diags(tmp_path, monkeypatch, {"p.play.yaml": play(trigger, nodes)}) == []


def test_a_typo_is_reported_once_not_also_as_never_matching(tmp_path, monkeypatch):
    out = diags(tmp_path, monkeypatch, {"p.play.yaml": play(STATUS, branch("{sequence_status: Bouncd}"))})
    assert [c for c, *_ in out] == ["VOCAB001"]


# -- templates ---------------------------------------------------------------------------------

@pytest.mark.parametrize("var,fields,code", [
    ("contact.firstName", None, None), ("person.email", None, None), ("contact.Anything", None, None),
    ("contact.Title", {"Title"}, None), ("contact.title", {"Title"}, None), ("contact.Titel", {"Title"}, "TEMPLATE003"),
    ("sequence.name", None, None), ("sequence.status", None, None), ("sequence.step", None, "TEMPLATE002"),
    ("reply.tags", None, None), ("reply.body", None, None), ("reply.text", None, "TEMPLATE002"),
    ("event.url", None, None), ("message.subject", None, None), ("play.id", None, None),
    ("play.name", None, "TEMPLATE002"), ("contact", None, "TEMPLATE002"), ("lead.Status", None, "TEMPLATE002"),
])
def test_variables(var, fields, code):
    problem = variable_problem(var, fields)
    assert (problem[0] if problem else None) == code


def test_template_checks_in_nodes(tmp_path, monkeypatch):
    nodes = sf('{Title: "{{ contact.Titel }}", Description: "{{ reply.clasification }}", Company: "{{ contact.x }"}')
    nodes += "    next: t\n  t:\n    type: create_task\n    crm: hubspot\n    subject: \"{{ contact.firstname }}\"\n" \
             "    description: \"{{ contact.jobtitle }} {{ contact.Title }}\"\n"
    out = diags(tmp_path, monkeypatch, {"p.play.yaml": play(STATUS, nodes)})
    assert sorted((c, m) for c, m, _h in out) == [
        ("TEMPLATE001", "template does not parse: unexpected '}'"),
        ("TEMPLATE002", "unknown variable 'reply.clasification'"),
        ("TEMPLATE003", "unknown contact attribute 'Titel' in 'contact.Titel'"),
        ("TEMPLATE003", "unknown contact attribute 'Title' in 'contact.Title'"),
    ]  # contact.firstname passes on HubSpot (a property of contacts); contact.Title does not


def test_contact_fields_on_auto_need_both_objects(tmp_path, monkeypatch):
    out = diags(tmp_path, monkeypatch, {"p.play.yaml": play(STATUS, sf('{Title: "{{ contact.Company }}"}', obj="auto"))})
    assert [c for c, *_ in out] == ["TEMPLATE003"]  # Company is a Lead field only


def test_templates_not_checked_against_fields_without_snapshot(tmp_path, monkeypatch):
    out = diags(tmp_path, monkeypatch, {"p.play.yaml": play(STATUS, sf('{Title: "{{ contact.Whatever__c }}"}'))}, integ=None)
    assert [c for c, *_ in out] == ["INTEG001"]


# -- integration -------------------------------------------------------------------------------

def test_email_message_needs_enhanced_email(tmp_path, monkeypatch):
    integ = INTEG.replace("salesforce:\n", "salesforce:\n  email_writeback: email_message\n")
    assert [c for c, *_ in diags(tmp_path, monkeypatch, {}, integ=integ)] == ["INTEG005"]


def test_email_message_with_enhanced_email_is_fine(tmp_path, monkeypatch):
    integ = INTEG.replace("salesforce:\n", "salesforce:\n  email_writeback: email_message\n  enhanced_email: true\n")
    assert diags(tmp_path, monkeypatch, {}, integ=integ) == []


def test_env_references_are_not_secrets(tmp_path, monkeypatch):
    integ = INTEG.replace("salesforce:\n", "salesforce:\n  session_id: ${SF_SESSION_ID}\n  instance_url: ${SF_URL}\n") \
        .replace("hubspot:\n", "hubspot:\n  access_token: pat-123\n")
    assert [(c, m) for c, m, _ in diags(tmp_path, monkeypatch, {}, integ=integ)] == \
        [("INTEG008", "hubspot.access_token is written in plain text")]


# -- conflicts ---------------------------------------------------------------------------------

def test_conflicting_literals_between_plays(tmp_path, monkeypatch):
    a = play(STATUS, sf("{Status: Replied}"), pid="a")
    b = play("type: sequence_status_changed", sf("{Status: Nurturing}", obj="auto"), pid="b")
    out = diags(tmp_path, monkeypatch, {"a.play.yaml": a, "b.play.yaml": b})
    assert [c for c, *_ in out] == ["FIELD001"]  # Status is not on Contact: b is not valid, so no conflict
    shutil.rmtree(tmp_path / "crm")
    b = play("type: sequence_status_changed", sf("{Status: Nurturing}"), pid="b")
    out = diags(tmp_path, monkeypatch, {"a.play.yaml": a, "b.play.yaml": b})
    assert [(c, m) for c, m, _ in out] == [("PLAY003", "Plays 'a' and 'b' can both write salesforce Status on the same "
                                            "record for sequence_status_changed events: 'Replied' vs 'Nurturing'")]


@pytest.mark.parametrize("trigger_b", [
    'type: sequence_status_changed\n  to: [Bounced]',       # disjoint filters
    "type: reply_classified",                                # another event type
])
def test_no_conflict_when_triggers_cannot_overlap(tmp_path, monkeypatch, trigger_b):
    a = play(STATUS, sf("{Status: Replied}"), pid="a")
    b = play(trigger_b, sf("{Status: Nurturing}"), pid="b")
    assert diags(tmp_path, monkeypatch, {"a.play.yaml": a, "b.play.yaml": b}) == []


def test_same_literal_or_template_is_no_conflict(tmp_path, monkeypatch):
    a = play(STATUS, sf('{Status: Replied, Title: "{{ contact.title }}"}'), pid="a")
    b = play(STATUS, sf('{Status: Replied, Title: "{{ contact.company }}"}'), pid="b")
    assert diags(tmp_path, monkeypatch, {"a.play.yaml": a, "b.play.yaml": b}) == []
