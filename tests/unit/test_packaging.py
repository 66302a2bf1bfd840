"""Packaging: a non-editable install ships every package and the JSON Schemas (``plays_schemas``,
the ``schemas/`` folder), and a missing schema is a loud setup error, never a silent "0 errors"."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from engine.language.schema_check import SCHEMA_FILES

ROOT = Path(__file__).resolve().parents[2]


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_folder_is_listed():
    listed = set(_setuptools()["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for top in ("engine", "cli", "flows", "sandbox")
             for p in (ROOT / top).rglob("__init__.py") if "__pycache__" not in p.parts}
    assert found <= listed, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"


def test_schemas_ship_as_plays_schemas():
    conf = _setuptools()
    assert "plays_schemas" in conf["packages"]
    folder = ROOT / conf["package-dir"]["plays_schemas"]
    assert (folder / "__init__.py").is_file()
    assert "*.json" in conf["package-data"]["plays_schemas"]
    for names in SCHEMA_FILES.values():
        assert (folder / names[0]).is_file(), names[0]


def test_missing_schemas_are_a_setup_error(tmp_path):
    """An installation without the schemas (simulated: ``plays_schemas`` points at an empty folder)
    makes `plays validate` exit 2 with a message, instead of passing every file."""
    code = (
        "import sys, types\n"
        f"m = types.ModuleType('plays_schemas'); m.__file__ = {str(tmp_path / '__init__.py')!r}\n"
        "sys.modules['plays_schemas'] = m\n"
        "from cli.main import app\n"
        f"app(['validate', {str(ROOT / 'plays')!r}])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == "" and "JSON Schemas of plays are not installed" in done.stderr
    assert "Traceback" not in done.stderr
