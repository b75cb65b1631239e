"""What the end-to-end tests share: running the real command, reading its results."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_inputs"
KEY = "test-key-Zq7-never-printed"


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str


def bulk_tasks(
    *args: str | Path,
    key: str | None = KEY,
    cwd: Path = ROOT,
    timeout: float = 300,
) -> Ran:
    """Run the real command in a child process, as a user would."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    if key is not None:
        env["LEMLIST_API_KEY"] = key
    done = subprocess.run(
        [sys.executable, "-m", "bulk_tasks", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def read_results(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))
