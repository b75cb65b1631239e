"""Never over the limit, under what could break it: clock steps, a stalled event loop, busy
cores. The sandbox must answer no request of ours with a 429.

    python benchmarks/stress.py [--requests N] [--runs N] [--condition NAME ...]

Several runs of the real command at once on one lemlist key (child processes, sharing the
key's window through a cache folder of their own) send creates to the sandbox (this process,
real HTTP on 127.0.0.1) with a shortened window, 20 requests per 0.25 s, so that 20,000
requests take minutes rather than half an hour; answers take 5-30 ms. Each condition is
made in the runs' own processes, from outside the code they run:

    clock-steps    the wall clock (time.time) steps 1 s forward or back every 0.5 s, the same
                   step at the same moment in every run, as a clock set by NTP would
    loop-stalls    one fsync in ten takes up to 200 ms (a slow disk: the journal's fsyncs run
                   on the event loop), and a thread holds the interpreter for up to 200 ms at
                   a time, a few times a second
    busy-cores     as many processes as there are cores spin beside the runs
    all            the three together

One table row per condition: requests the sandbox saw, 429 answers, the most arrivals in any
0.25 s, requests per second against the window's bound, rows created. The script exits 1
when any condition saw a 429 or more arrivals in a window than the limit.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer, max_in_window

LIMIT, PERIOD = 20, 0.25
LATENCY = (0.005, 0.03)
KEY = "stress-key"
USER = "usr_7YzNqVRMCfdeHEzMn"

#: runs in each child before the command: makes the condition, then runs ``bulk-tasks``
CHILD = """
import os, random, sys, threading, time
conditions = set(os.environ["STRESS_CONDITIONS"].split(","))
if "clock-steps" in conditions:
    wall, since = time.time, float(os.environ["STRESS_SINCE"])
    def stepped_time():
        # the same offset at the same moment in every process: 0, +1 s, 0, -1 s, each 0.5 s
        phase = int((time.monotonic() - since) / 0.5) % 4
        return wall() + (0.0, 1.0, 0.0, -1.0)[phase]
    time.time = stepped_time
if "loop-stalls" in conditions:
    fsync = os.fsync
    def slow_fsync(fd):
        if random.random() < 0.1:
            time.sleep(random.uniform(0.0, 0.2))
        fsync(fd)
    os.fsync = slow_fsync
    sys.setswitchinterval(0.2)  # a thread holding the interpreter keeps it up to 200 ms
    def stall():
        while True:
            time.sleep(random.uniform(0.1, 0.5))
            until = time.perf_counter() + random.uniform(0.0, 0.2)
            while time.perf_counter() < until:
                pass
    threading.Thread(target=stall, daemon=True).start()
from bulk_tasks.cli.commands import main
sys.argv = ["bulk-tasks", *sys.argv[1:]]
main()
"""

CONDITIONS = {
    "clock-steps": ("clock-steps",),
    "loop-stalls": ("loop-stalls",),
    "busy-cores": ("busy-cores",),
    "all": ("clock-steps", "loop-stalls", "busy-cores"),
}


@dataclass(frozen=True)
class Measured:
    condition: str
    requests: int
    refused: int
    most: int
    per_second: float
    created: int
    failed_runs: int

    @property
    def held(self) -> bool:
        return self.refused == 0 and self.most <= LIMIT and self.failed_runs == 0

    def line(self) -> str:
        bound = LIMIT / (PERIOD + 0.01 + sum(LATENCY) / 2)
        verdict = "pass" if self.held else "FAIL"
        return (
            f"| {self.condition} | {self.requests:,} | {self.refused} | {self.most} "
            f"| {self.per_second:.1f} of {bound:.1f} | {self.created:,} | {verdict} |"
        )


def write_creates(path: Path, rows: int, run: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        out = csv.writer(file)
        out.writerow(["leadId", "type", "assignedTo", "dueDate", "title"])
        for n in range(rows):
            out.writerow([f"lea_{run:02d}{n:015d}", "phone", USER, "2026-12-01 09:00", f"Call {n}"])
    return path


def spin() -> None:
    while True:
        pass


def created_in(results: Path) -> int:
    with results.open(encoding="utf-8", newline="") as file:
        return sum(1 for line in csv.DictReader(file) if line["status"] == "created")


def measure(condition: str, folder: Path, requests: int, runs: int) -> Measured:
    made = CONDITIONS[condition]
    sandbox = Sandbox(keys={KEY}, limit=LIMIT, period=PERIOD, faults=Faults(latency=LATENCY))
    hogs = []
    if "busy-cores" in made:
        hogs = [
            multiprocessing.Process(target=spin, daemon=True) for _ in range(os.cpu_count() or 2)
        ]
    env = {
        **os.environ,
        "LEMLIST_API_KEY": KEY,
        "BULK_TASKS_CACHE_DIR": str(folder / f"{condition}-cache"),
        "BULK_TASKS_DATA_DIR": str(folder / f"{condition}-data"),  # the runs' task ledger
        "STRESS_CONDITIONS": ",".join(made),
        "STRESS_SINCE": repr(time.monotonic()),
    }
    with SandboxServer(sandbox) as server:
        for hog in hogs:
            hog.start()
        try:
            children = []
            for run in range(runs):
                data = write_creates(folder / f"{condition}-{run}.csv", -(-requests // runs), run)
                command = [sys.executable, "-c", CHILD, "run", str(data), "-t", "lemlist"]
                command += ["--base-url", server.url, "--rate", f"{LIMIT}/{PERIOD:g}", "--force"]
                command += ["--results", str(data.with_suffix(".results.csv"))]
                children.append(
                    subprocess.Popen(
                        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                    )
                )
            failed = 0
            for run, process in enumerate(children):
                _, errors = process.communicate(timeout=3600)
                if process.returncode != 0:
                    failed += 1
                    said = errors.decode()[-2000:]
                    print(f"{condition}, run {run}: exit {process.returncode}: {said}")
        finally:
            for hog in hogs:
                hog.kill()
    arrivals = sandbox.arrivals
    times = sorted(arrival.time for arrival in arrivals)
    created = sum(created_in(folder / f"{condition}-{run}.results.csv") for run in range(runs))
    return Measured(
        condition=condition,
        requests=len(arrivals),
        refused=[arrival.status for arrival in arrivals].count(429),
        most=max_in_window(times, PERIOD),
        per_second=(len(times) - LIMIT) / (times[-1] - times[0]),
        created=created,
        failed_runs=failed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="per condition (5000)")
    parser.add_argument("--runs", type=int, default=3, help="runs at once on the key (3)")
    parser.add_argument("--condition", action="append", choices=sorted(CONDITIONS))
    options = parser.parse_args()
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} cores; ")
    print(f"{options.runs} runs at once on one key, window {LIMIT} per {PERIOD:g} s\n")
    print("| condition | requests | 429s | most in any 0.25 s | requests/s of bound | created | |")
    print("|---|---:|---:|---:|---:|---:|---|")
    measured = []
    with tempfile.TemporaryDirectory() as folder:
        for condition in options.condition or list(CONDITIONS):
            measured.append(measure(condition, Path(folder), options.requests, options.runs))
            print(measured[-1].line(), flush=True)
    total = sum(one.requests for one in measured)
    refused = sum(one.refused for one in measured)
    print(f"\n{total:,} requests, {refused} answered 429")
    sys.exit(0 if all(one.held for one in measured) else 1)


if __name__ == "__main__":
    main()
