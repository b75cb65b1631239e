"""How fast `bulk-tasks run` sends, and whether the server ever sees too many requests.

Runs the real command (a child process) against the sandbox (this process, real HTTP on
127.0.0.1) for each scenario and prints one table row per scenario:

    python benchmarks/rate.py [--vendor lemlist|attio] [--rows N] [--scenario NAME ...]

Columns: requests the server saw, requests/s (first to last arrival, and past the first
window's worth, which an empty window lets through at once), the most arrivals in any
window of the vendor's (lemlist allows 20 in 2 s, Attio 25 in 1 s), 429 answers (real
ones: spurious 429s injected as faults are not counted), rows created and unknown, and the
command's wall time. The sandbox counts X-RateLimit-Remaining as each request arrives,
or, in the scenarios "counted at answer", as its answer starts. The fault scenarios inject
10% 500s, 5% spurious 429s and 2% hung answers (with --timeout 5).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer, max_in_window

KEY = "benchmark-key"


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: Faults
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """A vendor as this benchmark drives it: its input, key variable and rate limit."""

    header: str
    row: str  # formatted with n
    key_env: str
    limit: int
    period: float
    rows: int  # the default number of creates


TARGETS = {
    "lemlist": Target(
        "leadId,type,assignedTo,dueDate,title",
        "lea_{n:017d},phone,usr_7YzNqVRMCfdeHEzMn,2026-12-01 09:00,Call {n}",
        "LEMLIST_API_KEY",
        20,
        2.0,
        400,
    ),
    "attio": Target(
        "content,deadline_at,linked_records,assignees",
        "Call {n},2026-12-01 09:00,person{n}@company.com,alice@attio.com",
        "ATTIO_API_KEY",
        25,
        1.0,
        300,
    ),
}


FAULTS = Faults(p_error_500=0.10, p_spurious_429=0.05, p_hang=0.02, seed=2)
SCENARIOS = {
    s.name: s
    for s in (
        Scenario("no latency", Faults()),
        Scenario("latency 20 ms", Faults(latency=(0.0, 0.02))),
        Scenario("latency 30 ms", Faults(latency=(0.03, 0.03))),
        Scenario("latency 40-120 ms", Faults(latency=(0.04, 0.12), seed=1)),
        Scenario("latency 80 ms", Faults(latency=(0.08, 0.08))),
        # lemlist does not say when it counts X-RateLimit-Remaining: as the answer starts
        Scenario(
            "40-120 ms, counted at answer",
            Faults(latency=(0.04, 0.12), seed=1, remaining_at="answer"),
        ),
        Scenario("80 ms, counted at answer", Faults(latency=(0.08, 0.08), remaining_at="answer")),
        Scenario("2% hangs", Faults(p_hang=0.02, seed=3), ("--timeout", "5")),
        Scenario("faults", FAULTS, ("--timeout", "5")),
        Scenario("faults, 40-120 ms", replace(FAULTS, latency=(0.04, 0.12)), ("--timeout", "5")),
    )
}


def write_input(path: Path, target: Target, rows: int) -> None:
    lines = [target.header, *(target.row.format(n=n) for n in range(rows))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def measure(scenario: Scenario, vendor: str, rows: int, folder: Path) -> str:
    target = TARGETS[vendor]
    source = folder / "tasks.csv"
    write_input(source, target, rows)
    sandbox = Sandbox(keys={KEY}, faults=scenario.faults)
    env = {**os.environ, target.key_env: KEY}
    results = folder / f"{scenario.name}.csv"
    command = [sys.executable, "-m", "bulk_tasks", "run", str(source), "-t", vendor]
    command += ["--results", str(results), "--force", *scenario.options]
    with SandboxServer(sandbox) as server:
        started = time.monotonic()
        subprocess.run(
            [*command, "--base-url", server.url],
            env=env,
            check=False,
            capture_output=True,
            timeout=60 + 2 * rows,
        )
        wall = time.monotonic() - started
    times = sorted(arrival.time for arrival in sandbox.arrivals)
    rate = (len(times) - 1) / (times[-1] - times[0])
    # an empty window lets its whole limit through at once: past it, the rate it sustains
    sustained = (len(times) - target.limit) / (times[-1] - times[0])
    with results.open(encoding="utf-8-sig", newline="") as file:
        statuses = Counter(line["status"] for line in csv.DictReader(file))
    most = max_in_window(times, target.period)
    refused = real_429s(sandbox, limit=target.limit, period=target.period)
    return (
        f"| {scenario.name} | {len(times)} | {rate:.2f} | {sustained:.2f} | {most} | {refused} "
        f"| {statuses['created']} | {statuses['unknown']} | {wall:.1f} |"
    )


def real_429s(sandbox: Sandbox, *, limit: int, period: float) -> int:
    """429s answered because the key's window was full (not the ones injected as faults)."""
    arrivals = sorted(sandbox.arrivals, key=lambda arrival: arrival.time)
    times = [arrival.time for arrival in arrivals]
    return sum(
        1
        for index, arrival in enumerate(arrivals)
        if arrival.status == 429 and index - bisect_left(times, arrival.time - period) >= limit
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vendor", choices=sorted(TARGETS), default="lemlist")
    parser.add_argument("--rows", type=int, help="creates per scenario (lemlist 400, attio 300)")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    options = parser.parse_args()
    target = TARGETS[options.vendor]
    rows = options.rows or target.rows
    window = f"{target.period:g} s"
    print(
        f"{rows} creates per scenario, {options.vendor} limit {target.limit} requests per "
        f"{window}\n"
    )
    print(
        f"| scenario | requests | requests/s | past the first {target.limit} "
        f"| most in any {window} | 429s | created | unknown | wall s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name in options.scenario or list(SCENARIOS):
            print(measure(SCENARIOS[name], options.vendor, rows, Path(folder)), flush=True)


if __name__ == "__main__":
    main()
