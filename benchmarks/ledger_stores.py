"""What the task ledger costs a line: its calls timed against each store, one table row per
store.

    python benchmarks/ledger_stores.py [--lines N] [--repeats N] [--postgres URL]

A line a run creates costs the ledger a claim before the create is sent and a record of the
task once it is answered (both durable when they return: SQLite synced with
``synchronous=FULL``, PostgreSQL committed); a line found in the ledger costs one claim that
returns its entry. The SQLite store's file is in a temporary folder (on this machine's disk);
the PostgreSQL row needs ``--postgres`` (a database it may make tables in, e.g. a local
server). Each figure is the median over ``--repeats`` passes of ``--lines`` lines (min in
brackets), in milliseconds, beside the time a line has at a key's pace (lemlist 10 a
second, Attio 25).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bulk_tasks.job.ledger import Claim, Ledger, Scope, key_hash
from bulk_tasks.job.ledger.postgres_store import PostgresLedger
from bulk_tasks.job.ledger.sqlite_store import SQLiteLedger

#: the time a line has at Attio's pace (25 a second), the faster vendor's
FASTEST_PACE_MS = 40.0


def one_pass(ledger: Ledger, lines: int) -> tuple[float, float]:
    """Milliseconds per line: creating it (claim + created), and finding it (a claim that
    returns the entry)."""
    scope = Scope(vendor="lemlist", destination="lemlist", key_hash=key_hash(uuid.uuid4().hex))
    run_id = uuid.uuid4().hex
    claims = [
        Claim(f"fp-{number}", {"title": "3f2a9c", "dueDate": "77e0aa"}, "/r.csv", number)
        for number in range(lines)
    ]
    started = time.perf_counter()
    for claim in claims:
        ledger.claim(scope, claim, run_id=run_id)
        ledger.created(scope, claim, task_id=f"tsk_{claim.row}", run_id=run_id)
    created = time.perf_counter() - started
    started = time.perf_counter()
    for claim in claims:
        ledger.claim(scope, claim, run_id=run_id)
    found = time.perf_counter() - started
    return created * 1000 / lines, found * 1000 / lines


def measure(name: str, opened: Callable[[], Ledger], *, lines: int, repeats: int) -> str:
    ledger = opened()
    try:
        passes = [one_pass(ledger, lines) for _ in range(repeats)]
    finally:
        ledger.close()
    created = [figures[0] for figures in passes]
    found = [figures[1] for figures in passes]
    return (
        f"| {name} | {statistics.median(created):.2f} ({min(created):.2f}) "
        f"| {statistics.median(found):.3f} ({min(found):.3f}) "
        f"| {statistics.median(created) / FASTEST_PACE_MS:.1%} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL", help="a database to measure too")
    options = parser.parse_args()
    print(f"{options.lines} lines a pass, {options.repeats} passes; ms per line, median (min)")
    print("| store | created: claim + created | found: claim | of a line's time at 25/s |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "task-ledger.sqlite3"
        stores: list[tuple[str, Callable[[], Ledger]]] = [
            ("SQLite, synced", lambda: SQLiteLedger(path))
        ]
        if options.postgres:
            url = options.postgres
            stores.append(("PostgreSQL", lambda: PostgresLedger(url)))
        for name, opened in stores:
            print(measure(name, opened, lines=options.lines, repeats=options.repeats), flush=True)


if __name__ == "__main__":
    main()
