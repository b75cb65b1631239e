"""The sandbox: a local HTTP emulator of the vendors' task APIs, on 127.0.0.1.

``Sandbox`` is the ASGI app for every vendor in ``EMULATED`` (the registry: one module per
vendor beside this one); ``SandboxServer`` runs it with uvicorn in a background thread, for
tests, benchmarks, ``run --sandbox`` and ``bulk-tasks sandbox``. The emulators never import
the client's specs: each checks bodies against its seed's own text.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import uvicorn

from . import attio, lemlist, saleshandy
from .app import App, Applied, Arrival, Emulated, Faults, max_in_window
from .lemlist import DEMO_TASKS

__all__ = [
    "DEMO_TASKS",
    "EMULATED",
    "Applied",
    "Arrival",
    "Faults",
    "Sandbox",
    "SandboxServer",
    "max_in_window",
]

EMULATED: dict[str, Emulated] = {
    vendor.name: vendor for vendor in (lemlist.EMULATED, saleshandy.EMULATED, attio.EMULATED)
}


class Sandbox(App):
    """The emulator of every registered vendor; ``limit``/``period`` override their limits."""

    def __init__(
        self,
        *,
        keys: Iterable[str] | None = None,
        limit: int | None = None,
        period: float | None = None,
        faults: Faults | None = None,
        demo_tasks: bool = True,
    ) -> None:
        super().__init__(
            EMULATED.values(),
            keys=keys,
            limit=limit,
            period=period,
            faults=faults,
            demo_tasks=demo_tasks,
        )


class _QuietCutShort(logging.Filter):
    """Drops uvicorn's complaint about the replies the sandbox cuts off on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("ASGI callable returned without completing")


class _Uvicorn(uvicorn.Server):
    """A uvicorn server that also ends the sandbox's deliberate hangs when told to exit."""

    def __init__(self, sandbox: Sandbox, *, log_config: dict[str, Any] | None) -> None:
        config = uvicorn.Config(sandbox, lifespan="off", log_level="warning", log_config=log_config)
        config.timeout_graceful_shutdown = 1  # hangs end at once; this only bounds the rest
        super().__init__(config)
        self.sandbox = sandbox
        uvicorn_log = logging.getLogger("uvicorn.error")
        if not any(isinstance(f, _QuietCutShort) for f in uvicorn_log.filters):
            uvicorn_log.addFilter(_QuietCutShort())

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.sandbox.closing.set()
        super().handle_exit(sig, frame)


def _bind(port: int) -> socket.socket:
    """A socket on 127.0.0.1 only, never all interfaces; port 0 picks a free one."""
    # IPPROTO_TCP said explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it each reply (headers, then body) waits ~40 ms on Nagle and delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


class SandboxServer:
    """Runs a ``Sandbox`` in a daemon thread: ``with SandboxServer() as server: server.url``."""

    def __init__(self, sandbox: Sandbox | None = None, *, port: int = 0) -> None:
        self.sandbox = sandbox if sandbox is not None else Sandbox()
        self._sock = _bind(port)
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # No log_config: the host process (pytest, a benchmark) keeps its own logging setup.
        self._server = _Uvicorn(self.sandbox, log_config=None)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="sandbox"
        )

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self.sandbox.closing.clear()
        self._thread.start()
        deadline = time.monotonic() + 5.0
        while not self._server.started:  # set once uvicorn listens on the socket
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the sandbox did not start on {self.url}")
            time.sleep(0.005)

    def stop(self) -> None:
        self.sandbox.closing.set()
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(5.0)
        self._sock.close()
