"""`plays docs generate [--out site/]` and `plays docs serve`: the workspace as a static site.

`generate` writes the site (`cli.site`): an index of Plays, a page per Play with its picture, what
it writes, its Play tests (run now) and its diagnostics, the field index, the integration, and the
user docs with every diagnostic code linked to its explanation. Pages open from disk, offline.
`serve` generates the site, then serves it on 127.0.0.1 (``--port 0``: any free port) until Ctrl-C.

Exit codes: 0 the site was written (even when Plays have problems: the site shows them); 2 a
missing path.
"""

from __future__ import annotations

import functools
import sys
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import List, Optional

import typer

from engine.workspace import PathNotFound

docs_app = typer.Typer(help="A static site of the workspace: Plays drawn, fields written, tests, integration, rules.",
                       no_args_is_help=True)


def _generate(paths: list[str], out: Path):
    from cli.site import generate

    try:
        return generate(paths, out)
    except PathNotFound as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise typer.Exit(2)


def _summary(done) -> str:
    site = done.site
    tests = [t for p in site.plays for t in p.tests]
    return (f"wrote {len(done.pages)} pages to {done.out}/ ({len(site.plays)} Plays, "
            f"{sum(t.passed for t in tests)}/{len(tests)} Play tests passed, {len(site.fields)} fields, "
            f"{len(site.diagnostics)} diagnostics); open {done.out / 'index.html'}")


@docs_app.command("generate")
def generate_cmd(
    paths: Optional[List[str]] = typer.Argument(None, help="Folders or files of the workspace (default: plays/)."),
    out: Path = typer.Option(Path("site"), "--out", "-o", help="Folder to write the site into."),
) -> None:
    """Write the docs site: Plays drawn, what they write, their tests and diagnostics, fields, integration."""
    done = _generate(list(paths) if paths else ["plays/"], out)
    sys.stdout.write(_summary(done) + "\n")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


@docs_app.command("serve")
def serve_cmd(
    paths: Optional[List[str]] = typer.Argument(None, help="Folders or files of the workspace (default: plays/)."),
    out: Path = typer.Option(Path("site"), "--out", "-o", help="Folder to write the site into and serve."),
    port: int = typer.Option(8000, "--port", "-p", help="Port on 127.0.0.1 (0: any free port)."),
) -> None:
    """Generate the docs site and serve it on http://127.0.0.1:PORT/ until Ctrl-C."""
    done = _generate(list(paths) if paths else ["plays/"], out)
    handler = functools.partial(_Quiet, directory=str(done.out.resolve()))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        sys.stderr.write(f"error: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}\n")
        raise typer.Exit(2)
    sys.stdout.write(_summary(done) + "\n")
    sys.stdout.write(f"Serving the docs at http://127.0.0.1:{server.server_address[1]}/ — press Ctrl-C to stop.\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    app.add_typer(docs_app, name="docs")
