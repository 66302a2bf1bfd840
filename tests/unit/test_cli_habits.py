"""CLI habits a newcomer expects: `plays --version`, shell completion, `plays run`/`plays serve`
refusing to guess the CRM (never the live one by default), `plays skipped` not creating a store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app, version

ROOT = Path(__file__).resolve().parents[2]


def test_version():
    out = CliRunner().invoke(app, ["--version"])
    assert out.exit_code == 0
    assert out.output.strip() == f"plays {version()}"
    assert version()[0].isdigit()


def test_completion_is_on():
    out = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in out.output and "--show-completion" in out.output
    env = dict(os.environ, _PLAYS_COMPLETE="complete_bash", COMP_WORDS="plays val", COMP_CWORD="1")
    proc = subprocess.run([sys.executable, "-c", "from cli.main import app; app(prog_name='plays')"],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "validate" in proc.stdout.split()


def test_run_without_crm_refuses(tmp_path):
    events = tmp_path / "e.jsonl"
    events.write_text("")
    out = CliRunner().invoke(app, ["run", "--plays", str(ROOT / "plays"), "--events", str(events)])
    assert out.exit_code == 2
    assert "--crm sandbox" in out.output and "--crm live" in out.output


def test_serve_without_crm_refuses(tmp_path):
    out = CliRunner().invoke(app, ["serve", "--plays", str(ROOT / "plays")], env={"PLAYS_INGEST_SECRET": "x"})
    assert out.exit_code == 2
    assert "--crm sandbox" in out.output and "--crm live" in out.output


def test_skipped_without_a_store_says_so_and_creates_nothing(tmp_path):
    db = tmp_path / "plays.db"
    out = CliRunner().invoke(app, ["skipped", "--db", f"sqlite:///{db}"])
    assert out.exit_code == 2
    assert "no store at" in out.output and "nothing has run here yet" in out.output
    assert not db.exists()


def test_serve_batch_every_is_checked_before_anything_starts(tmp_path):
    """`--batch-every` (how long Play-firing events are folded into one run, docs/api-budget.md)
    takes a duration up to an hour; anything else is refused with the option's name, exit 2."""
    env = {"PLAYS_INGEST_SECRET": "s3cret-" + "x" * 40}
    for bad, said in (("soon", "not a duration"), ("2h", "between 0s and 1h")):
        out = CliRunner().invoke(app, ["serve", "--plays", str(ROOT / "plays"), "--crm", "sandbox",
                                       "--batch-every", bad], env=env)
        assert out.exit_code == 2, out.output
        assert "--batch-every" in out.output and said in out.output
