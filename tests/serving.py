"""Running ``purenet serve`` for the tests: the installed command in a real process, on a free port.

The server is asked for ``--port 0`` (any free port) and says which one it got on
stderr, so tests never race each other for a port.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

SERVING = re.compile(r"^serving .* at http://(?P<host>[^/]+):(?P<port>\d+)/ \(Ctrl-C stops\)$")


def installed_purenet() -> str:
    found = shutil.which("purenet", path=str(Path(sys.executable).parent)) or shutil.which("purenet")
    if found is None:
        pytest.fail("the purenet command is not installed (pip install -e .)")
    return found


class Server:
    """A ``purenet serve`` process; ``port`` once it serves, ``stderr`` lines as they come."""

    def __init__(self, args: list[str], cwd: Path, env: dict | None = None) -> None:
        self.proc = subprocess.Popen([installed_purenet(), "serve", *args], cwd=cwd, env={**os.environ, **(env or {})},
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.port: int | None = None
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))
            found = SERVING.match(self.lines[-1])
            if found:
                self.port = int(found["port"])
                self._ready.set()
        self._ready.set()  # ended without serving

    def wait_until_serving(self, seconds: float = 30) -> int:
        self._ready.wait(seconds)
        if self.port is None:
            self.stop()
            raise AssertionError(f"purenet serve did not start; stderr:\n{self.stderr}")
        return self.port

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def stop(self, signum: int = signal.SIGINT, seconds: float = 20) -> int:
        """Send ``signum`` (as Ctrl-C does) and wait for the exit code; kill after ``seconds``."""
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            code = self.proc.wait(seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(5)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code


@contextlib.contextmanager
def serving(model: Path, cwd: Path, *args: str) -> Iterator[Server]:
    """``purenet serve --model MODEL --port 0 ARGS`` until the block ends (then Ctrl-C)."""
    server = Server(["--model", str(model), "--port", "0", *args], cwd, {"XDG_STATE_HOME": str(cwd / "state")})
    try:
        server.wait_until_serving()
        yield server
    finally:
        server.stop()


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
            timeout: float = 30) -> tuple[int, dict, bytes]:
    """One HTTP request to 127.0.0.1:``port``: (status, headers in lower case, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def post_image(port: int, data: bytes, kind: str = "image/png") -> tuple[int, dict]:
    status, headers, body = request(port, "POST", "/api/predict", data, {"Content-Type": kind})
    assert headers["content-type"] == "application/json", (status, headers, body[:200])
    return status, json.loads(body)


def wait_for(condition, seconds: float = 10, step: float = 0.05):
    """Poll ``condition()`` until it returns something true; that value, or None after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return None
