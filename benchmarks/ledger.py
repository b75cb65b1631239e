"""What the task ledger costs a run: the real command with no ledger, with the local SQLite
ledger and with a PostgreSQL one, at a vendor's pace and at the fastest the sandbox allows.

    python benchmarks/ledger.py [--repeats N] [--vendor-rows N] [--fastest-rows N] [--time-calls]

Each run is ``bulk-tasks run`` of lemlist creates in a child process, with a data folder
and a cache folder of its own (so a fresh local ledger and rate window), against the
sandbox served from this process on 127.0.0.1, a sandbox of its own for each run:

    start-up        one row: what opening the ledger costs a run, whatever its size
    vendor's pace   the sandbox at lemlist's limit (20 requests per 2 s) and the run at its
                    default rate: 200 rows, about 20 s a run
    fastest pace    an unlimited sandbox and ``--rate 100000/1``: 3,000 rows

with ``--ledger off``, ``--ledger local`` (SQLite, synced) and ``--ledger postgresql://...``
(a PostgreSQL this script starts in a temporary folder on a free port of 127.0.0.1, with
its default settings, fsync on; a database of its own for each run; the row says "not
installed" without PostgreSQL). The runs are interleaved (off, local, PostgreSQL, off, ...)
so that the machine's drift hits all alike, ``--repeats`` times (3).

Each row: the run's wall seconds (median, min), lines a second, the seconds from the first
request the sandbox saw to the last, the child's CPU seconds (user + system), and the
ledger's cost per line against ``off``: the median over the repeats of the difference to
the ``off`` run beside it, in wall and CPU milliseconds a line; for PostgreSQL, the
server's own CPU a line too (its processes', from /proc). The script fails when a run does
not exit 0 or the sandbox did not apply each row exactly once. The default options take
about 5 minutes.

``--time-calls`` says where the ledger's time goes: each run times the ledger's calls in
its own process (its claims, its sending marks, its records of tasks created, its
heartbeats), and a second table gives the milliseconds a line spent in each, beside what
the ledger cost the run's wall time.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bulk_tasks.sandbox import Sandbox, SandboxServer

KEY = "ledger-bench-key"
USER = "usr_7YzNqVRMCfdeHEzMn"
#: the longest a run may take before the script gives up on it (seconds)
RUN_TIMEOUT = 600
NOT_INSTALLED = "not installed"
#: the ledger's calls a line or a run makes, timed with --time-calls
CALLS = ("claim", "sending", "created", "beat")

#: runs in the child with --time-calls: times the ledger's calls, then runs ``bulk-tasks``;
#: at its exit, writes the seconds spent in each call in all to $LEDGER_CALLS, as JSON
TIMING_CHILD = """
import atexit, json, os, sys, time
from bulk_tasks.job.ledger.postgres_store import PostgresLedger
from bulk_tasks.job.ledger.sqlite_store import SQLiteLedger
spent = {}
def timed(store, name):
    method = getattr(store, name)
    def timed_method(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - started
    setattr(store, name, timed_method)
for name in sys.argv.pop(1).split(","):
    timed(SQLiteLedger, name)
    timed(PostgresLedger, name)
def write():
    with open(os.environ["LEDGER_CALLS"], "w", encoding="utf-8") as file:
        json.dump(spent, file)
atexit.register(write)
from bulk_tasks.cli.commands import main
sys.argv = ["bulk-tasks", *sys.argv[1:]]
main()
"""


@dataclass(frozen=True, kw_only=True)
class Pace:
    name: str
    slug: str  # for file and database names
    rows: int
    limit: int | None  # the sandbox's requests per period; None: lemlist's own
    period: float | None
    rate: str | None  # the run's --rate; None: the vendor's default

    @property
    def label(self) -> str:
        return f"{self.name}, {self.rows:,} row{'' if self.rows == 1 else 's'}"


@dataclass(frozen=True)
class Ran:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child
    server_cpu: float | None  # of the PostgreSQL server, for a run on it
    sending: float  # seconds from the first request the sandbox saw to the last
    calls: dict[str, float]  # seconds in all in each of the ledger's calls (--time-calls)


@dataclass(frozen=True)
class PostgresServer:
    url: str  # of its ``postgres`` database
    pid: int  # of its postmaster


def write_creates(path: Path, rows: int) -> Path:
    """``rows`` lemlist phone tasks, each for a lead of its own."""
    lines = ["leadId,type,assignedTo,dueDate,title"]
    lines += [f"lea_{n:017d},phone,{USER},2026-12-01 09:00,Call {n}" for n in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- PostgreSQL ------------------------------------------------------------------------------


def postgres_programs() -> Path | None:
    """The folder of initdb and postgres: on PATH, else Debian's /usr/lib/postgresql/*/bin."""
    linked = shutil.which("initdb")
    if linked is not None:
        return Path(linked).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(found[0]).parent if found else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer | None]:
    """A PostgreSQL of the script's own, with its default settings (its superuser connects
    without a password), or None when PostgreSQL is not installed. Stopped and deleted
    afterwards."""
    programs = postgres_programs()
    if programs is None:
        yield None
        return
    # PostgreSQL refuses to run as root: then it runs as the postgres user, in a folder of
    # /tmp that user owns
    folder = Path(tempfile.mkdtemp(prefix="bulk-tasks-bench-postgres-"))
    owner = "postgres" if os.getuid() == 0 else None
    if owner is not None:
        shutil.chown(folder, owner, owner)
    data, port = str(folder / "data"), free_port()
    initdb = [str(programs / "initdb"), "-D", data, "-U", "postgres", "--auth=trust"]
    quiet = subprocess.DEVNULL
    subprocess.run(initdb, check=True, stdout=quiet, stderr=quiet, user=owner, group=owner)
    postgres = [str(programs / "postgres"), "-D", data, "-p", str(port), "-k", str(folder)]
    postgres += ["-c", "listen_addresses=127.0.0.1"]
    server = subprocess.Popen(postgres, stdout=quiet, stderr=quiet, user=owner, group=owner)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        wait_for_postgres(url, server)
        yield PostgresServer(url, server.pid)
    finally:
        if server.poll() is None:
            server.terminate()  # "smart" shutdown: the runs have ended
            server.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def wait_for_postgres(url: str, server: subprocess.Popen[bytes]) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            psycopg.connect(url, connect_timeout=1).close()
            return
        except psycopg.OperationalError:
            if server.poll() is not None:
                raise SystemExit("postgres exited at once") from None
            if time.monotonic() > deadline:
                raise SystemExit("postgres did not start within 30 s") from None
            time.sleep(0.05)


def new_database(admin_url: str, name: str) -> str:
    """A new, empty database of the server ``admin_url`` reaches: its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def server_cpu(server: PostgresServer) -> float | None:
    """The CPU seconds the server's processes have used so far, those that ended included,
    once the runs' connections have ended (waited for, 5 s at most); None without /proc."""
    deadline = time.monotonic() + 5
    while any("127.0.0.1(" in command for command in children_commands(server.pid)):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    try:
        fields = proc_stat(server.pid)
    except OSError:
        return None
    ticks = sum(int(field) for field in fields[11:15])  # utime, stime, its children's (ended)
    for pid in children(server.pid):
        with contextlib.suppress(OSError):
            ticks += sum(int(field) for field in proc_stat(pid)[11:13])
    return ticks / os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command's name: state, parent, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            if int(proc_stat(int(stat.parent.name))[1]) == parent:
                found.append(int(stat.parent.name))
    return found


def children_commands(parent: int) -> list[str]:
    commands = []
    for pid in children(parent):
        with contextlib.suppress(OSError):
            commands.append(Path(f"/proc/{pid}/cmdline").read_text())
    return commands


# --- one run ---------------------------------------------------------------------------------


def one_run(
    folder: Path,
    data: Path,
    pace: Pace,
    *,
    ledger: str,
    postgres: PostgresServer | None,
    time_calls: bool,
) -> Ran:
    """``bulk-tasks run`` of ``data`` with ``--ledger ledger``, against a sandbox of its own;
    fails loudly unless it exits 0 and the sandbox applied each row exactly once.
    ``postgres``: the server ``ledger`` is on, whose CPU is measured too; ``time_calls``:
    the ledger's calls are timed in the run."""
    folder.mkdir(parents=True)
    env = {
        **os.environ,
        "LEMLIST_API_KEY": KEY,
        "BULK_TASKS_DATA_DIR": str(folder / "data"),
        "BULK_TASKS_CACHE_DIR": str(folder / "cache"),
        "LEDGER_CALLS": str(folder / "calls.json"),
    }
    sandbox = Sandbox(keys={KEY}, limit=pace.limit, period=pace.period)
    with SandboxServer(sandbox) as server:
        command = [sys.executable, "-m", "bulk_tasks"]
        if time_calls:
            command = [sys.executable, "-c", TIMING_CHILD, ",".join(CALLS)]
        command += ["run", str(data), "-t", "lemlist"]
        command += ["--base-url", server.url, "--ledger", ledger]
        command += ["--results", str(folder / "results.csv")]
        command += ["--rate", pace.rate] if pace.rate else []
        server_before = server_cpu(postgres) if postgres else None
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        output, _ = process.communicate(timeout=RUN_TIMEOUT)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_after = server_cpu(postgres) if postgres else None
    said = f"{pace.name}, --ledger {ledger}"
    if process.returncode != 0:
        raise SystemExit(f"{said}: exit {process.returncode}\n{output[-3000:]}")
    per_lead = Counter(applied.body["recordId"] for applied in sandbox.applied)
    if len(per_lead) != pace.rows or set(per_lead.values()) != {1}:
        twice = sum(1 for count in per_lead.values() if count > 1)
        raise SystemExit(
            f"{said}: the sandbox applied {len(per_lead)} of {pace.rows} rows "
            f"({twice} more than once)\n{output[-3000:]}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    used = None
    if server_before is not None and server_after is not None:
        used = server_after - server_before
    times = sorted(arrival.time for arrival in sandbox.arrivals)
    calls = json.loads((folder / "calls.json").read_text()) if time_calls else {}
    sending = times[-1] - times[0]
    return Ran(wall=wall, cpu=cpu, server_cpu=used, sending=sending, calls=calls)


# --- the tables ------------------------------------------------------------------------------

HEADER = """\
| pace | ledger | wall s, median (min) | lines/s | sent over, s | CPU s, median (min) \
| ledger's wall ms/line | ledger's CPU ms/line | server's CPU ms/line |
|---|---|---:|---:|---:|---:|---:|---:|---:|"""

CALLS_HEADER = """\
| pace | ledger | claim | sending mark | created | heartbeats | all | ledger's wall |
|---|---|---:|---:|---:|---:|---:|---:|"""

#: the ledgers measured, by the word in the tables
LEDGERS = {"off": "off", "local": "local (SQLite, synced)", "postgresql": "PostgreSQL, local"}


def row(pace: Pace, ledger: str, runs: list[Ran], off: list[Ran]) -> str:
    """The ledger's row of the main table: the runs beside the runs with no ledger."""
    walls = [run.wall for run in runs]
    wall = statistics.median(walls)
    cpu = [run.cpu for run in runs]
    sending = statistics.median(run.sending for run in runs)
    cost = "| | "
    if ledger != "off":
        wall_cost, cpu_cost = extra(pace, runs, off, wall_of), extra(pace, runs, off, cpu_of)
        cost = f"| {wall_cost:+.2f} | {cpu_cost:+.2f} "
    server = [run.server_cpu * 1000 / pace.rows for run in runs if run.server_cpu is not None]
    served = f"{statistics.median(server):.2f}" if server else ""
    return (
        f"| {pace.label} | {LEDGERS[ledger]} | {wall:.2f} ({min(walls):.2f}) "
        f"| {pace.rows / wall:.1f} | {sending:.2f} "
        f"| {statistics.median(cpu):.2f} ({min(cpu):.2f}) {cost}| {served} |"
    )


def extra(pace: Pace, runs: list[Ran], off: list[Ran], figure: Callable[[Ran], float]) -> float:
    """The median over the repeats of the milliseconds a line (of wall or CPU time: the
    ``figure`` of a run) that a run took more than the run with no ledger beside it."""
    return statistics.median(
        (figure(run) - figure(alone)) * 1000 / pace.rows
        for run, alone in zip(runs, off, strict=True)
    )


def wall_of(run: Ran) -> float:
    return run.wall


def cpu_of(run: Ran) -> float:
    return run.cpu


def calls_row(pace: Pace, ledger: str, runs: list[Ran], off: list[Ran]) -> str:
    """The ledger's row of the calls' table: ms a line in each call, median over the runs."""
    spent = [
        statistics.median(run.calls.get(call, 0.0) * 1000 / pace.rows for run in runs)
        for call in CALLS
    ]
    total = statistics.median(sum(run.calls.values()) * 1000 / pace.rows for run in runs)
    figures = " | ".join(f"{figure:.2f}" for figure in spent)
    return (
        f"| {pace.label} | {LEDGERS[ledger]} | {figures} | {total:.2f} "
        f"| {extra(pace, runs, off, wall_of):+.2f} |"
    )


def measure(
    folder: Path, pace: Pace, *, postgres: PostgresServer | None, repeats: int, time_calls: bool
) -> dict[str, list[Ran]]:
    """Each ledger ``repeats`` times, interleaved: the runs of each."""
    data = write_creates(folder / f"{pace.slug}.csv", pace.rows)
    runs: dict[str, list[Ran]] = {"off": [], "local": []}
    if postgres is not None:
        runs["postgresql"] = []
    for repeat in range(repeats):
        for ledger, made in runs.items():
            place = folder / f"{pace.slug}-{ledger}-{repeat}"
            server, where = None, ledger
            if ledger == "postgresql" and postgres is not None:
                server = postgres
                where = new_database(postgres.url, f"bench_{pace.slug}_{repeat}")
            made.append(
                one_run(place, data, pace, ledger=where, postgres=server, time_calls=time_calls)
            )
    return runs


def main_rows(pace: Pace, runs: dict[str, list[Ran]]) -> list[str]:
    rows = [row(pace, ledger, made, runs["off"]) for ledger, made in runs.items()]
    if "postgresql" not in runs:
        rows.append(f"| {pace.label} | PostgreSQL | {NOT_INSTALLED} " + "| " * 6 + "|")
    return rows


def load_average() -> str:
    return ", ".join(f"{figure:.2f}" for figure in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each (3)")
    parser.add_argument("--vendor-rows", type=int, default=200, help="at lemlist's pace (200)")
    parser.add_argument("--fastest-rows", type=int, default=3000, help="unlimited (3000)")
    parser.add_argument(
        "--time-calls", action="store_true", help="time the ledger's calls in each run too"
    )
    options = parser.parse_args()
    paces = [
        Pace(name="start-up", slug="start", rows=1, limit=None, period=None, rate=None),
        Pace(
            name="vendor's pace",
            slug="vendor",
            rows=options.vendor_rows,
            limit=None,
            period=None,
            rate=None,
        ),
        Pace(
            name="fastest pace",
            slug="fastest",
            rows=options.fastest_rows,
            limit=10**6,
            period=1.0,
            rate="100000/1",
        ),
    ]
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} cores, ", end="")
    print(f"load average {load_average()}; {options.repeats} runs of each, interleaved\n")
    print(HEADER)
    calls: list[str] = []
    with tempfile.TemporaryDirectory() as folder, postgres_server() as postgres:
        for pace in paces:
            runs = measure(
                Path(folder),
                pace,
                postgres=postgres,
                repeats=options.repeats,
                time_calls=options.time_calls,
            )
            print("\n".join(main_rows(pace, runs)), flush=True)
            calls += [
                calls_row(pace, ledger, made, runs["off"])
                for ledger, made in runs.items()
                if ledger != "off"
            ]
    if options.time_calls:
        print(f"\nThe ledger's calls in the runs, ms a line (median)\n\n{CALLS_HEADER}")
        print("\n".join(calls))
    print(f"\nload average at the end {load_average()}")


if __name__ == "__main__":
    main()
