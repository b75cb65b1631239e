"""How fast `bulk-tasks run` sends, and whether the server ever sees too many requests.

Runs the real command (a child process) against the sandbox (this process, real HTTP on
127.0.0.1) for each scenario and prints one table row per scenario:

    python benchmarks/rate.py [--rows 400] [--scenario NAME ...]

Columns: requests the server saw, requests/s sustained (first to last arrival), the most
arrivals in any 2-s window (lemlist allows 20), 429 answers (real ones: spurious 429s
injected as faults are not counted), rows created and unknown, and the command's wall time.
The fault scenarios inject 10% 500s, 5% spurious 429s and 2% hung answers (with --timeout 5).
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


FAULTS = Faults(p_error_500=0.10, p_spurious_429=0.05, p_hang=0.02, seed=2)
SCENARIOS = {
    s.name: s
    for s in (
        Scenario("no latency", Faults()),
        Scenario("latency 20 ms", Faults(latency=(0.0, 0.02))),
        Scenario("latency 40-120 ms", Faults(latency=(0.04, 0.12), seed=1)),
        Scenario("2% hangs", Faults(p_hang=0.02, seed=3), ("--timeout", "5")),
        Scenario("faults", FAULTS, ("--timeout", "5")),
        Scenario("faults, 40-120 ms", replace(FAULTS, latency=(0.04, 0.12)), ("--timeout", "5")),
    )
}


def write_input(path: Path, rows: int) -> None:
    lines = ["leadId,type,assignedTo,dueDate,title"]
    lines += [
        f"lea_{n:017d},phone,usr_7YzNqVRMCfdeHEzMn,2026-12-01 09:00,Call {n}" for n in range(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def measure(scenario: Scenario, rows: int, folder: Path) -> str:
    source = folder / "tasks.csv"
    write_input(source, rows)
    sandbox = Sandbox(keys={KEY}, faults=scenario.faults)
    env = {**os.environ, "LEMLIST_API_KEY": KEY}
    results = folder / f"{scenario.name}.csv"
    command = [sys.executable, "-m", "bulk_tasks", "run", str(source), "-t", "lemlist"]
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
    with results.open(encoding="utf-8-sig", newline="") as file:
        statuses = Counter(line["status"] for line in csv.DictReader(file))
    return (
        f"| {scenario.name} | {len(times)} | {rate:.2f} | {max_in_window(times, 2.0)} "
        f"| {real_429s(sandbox)} | {statuses['created']} | {statuses['unknown']} | {wall:.1f} |"
    )


def real_429s(sandbox: Sandbox, *, limit: int = 20, period: float = 2.0) -> int:
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
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    options = parser.parse_args()
    print(f"{options.rows} creates per scenario, lemlist limit 20 requests per 2 s\n")
    print(
        "| scenario | requests | requests/s | most in any 2 s | 429s | created | unknown | wall s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name in options.scenario or list(SCENARIOS):
            print(measure(SCENARIOS[name], options.rows, Path(folder)), flush=True)


if __name__ == "__main__":
    main()
