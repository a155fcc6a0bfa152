"""A real `semsearch serve` for tests: a subprocess on a free loopback port, asked over HTTP, stopped by the test."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    """A TCP port that is free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(
    url: str,
    body: dict | bytes | None = None,
    token: str | None = None,
    timeout: float = 30,
    headers: dict | None = None,
    method: str | None = None,
) -> tuple[int, object]:
    """(status, parsed JSON or text) of a GET, or of a POST when `body` is given (or of `method`); never raises
    on an HTTP status. `headers` are sent as well."""
    headers = {"Accept": "application/json", **(headers or {})}
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method or ("POST" if body is not None else "GET"))
    try:
        with _OPENER.open(req, timeout=timeout) as response:
            status, raw, kind = response.status, response.read(), response.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        status, raw, kind = e.code, e.read(), e.headers.get("content-type", "")
    return status, json.loads(raw) if "json" in kind and raw else raw.decode("utf-8", "replace")


class LiveServer:
    """`python -m semsearch.cli serve --index INDEX --port PORT ...` until `stop()`."""

    def __init__(
        self,
        index: Path,
        cache: Path | None,
        *args: str,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
    ):
        """Start it; `cache` is the XDG cache folder (None: this process's); `port` None: a free one."""
        self.index, self.token, self.port = Path(index), token, free_port() if port is None else port
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        if cache is not None:
            env["XDG_CACHE_HOME"] = str(cache)
        env.pop("SEMSEARCH_TOKEN", None)
        if token:
            env["SEMSEARCH_TOKEN"] = token
        cmd = [sys.executable, "-m", "semsearch.cli", "serve", "--index", str(index), "--host", host, "--port", str(self.port)]
        self.proc = subprocess.Popen([*cmd, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_ready(self, timeout: float = 120) -> LiveServer:
        """Block until /health answers 200 (raises if the process exits or time runs out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                if self.get("/health", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server on {self.url} not ready within {timeout} s")

    def get(self, path: str, token: str | None = None, timeout: float = 30) -> tuple[int, object]:
        """GET `path` with this server's token (or `token`)."""
        return request(self.url + path, token=token or self.token, timeout=timeout)

    def post(self, path: str, body: dict | bytes, token: str | None = None) -> tuple[int, object]:
        """POST a JSON body (or raw bytes) to `path`."""
        return request(self.url + path, body, token=token or self.token)

    def stop(self) -> str:
        """SIGTERM, wait, and return what the server wrote to stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err


def say(request, line: str) -> None:
    """Show a figure in the pytest output even while output is captured (for closing notes)."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{line}")
