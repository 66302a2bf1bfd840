"""The built wheel, installed as a user installs it: `pip install plays-*.whl` into a fresh virtual
environment in a temporary folder (no editable install, no checkout on `sys.path`; pip resolves the
dependencies from its cache or the package index), then, in an empty folder far from this checkout:
`plays init`, `plays validate`, `plays test`, `plays schema --workspace` and `plays demo --no-wait`.

This proves the package data ships (JSON Schemas, init templates, the example workspace the demo
runs) and that no command reads a file of the checkout. Slow (building, installing, a local Prefect
server for the demo): marked `slow`, bounded by its timeout.

Installing the dependencies from the index takes minutes (Prefect alone brings ~100 packages), so by
default the fresh environment borrows them: a ``.pth`` line puts this environment's site-packages
after its own (without running that folder's ``.pth`` files, so the editable install of the checkout
stays invisible), the wheel goes in with ``--no-deps --ignore-installed``, and ``pip check`` proves
every requirement the wheel declares is met. ``PLAYS_WHEEL_FULL_INSTALL=1`` resolves and installs
every dependency from the index instead, exactly as a user's ``pip install`` does (~3 more minutes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(".git", ".venv", "build", "dist", "node_modules", "__pycache__", "*.egg-info",
                              ".pytest_cache", ".hypothesis", "*.db", "out")

PACKAGED = ("pyproject.toml", "README.md", "engine", "cli", "flows", "sandbox", "schemas", "plays")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _run(args: list[str], cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args)} -> {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    base = tmp_path_factory.mktemp("wheel")
    src, dist, env_dir = base / "src", base / "dist", base / "venv"
    src.mkdir()
    for name in PACKAGED:  # what the wheel is built from, copied out of the checkout
        (shutil.copytree(ROOT / name, src / name, ignore=SKIP, symlinks=True) if (ROOT / name).is_dir()
         else shutil.copy2(ROOT / name, src / name))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PLAYS_HOME=str(base / "home"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)], base, env)
    wheels = list(dist.glob("plays-*.whl"))
    assert len(wheels) == 1, wheels
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    if os.environ.get("PLAYS_WHEEL_FULL_INSTALL"):
        _run([str(py), "-m", "pip", "install", "-q", str(wheels[0])], base, env, timeout=800)
    else:
        site = _run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base, env)
        ours = sysconfig.get_paths()["purelib"]
        Path(site.stdout.strip(), "zz_borrowed_dependencies.pth").write_text(ours + "\n")
        _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", str(wheels[0])], base, env)
        _run([str(py), "-m", "pip", "check"], base, env)
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    for name in ("SF_INSTANCE_URL", "SF_SESSION_ID", "HUBSPOT_TOKEN", "PLAYS_DATABASE_URL", "PREFECT_API_URL"):
        env.pop(name, None)
    return env_dir / "bin", env


def test_installed_package_is_not_the_checkout(installed, tmp_path):
    bin_dir, env = installed
    done = _run([str(bin_dir / "python"), "-c", "import cli, engine, plays_schemas, plays_examples; "
                 "print(cli.__file__); print(list(plays_examples.__path__))"], tmp_path, env)
    assert str(ROOT) not in done.stdout and "site-packages" in done.stdout


def test_init_validate_test_schema_from_the_wheel(installed, tmp_path):
    bin_dir, env = installed
    plays = str(bin_dir / "plays")
    _run([plays, "init", "ws"], tmp_path, env)
    ws = tmp_path / "ws"
    assert "0 errors, 0 warnings" in _run([plays, "validate"], ws, env).stdout
    assert _run([plays, "test"], ws, env).stdout.strip().endswith("1 passed, 0 failed")
    _run([plays, "schema", "--workspace", "--out", "editor-schemas"], ws, env)
    assert (ws / "editor-schemas" / "play.schema.json").is_file()


def test_demo_from_the_wheel_in_an_empty_folder(installed, tmp_path):
    bin_dir, env = installed
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _run([str(bin_dir / "plays"), "demo", "--no-wait"], empty, env, timeout=600)
    assert "Totals:" in done.stdout and "records written" in done.stdout
    assert list(empty.iterdir()) == [], "the demo left files in the working folder"
