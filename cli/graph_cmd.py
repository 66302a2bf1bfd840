"""`plays graph PLAY`: draws a Play as SVG (our own renderer), Mermaid or DOT text, or PNG.

PLAY is a file path or a Play id (looked up in ``plays/`` or ``--plays DIR``). The Play's
diagnostics, if any, go to stderr; a Play that cannot be built (schema errors) is not drawn (exit 1).
SVG needs nothing installed (`engine.language.svg`: each node with what it writes, owned / if blank
per the integration, the branch conditions on the arrows). PNG goes through Graphviz's `dot`;
without it the command exits 2 saying how to install Graphviz, or to use SVG.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from cli import report
from engine.diagnostics import did_you_mean
from engine.language.render_graph import node_notes, to_dot, to_mermaid
from engine.language.svg import play_svg
from engine.workspace import PathNotFound, load_workspace


class GraphFormat(str, Enum):
    mermaid = "mermaid"
    dot = "dot"
    svg = "svg"
    png = "png"


def _fail(message: str, code: int = 2) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


def graph(
    play: str = typer.Argument(..., help="A Play file, or a Play id looked up in --plays."),
    format: GraphFormat = typer.Option(GraphFormat.mermaid, "--format", "-f",
                                       help="mermaid, dot, svg (drawn by plays, nothing to install) or png (needs Graphviz)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    plays: str = typer.Option("plays/", "--plays", help="Folder to look a Play id up in."),
) -> None:
    """Draw a Play: SVG (nothing to install), Mermaid, DOT, or PNG with Graphviz."""
    dot_bin = shutil.which("dot")
    if format == GraphFormat.png and dot_bin is None:
        _fail("--format png needs Graphviz's `dot` program, which is not installed; install "
              "Graphviz (apt-get install graphviz / brew install graphviz / https://graphviz.org/download/), "
              "or use --format svg, which needs nothing installed")
    if Path(play).is_file():
        ws = load_workspace([play])
        file = play
        built = ws.built.get(play)
    else:
        try:
            ws = load_workspace([plays])
        except PathNotFound:
            _fail(f"'{play}' is neither a file nor a Play id: folder {plays} does not exist")
        by_id = {p.id: f for f, p in ws.built.items()}
        if play not in by_id:
            ids = sorted(by_id)
            hint = did_you_mean(play, ids) or (f"known Plays: {', '.join(ids)}" if ids else "no Plays found")
            _fail(f"no Play file or Play id '{play}' in {plays} ({hint})")
        file = by_id[play]
        built = ws.built[file]
    own = [d for d in ws.diagnostics if d.file == file]
    if own:
        report.print_text(own, 1, stream=sys.stderr)
    if built is None:
        raise typer.Exit(1)
    if format == GraphFormat.svg:
        doc = ws.play_docs.get(built.id)
        from cli.site.collect import problems_by_node

        text = play_svg(built, ws.integration, ws.crm_objects, node_notes(doc.data) if doc else None,
                        problems=problems_by_node(file, built, own))
    else:
        text = to_mermaid(built) if format == GraphFormat.mermaid else to_dot(built)
    if format == GraphFormat.png:
        done = subprocess.run([dot_bin, f"-T{format.value}"], input=text.encode(), capture_output=True, timeout=60)
        if done.returncode != 0:
            _fail(f"dot failed: {done.stderr.decode(errors='replace').strip()}", 1)
        data = done.stdout
    else:
        data = text.encode()
    if output is not None:
        output.write_bytes(data)
        sys.stderr.write(f"wrote {output}\n")
    elif format == GraphFormat.png:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        sys.stdout.write(data.decode())
    raise typer.Exit(report.exit_code(own))


def register(app: typer.Typer) -> None:
    app.command("graph")(graph)
