"""The README's picture of a Play (docs/img/replied-to-lead-status.svg) is what `plays graph
--format svg` draws today: it fails when the Play, the integration or the renderer changed and the
picture was not regenerated."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
PICTURE = ROOT / "docs" / "img" / "replied-to-lead-status.svg"
REGENERATE = "plays graph replied-to-lead-status --format svg -o docs/img/replied-to-lead-status.svg"


def test_readme_shows_the_picture():
    assert "(docs/img/replied-to-lead-status.svg)" in (ROOT / "README.md").read_text()


def test_the_committed_picture_is_current(tmp_path: Path):
    fresh = tmp_path / "fresh.svg"
    result = CliRunner().invoke(app, ["graph", str(ROOT / "plays" / "replied-to-lead-status.play.yaml"),
                                      "--format", "svg", "-o", str(fresh)])
    assert result.exit_code == 0, result.stderr
    assert fresh.read_text() == PICTURE.read_text(), f"the README picture is stale; run: {REGENERATE}"
