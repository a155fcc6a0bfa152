"""How the CLI finds a running server: `serve` writes `server.json` into the index folder, `query` asks it.

Standard library only, so `semsearch query` stays light whether or not a server is running (urllib, with
ssl and email, is imported only when a server is announced: 50 ms of every query otherwise). A record whose
process is gone (same machine), or a server that does not answer, means: search locally instead.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

SERVER_FILE = "server.json"
TOKEN_ENV = "SEMSEARCH_TOKEN"


@dataclass(frozen=True)
class ServerRecord:
    """A running `semsearch serve` over an index folder: where to ask it, and whether it wants a token."""

    url: str
    pid: int
    machine: str
    token: bool
    started: str


def record_path(index: str | Path) -> Path:
    """Where `serve` announces itself in an index folder."""
    return Path(index) / SERVER_FILE


def write_record(index: str | Path, url: str, token: bool) -> Path:
    """Announce a server on `index` (atomically; the last server started wins). Raises OSError."""
    record = ServerRecord(url, os.getpid(), socket.gethostname(), token, time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    path = record_path(index)
    tmp = path.with_name(f".{SERVER_FILE}.{os.getpid()}")
    tmp.write_text(json.dumps(asdict(record), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def remove_record(index: str | Path, pid: int | None = None) -> None:
    """Withdraw the announcement, only when it is still this process's own."""
    path = record_path(index)
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == (pid or os.getpid()):
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_record(index: str | Path) -> ServerRecord | None:
    """The server announced on `index`, or None when there is none or its process is gone."""
    try:
        raw = json.loads(record_path(index).read_text(encoding="utf-8"))
        record = ServerRecord(str(raw["url"]), int(raw["pid"]), str(raw["machine"]), bool(raw["token"]), str(raw["started"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.machine == socket.gethostname() and not _alive(record.pid):
        return None
    return record


def search_via_server(index: str | Path, body: dict, timeout: float = 10.0) -> list[dict] | None:
    """Ask the server running on `index` (POST /search with `body`); None means: answer locally.

    None when no live server is announced, it needs a token that $SEMSEARCH_TOKEN does not give, it does not
    answer within `timeout`, or it answers anything but 200 (a bad request is then re-checked locally, which
    gives the library's own one-line error).
    """
    record = read_record(index)
    token = os.environ.get(TOKEN_ENV)
    if record is None or (record.token and not token):
        return None
    import urllib.request

    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        record.url.rstrip("/") + "/search", data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
    )
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via http_proxy
        with opener.open(request, timeout=timeout) as response:
            results = json.load(response).get("results")
    except (OSError, ValueError, AttributeError):  # URLError, HTTPError, timeouts and bad JSON are OSError/ValueError
        return None
    return results if isinstance(results, list) else None
