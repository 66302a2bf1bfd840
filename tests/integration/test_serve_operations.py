"""Operating `plays serve` (issue 13, Operations): a second serve on the same PLAYS_HOME is refused
with a message naming the first (it used to borrow the first one's Prefect server and keep answering
202 after that server stopped), and Ctrl-C stops a serve within seconds, its local Prefect server
with it; a serve whose Prefect API went away stops by itself (SERVE002) instead of accepting events
nothing runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from flows.local import serve_lock
from flows.serve import PrefectGone, _loop

pytest_plugins = ["tests.integration.prefect_fixtures"]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "serve-ops-secret-0123456789abcdef0123"


def one_play(tmp: Path) -> Path:
    plays = tmp / "plays"
    plays.mkdir()
    shutil.copy(ROOT / "plays" / "integration.yaml", plays / "integration.yaml")
    shutil.copytree(ROOT / "plays" / "crm", plays / "crm")
    shutil.copy(ROOT / "plays" / "enrolled-contacted.play.yaml", plays / "enrolled-contacted.play.yaml")
    return plays


def serve(plays: Path, home: Path, db: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PLAYS_"))}
    env.update(PLAYS_HOME=str(home), PLAYS_INGEST_SECRET=SECRET, PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL="WARNING")
    return subprocess.Popen([sys.executable, "-m", "cli", "serve", "--plays", str(plays), "--crm", "sandbox",
                             "--port", "0", "--db", f"sqlite:///{db}"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def reachable(url: str) -> bool:
    try:
        requests.get(url, timeout=3)
        return True
    except requests.RequestException:
        return False


def test_a_second_serve_on_one_home_is_refused_and_ctrl_c_stops_the_first(prefect_server, tmp_path) -> None:
    plays, home = one_play(tmp_path), tmp_path / "home"
    (home / "prefect").mkdir(parents=True)  # this home's local Prefect server is already up (the session's)
    (home / "prefect" / "server.json").write_text(json.dumps({"api_url": prefect_server.api_url}))
    first = serve(plays, home, tmp_path / "a.db")
    try:
        line = first.stdout.readline()  # the JSON line printed when serving
        assert line, first.stderr.read()[-3000:]
        info = json.loads(line)
        second = serve(plays, home, tmp_path / "b.db")
        _out, err = second.communicate(timeout=120)
        assert second.returncode == 2 and "SERVE001" in err and f"pid {first.pid}" in err, err[-2000:]
        assert "Traceback" not in err
        os.killpg(first.pid, signal.SIGINT)  # Ctrl-C
        first.wait(30)
        assert first.returncode == 0
        assert not reachable(info["ingest"].replace("/events", "/health"))
        serve_lock(home).close()  # the home is free again
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class _Idle:
    """Stands in for the executor: runs until told to stop (what matters here is the API guard)."""

    def run(self, stop: threading.Event) -> None:
        stop.wait()


def test_serving_stops_when_the_prefect_api_is_gone(monkeypatch_env) -> None:
    api = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    monkeypatch_env(PREFECT_API_URL=f"http://127.0.0.1:{api.server_address[1]}/api", PLAYS_PREFECT_GRACE="1")
    stop = threading.Event()
    errors: list[BaseException] = []

    def serve_loop() -> None:
        try:
            _loop(_Idle(), stop)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    t = threading.Thread(target=serve_loop)
    t.start()
    api.shutdown()
    api.server_close()  # the API is gone
    t.join(60)
    assert not t.is_alive() and stop.is_set()
    assert len(errors) == 1 and isinstance(errors[0], PrefectGone) and "SERVE002" in str(errors[0])


@pytest.fixture
def monkeypatch_env():
    """Set environment variables for one test and put them back afterwards."""
    saved: dict[str, str | None] = {}

    def set_env(**values: str) -> None:
        for k, v in values.items():
            saved.setdefault(k, os.environ.get(k))
            os.environ[k] = v
    yield set_env
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
