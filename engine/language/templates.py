"""Templates: ``{{ contact.firstName }}``-style values, parsed and rendered with a sandboxed jinja2.

`variables` lists the dotted variable paths a template uses (for validation); `problems` lists what
makes a template unusable (it does not parse, it uses a statement we do not allow, it is nested too
deeply, or rendering it breaks a limit whatever the data); `render` fills a template from a plain
dict context at run time, where a missing value renders empty. `render` is the one rendering
function of plan, run and validation (which dry-renders every template against an empty context).

Limits (D-OPS-3): a template is at most `MAX_SOURCE_CHARS` long and `MAX_NESTING` deep; no
``include``/``extends``/``import``/``macro``/``call``/``filter`` blocks, block ``set`` or recursive
loops; a render does at most `MAX_WORK` steps (loop iterations, calls, filters, operators), every
value it makes holds at most `MAX_OUTPUT_CHARS` characters (integers at most `MAX_INT_BITS` bits),
all of them together at most `MAX_ALLOC_CHARS`, and its output at most `MAX_OUTPUT_CHARS`.
Multiplying operations (``*``, ``**``, ``center``, ``replace``, ``join``, widths in format strings)
are checked before they run, so a limit is hit before the memory is taken. A render that breaks a
limit or fails returns a `RenderFailed` value (code TEMPLATE006 or TEMPLATE007), never an exception.

No attribute access to Python internals and no code execution: the context holds only plain dicts,
lists and scalars, and the sandbox refuses ``__class__`` and friends.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterator, Mapping

from jinja2 import nodes
from jinja2.exceptions import TemplateError
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

from engine.language.template_limits import (CHARS_PER_STEP, MAX_ALLOC_CHARS, MAX_INT_BITS, MAX_NESTING,  # noqa: F401
                                             MAX_OUTPUT_CHARS, MAX_RANGE, MAX_SOURCE_CHARS, MAX_WORK, _BUDGET,
                                             _WIDE, _Limit, _check_args, _check_binop, _made, _range, _size, _tick)

ROOTS = ("contact", "person", "sequence", "reply", "event", "play", "message")


_ALLOWED_STATEMENTS = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.For, nodes.Assign,
                       nodes.With)
_STATEMENT_NAMES = {nodes.Include: "include", nodes.Extends: "extends", nodes.Import: "import",
                    nodes.FromImport: "from ... import", nodes.Macro: "macro", nodes.CallBlock: "call",
                    nodes.FilterBlock: "filter", nodes.AssignBlock: "set ... endset", nodes.Block: "block"}
# Filters a field value has use for; the others (tojson, pprint, urlize, xmlattr, random, ...) go.
_FILTERS = ("abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
            "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join", "last", "length",
            "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe",
            "select", "selectattr", "slice", "sort", "string", "striptags", "sum", "title", "trim", "truncate",
            "unique", "upper", "urlencode", "wordcount", "wordwrap", "filesizeformat")


@dataclass(frozen=True)
class RenderFailed:
    """A template that could not be rendered: `code` TEMPLATE006 (a limit) or TEMPLATE007 (an
    error such as arithmetic on a missing value); `message` says which. Never written to a CRM."""

    code: str
    message: str


class TemplateSyntaxProblem(ValueError):
    def __init__(self, message: str, lineno: int | None = None, code: str = "TEMPLATE001"):
        super().__init__(message)
        self.lineno = lineno
        self.code = code



def _join(value: Any, d: str = "", attribute: Any = None) -> str:
    """The ``join`` filter (and ``str.join``), stopping at the output limit."""
    sep = str(d)
    parts: list[str] = []
    total = 0
    for item in value if not isinstance(value, str) else list(value):
        _tick()
        if attribute is not None:
            item = _ENV.getitem(item, attribute)
        text = str(_finalize(item)) if item is not None else "None"
        total += len(text) + len(sep)
        if total > MAX_OUTPUT_CHARS:
            raise _Limit(f"join would make more than {MAX_OUTPUT_CHARS:,} characters")
        parts.append(text)
    return sep.join(parts)


def _guard_filter(fn: Any) -> Any:
    pass_arg = getattr(fn, "jinja_pass_arg", None)
    skip = 2 if pass_arg is not None else 1  # (context,) value, args...

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick(1 + _size(args[skip - 1]) // CHARS_PER_STEP if len(args) >= skip else 1)
        _check_args(fn, args, kwargs, skip)
        return _made(fn(*args, **kwargs))

    return guarded


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

    def __int__(self) -> int:  # `|int` and `|float` of nothing give their default (0)
        raise TypeError("blank")

    __float__ = __int__


class _Env(ImmutableSandboxedEnvironment):
    """The sandbox with a work budget: every operator, call and filter is counted and checked."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick(1 + (_size(left) + _size(right)) // CHARS_PER_STEP)
        _check_binop(operator, left, right)
        return _made(super().call_binop(context, operator, left, right))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick(1 + (_size(getattr(__obj, "__self__", None)) + _size(args)) // CHARS_PER_STEP)
        if getattr(__obj, "__name__", "") == "join" and isinstance(getattr(__obj, "__self__", None), str) \
                and len(args) == 1:
            return _made(_join(args[0], __obj.__self__))
        _check_args(__obj, args, kwargs, 0)
        return _made(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        if isinstance(obj, str) and attribute in ("format", "format_map") and _WIDE.search(obj):
            raise _Limit("a format width of a million characters or more")
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def bounded_iter(self, iterable: Any) -> Iterator[Any]:
        """Every loop goes through here: each iteration is a step."""
        for item in iterable:
            _tick()
            yield item

    def bounded_concat(self, *parts: Any) -> str:
        """``a ~ b``: the pieces' text, checked."""
        texts = [str(p) for p in parts]
        if sum(len(t) for t in texts) > MAX_OUTPUT_CHARS:
            raise _Limit(f"a value of more than {MAX_OUTPUT_CHARS:,} characters")
        return "".join(texts)


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)  # reply.tags render comma-separated
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


# optimized=False: jinja would otherwise fold constant filters at compile time, outside any budget
_ENV = _Env(undefined=_Blank, autoescape=False, finalize=lambda v: _finalize(v), optimized=False)
_ENV.filters = {name: _guard_filter(_join if name == "join" else _ENV.filters[name]) for name in _FILTERS}
_ENV.globals = {"range": _range, "namespace": Namespace, "dict": dict}


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


# -------------------------------------------------------------------------------- parsing, statically

def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth = max(depth - 1, 0)
    return deepest


def _tree_depth(tree: nodes.Node) -> int:
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_NESTING * 4:
            return d
        stack.extend((child, d + 1) for child in node.iter_child_nodes())
    return deepest


def _nodes(tree: nodes.Node) -> Iterator[nodes.Node]:
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.iter_child_nodes())


@lru_cache(maxsize=4096)
def _parse(text: str) -> nodes.Template:
    """The jinja tree of a template, or TemplateSyntaxProblem (code TEMPLATE001 it does not parse,
    TEMPLATE004 a statement that is not allowed, TEMPLATE005 too long or too deeply nested)."""
    if len(text) > MAX_SOURCE_CHARS:
        raise TemplateSyntaxProblem(f"the template is longer than {MAX_SOURCE_CHARS:,} characters", None,
                                    "TEMPLATE005")
    if _bracket_depth(text) > MAX_NESTING:
        raise TemplateSyntaxProblem(f"brackets nested deeper than {MAX_NESTING} levels", None, "TEMPLATE005")
    try:
        tree = _ENV.parse(text)
    except TemplateError as exc:
        raise TemplateSyntaxProblem(str(exc), getattr(exc, "lineno", None)) from None
    except RecursionError:
        raise TemplateSyntaxProblem("the template is nested too deeply", None, "TEMPLATE005") from None
    except (ValueError, OverflowError, MemoryError) as exc:  # e.g. a 5,000-digit number literal
        raise TemplateSyntaxProblem(str(exc).split(";")[0], None) from None
    if _tree_depth(tree) > MAX_NESTING * 4:
        raise TemplateSyntaxProblem(f"the template is nested deeper than {MAX_NESTING * 4} levels "
                                    "(a long attribute chain?)", None, "TEMPLATE005")
    for node in _nodes(tree):
        if isinstance(node, nodes.Stmt) and not isinstance(node, _ALLOWED_STATEMENTS):
            what = next((n for cls, n in _STATEMENT_NAMES.items() if isinstance(node, cls)), type(node).__name__)
            raise TemplateSyntaxProblem(f"'{{% {what} %}}' is not allowed in a template", node.lineno, "TEMPLATE004")
        if isinstance(node, nodes.Filter) and node.name not in _ENV.filters:
            raise TemplateSyntaxProblem(f"unknown filter '{node.name}'", node.lineno)
        if isinstance(node, nodes.Test) and node.name not in _ENV.tests:
            raise TemplateSyntaxProblem(f"unknown test '{node.name}'", node.lineno)
        if isinstance(node, nodes.For) and node.recursive:
            raise TemplateSyntaxProblem("recursive loops are not allowed in a template", node.lineno, "TEMPLATE004")
        if isinstance(node, nodes.Const) and isinstance(node.value, int) and not isinstance(node.value, bool) \
                and node.value.bit_length() > MAX_INT_BITS:
            raise TemplateSyntaxProblem(f"a number of more than {MAX_INT_BITS:,} bits", node.lineno, "TEMPLATE005")
    return tree


def _bounded_tree(text: str) -> nodes.Template:
    """A fresh tree of `text` where every loop iterates through `bounded_iter` and every ``~``
    through `bounded_concat` (jinja compiles both inline, out of the sandbox's reach)."""
    tree = _ENV.parse(text)
    for node in list(_nodes(tree)):
        for name in node.fields:
            value = getattr(node, name)
            if isinstance(value, nodes.Concat):
                setattr(node, name, _concat_call(value))
            elif isinstance(value, list):
                setattr(node, name, [_concat_call(v) if isinstance(v, nodes.Concat) else v for v in value])
        if isinstance(node, nodes.For):
            node.iter = nodes.Call(nodes.EnvironmentAttribute("bounded_iter"), [node.iter], [], None, None,
                                   lineno=node.lineno)
    tree.set_environment(_ENV)
    return tree


def _concat_call(node: nodes.Concat) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute("bounded_concat"), list(node.nodes), [], None, None,
                      lineno=node.lineno)


@lru_cache(maxsize=4096)
def _compile(text: str):
    _parse(text)  # the static checks first
    return _ENV.from_string(_bounded_tree(text))


def variables(text: str) -> list[str]:
    """Dotted variable paths used by a template, e.g. ``["contact.firstName", "play.id"]``.

    Raises TemplateSyntaxProblem for a template that does not parse or breaks a static limit.
    """
    tree = _parse(text)
    found: list[str] = []
    # names the template sets itself (loop and `set` targets) and the globals are not variables
    local = {n.name for n in _nodes(tree) if isinstance(n, nodes.Name) and n.ctx in ("store", "param")}
    local |= set(_ENV.globals) | {"loop"}

    def dotted(node: nodes.Node) -> str | None:
        parts: list[str] = []
        while True:
            if isinstance(node, nodes.Name):
                return ".".join([node.name] + parts[::-1])
            if isinstance(node, nodes.Getattr):
                parts.append(node.attr)
            elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
                parts.append(str(node.arg.value))
            else:
                return None
            node = node.node

    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Name)):
            path = dotted(node)
            if path is not None:
                if path.split(".", 1)[0] not in local and path not in found:
                    found.append(path)
                continue
        stack.extend(reversed(list(node.iter_child_nodes())))
    return found


def problems(text: str) -> list[tuple[str, str]]:
    """(code, message) of what makes `text` unusable whatever the data: it does not parse or
    breaks a static limit (TEMPLATE001/004/005), or rendering it against an empty context breaks
    a limit (TEMPLATE006) or fails (TEMPLATE007, a warning: data may make it work). Empty for a
    good template."""
    try:
        _parse(text)
    except TemplateSyntaxProblem as exc:
        return [(exc.code, str(exc))]
    result = render(text, {root: {} for root in ROOTS})
    if isinstance(result, RenderFailed) and result.code == "TEMPLATE006":
        return [(result.code, result.message)]
    if isinstance(result, RenderFailed) and "UndefinedError" not in result.message:
        return [("TEMPLATE007", result.message.replace("the template failed", "the template fails when its "
                                                        "variables are empty", 1))]
    return []


# ------------------------------------------------------------------------------------------ render

def render(text: str, context: Mapping[str, Any]) -> str | RenderFailed:
    """Render a template against a plain-dict context; ``person`` is an alias of ``contact``.

    Returns the text, or a `RenderFailed` (never raises) when the template breaks a limit or fails.
    """
    if not is_template(text):
        return text
    ctx = dict(context)
    if "contact" in ctx and "person" not in ctx:
        ctx["person"] = ctx["contact"]
    token = _BUDGET.set([MAX_WORK, MAX_ALLOC_CHARS])
    try:
        out: list[str] = []
        size = 0
        for piece in _compile(text).generate(ctx):
            size += len(piece)
            if size > MAX_OUTPUT_CHARS:
                raise _Limit(f"the output is longer than {MAX_OUTPUT_CHARS:,} characters")
            out.append(piece)
        return "".join(out).strip()
    except _Limit as exc:
        return RenderFailed("TEMPLATE006", f"template limit: {exc}")
    except TemplateSyntaxProblem as exc:
        return RenderFailed(exc.code, f"template does not parse: {exc}")
    except RecursionError:
        return RenderFailed("TEMPLATE006", "template limit: nested too deeply")
    except MemoryError:
        return RenderFailed("TEMPLATE006", "template limit: out of memory")
    except Exception as exc:  # noqa: BLE001 - any failure of user code in the sandbox is a value
        return RenderFailed("TEMPLATE007", f"the template failed: {type(exc).__name__}: {str(exc)[:200]}")
    finally:
        _BUDGET.reset(token)
