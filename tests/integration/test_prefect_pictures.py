"""Plays drawn where Prefect users look, with a real local Prefect server (one per session):

- a Play's flow run summary (markdown artifact) shows the path the run's events took through the
  Play: its picture (a data-URI SVG, each step reached with its count, the others faded), a table
  of steps with the contacts that reached them and what was done there, and a link to its docs page;
- each Play's deployment carries the Play's description and a link to its docs page.

``PLAYS_DOCS_URL`` says where the docs site (`plays docs`) is served or published.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest.register_assert_rewrite("tests.integration.prefect_fixtures")
from tests.integration.prefect_fixtures import artifacts_of, flow_runs  # noqa: E402

pytest_plugins = ["tests.integration.prefect_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
PLAYS = ROOT / "plays"
EVENTS = PLAYS / "events" / "demo.jsonl"
STATE = PLAYS / "events" / "demo-crm-state.json"
DOCS = "http://docs.example.test/plays-site/"
SVG = "{http://www.w3.org/2000/svg}"


def _plays(*args: str, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "cli", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_a_play_run_summary_shows_the_path_through_the_play(prefect_env, tmp_path):
    env = dict(prefect_env, PLAYS_DATABASE_URL=f"sqlite:///{tmp_path / 'store.db'}", PLAYS_DOCS_URL=DOCS)
    _plays("run", "--plays", str(PLAYS), "--events", str(EVENTS), "--crm", "sandbox", "--crm-state", str(STATE),
           "--format", "json", env=env)
    run = flow_runs("replied-to-lead-status")[0]
    summary = next(a for a in artifacts_of(run.id) if a.key == "replied-to-lead-status-summary")
    text = summary.data
    assert "## The path through replied-to-lead-status" in text
    assert f"({DOCS}plays/replied-to-lead-status.html)" in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    assert set(rows) == {"`route`", "`mark_replied`", "`mark_nurturing`", "`mark_unqualified`"}
    assert "written" in rows["`mark_replied`"] or "kept" in rows["`mark_replied`"]
    image = re.search(r"\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", text)
    assert image, "the summary embeds the Play's picture"
    svg = ET.fromstring(base64.b64decode(image.group(1)))
    assert svg.get("data-play") == "replied-to-lead-status"
    badges = ["".join(g.itertext()) for g in svg.iter(SVG + "g") if g.get("class") == "run-badge"]
    assert badges and badges[0].endswith(("event", "events"))
    reached = {g.get("data-node") for g in svg.iter(SVG + "g")
               if "node" in (g.get("class") or "").split() and g.get("opacity") is None}
    assert {"__trigger", "route", "mark_replied"} <= reached


DEPLOY = """
import json, sys
from flows.runtime import RuntimeSettings
from flows.serve import build_runner
runner, *_ = build_runner(RuntimeSettings(plays=(sys.argv[1],), database_url=sys.argv[2], crm="sandbox"))
from prefect.client.orchestration import get_client
with get_client(sync_client=True) as client:
    print(json.dumps({d.name: d.description for d in client.read_deployments()}))
"""


def test_each_play_deployment_describes_the_play_and_links_its_docs(prefect_env, tmp_path):
    env = dict(prefect_env, PLAYS_DOCS_URL=DOCS)
    done = subprocess.run([sys.executable, "-c", DEPLOY, str(PLAYS), f"sqlite:///{tmp_path / 'store.db'}"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    described = json.loads(done.stdout.strip().splitlines()[-1])
    from engine.workspace import load_workspace

    for pid, play in load_workspace([str(PLAYS)]).plays.items():
        assert described[pid].startswith(play.description), pid
        assert described[pid].endswith(f"({DOCS}plays/{pid}.html)"), pid
