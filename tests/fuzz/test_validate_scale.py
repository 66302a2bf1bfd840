"""Validate is linear in the size of a Play (D-OPS-3): a Play of 10,000 nodes with 5,000 dangling
references (each one asking for a "did you mean") is validated whole, every problem reported once,
and its hints stay short. No timing assert: the size is bounded, pytest-timeout is the hang guard,
and `bench/validate.py` measures the time (4x the nodes, about 4x the time)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.diagnostics import Suggester, did_you_mean, name_list

ROOT = Path(__file__).resolve().parents[2]
NODES = 10_000


def _big_play(folder: Path, nodes: int) -> Path:
    shutil.copytree(ROOT / "plays" / "crm", folder / "crm")
    shutil.copy(ROOT / "plays" / "integration.yaml", folder / "integration.yaml")
    lines = ["play: big", "trigger:", "  type: reply_classified", "start: n0", "nodes:"]
    for i in range(nodes):
        target = "stop" if i + 1 == nodes else f"n{i + 1}" if i % 2 == 0 else f"zz_missing_{i}"
        lines += [f"  n{i}:", "    type: branch", "    cases:", "      - when: {reply_classification: Positive}",
                  f"        goto: {target}", "    default: stop"]
    path = folder / "big.play.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.timeout(240)
def test_validate_a_play_of_10000_nodes_with_5000_dangling_references(tmp_path):
    path = _big_play(tmp_path, NODES)
    result = CliRunner().invoke(app, ["validate", "--format", "json", str(path)])
    assert result.exit_code == 1, result.output[-2000:]
    import json

    doc = json.loads(result.stdout)
    dangling = [d for d in doc["diagnostics"] if d["code"] == "GRAPH001"]
    assert len(dangling) == NODES // 2 - 1  # the last node goes to stop
    assert all(len(d["hint"]) < 400 for d in dangling)  # "known nodes: n0, ..., and 9,981 more"


def test_suggester_on_a_long_list_finds_a_typo_like_a_short_one():
    names = [f"sync_lead_{i}" for i in range(5_000)] + ["mark_replied", "route_by_classification"]
    s = Suggester(names)
    assert s.index is not None  # long list: the deletion index is used
    assert s.hint("mark_repleid") == "did you mean 'mark_replied'?"
    assert s.hint("route_by_clasification") == "did you mean 'route_by_classification'?"
    assert s.hint("Sync_Lead_42") == "did you mean 'sync_lead_42'?"
    assert s.hint("something else entirely") is None
    assert s.hint("x" * 10_000) is None
    # a short list keeps the full comparison (the same answers as before)
    assert did_you_mean("mark_repled", ["mark_replied", "stop"]) == "did you mean 'mark_replied'?"


def test_name_list_is_short():
    assert name_list(["a", "b"]) == "a, b"
    assert name_list([str(i) for i in range(100)], most=3) == "0, 1, 2 and 97 more"
