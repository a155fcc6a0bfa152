"""Start the server: check the extra and the index, warn about exposure, announce it, run uvicorn."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from semsearch.errors import SemsearchError
from semsearch.server import EXTRA_HINT, discovery


def require_extra() -> None:
    """Raise a one-line SemsearchError naming the extra when FastAPI, uvicorn or fastapi-offline is missing."""
    try:
        import fastapi  # noqa: F401
        import fastapi_offline  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as e:
        raise SemsearchError(f"`semsearch serve` needs {e.name or 'FastAPI and uvicorn'}: {EXTRA_HINT}") from None


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine uses to reach a server bound to `host`."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host in ("::", "[::]"):
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def check_port(host: str, port: int) -> int:
    """The port to listen on (a free one for 0); a one-line SemsearchError when host:port is out of range or
    cannot be bound (in use, or not an address here)."""
    if not 0 <= port <= 65535:
        raise SemsearchError(f"--port {port} is not a TCP port: give one from 1 to 65535 (0: any free one)")
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as e:
            raise SemsearchError(f"cannot listen on {host}:{port} ({e.strerror}): pick another --port or --host") from None
        return probe.getsockname()[1]


def _exit_quietly(_signum, _frame) -> None:
    sys.exit(0)


def serve(
    index: Path, host: str, port: int, workers: int = 1, token: str | None = None, log: Callable[[str], None] = print
) -> None:
    """Serve `index` on host:port until interrupted; announce it in `index/server.json` meanwhile."""
    require_extra()
    import uvicorn

    from semsearch.api import searcher

    if workers < 1:
        raise SemsearchError(f"--workers must be at least 1 (got {workers})")
    searcher(index)  # a missing or broken index, or a missing model, is one line before anything starts (the
    # model is found here, not loaded; one worker keeps what this opened)
    port = check_port(host, port)  # before announcing: a second server must not take over a running one's server.json
    if not is_loopback(host) and not token:
        log(
            f"warning: serving on {host} without a token: anyone who can reach port {port} can search; "
            "set --token or $SEMSEARCH_TOKEN"
        )
    url = local_url(host, port)
    try:
        discovery.write_record(index, url, bool(token))
    except OSError as e:
        log(f"warning: cannot write {discovery.record_path(index)} ({e.strerror}): `semsearch query` will not use this server")
    log(f"serving '{index}' at {url} (search page /, API docs /docs); Ctrl-C stops")
    # uvicorn re-raises SIGINT/SIGTERM after its graceful shutdown: exit through `finally` instead of dying there.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _exit_quietly)
    try:
        if workers == 1:
            from semsearch.server.app import create_app

            uvicorn.run(create_app(index, token), host=host, port=port, access_log=False, log_level="warning")
        else:
            os.environ["SEMSEARCH_SERVE_INDEX"] = str(Path(index).resolve())
            if token:
                os.environ[discovery.TOKEN_ENV] = token
            uvicorn.run(
                "semsearch.server.app:app_from_env",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                access_log=False,
                log_level="warning",
            )
    finally:
        discovery.remove_record(index)
