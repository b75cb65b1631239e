"""Time and peak memory of reading a task sheet: bulk_tasks' CSV and XLSX paths, and openpyxl.

    python benchmarks/read_inputs.py [--rows N] [--csv-only]

Writes the sheet as CSV and XLSX into a temporary folder (deleted afterwards), then reads
each file in its own subprocess, so that each peak RSS belongs to one reader alone.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import random
import resource
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADERS = ["leadId", "type", "assignedTo", "dueDate", "title", "message", "priority"]
MESSAGES = [
    "Call back about the renewal",
    'Ask for the "decision maker", then book a demo',
    "Follow up on pricing; mention the annual discount, and the onboarding",
    "Intro email\nKeep it short.\nLink the case study.",
]


def task_rows(count: int, *, text_dates: bool, day_first: bool = False) -> Iterator[list[object]]:
    """Realistic lemlist tasks; dueDate is a datetime (a real date cell) unless text_dates,
    then ISO text, or 13/03/2025 09:00 with day_first."""
    rng = random.Random(1)
    start = datetime.datetime(2025, 3, 3, 9, 0)
    alphabet = string.ascii_letters + string.digits
    users = ["usr_" + "".join(rng.choices(alphabet, k=17)) for _ in range(20)]
    for n in range(count):
        due = start + datetime.timedelta(minutes=30 * (n % 2000))
        yield [
            "lea_" + "".join(rng.choices(alphabet, k=17)),
            rng.choice(["email", "manual", "phone", "linkedin"]),
            rng.choice(users),
            _date_text(due, day_first=day_first) if text_dates else due,
            f"Task {n} for account {rng.randrange(10_000):05d}",
            rng.choice(MESSAGES),
            rng.choice(["", "0", "1", "2"]),
        ]


def _date_text(due: datetime.datetime, *, day_first: bool) -> str:
    return (
        due.strftime("%d/%m/%Y %H:%M") if day_first else due.isoformat(sep=" ", timespec="minutes")
    )


def write_csv(path: Path, count: int, *, day_first: bool = False) -> None:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADERS)
        writer.writerows(task_rows(count, text_dates=True, day_first=day_first))


def write_xlsx(path: Path, count: int) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Tasks")
    sheet.append(HEADERS)
    for row in task_rows(count, text_dates=False):
        sheet.append(row)
    workbook.save(path)


def read_with_bulk_tasks(path: Path) -> int:
    sys.path.insert(0, str(ROOT))
    from bulk_tasks.rows.inputs import open_table

    return sum(1 for _ in open_table(path).rows())


def scan_dates_with_bulk_tasks(path: Path) -> int:
    """The rows read again for the date column's order, as a run without --date-format does
    before it makes any line."""
    sys.path.insert(0, str(ROOT))
    from bulk_tasks.rows.cells import Reading
    from bulk_tasks.rows.columns import map_columns
    from bulk_tasks.rows.date_orders import read_date_orders
    from bulk_tasks.rows.inputs import open_table
    from bulk_tasks.vendors.lemlist import LemlistCreate

    table = open_table(path)
    columns = map_columns(table.headers, LemlistCreate)
    read_date_orders(Reading(), columns, LemlistCreate, table.rows)
    return table.total or 0


def read_with_openpyxl(path: Path) -> int:
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True)
    rows = sum(1 for _ in workbook.worksheets[0].iter_rows(min_row=2, values_only=True))
    workbook.close()
    return rows


def read_nothing(path: Path) -> int:
    sys.path.insert(0, str(ROOT))
    import bulk_tasks.rows.inputs  # noqa: F401

    return 0


READERS: dict[str, Callable[[Path], int]] = {
    "baseline": read_nothing,
    "bulk_tasks": read_with_bulk_tasks,
    "date_scan": scan_dates_with_bulk_tasks,
    "openpyxl": read_with_openpyxl,
}


def measure(reader: str, path: Path) -> None:
    """In the subprocess: read once, print rows, seconds and peak RSS as JSON."""
    started = time.perf_counter()
    rows = READERS[reader](path)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mb = peak / 1024 / (1024 if sys.platform == "darwin" else 1)  # bytes on macOS
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak_mb}))


def run(label: str, reader: str, path: Path) -> str:
    command = [sys.executable, __file__, "--measure", reader, str(path)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(output)
    return f"| {label} | {result['rows']} | {result['seconds']:.2f} | {result['peak_mb']:.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--csv-only", action="store_true", help="skip the slow XLSX part")
    parser.add_argument("--measure", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure[0], Path(args.measure[1]))
        return
    if not 0 < args.rows <= 5_000_000:
        parser.error("--rows must be between 1 and 5000000")
    with tempfile.TemporaryDirectory(prefix="bulk_tasks_bench_") as folder:
        csv_path, xlsx_path = Path(folder, "tasks.csv"), Path(folder, "tasks.xlsx")
        write_csv(csv_path, args.rows)
        lines = [
            f"{args.rows} task rows; CSV {csv_path.stat().st_size / 1e6:.1f} MB",
            "",
            "| reader | rows | seconds | peak MB |",
            "|---|---:|---:|---:|",
            run("python + bulk_tasks.rows.inputs import, no reading", "baseline", csv_path),
            run("bulk_tasks CSV (open_table + rows)", "bulk_tasks", csv_path),
            run("bulk_tasks CSV, pass for the date order (ISO)", "date_scan", csv_path),
        ]
        day_first = Path(folder, "tasks-dmy.csv")
        write_csv(day_first, args.rows, day_first=True)
        lines.append(
            run("bulk_tasks CSV, pass for the date order (13/03/2025)", "date_scan", day_first)
        )
        if not args.csv_only:
            write_xlsx(xlsx_path, args.rows)
            lines[0] += f", XLSX {xlsx_path.stat().st_size / 1e6:.1f} MB"
            lines.append(run("bulk_tasks XLSX (python-calamine)", "bulk_tasks", xlsx_path))
            lines.append(
                run(
                    "bulk_tasks XLSX, pass for the date order (date cells)",
                    "date_scan",
                    xlsx_path,
                )
            )
            lines.append(run("openpyxl read_only XLSX", "openpyxl", xlsx_path))
        print("\n".join(lines))


if __name__ == "__main__":
    main()
