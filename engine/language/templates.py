"""Templates: ``{{ contact.firstName }}``-style values, parsed and rendered with a sandboxed jinja2.

`variables` lists the dotted variable paths a template uses (for validation); `render` fills them
from a plain dict context at run time, where a missing value renders empty. No attribute access to
Python objects and no code execution: the context holds only plain dicts, lists and scalars.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Mapping

from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.runtime import Undefined

ROOTS = ("contact", "person", "sequence", "reply", "event", "play", "message")


class _Blank(Undefined):
    """A missing value renders empty and can be traversed further (``a.b.c`` of nothing is empty)."""

    def __getattr__(self, name: str) -> "_Blank":
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> "_Blank":
        return self

    def __str__(self) -> str:
        return ""


_ENV = ImmutableSandboxedEnvironment(undefined=_Blank, autoescape=False, finalize=lambda v: _finalize(v))


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)  # reply.tags render comma-separated
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class TemplateSyntaxProblem(ValueError):
    def __init__(self, message: str, lineno: int | None = None):
        super().__init__(message)
        self.lineno = lineno


@lru_cache(maxsize=4096)
def _parse(text: str) -> nodes.Template:
    try:
        return _ENV.parse(text)
    except TemplateError as exc:
        raise TemplateSyntaxProblem(str(exc), getattr(exc, "lineno", None)) from None


@lru_cache(maxsize=4096)
def _compile(text: str):
    return _ENV.from_string(text)


def variables(text: str) -> list[str]:
    """Dotted variable paths used by a template, e.g. ``["contact.firstName", "play.id"]``.

    Raises TemplateSyntaxProblem for a template that does not parse.
    """
    tree = _parse(text)
    found: list[str] = []

    def dotted(node: nodes.Node) -> str | None:
        if isinstance(node, nodes.Name):
            return node.name
        if isinstance(node, nodes.Getattr):
            base = dotted(node.node)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            base = dotted(node.node)
            return f"{base}.{node.arg.value}" if base else None
        return None

    def walk(node: nodes.Node) -> None:
        if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Name)):
            path = dotted(node)
            if path is not None:
                if path not in found:
                    found.append(path)
                return
        for child in node.iter_child_nodes():
            walk(child)

    walk(tree)
    return found


def render(text: str, context: Mapping[str, Any]) -> str:
    """Render a template against a plain-dict context; ``person`` is an alias of ``contact``."""
    if not is_template(text):
        return text
    ctx = dict(context)
    if "contact" in ctx and "person" not in ctx:
        ctx["person"] = ctx["contact"]
    return _compile(text).render(ctx).strip()
