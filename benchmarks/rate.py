"""How fast `bulk-tasks run` sends, and whether the server ever sees too many requests.

Runs the real command (a child process) against the sandbox (this process, real HTTP on
127.0.0.1) for each scenario and prints one table row per scenario:

    python benchmarks/rate.py [--rows 400] [--scenario NAME ...]

Columns: requests the server saw, requests/s sustained (first to last arrival), the most
arrivals in any 2-s window (lemlist allows 20), 429 answers, and the command's wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer, max_in_window

KEY = "benchmark-key"


@dataclass(frozen=True)
class Scenario:
    name: str
    faults: Faults


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("no latency", Faults()),
        Scenario("latency 20 ms", Faults(latency=(0.0, 0.02))),
        Scenario("latency 40-120 ms", Faults(latency=(0.04, 0.12), seed=1)),
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
    with SandboxServer(sandbox) as server:
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bulk_tasks",
                "run",
                str(source),
                "-t",
                "lemlist",
                "--base-url",
                server.url,
                "--results",
                str(folder / f"{scenario.name}.csv"),
            ],
            env=env,
            check=False,
            capture_output=True,
            timeout=30 + rows,
        )
        wall = time.monotonic() - started
    times = sorted(arrival.time for arrival in sandbox.arrivals)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    rate = (len(times) - 1) / span
    too_many = sum(1 for arrival in sandbox.arrivals if arrival.status == 429)
    peak = max_in_window(times, 2.0)
    return f"| {scenario.name} | {len(times)} | {rate:.2f} | {peak} | {too_many} | {wall:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    options = parser.parse_args()
    print(f"{options.rows} creates per scenario, lemlist limit 20 requests per 2 s\n")
    print("| scenario | requests | requests/s | most in any 2 s | 429s | wall s |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name in options.scenario or list(SCENARIOS):
            print(measure(SCENARIOS[name], options.rows, Path(folder)), flush=True)


if __name__ == "__main__":
    main()
