"""Import rules (import-linter contracts in pyproject.toml): `engine` never imports prefect, flows,
sandbox or cli; `flows` never imports sandbox or cli. Runs the real `lint-imports`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_lint_imports_contracts_hold():
    exe = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "engine is pure" in done.stdout and "KEPT" in done.stdout and "BROKEN" not in done.stdout


def test_the_contracts_are_declared():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'source_modules = ["engine"]' in text
    assert 'forbidden_modules = ["prefect", "flows", "sandbox", "cli"]' in text
