"""Where the files that ship with plays are, installed or in this checkout: the example workspace
(package ``plays_examples``, the repository's ``plays/`` folder: example Plays, their tests, CRM
snapshots, demo events and CRM state) and the templates of `plays init` (``cli/init_templates``).

Commands find their data here, never relative to the working directory, so `plays demo` and
`plays init` work from an installed wheel in any folder.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def examples_dir() -> Path:
    """The example workspace: the installed ``plays_examples`` package, else the source tree."""
    try:
        import plays_examples  # type: ignore[import-not-found]

        paths = list(getattr(plays_examples, "__path__", []))
        for p in paths:
            if (Path(p) / "integration.yaml").is_file():
                return Path(p)
    except ImportError:
        pass
    return HERE.parent / "plays"


def templates_dir() -> Path:
    """The templates `plays init` writes from."""
    return HERE / "init_templates"


def demo_files() -> tuple[Path, Path, Path]:
    """(Plays folder, demo events, demo CRM state) of the packaged example workspace."""
    base = examples_dir()
    return base, base / "events" / "demo.jsonl", base / "events" / "demo-crm-state.json"
