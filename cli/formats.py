"""Machine formats of diagnostics for CI: GitHub Actions workflow commands and SARIF 2.1.0; and the
JUnit XML report of `plays test`.

- ``github``: one ``::error file=F,line=L,col=C,title=CODE::message (hint)`` line per diagnostic
  (``::warning`` for warnings), escaped as the runner expects, so each problem shows on the pull
  request's diff; then the usual summary line.
- ``sarif``: one SARIF 2.1.0 log (for code-scanning uploads); every code used is a rule whose
  ``helpUri`` points at its table in ``docs/diagnostics.md``.
- ``junit_xml``: the ``<testsuite>`` JUnit XML that CI systems render, one ``<testcase>`` per Play test.

The docs' address is ``$PLAYS_DOCS_URL`` when set (where your team hosts this repository's
``docs/``), else the package's ``Documentation`` URL, else the ``docs/`` folder of this checkout, else the
package's page on PyPI.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterable, TextIO

from engine.diagnostics import Diagnostic, Severity, counts

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# What each family of codes is about (the catalogue's first table, in short).
PREFIXES = {"YAML": "reading the file: YAML syntax and safety limits", "SCHEMA": "structure, against the JSON Schemas",
            "GRAPH": "the node graph of a Play", "VOCAB": "sequence statuses and reply classifications",
            "TRIGGER": "triggers and conditions that can never match", "FIELD": "CRM fields against the snapshots",
            "TEMPLATE": "templates and attribute paths", "INTEG": "integration settings and snapshots",
            "PLAY": "across files: ids, tests, conflicts", "EVENT": "events", "CRMSTATE": "CRM state",
            "AUDIENCE": "audience CSV files", "COMPILE": "compiling a Play to run", "CONN": "connecting to a CRM",
            "BACKFILL": "plays backfill"}
DOCS_ENV = "PLAYS_DOCS_URL"


PYPI = "https://pypi.org/project/plays/"


def docs_url() -> str | None:
    """Base address of the user docs, ending in ``/`` (None: not known; links go to PyPI)."""
    base = os.environ.get(DOCS_ENV)
    if not base:
        base = _metadata_docs_url()
    if not base:
        checkout = Path(__file__).resolve().parents[1] / "docs"
        base = checkout.as_uri() if checkout.is_dir() else None
    return base.rstrip("/") + "/" if base else None


def _metadata_docs_url() -> str | None:
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        for entry in metadata("plays").get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            if label.strip().lower() in ("documentation", "docs"):
                return url.strip()
    except PackageNotFoundError:  # pragma: no cover - a bare checkout
        return None
    return None


def help_uri(code: str) -> str:
    """Where a diagnostic code is explained: its prefix's table in the catalogue (anchor ``#trigger``)."""
    base = docs_url()
    return f"{base}diagnostics.md#{code.rstrip('0123456789').lower()}" if base else PYPI


# ------------------------------------------------------------------------------------- github

def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(d: Diagnostic) -> str:
    """One workflow command: ``::error file=...,line=...,col=...,title=CODE::message (hint)``."""
    kind = "error" if d.severity == Severity.ERROR else "warning"
    props = f"file={_escape_property(d.file)},line={d.line},col={d.col},title={_escape_property(d.code)}"
    message = f"{d.message} ({d.hint})" if d.hint else d.message
    return f"::{kind} {props}::{_escape_data(message)}"


def print_github(diagnostics: Iterable[Diagnostic], files: int, stream: TextIO) -> None:
    from cli.report import summary

    diagnostics = list(diagnostics)
    for d in diagnostics:
        stream.write(github_line(d) + "\n")
    stream.write(summary(files, *counts(diagnostics)) + "\n")
    stream.flush()


# -------------------------------------------------------------------------------------- sarif

def _uri(file: str) -> str:
    return Path(file).as_posix() if not Path(file).is_absolute() else Path(file).as_uri()


def to_sarif(diagnostics: Iterable[Diagnostic], version: str) -> dict:
    """A SARIF 2.1.0 log of one run of `plays validate`."""
    diagnostics = list(diagnostics)
    codes = sorted({d.code for d in diagnostics})
    index = {code: i for i, code in enumerate(codes)}
    worst = {code: ("error" if any(d.code == code and d.severity == Severity.ERROR for d in diagnostics)
                    else "warning") for code in codes}
    rules = [{"id": code, "name": code,
              "shortDescription": {"text": f"{code}: "
                                   f"{PREFIXES.get(code.rstrip('0123456789'), 'plays diagnostic')}"},
              "helpUri": help_uri(code),
              "defaultConfiguration": {"level": worst[code]}} for code in codes]
    results = []
    for d in diagnostics:
        text = f"{d.message} ({d.hint})" if d.hint else d.message
        location = {"physicalLocation": {"artifactLocation": {"uri": _uri(d.file)},
                                         "region": {"startLine": max(d.line, 1), "startColumn": max(d.col, 1)}}}
        if not Path(d.file).is_absolute():
            location["physicalLocation"]["artifactLocation"]["uriBaseId"] = "%SRCROOT%"
        results.append({"ruleId": d.code, "ruleIndex": index[d.code],
                        "level": "error" if d.severity == Severity.ERROR else "warning",
                        "message": {"text": text}, "locations": [location]})
    base = docs_url()
    driver = {"name": "plays", "version": version, "informationUri": f"{base}first-play.md" if base else PYPI,
              "rules": rules}
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0",
            "runs": [{"tool": {"driver": driver}, "columnKind": "unicodeCodePoints", "results": results}]}


def print_sarif(diagnostics: Iterable[Diagnostic], version: str, stream: TextIO) -> None:
    stream.write(json.dumps(to_sarif(diagnostics, version), indent=2, ensure_ascii=False) + "\n")
    stream.flush()


# -------------------------------------------------------------------------------------- junit

def junit_xml(cases: list[dict], name: str = "plays test") -> str:
    """JUnit XML of Play tests. Each case: ``id`` (file::name), ``file``, ``name``, ``line``,
    ``passed``, ``problems`` (lines), ``message`` (the first failure, with its FILE:LINE)."""
    failures = sum(1 for c in cases if not c["passed"])
    suite = ET.Element("testsuite", name=name, tests=str(len(cases)), failures=str(failures), errors="0",
                       skipped="0")
    for c in cases:
        case = ET.SubElement(suite, "testcase", classname=c["file"], name=c["name"], file=c["file"],
                             line=str(c.get("line") or 0))
        if not c["passed"]:
            failure = ET.SubElement(case, "failure", message=c.get("message") or "failed")
            failure.text = "\n".join(c.get("problems") or [])
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
