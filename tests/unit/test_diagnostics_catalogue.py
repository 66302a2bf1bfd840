"""Every diagnostic code used in the code base (engine, cli, flows) has a row in the catalogue
`docs/diagnostics.md` (cli.md: codes are stable and documented in one catalogue), with a severity,
a meaning and a fix."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREFIXES = ("YAML", "SCHEMA", "GRAPH", "VOCAB", "FIELD", "TEMPLATE", "INTEG", "TRIGGER", "PLAY", "EVENT", "CRMSTATE",
            "AUDIENCE", "COMPILE", "CONN", "BACKFILL", "WORKER", "SERVE")
CODE = re.compile(r"\b(?:" + "|".join(PREFIXES) + r")[0-9]{3}\b")
ROW = re.compile(r"^\|\s*`(?P<code>[A-Z]+[0-9]{3})`\s*\|\s*(?P<severity>[^|]*)\|(?P<rest>.*)$")


def _used() -> dict[str, str]:
    found: dict[str, str] = {}
    for folder in ("engine", "cli", "flows"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for code in CODE.findall(path.read_text(encoding="utf-8")):
                found.setdefault(code, str(path.relative_to(ROOT)))
    return found


def _catalogue() -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    for line in (ROOT / "docs" / "diagnostics.md").read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            rows[m.group("code")] = [m.group("severity").strip()] + [c.strip() for c in m.group("rest").split("|")]
    return rows


def test_every_code_in_the_code_base_is_in_the_catalogue():
    used, rows = _used(), _catalogue()
    assert len(used) > 50  # the scan works
    missing = {code: where for code, where in used.items() if code not in rows}
    assert not missing, f"codes missing from docs/diagnostics.md (code: first file using it): {missing}"


def test_catalogue_rows_are_complete():
    for code, cells in _catalogue().items():
        assert cells[0] in ("error", "warning"), f"{code}: severity {cells[0]!r}"
        assert all(cells[1:4]) or all(cells[1:3]), f"{code}: a row needs meaning, example and fix: {cells}"
        assert code.rstrip("0123456789") in PREFIXES, f"{code}: unknown prefix"
