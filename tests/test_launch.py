"""The command's entry point guesses which spreadsheet to start loading early."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulk_tasks.cli.launch import named_spreadsheet


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["validate", "tasks.xlsx", "-t", "lemlist"], "tasks.xlsx"),
        (["run", "-t", "lemlist", "tasks.xlsx", "--sandbox"], "tasks.xlsx"),
        (["run", "--target=lemlist", "Tasks.XLSX"], "Tasks.XLSX"),
        (["validate", "--results", "out.xlsx", "tasks.ods"], "tasks.ods"),
        (["validate", "tasks.csv", "--results", "out.xlsx"], None),  # the input is a CSV
        (["validate", "tasks.xlsx", "--sheet", "Week 2"], None),  # not the first sheet
        (["validate", "tasks.xlsx", "--sheet=Week 2"], None),
        (["reconcile", "a.xlsx"], None),
        ([], None),
    ],
)
def test_the_input_spreadsheet_is_found(args: list[str], expected: str | None) -> None:
    assert named_spreadsheet(args) == (None if expected is None else Path(expected))
