"""Cron expressions are checked when a Play is validated (TRIGGER001 ranges, TRIGGER003 anything the
scheduler cannot read), so `*/0 * * * *` is a coded error at its position instead of a failure when
`plays serve` registers the schedule. The verdicts are compared with Prefect's own cron validation:
whatever `plays validate` accepts, Prefect accepts too."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from engine.language.checks.triggers import cron_problem, cron_range_problem

PLAY = """play: p
trigger:
  type: schedule
  cron: "{cron}"
  audience: {{engaged: [clicked], within: 7d}}
start: a
nodes:
  a:
    type: create_task
    crm: hubspot
    subject: hello
"""

EXPRESSIONS = ["*/0 * * * *", "0 9 * * 1", "*/15 * * * *", "0 0 31 2 *", "5-1 * * * *", "H * * * *",
               "0 9 * * MON-FRI", "0 9 * * 1#2", "0 0 L * *", "@daily", "@hourly", "@reboot", "0 9 * *",
               "0 0 0 * * *", "0 9 * JAN *", "*/x * * * *", "0 9 * * 7", "0 9 1-31/2 * *", "0 9 * * 5L",
               "0 9 LW * *", "1,2,3 * * * *", "0 9 * * fri", "0 */0 * * *", "0 9 * * 1/0", "R 9 * * *",
               "0 9 15W * *", "0 25 * * *", "60 * * * *", "0 9 * 13 *", "0-59/5 0-23 1-31 1-12 0-6"]


def _ours(expr: str) -> str | None:
    return cron_range_problem(expr) or cron_problem(expr)


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_what_validate_accepts_prefect_accepts(expr):
    from prefect._internal.schemas.validators import validate_cron_string

    if _ours(expr) is None:
        validate_cron_string(expr)  # raises ValueError if Prefect would refuse the schedule


def test_step_zero_is_trigger003_at_the_cron_value(tmp_path: Path):
    (tmp_path / "p.play.yaml").write_text(PLAY.format(cron="*/0 * * * *"))
    out = CliRunner().invoke(app, ["validate", str(tmp_path), "--format", "json"])
    assert out.exit_code == 1, out.output
    import json

    diags = json.loads(out.output)["diagnostics"]
    codes = [(d["code"], d["line"], d["col"]) for d in diags if d["severity"] == "error"]
    assert codes == [("TRIGGER003", 4, 9)]
    assert "a step of 0 never advances" in diags[[d["code"] for d in diags].index("TRIGGER003")]["message"]


@pytest.mark.parametrize("expr,words", [
    ("5-1 * * * *", "minute '5-1': a range must go upwards"),
    ("0 0 31 2 *", "day of month '31': no month has that day"),
    ("H * * * *", "random (R) and hashed (H)"),
    ("0 9 * * 5L", "'L' and 'W'"),
    ("@reboot", "not a cron nickname"),
])
def test_messages_name_the_field(expr, words):
    assert words in (cron_problem(expr) or "")


def test_good_expressions_pass():
    for expr in ("*/15 9-17 * jan-dec mon-fri", "@daily", "0 9 * * 1", "0 0 L * *"):
        assert _ours(expr) is None, expr
