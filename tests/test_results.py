from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from bulk_tasks.errors import ResultsError
from bulk_tasks.inputs import Row
from bulk_tasks.results import (
    RESULT_COLUMNS,
    Outcome,
    Status,
    default_path,
    open_results,
    result_headers,
)

CREATED = Outcome(
    status=Status.CREATED, remote_id="opp_AAAAAAAAAAAAAAAAA", http_status=200, attempts=1
)
INVALID = Outcome(
    status=Status.INVALID, error_code="dueDate", error_message='column "Due" = "soon" is not a date'
)


def test_default_path_sits_beside_the_input() -> None:
    assert default_path(Path("in/tasks.xlsx")) == Path("in/tasks.results.csv")


def test_our_columns_come_first_and_clashing_input_columns_are_renamed() -> None:
    assert result_headers(["leadId", "Status", "note"]) == [
        *RESULT_COLUMNS,
        "leadId",
        "Status (input)",
        "note",
    ]


def test_csv_lines_are_on_disk_as_soon_as_written(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    writer = open_results(path, ["leadId", "Due"])
    writer.write(Row(2, ("lea_1", "2026-04-03")), CREATED)
    # readable before close: a crash now keeps this line
    with path.open(encoding="utf-8-sig", newline="") as file:
        lines = list(csv.reader(file))
    assert lines == [
        [*RESULT_COLUMNS, "leadId", "Due"],
        ["2", "created", "opp_AAAAAAAAAAAAAAAAA", "", "200", "", "", "1", "lea_1", "2026-04-03"],
    ]
    writer.close()
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel needs the BOM for UTF-8


def test_jsonl_has_one_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    writer = open_results(path, ["Due"])
    writer.write(Row(3, (datetime(2026, 4, 3, 9, 30),)), INVALID)
    writer.close()
    [line] = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(line) == {
        "row": "3",
        "status": "invalid",
        "remote_id": "",
        "prospect_id": "",
        "http_status": "",
        "error_code": "dueDate",
        "error_message": 'column "Due" = "soon" is not a date',
        "attempts": "0",
        "Due": "2026-04-03 09:30:00",
    }


def test_xlsx_is_written_from_a_partial_csv_kept_during_the_run(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    writer = open_results(path, ["leadId"])
    writer.write(Row(2, ("lea_1",)), CREATED)
    partial = tmp_path / "out.xlsx.partial.csv"
    assert partial.exists()
    assert not path.exists()
    writer.close()
    assert not partial.exists()
    sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == [*RESULT_COLUMNS, "leadId"]
    assert rows[1][:3] == [2, "created", "opp_AAAAAAAAAAAAAAAAA"]
    assert rows[1][4] == 200


def test_an_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"use \.csv, \.jsonl or \.xlsx"):
        open_results(tmp_path / "out.txt", ["a"])


def test_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ResultsError, match="choose another place with --results"):
        open_results(blocker / "out.csv", ["a"])
