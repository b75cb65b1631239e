"""The performance targets, measured in one run, printed as one table.

    python benchmarks/perf.py [--quick] [--only NAME ...]

Generates its own data in a temporary folder (deleted afterwards) and runs each measurement:
the real command in a child process (its CPU and peak memory from the operating system's
accounting of that child and the helpers it waited for), the sandbox on 127.0.0.1 in this
process (in a process of its own for the run's memory). Each row gives the result, the
baseline it is compared with, their ratio, the target and whether it is met. Ratios are
taken within one run, because absolute times drift on a shared machine. ``--quick``
shrinks every size tenfold, for a look in about a minute.

Needs the benchmark extra for the XLSX baseline: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Literal

from read_inputs import HEADERS, task_rows, write_xlsx

from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer, max_in_window

USER = "usr_7YzNqVRMCfdeHEzMn"
KEYS = {
    "TEAM_A_KEY": "perf-team-a-key-secret",
    "TEAM_B_KEY": "perf-team-b-key-secret",
    "TEAM_C_KEY": "perf-team-c-key-secret",
}


@dataclass(frozen=True)
class Ran:
    wall: float  # seconds
    cpu: float  # user + system seconds, the helpers it waited for included
    peak_mib: float  # the largest resident set of the child or of a helper it waited for
    output: str


@dataclass(frozen=True)
class Row:
    measurement: str
    result: str
    baseline: str
    ratio: float | None
    target: str
    met: bool

    def line(self) -> str:
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}"
        verdict = "pass" if self.met else "FAIL"
        return (
            f"| {self.measurement} | {self.result} | {self.baseline} | {ratio} | {self.target} "
            f"| {verdict} |"
        )


def child(command: Sequence[str | Path], *, env: dict[str, str] | None = None) -> Ran:
    """Run a command to its end; its wall time, CPU and peak memory."""
    started = time.monotonic()
    process = subprocess.Popen(
        [str(part) for part in command],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read() if process.stdout else ""
    _, _, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    process.returncode = 0  # reaped by wait4 above
    return Ran(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output)


def bulk_tasks(*args: str | Path, env: dict[str, str] | None = None) -> Ran:
    return child([sys.executable, "-m", "bulk_tasks", *args], env=env)


def python(code: str, *args: str | Path) -> Ran:
    return child([sys.executable, "-c", code, *args])


POLARS_READ = "import sys, polars; polars.read_excel(sys.argv[1])"


def paired(subject: Callable[[], Ran], baseline: Callable[[], Ran], pairs: int) -> list[Ran]:
    """Subject and baseline in turn, ``pairs`` times: ratios taken pair by pair stay fair when
    the machine's speed drifts. Returns the runs, subject and baseline alternating."""
    runs: list[Ran] = []
    for _ in range(pairs):
        runs += [subject(), baseline()]
    return runs


def median_ratio(runs: list[Ran]) -> tuple[float, float, float]:
    """The median subject wall, baseline wall, and ratio of the pairs from :func:`paired`."""
    subjects, baselines = runs[0::2], runs[1::2]
    ratios = sorted(s.wall / b.wall for s, b in zip(subjects, baselines, strict=True))
    walls = sorted(run.wall for run in subjects)
    bases = sorted(run.wall for run in baselines)
    middle = len(ratios) // 2
    return walls[middle], bases[middle], ratios[middle]


def lines_in(path: Path) -> int:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return sum(1 for _ in csv.reader(file)) - 1


# --- the measurements ------------------------------------------------------------------------


def validate_csv(folder: Path, rows: int, repeat: int) -> list[Row]:
    """``validate`` of ``rows`` realistic lemlist rows, some with mistakes, ``repeat`` times
    (each onto the results of the one before, after the first)."""
    data = folder / "tasks.csv"
    mistaken = write_mixed_csv(data, rows)
    out = data.with_suffix(".out.csv")
    runs = [bulk_tasks("validate", data, "-t", "lemlist", "--results", out) for _ in range(repeat)]
    walls = sorted(run.wall for run in runs)
    wall, fastest = walls[len(walls) // 2], walls[0]
    first = runs[0]  # the first validation: no earlier results to look at
    again = max(runs[1:], key=lambda run: run.peak_mib, default=first)  # onto its own results
    written = lines_in(out)
    return [
        Row(
            f"validate {rows:,} realistic CSV rows, {mistaken / rows:.0%} with a mistake "
            f"(median of {repeat}, fastest {fastest:.1f} s)",
            f"{wall:.1f} s",
            "",
            None,
            "<= 60 s",
            wall <= 60,
        ),
        Row(
            f"validate {rows:,} CSV rows: peak memory",
            f"{first.peak_mib:.0f} MiB",
            "",
            None,
            "<= 1024 MiB",
            first.peak_mib <= 1024,
        ),
        Row(
            f"validate {rows:,} CSV rows: results lines",
            f"{written:,}",
            f"{rows:,} rows",
            written / rows,
            "one per row",
            written == rows,
        ),
        Row(
            "validate again onto its own results: peak memory",
            f"{again.peak_mib:.0f} MiB",
            f"first {first.peak_mib:.0f} MiB",
            again.peak_mib / first.peak_mib,
            "<= 1.1x",
            again.peak_mib <= 1.1 * first.peak_mib,
        ),
    ]


#: what makes a realistic row invalid (every 7th row, 13th...), each a mistake users make
MISTAKES = {
    7: (1, "call"),  # not a lemlist type
    13: (2, "jane@acme.com"),  # an email where a user id goes
    19: (0, ""),  # no lead id
    23: (3, "03/04/2026"),  # day/month or month/day?
    29: (6, "urgent"),  # not a priority
}


def write_mixed_csv(path: Path, count: int) -> int:
    """:func:`read_inputs.task_rows` as text, some rows with a user's mistakes in them;
    returns how many rows have one."""
    mistaken = 0
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADERS)
        for n, row in enumerate(task_rows(count, text_dates=True)):
            mistakes = [every for every in MISTAKES if n % every == every - 1]
            for every in mistakes:
                column, value = MISTAKES[every]
                row[column] = value
            mistaken += bool(mistakes)
            writer.writerow(row)
    return mistaken


def validate_against(
    data: Path, baseline: str, pairs: int, *, kind: str, named: str, limit: float
) -> tuple[list[Ran], Row]:
    """``validate`` of ``data`` paired with a baseline reading it; the runs and the ratio row."""
    runs = paired(
        lambda: bulk_tasks(
            "validate", data, "-t", "lemlist", "--results", data.with_suffix(".out.csv")
        ),
        lambda: python(baseline, data),
        pairs=pairs,
    )
    wall, base, ratio = median_ratio(runs)
    row = Row(
        f"validate {kind} (median of {pairs} pairs)",
        f"{wall:.1f} s",
        f"{named} {base:.2f} s",
        ratio,
        f"<= {limit:g}x",
        ratio <= limit,
    )
    return runs, row


def validate_xlsx(folder: Path, rows: int) -> list[Row]:
    data = folder / "tasks.xlsx"
    write_xlsx(data, rows)
    _, speed = validate_against(
        data, POLARS_READ, 5, kind=f"{rows:,} XLSX rows", named="polars.read_excel", limit=4
    )
    return [speed]


def write_creates(path: Path, rows: int, *, keys: Sequence[str] = ()) -> Path:
    """lemlist creates; with ``keys``, a run of rows per key variable, one team after another."""
    with path.open("w", encoding="utf-8", newline="") as file:
        out = csv.writer(file)
        out.writerow(["leadId", "type", "assignedTo", "dueDate", "title", "apiKeyEnv"])
        for team, key_env in enumerate(keys or [""]):
            for n in range(rows):
                out.writerow(
                    [f"lea_{team}{n:016d}", "phone", USER, "2026-12-01 09:00", f"Call {n}", key_env]
                )
    return path


def run_creates(
    folder: Path, url: str, rows: int, name: str, *more: str, keys: Sequence[str] = ()
) -> Ran:
    data = write_creates(folder / f"{name}.csv", rows, keys=keys)
    env = {"LEMLIST_API_KEY": "perf-key"} | KEYS
    return bulk_tasks(
        "run", data, "-t", "lemlist", "--base-url", url, "--results",
        folder / f"{name}.results.csv", "--force", *more, env=env,
    )  # fmt: skip


#: the paces a user can reach: one key at the vendor's limit (lemlist 20 per 2 s, Attio 25
#: per 1 s), and a file of 10 Attio keys (250 requests a second)
PACES = {
    "lemlist, 1 key at 10/s": ("lemlist", 1, 200),
    "Attio, 1 key at 25/s": ("attio", 1, 500),
    "Attio, 10 keys at 250/s": ("attio", 10, 500),
}


def write_paced(path: Path, target: str, rows: int, keys: Sequence[str]) -> Path:
    """Creates for ``target``, ``rows`` per key variable, the keys' rows interleaved."""
    if target == "lemlist":
        headers = ["leadId", "type", "assignedTo", "dueDate", "title", "apiKeyEnv"]
    else:
        headers = ["content", "deadline_at", "linked_records", "assignees", "apiKeyEnv"]
    with path.open("w", encoding="utf-8", newline="") as file:
        out = csv.writer(file)
        out.writerow(headers)
        for n in range(rows):
            for team, key_env in enumerate(keys):
                if target == "lemlist":
                    lead = f"lea_{team}{n:016d}"
                    out.writerow([lead, "phone", USER, "2026-12-01 09:00", f"Call {n}", key_env])
                else:
                    person = f"person{team}-{n}@company.com"
                    out.writerow(
                        [f"Call {n}", "2026-12-01 09:00", person, "alice@attio.com", key_env]
                    )
    return path


def paced_run(folder: Path, name: str, target: str, keys: int, rows: int) -> tuple[Ran, float]:
    """``run`` of ``rows`` creates per key against the sandbox at the vendor's own limits,
    with a windows file of its own; the run and the requests a second the sandbox saw."""
    variables = [f"PACE_{n}_KEY" for n in range(keys)]
    data = write_paced(folder / f"{name}.csv", target, rows, variables)
    env = {variable: f"pace-key-{n}" for n, variable in enumerate(variables)}
    env["BULK_TASKS_CACHE_DIR"] = str(folder / f"{name}.cache")
    env["BULK_TASKS_DATA_DIR"] = str(folder / f"{name}.data")  # a task ledger of its own
    sandbox = Sandbox()
    with SandboxServer(sandbox) as server:
        ran = bulk_tasks(
            "run", data, "-t", target, "--base-url", server.url, "--results",
            folder / f"{name}.results.csv", "--force", env=env,
        )  # fmt: skip
    assert "created" in ran.output, ran.output
    times = [arrival.time for arrival in sandbox.arrivals]
    pace = (len(times) - 1) / (max(times) - min(times)) if len(times) > 1 else 0.0
    return ran, pace


def client_cpu(folder: Path, quick: bool, repeat: int) -> list[Row]:
    """The client's CPU while it sends at a pace a user can reach: a core's share per key,
    start-up (a run of one row, its CPU and wall time) subtracted. ``repeat`` runs of each;
    the median, and the lowest and highest."""
    rows = []
    for label, (target, keys, per_key) in PACES.items():
        per_key = per_key // 5 if quick else per_key
        shares, paces = [], []
        for n in range(repeat):
            started, _ = paced_run(folder, f"pace-start-{target}-{n}", target, 1, 1)
            ran, pace = paced_run(folder, f"pace-{target}-{keys}-{n}", target, keys, per_key)
            busy = (ran.cpu - started.cpu) / (ran.wall - started.wall)
            shares.append(100 * busy / keys)
            paces.append(pace)
        shares.sort()
        share, pace = shares[len(shares) // 2], sorted(paces)[len(paces) // 2]
        rows.append(
            Row(
                f"client CPU, {label}: {keys * per_key:,} creates at {pace:.1f}/s "
                f"(median of {repeat}, {shares[0]:.2f}-{shares[-1]:.2f}%)",
                f"{share:.2f}% of a core per key",
                "",
                None,
                "<= 5%",
                share <= 5,
            )
        )
    return rows


def sustained(times: list[float], burst: int) -> float:
    """Requests per second a window lets through for good: all but the first ``burst`` (what
    an empty window lets through at once), over the time from the first to the last."""
    return (len(times) - burst) / (max(times) - min(times))


def window_rows(name: str, sandbox: Sandbox, *, limit: int, period: float) -> Row:
    """429s and the most arrivals in any window, measured at the server."""
    times = [arrival.time for arrival in sandbox.arrivals]
    refused = [arrival.status for arrival in sandbox.arrivals].count(429)
    most = max_in_window(times, period)
    return Row(
        f"{name}: 429s, most arrivals in any {period:g} s",
        f"{refused}, {most}",
        "",
        None,
        f"0, <= {limit}",
        refused == 0 and most <= limit,
    )


def at_the_bound(
    name: str, sandbox: Sandbox, *, limit: int, period: float, latency: float, share: float
) -> list[Row]:
    """The rate past the first window's worth, against the bound of a window that holds
    each slot until ``period`` (and 10 ms) after its answer, ``latency`` on average."""
    rate = sustained([arrival.time for arrival in sandbox.arrivals], limit)
    bound = limit / (period + 0.01 + latency)
    return [
        Row(
            f"{name}: requests/s past the first {limit}",
            f"{rate:.2f}",
            f"{limit} / ({period + 0.01:g} s + {latency:g} s) = {bound:.2f}",
            rate / bound,
            f">= {share:g}x",
            rate >= share * bound,
        ),
        window_rows(name, sandbox, limit=limit, period=period),
    ]


#: when the sandbox counts X-RateLimit-Remaining: lemlist does not say, the client must be
#: right either way
TIMINGS: tuple[Literal["admission", "answer"], ...] = ("admission", "answer")


def lemlist_latency(folder: Path, requests: int, *, latency: tuple[float, float]) -> list[Row]:
    """lemlist with answers taking ``latency`` seconds (uniform between the two), its
    remaining count taken as a request arrives, then as its answer starts."""
    low, high = latency
    shown = f"{low * 1000:g}" if low == high else f"{low * 1000:g}-{high * 1000:g}"
    rows = []
    for timing in TIMINGS:
        sandbox = Sandbox(faults=Faults(latency=latency, seed=1, remaining_at=timing))
        with SandboxServer(sandbox) as server:
            run_creates(folder, server.url, requests, f"latency-{timing}")
        name = f"lemlist at {shown} ms latency, counted at {timing}"
        mean = (low + high) / 2
        rows += at_the_bound(name, sandbox, limit=20, period=2.0, latency=mean, share=0.97)
    return rows


def attio_jitter(folder: Path, requests: int) -> list[Row]:
    """Attio with answers taking 15-45 ms (mean 30 ms)."""
    data = folder / "attio.csv"
    rows = [
        f"Call {n},2026-12-01 09:00,person{n}@company.com,alice@attio.com" for n in range(requests)
    ]
    data.write_text("content,deadline_at,linked_records,assignees\n" + "\n".join(rows) + "\n")
    sandbox = Sandbox(faults=Faults(latency=(0.015, 0.045), seed=1))
    with SandboxServer(sandbox) as server:
        bulk_tasks(
            "run", data, "-t", "attio", "--base-url", server.url, "--results",
            folder / "attio.results.csv", "--force", env={"ATTIO_API_KEY": "perf-key"},
        )  # fmt: skip
    name = "Attio at 15-45 ms latency"
    return at_the_bound(name, sandbox, limit=25, period=1.0, latency=0.03, share=0.95)


def start_creates(url: str, data: Path, rows: int) -> subprocess.Popen[bytes]:
    """``run`` of ``rows`` lemlist creates in the background."""
    write_creates(data, rows)
    command = [sys.executable, "-m", "bulk_tasks", "run", str(data), "-t", "lemlist"]
    command += ["--base-url", url, "--results", str(data.with_suffix(".results.csv")), "--force"]
    return subprocess.Popen(
        command,
        env={**os.environ, "LEMLIST_API_KEY": "perf-key"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def two_runs(folder: Path, rows: int) -> list[Row]:
    """Two runs of ``rows`` on one key at the same time, sharing its window through the
    machine's cache folder, against one run of twice as many rows."""
    sandbox = Sandbox()
    with SandboxServer(sandbox) as server:
        alone = run_creates(folder, server.url, 2 * rows, "alone")
        time.sleep(2.1)  # until the slots of the run alone have ended
        started = time.monotonic()
        both = [start_creates(server.url, folder / f"twin-{n}.csv", rows) for n in range(2)]
        for run in both:
            run.wait()
        together = time.monotonic() - started
    ratio = together / alone.wall
    return [
        Row(
            f"2 runs x {rows} rows on one key at once, against 1 run of {2 * rows}",
            f"{together:.1f} s",
            f"{alone.wall:.1f} s",
            ratio,
            "<= 1.1x",
            ratio <= 1.1,
        ),
        window_rows("2 runs on one key (and the run alone)", sandbox, limit=20, period=2.0),
    ]


def foreign_traffic(
    folder: Path, requests: int, *, latency: tuple[float, float] = (0.0, 0.0)
) -> list[Row]:
    """Another tool sends 6 of lemlist's 20 requests per 2 s on the key, with lemlist's
    remaining count taken as a request arrives, then as its answer starts."""
    rows = []
    mean = sum(latency) / 2
    at = f" at {latency[0] * 1000:g}-{latency[1] * 1000:g} ms latency" if mean else ""
    for timing in TIMINGS:
        sandbox = Sandbox(faults=Faults(foreign=6, remaining_at=timing, latency=latency, seed=1))
        with SandboxServer(sandbox) as server:
            run_creates(folder, server.url, requests, f"foreign-{timing}")
        name = f"another tool sends 6 of 20 per 2 s{at}, counted at {timing}"
        rows += foreign_rows(name, sandbox, latency=mean)
    return rows


def foreign_rows(name: str, sandbox: Sandbox, *, latency: float) -> list[Row]:
    """The rate past the first 14 against what the other tool's 6 of 20 leave (each slot
    held a period and the mean ``latency``), and 429s."""
    arrivals = sandbox.arrivals
    rate = sustained([arrival.time for arrival in arrivals], 14)
    left = (20 - 6) / (2.01 + latency)
    refused = [arrival.status for arrival in arrivals].count(429)
    per_100 = 100 * refused / len(arrivals)
    return [
        Row(
            f"{name}: requests/s past the first 14",
            f"{rate:.2f}",
            f"what it leaves, 14 / {2.01 + latency:g} s = {left:.2f}",
            rate / left,
            ">= 0.9x",
            rate >= 0.9 * left,
        ),
        Row(
            f"{name}: 429s per 100 requests",
            f"{per_100:.1f} ({refused} of {len(arrivals)})",
            "",
            None,
            "<= 1",
            per_100 <= 1,
        ),
    ]


def several_keys(folder: Path, rows: int) -> list[Row]:
    sandbox = Sandbox()
    with SandboxServer(sandbox) as server:
        alone = run_creates(folder, server.url, rows, "one-key", keys=["TEAM_A_KEY"])
        three = run_creates(folder, server.url, rows, "three-keys", keys=list(KEYS))
    refused = [arrival.status for arrival in sandbox.arrivals].count(429)
    by_key: dict[str | None, list[float]] = {}
    for arrival in sandbox.arrivals:
        by_key.setdefault(arrival.key, []).append(arrival.time)
    most = max(max_in_window(times, 2.0) for times in by_key.values())
    said = alone.output + three.output
    files = [folder / f"{name}.results.csv" for name in ("one-key", "three-keys")]
    said += "".join(file.read_text(encoding="utf-8-sig") for file in files)
    leaked = [name for name, key in KEYS.items() if key in said]
    ratio = three.wall / alone.wall
    return [
        Row(
            f"3 keys x {rows} rows, against 1 key x {rows}",
            f"{three.wall:.1f} s",
            f"{alone.wall:.1f} s",
            ratio,
            "<= 1.35x",
            ratio <= 1.35,
        ),
        Row(
            "3 keys: 429s, most arrivals of a key in any 2 s, keys in any output",
            f"{refused}, {most}, {len(leaked)}",
            "",
            None,
            "0, <= 20, 0",
            refused == 0 and most <= 20 and not leaked,
        ),
    ]


def serve_unlimited(connection: Connection) -> None:
    """A sandbox with no rate limit, in a process of its own: its address is sent over
    ``connection``, and it serves until a word comes back."""
    with SandboxServer(Sandbox(limit=10**7, period=1.0, demo_tasks=False)) as server:
        connection.send(server.url)
        connection.recv()


@contextlib.contextmanager
def sandbox_process() -> Iterator[str]:
    """The address of an unlimited sandbox served by a process of its own. A run's peak
    memory is the operating system's account of its process, which on Linux starts at what
    the process that started it held: served from here, the sandbox's record of every task
    would count as the run's."""
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=serve_unlimited, args=(theirs,))
    process.start()
    try:
        yield ours.recv()
    finally:
        ours.send("stop")
        process.join(10)


def run_memory(folder: Path, small: int) -> list[Row]:
    large = small * 10
    with sandbox_process() as url:
        few = run_creates(folder, url, small, "small", "--rate", "100000/1")
        many = run_creates(folder, url, large, "large", "--rate", "100000/1")
    ratio = many.peak_mib / few.peak_mib
    return [
        Row(
            f"run {large:,} rows: peak memory",
            f"{many.peak_mib:.0f} MiB",
            f"{small:,} rows {few.peak_mib:.0f} MiB",
            ratio,
            "<= 1.5x",
            ratio <= 1.5,
        )
    ]


MEASUREMENTS: dict[str, Callable[[Path, bool], list[Row]]] = {
    "validate-csv": lambda folder, quick: validate_csv(folder, 100_000 if quick else 1_000_000, 3),
    "validate-xlsx": lambda folder, quick: validate_xlsx(folder, 10_000 if quick else 100_000),
    "client-cpu": lambda folder, quick: client_cpu(folder, quick, 3),
    "lemlist-rate": lambda folder, quick: lemlist_latency(
        folder, 100 if quick else 400, latency=(0.08, 0.08)
    ),
    "lemlist-jitter": lambda folder, quick: lemlist_latency(
        folder, 100 if quick else 400, latency=(0.04, 0.12)
    ),
    "attio-jitter": lambda folder, quick: attio_jitter(folder, 100 if quick else 400),
    "two-runs": lambda folder, quick: two_runs(folder, 50 if quick else 200),
    "foreign": lambda folder, quick: foreign_traffic(folder, 100 if quick else 300),
    "foreign-jitter": lambda folder, quick: foreign_traffic(
        folder, 100 if quick else 300, latency=(0.04, 0.12)
    ),
    "keys": lambda folder, quick: several_keys(folder, 50 if quick else 150),
    "run-memory": lambda folder, quick: run_memory(folder, 2_000 if quick else 20_000),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every size tenfold smaller")
    parser.add_argument("--only", action="append", choices=sorted(MEASUREMENTS))
    options = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {cores} cores\n")
    print("| measurement | result | baseline | ratio | target | |")
    print("|---|---:|---:|---:|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        # the runs share their keys' windows in a cache folder of their own (this one's)
        os.environ["BULK_TASKS_CACHE_DIR"] = str(Path(folder) / "cache")
        os.environ["BULK_TASKS_DATA_DIR"] = str(Path(folder) / "data")  # the runs' task ledger
        for name in options.only or list(MEASUREMENTS):
            for row in MEASUREMENTS[name](Path(folder), options.quick):
                print(row.line(), flush=True)


if __name__ == "__main__":
    main()
