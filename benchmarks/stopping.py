"""How long a run takes to end once it is told to stop while its requests hang.

Runs the real command (a child process: signals are the point) against the sandbox (this
process, real HTTP on 127.0.0.1) that applies every create and never answers it, waits
until 5 requests arrived, then stops the run, and prints one table row per way of stopping:

    python benchmarks/stopping.py [--repeats N]

The ways: a second Ctrl-C 0.3 s after the first (the run ends at once: the lines on their
way are ``unknown``, ``interrupted``); a SIGTERM with ``--timeout 2`` (the run waits for
the requests on their way, at most their timeout and 5 s more). Columns: the seconds from
the last signal to the run's exit, min and median over the repeats, and the bound the
command promises.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer

KEY = "benchmark-key"
ROWS = 40


@dataclass(frozen=True)
class Stop:
    """A way of stopping a run: the signals sent, and the options the run was given."""

    name: str
    signals: tuple[signal.Signals, ...]
    options: tuple[str, ...]
    bound: str


STOPS = (
    Stop("second Ctrl-C", (signal.SIGINT, signal.SIGINT), (), "at once"),
    Stop("SIGTERM, --timeout 2", (signal.SIGTERM,), ("--timeout", "2"), "2 s + 5 s"),
)


def seconds_to_exit(stop: Stop, folder: Path) -> float:
    """From the last of ``stop``'s signals to the run's exit."""
    source = folder / "in.csv"
    rows = [
        f"lea_{n:017d},phone,usr_7YzNqVRMCfdeHEzMn,2026-12-01 09:00,Call {n}" for n in range(ROWS)
    ]
    source.write_text("leadId,type,assignedTo,dueDate,title\n" + "\n".join(rows) + "\n")
    sandbox = Sandbox(keys={KEY}, limit=50, period=0.5, faults=Faults(p_hang=1.0))
    with SandboxServer(sandbox) as server:
        command = [sys.executable, "-m", "bulk_tasks", "run", str(source), "-t", "lemlist"]
        command += ["--base-url", server.url, "--rate", "50/0.5", "--force", *stop.options]
        env = {
            **os.environ,
            "LEMLIST_API_KEY": KEY,
            "BULK_TASKS_CACHE_DIR": str(folder),
            "BULK_TASKS_DATA_DIR": str(folder),
        }
        with subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ) as run:
            deadline = time.monotonic() + 60
            while len(sandbox.arrivals) < 5 and time.monotonic() < deadline:
                time.sleep(0.02)
            for n, sig in enumerate(stop.signals):
                if n:
                    time.sleep(0.3)
                run.send_signal(sig)
            signalled = time.monotonic()
            run.wait(60)
            return time.monotonic() - signalled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per way of stopping (3)")
    options = parser.parse_args()
    print(f"{ROWS} creates, every one applied and never answered; stopped after 5 arrived\n")
    print("| stopped by | exit after, s (min) | (median) | promised |")
    print("|---|---:|---:|---|")
    with tempfile.TemporaryDirectory() as folder:
        for stop in STOPS:
            times = [seconds_to_exit(stop, Path(folder)) for _ in range(options.repeats)]
            print(
                f"| {stop.name} | {min(times):.2f} | {statistics.median(times):.2f} "
                f"| {stop.bound} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
