"""`plays init` templates: each template file is written somewhere, each ships as package data, and
the editor settings it writes are this repository's own (one set-up, tested once with the real
language server in tests/integration/test_editor.py)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from cli.init_cmd import TEMPLATES
from cli.packaged import examples_dir, templates_dir

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_is_written_and_exists():
    on_disk = {p.name for p in templates_dir().iterdir() if p.is_file()}
    assert on_disk == set(TEMPLATES)


def test_templates_and_examples_ship_as_package_data():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "init_templates/*" in conf["package-data"]["cli"]
    assert conf["package-dir"]["plays_examples"] == "plays" and "plays_examples" in conf["packages"]
    data = conf["package-data"]["plays_examples"]
    assert {"*.yaml", "crm/*.json", "events/*.jsonl", "events/*.json"} <= set(data)
    assert (examples_dir() / "events" / "demo.jsonl").is_file()


def test_editor_settings_template_is_the_repositorys():
    assert (templates_dir() / "vscode-settings.json").read_text() == (ROOT / ".vscode" / "settings.json").read_text()
