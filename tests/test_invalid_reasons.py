"""A reason that makes many lines invalid is named once in the summary, with its count: in
run and validate, in text and JSON, whoever checked the rows. In-process: typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from bulk_tasks.cli.commands import app
from bulk_tasks.job.summary import InvalidReasons

USER = "usr_7YzNqVRMCfdeHEzMn"
TYPE = 'column "Type" is not a task type; write one of email, manual, phone, linkedin'
EXTRA = (
    "more cells than the header has columns: a value probably contains the delimiter without "
    "quotes; quote it or fix the row"
)


def bad_rows(path: Path) -> Path:
    """Three rows with a wrong type (two types), two with a surplus cell (two surpluses), one
    with a lead that is no id, one valid."""
    lines = ["Lead ID,Type,Assigned To,Due Date"]
    lines += [
        f"lea_{'1' * 17},fax,{USER},2026-12-01",
        f"lea_{'2' * 17},call,{USER},2026-12-01",
        f"lea_{'3' * 17},phone,{USER},2026-12-01,surplus",
        f"lea_{'4' * 17},fax,{USER},2026-12-01",
        f"lea_{'5' * 17},phone,{USER},2026-12-01,other surplus",
        f"not a lead,phone,{USER},2026-12-01",
        f"lea_{'6' * 17},phone,{USER},2026-12-01",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bulk_tasks_here(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(arg) for arg in args])


def reason_lines(stdout: str) -> list[str]:
    said = stdout.splitlines()
    start = said.index("Invalid, by reason:")
    return said[start : start + 1 + sum(1 for line in said[start + 1 :] if line.startswith("  "))]


def test_validate_names_each_reason_once_with_its_rows(tmp_path: Path) -> None:
    ran = bulk_tasks_here("validate", bad_rows(tmp_path / "tasks.csv"), "-t", "lemlist")
    assert ran.exit_code == 1
    assert "  invalid         6" in ran.stdout.splitlines()
    assert reason_lines(ran.stdout) == [
        "Invalid, by reason:",
        f"  3 rows: {TYPE}",
        f"  2 rows: {EXTRA}",
    ]  # the lead that is no id made one row invalid: its own line says it


def test_a_run_names_them_too(tmp_path: Path) -> None:
    ran = bulk_tasks_here("run", bad_rows(tmp_path / "tasks.csv"), "-t", "lemlist", "--sandbox")
    assert ran.exit_code == 1
    assert reason_lines(ran.stdout) == [
        "Invalid, by reason:",
        f"  3 rows: {TYPE}",
        f"  2 rows: {EXTRA}",
    ]


def test_json_logs_list_the_reasons_with_their_first_rows(tmp_path: Path) -> None:
    data = bad_rows(tmp_path / "tasks.csv")
    ran = bulk_tasks_here("validate", data, "-t", "lemlist", "--log-format", "json")
    [summary] = [json.loads(line) for line in ran.stdout.splitlines()]
    assert summary["event"] == "summary"
    assert summary["invalid_reasons"] == [
        {"reason": TYPE, "lines": 3, "first_rows": [2, 3, 5]},
        {"reason": EXTRA, "lines": 2, "first_rows": [4, 6]},
    ]


def test_saleshandy_counts_prospects(tmp_path: Path) -> None:
    data = tmp_path / "tasks.csv"
    data.write_text('Prospect IDs,Task Type\n"A1, B2, C3",99\nD4,9\n', encoding="utf-8")
    ran = bulk_tasks_here("validate", data, "-t", "saleshandy")
    assert ran.exit_code == 1
    assert reason_lines(ran.stdout) == [
        "Invalid, by reason:",
        '  3 prospects: column "Task Type" is not a Saleshandy task type; write a code or its '
        "label: 2 (LinkedIn connection request), 3 (LinkedIn message), 4 (LinkedIn InMail), 5 "
        "(LinkedIn view profile), 6 (LinkedIn post interaction), 9 (Custom), 11 (Call "
        "introduction), 12 (Call demo), 13 (Call follow-up), 14 (Call reminder), 15 (Call "
        "other), 16 (WhatsApp message), 17 (WhatsApp voice message), 18 (WhatsApp voice call)",
    ]


def test_a_list_cell_is_grouped_by_what_is_wrong_not_by_the_item(tmp_path: Path) -> None:
    data = tmp_path / "tasks.csv"
    data.write_text('Prospect IDs,Task Type\n"A1, x!",9\n"B2, y?",9\n', encoding="utf-8")
    ran = bulk_tasks_here("validate", data, "-t", "saleshandy")
    assert (
        '  4 prospects: column "Prospect IDs" holds an item that is not a Saleshandy prospect '
        "id; ids look like 8PvBmrB7P7: copy them from Saleshandy, separated by commas, "
        "semicolons, spaces or new lines" in reason_lines(ran.stdout)
    )


def test_no_reason_line_when_every_row_is_valid(tmp_path: Path) -> None:
    data = tmp_path / "tasks.csv"
    data.write_text(f"Lead ID,Type,Assigned To,Due Date\nlea_{'1' * 17},phone,{USER},2026-12-01\n")
    ran = bulk_tasks_here("validate", data, "-t", "lemlist")
    assert ran.exit_code == 0
    assert "Invalid, by reason:" not in ran.stdout


def test_the_five_commonest_reasons_of_two_lines_or_more_keep_their_first_rows() -> None:
    first = InvalidReasons()
    for row in range(2, 10):
        first.add(["a"], row)
    first.add(["b"], 10, lines=3)  # a row of three prospects
    first.add(["c"], 10)
    for row in range(11, 17):
        first.add(["d", "e", "f", "g"], row)
    first.add(["b"], 11)
    first.add(["h"], 12)
    assert first.most_common() == [
        ("a", 8, [2, 3, 4, 5, 6]),
        ("d", 6, [11, 12, 13, 14, 15]),
        ("e", 6, [11, 12, 13, 14, 15]),
        ("f", 6, [11, 12, 13, 14, 15]),
        ("g", 6, [11, 12, 13, 14, 15]),
    ]
    assert first.most_common(10)[5:] == [("b", 4, [10, 11])]  # c and h: one line each
