"""How many requests Saleshandy sees for 10,000 prospects, packed (the default) vs --no-pack.

Runs the real command (a child process, ``bulk-tasks run --target saleshandy``) against the
sandbox (this process, real HTTP on 127.0.0.1) for each scenario and prints one table row
per scenario:

    python benchmarks/saleshandy_packing.py [--rows 1000] [--scenario packed|no-pack ...]

The input has ``--rows`` rows of 10 distinct prospects each (all prospect ids distinct,
written with commas, semicolons or spaces between them), each row asking for one of 20
distinct tasks (type, priority, due date, note), row i for task i % 20, so that the rows of
one task are spread through the file. Packed, the prospects of rows that ask for the same
task travel together, up to 100 a request: 1,000 rows should take at most 120 requests
(100 at best), about 10 s at the sandbox's 20 requests per 2 s; --no-pack sends one request
a row, 1,000 requests, about 100 s.

Columns: requests the server saw, prospects it created a task for (and the results file's
``created`` lines), the command's wall time, requests/s sustained (first to last arrival),
the most arrivals in any 2-s window (Saleshandy's emulated limit is 20), and 429 answers.
Under the table: how many prospects got more than one task (it must be zero).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bulk_tasks.sandbox import Sandbox, SandboxServer, max_in_window

KEY = "benchmark-key"
PROSPECTS_PER_ROW = 10
SCENARIOS = {"packed": (), "no-pack": ("--no-pack",)}
HEADER = ["prospectIds", "taskType", "priority", "dueDate", "taskNote"]
#: 20 distinct tasks (type as written, priority, due date, note); labels and codes mixed,
#: and no two the same once "13" and "Call follow-up" are read as the same type
TASKS = [
    ("Call follow-up", "High", "2026-12-01", "Follow up on the proposal"),
    ("13", "Urgent", "2026-12-01", "Follow up on the proposal"),
    ("LinkedIn message", "Medium", "2026-12-02", "Congratulate them on the funding round"),
    ("3", "Low", "2026-12-02", "Share the case study"),
    ("Call demo", "High", "2026-12-03", "Walk them through the reporting module"),
    ("12", "Medium", "2026-12-04", "Second demo for the finance team"),
    ("LinkedIn connection request", "Low", "2026-12-01", "Met at the conference"),
    ("2", "Medium", "2026-12-05", "Met at the conference"),
    ("WhatsApp message", "Urgent", "2026-12-03", "Quick check-in before the demo"),
    ("16", "High", "2026-12-04", "Send the pricing sheet"),
    ("Call reminder", "Low", "2026-12-05", "The renewal is due next month"),
    ("14", "Urgent", "2026-12-02", "The trial ends on Friday"),
    ("Call introduction", "Medium", "2026-12-01", "Introduce the account manager"),
    ("11", "High", "2026-12-05", "Introduce the account manager"),
    ("Call other", "Low", "2026-12-03", "Ask who owns the budget"),
    ("LinkedIn view profile", "Medium", "2026-12-04", "Check their current role"),
    ("LinkedIn InMail", "High", "2026-12-02", "Invite them to the webinar"),
    ("WhatsApp voice call", "Urgent", "2026-12-05", "Confirm the meeting time"),
    ("Custom", "Low", "2026-12-03", "Send a handwritten card"),
    ("WhatsApp voice message", "Medium", "2026-12-01", "Thank them for the referral"),
]
SEPARATORS = (", ", ";", " ")


def write_input(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for row in range(rows):
            first = row * PROSPECTS_PER_ROW
            ids = [f"P{n:06d}" for n in range(first, first + PROSPECTS_PER_ROW)]
            writer.writerow([SEPARATORS[row % len(SEPARATORS)].join(ids), *TASKS[row % 20]])


def measure(name: str, rows: int, folder: Path) -> tuple[str, str]:
    """The scenario's table row, and the line that says whether any prospect got two tasks."""
    source = folder / "prospects.csv"
    write_input(source, rows)
    sandbox = Sandbox(keys={KEY})
    env = {**os.environ, "SALESHANDY_API_KEY": KEY}
    results = folder / f"{name}.csv"
    command = [sys.executable, "-m", "bulk_tasks", "run", str(source), "--target", "saleshandy"]
    command += ["--results", str(results), "--force", *SCENARIOS[name]]
    with SandboxServer(sandbox) as server:
        started = time.monotonic()
        child = subprocess.run(
            [*command, "--base-url", server.url],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=120 + rows,
        )
        wall = time.monotonic() - started
    if child.returncode not in (0, 1):
        print(f"{name}: the command exited {child.returncode}:\n{child.stderr}", file=sys.stderr)
    arrivals = sorted(sandbox.arrivals, key=lambda arrival: arrival.time)
    times = [arrival.time for arrival in arrivals]
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = f"{(len(times) - 1) / span:.2f}" if span > 0 else "-"
    too_many = sum(1 for arrival in arrivals if arrival.status == 429)
    vendor = [applied for applied in sandbox.applied if applied.vendor == "saleshandy"]
    tasks_per_prospect = Counter(applied.subject for applied in vendor)
    twice = sum(1 for count in tasks_per_prospect.values() if count > 1)
    statuses: Counter[str] = Counter()
    if results.exists():
        with results.open(encoding="utf-8-sig", newline="") as file:
            statuses = Counter(line["status"] for line in csv.DictReader(file))
    row = (
        f"| {name} | {len(times)} | {len(vendor)} | {statuses['created']} | {wall:.1f} "
        f"| {rate} | {max_in_window(times, 2.0)} | {too_many} | {child.returncode} |"
    )
    return row, f"{name}: {twice} prospects got more than one task"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--scenario", action="append", choices=list(SCENARIOS))
    options = parser.parse_args()
    prospects = options.rows * PROSPECTS_PER_ROW
    print(
        f"{prospects} prospects in {options.rows} rows, {min(options.rows, len(TASKS))} "
        "distinct tasks, Saleshandy limit 20 requests per 2 s\n"
    )
    print(
        "| scenario | requests | prospects created | results created | wall s | requests/s "
        "| most in any 2 s | 429s | exit |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    with tempfile.TemporaryDirectory() as folder:
        for name in options.scenario or list(SCENARIOS):
            row, note = measure(name, options.rows, Path(folder))
            print(row, flush=True)
            notes.append(note)
    print()
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
