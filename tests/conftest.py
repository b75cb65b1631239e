from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import KEY, Background

from bulk_tasks.sandbox import Sandbox, SandboxServer
from bulk_tasks.sending.sharing import CACHE_ENV


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    """A sandbox over real HTTP on 127.0.0.1 that accepts only the tests' key."""
    with SandboxServer(Sandbox(keys={KEY})) as running:
        yield running


@pytest.fixture
def background() -> Iterator[Background]:
    """Start runs of the command in the background: when the test ends, passed or failed,
    those still running are killed and every one's pipes are closed."""
    started = Background()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(autouse=True)
def own_cache_folder(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test's runs share rate windows among themselves only (not with the user's, nor
    with other tests running at the same time)."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv(CACHE_ENV, str(folder))
    monkeypatch.delenv("BULK_TASKS_SHARE", raising=False)
    return folder


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisServer:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of its own on a free port of 127.0.0.1, stopped afterwards.

    Without redis-server the test fails in CI (``.ci/run`` installs it) and is skipped
    elsewhere, saying how to install it.
    """
    program = shutil.which("redis-server")
    if program is None:
        why = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI") or os.environ.get("BULK_TASKS_REQUIRE_REDIS"):
            pytest.fail(why)
        pytest.skip(why)
    port = free_port()
    options = ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
    options += ["--save", "", "--appendonly", "no"]  # nothing kept on disk
    process = subprocess.Popen(
        [program, *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(f"redis://127.0.0.1:{port}/0", process)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            assert process.poll() is None, "redis-server exited at once"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
        yield server
    finally:
        server.stop()
