"""Whether every line ends created, once, when answers are lost: lookup rounds at work.

Runs the real command (a child process) against the sandbox (this process, real HTTP on
127.0.0.1, each vendor's own rate limit) with 5% of the creates' answers cut off after the
task was made and 5% lost before it was, for each seed, and prints one table row per run:

    python benchmarks/settle.py [--vendor lemlist|attio ...] [--seeds N] [--rows N]

Columns: the creates that got no answer (first sends and resends), lines created with the
id of their task (the one task the sandbox made for that row), lines left unknown, tasks
created twice (the sandbox's own record: more than one task for a row), lookup rounds (runs
of list requests between the creates), and the command's wall time. A summary line per
vendor says in how many seeds every line ended created with its task's id.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer

KEY = "benchmark-key"
MEMBER = "50cf242c-7fa3-4cad-87d0-75b1af71c57b"
TIMEOUT = "3"


@dataclass(frozen=True)
class Target:
    """A vendor as this benchmark drives it: its input, and what tells its rows apart."""

    header: str
    row: str  # formatted with n
    key_env: str
    subject: str  # what tells row n's create apart (see row_of), formatted with n

    def row_of(self, body: dict[str, Any]) -> str:
        """The row a create body was sent for: its lead (lemlist), its content (Attio)."""
        return str(body["data"]["content"] if "data" in body else body["recordId"])


TARGETS = {
    "lemlist": Target(
        "leadId,type,assignedTo,dueDate,title",
        "lea_{n:017d},phone,usr_7YzNqVRMCfdeHEzMn,2026-12-01 09:00,Call {n}",
        "LEMLIST_API_KEY",
        "lea_{n:017d}",
    ),
    "attio": Target(
        "content,deadline_at,linked_records,assignees",
        "Call {n},2026-12-01 09:00,person{n}@example.com," + MEMBER,
        "ATTIO_API_KEY",
        "Call {n}",
    ),
}


@dataclass(frozen=True)
class Measured:
    vendor: str
    seed: int
    unanswered: int
    created_with_id: int
    unknown: int
    twice: int
    rounds: int
    wall: float

    def line(self) -> str:
        return (
            f"| {self.vendor} | {self.seed} | {self.unanswered} | {self.created_with_id} "
            f"| {self.unknown} | {self.twice} | {self.rounds} | {self.wall:.1f} |"
        )


def measure(vendor: str, seed: int, rows: int, folder: Path) -> Measured:
    target = TARGETS[vendor]
    source = folder / f"{vendor}.csv"
    lines = [target.header, *(target.row.format(n=n) for n in range(rows))]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = folder / f"{vendor}-{seed}.results.csv"
    sandbox = Sandbox(keys={KEY}, faults=Faults(p_drop=0.05, p_lose=0.05, seed=seed))
    command = [sys.executable, "-m", "bulk_tasks", "run", str(source), "-t", vendor]
    command += ["--results", str(results), "--force", "--timeout", TIMEOUT]
    with SandboxServer(sandbox) as server:
        started = time.monotonic()
        subprocess.run(
            [*command, "--base-url", server.url],
            # a rate window of its own: not shared with other runs on this machine
            env={
                **os.environ,
                target.key_env: KEY,
                "BULK_TASKS_CACHE_DIR": str(folder),
                "BULK_TASKS_DATA_DIR": str(folder),
            },
            check=False,
            capture_output=True,
            timeout=120 + rows,
        )
        wall = time.monotonic() - started
    tasks: dict[str, list[str]] = {}
    for applied in sandbox.applied:
        tasks.setdefault(target.row_of(applied.body), []).append(applied.task_id)
    with results.open(encoding="utf-8-sig", newline="") as file:
        said = list(csv.DictReader(file))
    statuses = Counter(line["status"] for line in said)
    created_with_id = sum(
        1
        for line in said
        if line["status"] == "created"
        # the header is row 1
        and tasks.get(target.subject.format(n=int(line["row"]) - 2)) == [line["remote_id"]]
    )
    arrivals = sorted(sandbox.arrivals, key=lambda arrival: arrival.time)
    return Measured(
        vendor=vendor,
        seed=seed,
        unanswered=sum(1 for a in arrivals if a.method == "POST" and a.status is None),
        created_with_id=created_with_id,
        unknown=statuses["unknown"],
        twice=sum(len(ids) - 1 for ids in tasks.values()),
        rounds=sum(1 for method, _ in groupby(a.method for a in arrivals) if method == "GET"),
        wall=wall,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vendor", action="append", choices=sorted(TARGETS))
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 to N - 1 (10)")
    parser.add_argument("--rows", type=int, default=400, help="creates per run (400)")
    options = parser.parse_args()
    print(
        f"{options.rows} creates per run, 5% of answers cut off after the task was made and 5% "
        f"lost before, --timeout {TIMEOUT}\n"
    )
    print("| vendor | seed | no answer | created with its id | unknown | twice | rounds | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    runs: list[Measured] = []
    with tempfile.TemporaryDirectory() as folder:
        for vendor in options.vendor or list(TARGETS):
            for seed in range(options.seeds):
                runs.append(measure(vendor, seed, options.rows, Path(folder)))
                print(runs[-1].line(), flush=True)
    print()
    for vendor, measured in groupby(runs, key=lambda run: run.vendor):
        done = list(measured)
        every = sum(1 for run in done if run.created_with_id == options.rows)
        walls = [run.wall for run in done]
        print(
            f"{vendor}: every line created with its task's id in {every} of {len(done)} seeds; "
            f"tasks created twice: {sum(run.twice for run in done)}; wall s min "
            f"{min(walls):.1f}, median {statistics.median(walls):.1f}, max {max(walls):.1f}"
        )


if __name__ == "__main__":
    main()
