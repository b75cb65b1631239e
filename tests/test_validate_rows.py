"""validate of large, mixed files: every row checked and written once, in input order."""

from __future__ import annotations

import csv
import datetime
import json
from pathlib import Path

import openpyxl
import pytest
from helpers import SAMPLES, read_results

from bulk_tasks import job

USER = "usr_7YzNqVRMCfdeHEzMn"


def lemlist_rows(path: Path, count: int, *, delimiter: str = ",") -> Path:
    """Valid, invalid, blank, repeated, overlong and multi-line rows, over several spans."""
    with path.open("w", encoding="utf-8", newline="") as file:
        out = csv.writer(file, delimiter=delimiter)
        out.writerow(["leadId", "type", "assignedTo", "dueDate", "title", "Team"])
        for n in range(count):
            kind = n % 7
            if kind == 0:
                out.writerow([])  # blank
            elif kind == 1:
                out.writerow([f"lea_{n:017d}", "Phone ", USER, "2026-12-01 09:00", "=1+1", "a"])
            elif kind == 2:
                out.writerow(["not an id", "fax", USER, "31/12/2026", "bad", "b"])
            elif kind == 3:
                out.writerow(["lea_AAAAAAAAAAAAAAAAA", "email", USER, "2026-12-01", "same", "c"])
            elif kind == 4:
                out.writerow([f"lea_{n:017d}", "email", USER, "2026-12-01", "x", "d", "extra"])
            else:
                title = "two\nlines"  # a quoted newline: one row, two lines of the file
                out.writerow([f"lea_{n:017d}", "manual", USER, "2026-12-02T10:00:00Z", title, "e"])
    return path


def validate(data: Path, results: Path, *, target: str) -> job.Summary:
    return job.validate(job.Settings(input=data, target=target, results=results))


@pytest.mark.parametrize(("suffix", "delimiter"), [(".csv", ","), (".csv", ";"), (".jsonl", ",")])
def test_every_row_is_written_once_in_order_and_repeats_are_told_apart(
    tmp_path: Path, suffix: str, delimiter: str
) -> None:
    data = lemlist_rows(tmp_path / "in.csv", 4_600, delimiter=delimiter)
    results = tmp_path / f"checked{suffix}"
    summary = validate(data, results, target="lemlist")
    assert summary.rows.blank == 658
    assert sum(summary.counts.values()) == 4_600 - 658
    if suffix == ".jsonl":
        rows = [json.loads(line)["row"] for line in results.read_text().splitlines()]
        assert [int(row) for row in rows] == sorted(int(row) for row in rows)
        return
    # the results are separated as the input is
    assert results.read_bytes().startswith(f"\ufeffrow{delimiter}".encode())
    lines = read_results(results)
    assert len(lines) == 4_600 - 658  # every row but the blank ones, in order
    assert [int(line["row"]) for line in lines] == sorted(int(line["row"]) for line in lines)
    repeated = [line["fingerprint"] for line in lines if line["title"] == "same"]
    assert repeated[1] == f"{repeated[0]}#2"
    assert {line["title"] for line in lines if line["type"] == "manual"} == {"two\nlines"}


def test_the_reasons_lines_are_invalid_are_counted_with_their_first_rows(tmp_path: Path) -> None:
    data = lemlist_rows(tmp_path / "in.csv", 4_600)
    summary = validate(data, tmp_path / "checked.csv", target="lemlist")
    first_rows = [n + 2 for n in range(4_600) if n % 7 == 2][:5]
    assert summary.invalid_reasons.most_common() == [
        (
            'column "leadId" is not a lemlist lead or contact id; lemlist ids look like '
            "lea_zUwSUPSxozD9fLVGw (lead) or ctc_xW8Ou6C03Csv8vatp (contact): copy the id from "
            "lemlist",
            657,
            first_rows,
        ),
        (
            'column "type" is not a task type; write one of email, manual, phone, linkedin',
            657,
            first_rows,
        ),
        (
            "more cells than the header has columns: a value probably contains the delimiter "
            "without quotes; quote it or fix the row",
            657,
            [n + 2 for n in range(4_600) if n % 7 == 4][:5],
        ),
    ]


def test_a_sheet_is_read_row_by_row_with_its_numbers(tmp_path: Path) -> None:
    """Blank rows above the header and inside, number and date cells, a short row."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append([])
    sheet.append(["leadId", "type", "assignedTo", "dueDate", "title", "priority"])
    due = datetime.datetime(2026, 12, 1, 9, 30)
    for n in range(4_600):
        if n % 11 == 0:
            sheet.append([])
        elif n % 5 == 0:
            sheet.append([12345.0, "Phone ", USER, due, n])  # a number id; no priority
        else:
            sheet.append([f"lea_{n:017d}", "email", USER, due, f"Call {n}", n % 3])
    data = tmp_path / "in.xlsx"
    workbook.save(data)
    validate(data, tmp_path / "checked.csv", target="lemlist")
    lines = read_results(tmp_path / "checked.csv")
    assert len(lines) == 4_600 - 419
    assert [lines[0]["row"], lines[-1]["row"]] == ["4", str(4_600 + 2)]
    assert lines[0]["dueDate"] == "2026-12-01 09:30:00"


def test_a_results_file_come_back_is_checked_with_its_cells_restored(tmp_path: Path) -> None:
    data = lemlist_rows(tmp_path / "in.csv", 4_600)
    first = tmp_path / "first.csv"
    validate(data, first, target="lemlist")  # "=1+1" is written '=1+1
    assert "'=1+1" in first.read_text(encoding="utf-8-sig")
    validate(first, tmp_path / "again.csv", target="lemlist")  # read back as "=1+1"
    titles = [line["title"] for line in read_results(tmp_path / "again.csv")]
    assert titles == [line["title"] for line in read_results(first)]


def test_a_saleshandy_row_is_a_line_per_prospect(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    sample = (SAMPLES / "saleshandy_create.csv").read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join([sample[0], *sample[1:] * 300]) + "\n", encoding="utf-8")
    summary = validate(data, tmp_path / "checked.csv", target="saleshandy")
    lines = read_results(tmp_path / "checked.csv")
    assert len(lines) == sum(summary.counts.values()) > summary.rows.ended
