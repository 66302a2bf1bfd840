"""A small Language Server Protocol client over stdio, enough to drive the real yaml-language-server
(the server behind VS Code's YAML extension) the way an editor does: initialize, send the settings
(`workspace/didChangeConfiguration` with `yaml.schemas`), open a document, wait for its
`textDocument/publishDiagnostics`, ask for completions.

`ensure_server()` installs the pinned server from `tests/editor/package.json` with npm when it is
missing (a fresh clone), or returns None when npm is not on PATH.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVER_JS = HERE / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
_install_lock = threading.Lock()


def ensure_server() -> Path | None:
    """The server's entry script, installed with `npm ci` when missing; None without node/npm."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    with _install_lock:
        if not SERVER_JS.is_file():
            done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                                  capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise RuntimeError(f"npm ci in {HERE} failed:\n{done.stdout}\n{done.stderr}")
    return SERVER_JS


class LanguageServer:
    """One server process; requests are answered in order of ids, notifications are queued."""

    def __init__(self, server_js: Path, root: Path):
        self.root = root
        self.settings: dict = {}
        self.proc = subprocess.Popen(["node", str(server_js), "--stdio"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._next_id = 0
        self._responses: dict[int, Any] = {}
        self._notes: "queue.Queue[dict]" = queue.Queue()
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # -- wire
    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read_loop(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length is None:
                continue
            message = json.loads(out.read(length))
            if "id" in message and "method" in message:  # a request from the server: answer it
                self._answer(message)
            elif "id" in message:
                with self._cond:
                    self._responses[message["id"]] = message
                    self._cond.notify_all()
            else:
                self._notes.put(message)

    def _answer(self, request: dict) -> None:
        result: Any = None
        if request["method"] == "workspace/configuration":  # the server pulls its settings by section
            result = [self.settings.get(item.get("section", "")) for item in request["params"]["items"]]
        self._send({"id": request["id"], "result": result})

    # -- protocol
    def request(self, method: str, params: Any, timeout: float = 30.0) -> Any:
        self._next_id += 1
        rid = self._next_id
        self._send({"id": rid, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        with self._cond:
            while rid not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{method}: no answer within {timeout} s")
                self._cond.wait(left)
            message = self._responses.pop(rid)
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def initialize(self, settings: dict) -> None:
        """Start the session; `settings` by section (``{"yaml": {"schemas": ...}}``), answered when
        the server pulls its configuration (as VS Code does)."""
        self.settings = settings
        self.request("initialize", {
            "processId": None, "rootUri": self.root.as_uri(),
            "workspaceFolders": [{"uri": self.root.as_uri(), "name": self.root.name}],
            "capabilities": {"workspace": {"configuration": True}, "textDocument": {
                "completion": {"completionItem": {"snippetSupport": False}},
                "publishDiagnostics": {"relatedInformation": False}}},
        })
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": settings})

    def open(self, path: Path, text: str) -> str:
        uri = path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "yaml", "version": 1, "text": text}})
        return uri

    def diagnostics(self, uri: str, timeout: float = 30.0, want=lambda diags: True) -> list[dict]:
        """The first `publishDiagnostics` of `uri` that `want` accepts (the server may publish an
        empty list before the schema is loaded)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no accepted diagnostics for {uri} within {timeout} s")
            try:
                note = self._notes.get(timeout=left)
            except queue.Empty:
                continue
            if note.get("method") == "textDocument/publishDiagnostics" and note["params"]["uri"] == uri:
                if want(note["params"]["diagnostics"]):
                    return note["params"]["diagnostics"]

    def completion(self, uri: str, line: int, character: int) -> list[str]:
        result = self.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": line, "character": character}})
        items = result.get("items", []) if isinstance(result, dict) else (result or [])
        return [item["label"] for item in items]

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
        except (TimeoutError, RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
