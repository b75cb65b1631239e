"""What the crash-safe journal costs: requests/s with and without it, unthrottled.

The sandbox (this process) allows any rate, and the client (a child process, the library's
``run`` with ``--rate 100000/1``) sends as fast as it can, once with the journal as it
always runs (a ``sending`` line fsynced before each request; past 100 requests a second,
one fsync covers the next few lines too) and once without
(``Settings(durable=False)``: no ``sending`` lines, no fsync; outcomes are still written).
Prints a table:

    python benchmarks/journal.py [--rows 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bulk_tasks.sandbox import Sandbox, SandboxServer

KEY = "benchmark-key"


def child(source: str, results: str, url: str, durable: str) -> None:
    """The client side, run in its own process so it does not share the sandbox's GIL."""
    from bulk_tasks import job
    from bulk_tasks.sending.window import Rate

    settings = job.Settings(
        input=Path(source),
        target="lemlist",
        results=Path(results),
        base_url=url,
        rate=Rate(100_000, 1.0),
        durable=durable == "1",
        force=True,
    )
    summary = job.run(settings, key=KEY)
    assert summary.exit_code == 0, summary.counts


def measure(rows: int, durable: bool, folder: Path) -> tuple[float, float]:
    source = folder / "tasks.csv"
    lines = ["leadId,type,assignedTo,dueDate"]
    lines += [f"lea_{n:017d},phone,usr_7YzNqVRMCfdeHEzMn,2026-12-01" for n in range(rows)]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sandbox = Sandbox(keys={KEY}, limit=10**9, period=1.0)
    with SandboxServer(sandbox) as server:
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(source),
                str(folder / "out.csv"),
                server.url,
                "1" if durable else "0",
            ],
            check=True,
            env=os.environ,
            timeout=600,
        )
        wall = time.monotonic() - started
    times = sorted(arrival.time for arrival in sandbox.arrivals)
    assert len(times) == rows
    return (rows - 1) / (times[-1] - times[0]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(*options.child)
        return
    print(f"{options.rows} creates, unthrottled sandbox, median of {options.repeat} runs\n")
    print("| journal | requests/s | wall s |")
    print("|---|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for durable in (True, False):
            runs = [measure(options.rows, durable, Path(folder)) for _ in range(options.repeat)]
            rate = statistics.median(run[0] for run in runs)
            wall = statistics.median(run[1] for run in runs)
            label = "on: sending marks, fsynced" if durable else "off: outcomes only"
            print(f"| {label} | {rate:.0f} | {wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
