from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import KEY, Background

from bulk_tasks.job.ledger import DATA_ENV, LEDGER_ENV
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
    """Each test's runs share rate windows and a task ledger among themselves only (not with
    the user's, nor with other tests running at the same time)."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv(CACHE_ENV, str(folder))
    monkeypatch.delenv("BULK_TASKS_SHARE", raising=False)
    monkeypatch.setenv(DATA_ENV, str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv(LEDGER_ENV, raising=False)
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


@dataclass
class PostgresServer:
    """A PostgreSQL server of the tests' own: its superuser ``postgres`` connects without a
    password over 127.0.0.1."""

    port: int
    process: subprocess.Popen[bytes]
    folder: Path
    databases: int = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # "fast" shutdown: clients are cut off
            self.process.wait(30)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database of the session's server, dropped afterwards."""
    import psycopg

    postgres_server.databases += 1
    name = f"test_{postgres_server.databases}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield postgres_server.url(name)
    finally:
        with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _postgres_programs() -> Path | None:
    """The folder of Debian's initdb and postgres: /usr/lib/postgresql/VERSION/bin, which is
    not on PATH (a link to initdb on PATH leads there), the newest version first."""
    linked = shutil.which("initdb")
    if linked is not None:
        return Path(linked).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version, reverse=True)
    return Path(found[0]).parent if found else None


def _version(initdb: str) -> int:
    number = Path(initdb).parent.parent.name
    return int(number) if number.isdigit() else 0


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """PostgreSQL on a free port of 127.0.0.1, its data in a temporary folder, for the whole
    session (each test takes a database of its own: ``postgres_url``); stopped afterwards.

    Without PostgreSQL the tests that need it fail in CI (``.ci/run`` installs it) and are
    skipped elsewhere, saying how to install it.
    """
    programs = _postgres_programs()
    if programs is None:
        why = "PostgreSQL is not installed (apt-get install postgresql)"
        if os.environ.get("CI") or os.environ.get("BULK_TASKS_REQUIRE_POSTGRES"):
            pytest.fail(why)
        pytest.skip(why)
    # PostgreSQL refuses to run as root, and CI runs as root: then initdb and postgres run as
    # Debian's postgres user (Popen's user= and group= switch to it before the program
    # starts, so that signals reach postgres itself), in a folder of /tmp that user owns
    # (pytest's own temporary folders are root's alone: that user could not reach one).
    folder = Path(tempfile.mkdtemp(prefix="bulk-tasks-postgres-"))
    as_postgres: dict[str, str] = {}
    if os.getuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_postgres = {"user": "postgres", "group": "postgres"}
    data = folder / "data"
    port = free_port()
    subprocess.run(
        [programs / "initdb", "-D", data, "-U", "postgres", "--auth=trust"],
        check=True,
        **as_postgres,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    options = ["-p", str(port), "-k", str(folder), "-c", "listen_addresses=127.0.0.1"]
    options += ["-c", "fsync=off"]  # the tests' data need not outlive a power cut
    process = subprocess.Popen(
        [programs / "postgres", "-D", data, *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **as_postgres,
    )
    server = PostgresServer(port, process, folder)
    try:
        _wait_for_postgres(server)
        yield server
    finally:
        server.stop()


def _wait_for_postgres(server: PostgresServer) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(server.url(), connect_timeout=1).close()
            return
        except psycopg.OperationalError:
            pass
        assert server.process.poll() is None, "postgres exited at once"
        assert time.monotonic() < deadline, "postgres did not start"
        time.sleep(0.05)
