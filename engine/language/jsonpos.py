"""Positions inside JSON text: where a value (or the key naming it) starts, as a 1-based line and
column, so that diagnostics about an events file or a CRM state file point at the offending value.

`json.loads` gives no positions; the checks run on the loaded data and, only when they find a
problem, ask `Locator.pos(path)` where it is. The locator scans the text once (iteratively, so any
depth works), recording the offsets of every value and key on the way; the happy path never pays
for it. The text must be valid JSON (it has already been loaded); anything unexpected falls back to
the nearest known ancestor, never to an exception.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring
from typing import Any

def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Strict JSON: NaN and Infinity (which `json` accepts) would make the plan's JSON output invalid.
JSON_DECODER = json.JSONDecoder(parse_constant=_no_constant)

_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null|NaN|-?Infinity")


def line_col(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of a character offset."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def scan(text: str, start: int = 0) -> tuple[dict[tuple, int], dict[tuple, int]]:
    """Offsets of every value and every object key of the JSON value starting at `start`:
    (values by path, keys by path); a path is a tuple of keys and list indices."""
    values: dict[tuple, int] = {}
    keys: dict[tuple, int] = {}
    stack: list[list[Any]] = []  # [path, is_object, index]
    i = _WS.match(text, start).end()
    path: tuple = ()

    def key_at(k: int, parent: tuple) -> tuple[tuple, int]:
        """Read the key starting at `k`; (its path, where its value starts)."""
        name, j = scanstring(text, k + 1)
        p = parent + (name,)
        keys.setdefault(p, k)
        j = _WS.match(text, j).end() + 1  # ':'
        return p, _WS.match(text, j).end()

    while True:
        values.setdefault(path, i)
        c = text[i]
        if c == "{" or c == "[":
            k = _WS.match(text, i + 1).end()
            if text[k] in "}]":
                i = k + 1
            elif c == "{":
                stack.append([path, True, 0])
                path, i = key_at(k, path)
                continue
            else:
                stack.append([path, False, 0])
                path, i = path + (0,), k
                continue
        elif c == '"':
            _s, i = scanstring(text, i + 1)
        else:
            m = _SCALAR.match(text, i)
            if m is None or m.end() == i:
                return values, keys
            i = m.end()
        # after a value: the next sibling, or close containers
        while True:
            if not stack:
                return values, keys
            i = _WS.match(text, i).end()
            frame = stack[-1]
            if i < len(text) and text[i] == ",":
                k = _WS.match(text, i + 1).end()
                if frame[1]:
                    path, i = key_at(k, frame[0])
                else:
                    frame[2] += 1
                    path, i = frame[0] + (frame[2],), k
                break
            stack.pop()
            i += 1


class Locator:
    """Lazy positions in one JSON text (optionally of the value starting at `start`)."""

    def __init__(self, text: str, start: int = 0, fallback: tuple[int, int] | None = None):
        self.text = text
        self.start = start
        self.fallback = fallback or line_col(text, start)
        self._maps: tuple[dict, dict] | None = None

    def pos(self, path: tuple = (), key: bool = False) -> tuple[int, int]:
        """Where the value at `path` starts (or its key, with `key`), else the nearest ancestor."""
        if self._maps is None:
            try:
                self._maps = scan(self.text, self.start)
            except (IndexError, ValueError):
                self._maps = ({}, {})
        values, keys = self._maps
        path = tuple(path)
        while True:
            if key and path in keys:
                return line_col(self.text, keys[path])
            if path in values:
                return line_col(self.text, values[path])
            if not path:
                return self.fallback
            path, key = path[:-1], False
