"""How long `bulk-tasks reconcile` takes on big results files, and how much memory it holds.

Writes three results files of one piece of work (a first run, a resume, a retry: every line
in each, as a resumed results file has them), ``--lines`` lines each, then runs the real
command on them in a child process, once plain and once with ``--failed-out`` and
``--report``, and prints a table of wall time and peak memory (the child's max RSS):

    python benchmarks/reconcile.py [--lines 1000000]

In the first file 80% of the lines are created, 10% failed, 5% invalid and 5% unknown; the
resume turns created lines into skipped and half the failures into created; the retry
settles half the unknown lines.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bulk_tasks.results import RESULT_COLUMNS

INPUT = ["leadId", "type", "assignedTo", "dueDate", "title"]


def first_status(n: int, chance: random.Random) -> tuple[str, str]:
    roll = chance.random()
    if roll < 0.80:
        return "created", ""
    if roll < 0.90:
        return "failed", "http_400"
    if roll < 0.95:
        return "invalid", "dueDate"
    return "unknown", "no_answer"


def write_files(folder: Path, lines: int) -> list[Path]:
    chance = random.Random(7)
    first = [first_status(n, chance) for n in range(lines)]
    paths = [folder / name for name in ("first.csv", "resumed.csv", "retried.csv")]
    files = [path.open("w", encoding="utf-8-sig", newline="") for path in paths]
    writers = [csv.writer(file) for file in files]
    for writer in writers:
        writer.writerow([*RESULT_COLUMNS, *INPUT])
    for n, (status, code) in enumerate(first):
        fingerprint = hashlib.sha256(str(n).encode()).hexdigest()[:16]
        own = [f"lea_{n:017d}", "phone", "usr_7YzNqVRMCfdeHEzMn", "2026-12-01", f"Call {n}"]
        task = f"opp_{n:017d}"
        later = {
            "created": ("skipped", ""),
            "failed": ("created", "") if n % 2 else ("failed", code),
            "invalid": ("invalid", code),
            "unknown": ("unknown", code),
        }[status]
        last = ("created", "") if status == "unknown" and n % 2 else later
        for writer, (state, error) in zip(writers, (first[n], later, last), strict=True):
            remote = task if state in ("created", "skipped") else ""
            message = "lemlist refused it: Bad params" if error else ""
            writer.writerow(
                [n + 2, state, remote, "", "200", error, message, "1", fingerprint, "lemlist", *own]
            )
    for file in files:
        file.close()
    return paths


def measure(arguments: list[str], folder: Path) -> tuple[float, float, int]:
    """Wall time, the child's own peak RSS in MB, and its exit code."""
    command = [sys.executable, "-m", "bulk_tasks", "reconcile", *arguments]
    log = folder / "reconcile.log"
    started = time.monotonic()
    with log.open("w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - started
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        print(log.read_text(), file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        started = time.monotonic()
        paths = write_files(folder, options.lines)
        size = sum(path.stat().st_size for path in paths) / 1e6
        print(
            f"3 results files x {options.lines:,} lines ({size:,.0f} MB), written in "
            f"{time.monotonic() - started:.0f} s\n"
        )
        print("| command | wall s | peak MB | exit |")
        print("|---|---:|---:|---:|")
        plain = [str(path) for path in paths]
        wall, peak, code = measure(plain, folder)
        print(f"| reconcile (summary only) | {wall:.1f} | {peak:.0f} | {code} |", flush=True)
        extra = ["--failed-out", str(folder / "failed.csv"), "--report", str(folder / "r.xlsx")]
        wall, peak, code = measure([*plain, *extra], folder)
        print(f"| reconcile --failed-out --report | {wall:.1f} | {peak:.0f} | {code} |")


if __name__ == "__main__":
    main()
