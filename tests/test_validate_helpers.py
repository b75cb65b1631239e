"""validate in helper processes: the very same results file as checking every row here.

Each test asserts that helper processes did the work (the summary counts the processes
that sent rows back), so none passes by checking every row in the test's own process.
"""

from __future__ import annotations

import csv
import datetime
import json
import shutil
from pathlib import Path

import openpyxl
import pytest
from helpers import SAMPLES, bulk_tasks, read_results

from bulk_tasks import job
from bulk_tasks.job.helper_pool import PARALLEL_FROM, helpers_for

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


def validate(data: Path, results: Path, *, target: str, helpers: int) -> job.Summary:
    settings = job.Settings(input=data, target=target, results=results, helpers=helpers)
    return job.validate(settings)


@pytest.mark.parametrize(("suffix", "delimiter"), [(".csv", ","), (".csv", ";"), (".jsonl", ",")])
def test_helpers_write_the_same_file_as_checking_here(
    tmp_path: Path, suffix: str, delimiter: str
) -> None:
    data = lemlist_rows(tmp_path / "in.csv", 4_600, delimiter=delimiter)  # three chunks and more
    here = validate(data, tmp_path / f"here{suffix}", target="lemlist", helpers=0)
    apart = validate(data, tmp_path / f"apart{suffix}", target="lemlist", helpers=2)
    assert here.helpers == 0
    assert 1 <= apart.helpers <= 2
    assert (tmp_path / f"apart{suffix}").read_bytes() == (tmp_path / f"here{suffix}").read_bytes()
    if suffix == ".csv":  # the results are separated as the input is
        assert (tmp_path / "here.csv").read_bytes().startswith(f"\ufeffrow{delimiter}".encode())
    assert apart.counts == here.counts
    assert (apart.rows.blank, apart.rows.ended) == (here.rows.blank, here.rows.ended)
    lines = read_results(tmp_path / "apart.csv") if suffix == ".csv" else None
    if lines is not None:
        assert len(lines) == 4_600 - 658  # every row but the blank ones, in order
        assert [int(line["row"]) for line in lines] == sorted(int(line["row"]) for line in lines)
        repeated = [line["fingerprint"] for line in lines if line["title"] == "same"]
        assert repeated[1] == f"{repeated[0]}#2"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_helpers_count_the_reasons_lines_are_invalid_as_checking_here_does(
    tmp_path: Path, suffix: str
) -> None:
    data = lemlist_rows(tmp_path / "in.csv", 4_600)
    here = validate(data, tmp_path / f"here{suffix}", target="lemlist", helpers=0)
    apart = validate(data, tmp_path / f"apart{suffix}", target="lemlist", helpers=2)
    assert 1 <= apart.helpers <= 2
    assert apart.invalid_reasons == here.invalid_reasons
    first_rows = [n + 2 for n in range(4_600) if n % 7 == 2][:5]
    assert here.invalid_reasons.most_common() == [
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


def test_helpers_read_a_sheet_as_checking_here_does(tmp_path: Path) -> None:
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
    here = validate(data, tmp_path / "here.csv", target="lemlist", helpers=0)
    apart = validate(data, tmp_path / "apart.csv", target="lemlist", helpers=2)
    assert 1 <= apart.helpers <= 2
    assert (tmp_path / "apart.csv").read_bytes() == (tmp_path / "here.csv").read_bytes()
    assert apart.counts == here.counts
    lines = read_results(tmp_path / "apart.csv")
    assert len(lines) == 4_600 - 419
    assert [lines[0]["row"], lines[-1]["row"]] == ["4", str(4_600 + 2)]


def test_helpers_restore_the_cells_of_a_results_file_come_back(tmp_path: Path) -> None:
    data = lemlist_rows(tmp_path / "in.csv", 4_600)
    here = tmp_path / "here.csv"
    validate(data, here, target="lemlist", helpers=0)  # "=1+1" is written '=1+1
    assert "'=1+1" in here.read_text(encoding="utf-8-sig")
    again = [
        validate(here, tmp_path / f"again{n}.csv", target="lemlist", helpers=n) for n in (0, 2)
    ]
    assert again[0].helpers == 0
    assert 1 <= again[1].helpers <= 2
    assert again[0].counts == again[1].counts
    assert (tmp_path / "again2.csv").read_bytes() == (tmp_path / "again0.csv").read_bytes()


def test_helpers_keep_a_line_per_prospect(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    sample = (SAMPLES / "saleshandy_create.csv").read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join([sample[0], *sample[1:] * 300]) + "\n", encoding="utf-8")
    here = validate(data, tmp_path / "here.csv", target="saleshandy", helpers=0)
    apart = validate(data, tmp_path / "apart.csv", target="saleshandy", helpers=2)
    assert 1 <= apart.helpers <= 2
    assert (tmp_path / "apart.csv").read_bytes() == (tmp_path / "here.csv").read_bytes()
    assert apart.counts == here.counts


def test_the_command_checks_a_large_file_in_helpers(tmp_path: Path) -> None:
    helpers = helpers_for(PARALLEL_FROM + 100)
    if helpers == 0:
        pytest.skip("one core: validate checks every row in its own process")
    data = lemlist_rows(tmp_path / "in.csv", PARALLEL_FROM + 100)
    results = tmp_path / "checked.csv"
    ran = bulk_tasks(
        "validate", data, "-t", "lemlist", "--results", results, "--log-format", "json", key=None
    )
    assert ran.code == 1, ran.stderr  # some rows are invalid
    assert "Traceback" not in ran.stderr
    summary = json.loads(ran.stdout.splitlines()[-1])
    assert 1 <= summary["helpers"] <= helpers
    lines = read_results(results)
    assert len(lines) == PARALLEL_FROM + 100 - (PARALLEL_FROM + 100 + 6) // 7
    shutil.copy(results, tmp_path / "copy.csv")
    validate(data, tmp_path / "here.csv", target="lemlist", helpers=0)
    assert (tmp_path / "here.csv").read_bytes() == (tmp_path / "copy.csv").read_bytes()
