"""The CI formats: `plays validate --format github|sarif`, `plays test --junit-xml` and the FILE:LINE
of a failed expectation, and `plays validate` on a folder without Play files failing."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from cli.formats import PREFIXES, github_line, help_uri
from cli.main import app
from engine.diagnostics import Diagnostic, Severity

ROOT = Path(__file__).resolve().parents[2]
CASE = ROOT / "tests" / "acceptance" / "cases" / "trigger-cron-step-zero"
ANCHOR = re.compile(r'<a id="([a-z0-9-]+)"></a>')


def _broken(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "plays", tmp_path / "plays")
    (tmp_path / "plays" / "bad.play.yaml").write_text(
        "play: bad\ntrigger: {type: sequence_status_changed, to: [Completed Replied]}\nstart: a\n"
        "nodes:\n  a: {type: sync_to_salesforce, object: Lead, fields: {Status: Replied}}\n")
    return tmp_path / "plays"


def test_github_annotations(tmp_path):
    folder = _broken(tmp_path)
    out = CliRunner().invoke(app, ["validate", str(folder), "--format", "github"])
    assert out.exit_code == 1
    lines = out.stdout.splitlines()
    assert lines[-1].endswith("1 error, 0 warnings")
    (ann,) = [x for x in lines if x.startswith("::")]
    assert ann.startswith(f"::error file={folder}/bad.play.yaml,line=2,col=")
    assert ",title=VOCAB001::" in ann and "did you mean 'Completed: Replied'?" in ann


def test_github_escaping():
    d = Diagnostic("YAML001", Severity.WARNING, "a,b:c.play.yaml", 3, 4, "50% bad\nline", "x: y")
    assert github_line(d) == "::warning file=a%2Cb%3Ac.play.yaml,line=3,col=4,title=YAML001::50%25 bad%0Aline (x: y)"


def test_sarif_2_1_0(tmp_path, monkeypatch):
    from sarif_pydantic import Sarif

    monkeypatch.chdir(tmp_path)
    _broken(tmp_path)
    out = CliRunner().invoke(app, ["validate", "plays", "--format", "sarif"])
    assert out.exit_code == 1
    log = json.loads(out.stdout)
    Sarif.model_validate(log)  # the SARIF object model reads it back
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    (result,) = run["results"]
    assert result["ruleId"] == "VOCAB001" and result["level"] == "error"
    assert rules[result["ruleIndex"]]["id"] == "VOCAB001"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "plays/bad.play.yaml", "uriBaseId": "%SRCROOT%"}
    assert loc["region"]["startLine"] == 2
    assert rules[0]["helpUri"].endswith("/docs/diagnostics.md#vocab")


def test_help_uris_land_on_an_anchor_of_the_catalogue(monkeypatch):
    monkeypatch.setenv("PLAYS_DOCS_URL", "https://example.org/plays/docs")
    assert help_uri("TRIGGER003") == "https://example.org/plays/docs/diagnostics.md#trigger"
    anchors = set(ANCHOR.findall((ROOT / "docs" / "diagnostics.md").read_text()))
    sections = set(re.findall(r"^## ([A-Z]+) —", (ROOT / "docs" / "diagnostics.md").read_text(), re.M))
    assert sections and sections <= set(PREFIXES)
    for prefix in PREFIXES:
        assert help_uri(prefix + "001").rsplit("#", 1)[1] in anchors, prefix


def test_validate_without_play_files_fails(tmp_path):
    (tmp_path / "notes.yaml").write_text("a: 1\n")
    out = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert out.exit_code == 1
    assert "no Play files (*.play.yaml)" in out.output


def test_failed_expectation_names_its_line_and_junit(tmp_path):
    folder = tmp_path / "plays"
    shutil.copytree(ROOT / "plays", folder)
    test = folder / "replied-to-lead-status.test.yaml"
    text = test.read_text().replace("  kept: []", "  kept: [{crm: salesforce, record: L9, field: Status}]")
    test.write_text(text)
    line = next(i for i, x in enumerate(text.splitlines(), 1) if "record: L9" in x)
    report = tmp_path / "out" / "junit.xml"
    out = CliRunner().invoke(app, ["test", str(test), "--junit-xml", str(report)])
    assert out.exit_code == 1
    assert f"    {test}:{line}: kept[0] not found:" in out.stdout
    suite = ET.parse(report).getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "1" and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure.get("message").startswith(f"{test}:{line}: kept[0] not found")


def test_junit_of_a_green_run(tmp_path):
    report = tmp_path / "junit.xml"
    out = CliRunner().invoke(app, ["test", str(ROOT / "plays"), "--junit-xml", str(report)])
    assert out.exit_code == 0, out.output
    suite = ET.parse(report).getroot()
    n = int(out.stdout.splitlines()[-1].split()[0])
    assert int(suite.get("tests")) == n > 10 and suite.get("failures") == "0"
    assert all(c.find("failure") is None for c in suite.iter("testcase"))
