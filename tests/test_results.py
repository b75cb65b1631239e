from __future__ import annotations

import csv
import json
import os
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from bulk_tasks.errors import OtherDestination, ResultsError
from bulk_tasks.results import (
    CORE_COLUMNS,
    RESULT_COLUMNS,
    Journal,
    Outcome,
    Status,
    compact,
    default_path,
    may_hold_tasks,
    read_journal,
    result_headers,
)
from bulk_tasks.rows.inputs import Row

CREATED = Outcome(
    status=Status.CREATED, remote_id="opp_AAAAAAAAAAAAAAAAA", http_status=200, attempts=1
)
INVALID = Outcome(
    status=Status.INVALID, error_code="dueDate", error_message='column "Due" = "soon" is not a date'
)
ROW2 = Row(2, ("lea_1", "2026-04-03"))
ROW3 = Row(3, ("lea_2", "2026-04-04"))


def lines_of(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def test_default_path_sits_beside_the_input() -> None:
    assert default_path(Path("in/tasks.xlsx")) == Path("in/tasks.results.csv")


def test_our_columns_come_first_and_clashing_input_columns_are_renamed() -> None:
    assert result_headers(["leadId", "Status", "note"]) == [
        *RESULT_COLUMNS,
        "leadId",
        "Status (input)",
        "note",
    ]


def test_lines_are_on_disk_as_soon_as_written(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    journal = Journal(path, ["leadId", "Due"], destination="lemlist")
    journal.write(ROW2, CREATED, "f1")
    # readable before close: a crash now keeps this line
    with path.open(encoding="utf-8-sig", newline="") as file:
        lines = list(csv.reader(file))
    assert lines == [
        [*RESULT_COLUMNS, "leadId", "Due"],
        [
            "2",
            "created",
            "opp_AAAAAAAAAAAAAAAAA",
            "",
            "200",
            "",
            "",
            "1",
            "f1",
            "lemlist",
            "lea_1",
            "2026-04-03",
        ],
    ]
    journal.close()
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel needs the BOM for UTF-8


def test_a_sending_mark_is_on_disk_before_the_request_goes_out(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    journal = Journal(path, ["leadId", "Due"], destination="lemlist")
    journal.sending([(ROW2, "", "f1")])
    # the process dies here, before any answer: the row reads as "may exist"
    [line] = lines_of(path)
    assert (line["row"], line["status"], line["fingerprint"]) == ("2", "sending", "f1")
    state = read_journal(path)
    assert state["f1"].status is Status.UNKNOWN
    assert state["f1"].error_code == "interrupted"
    journal.abandon()


def test_closing_compacts_to_one_line_per_row(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    journal = Journal(path, ["leadId", "Due"], destination="lemlist")
    journal.sending([(ROW2, "", "f1")])
    journal.sending([(ROW3, "", "f2")])
    journal.write(ROW3, INVALID, "f2")
    journal.write(ROW2, CREATED, "f1")
    assert len(lines_of(path)) == 4
    journal.close()
    assert [(line["row"], line["status"]) for line in lines_of(path)] == [
        ("3", "invalid"),
        ("2", "created"),
    ]


def test_a_line_torn_by_a_kill_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    journal = Journal(path, ["leadId", "Due"], destination="lemlist")
    journal.write(ROW2, CREATED, "f1")
    journal.abandon()
    with path.open("a", encoding="utf-8", newline="") as file:
        file.write('3,sending,,,,,"half a mess')  # the kill came mid-line
    assert set(read_journal(path)) == {"f1"}
    # resuming repairs the file before appending to it
    again = Journal(path, ["leadId", "Due"], destination="lemlist", resume=True)
    again.write(ROW3, INVALID, "f2")
    again.close()
    assert [line["fingerprint"] for line in lines_of(path)] == ["f1", "f2"]


def test_resume_appends_and_knows_what_earlier_runs_did(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    first = Journal(path, ["leadId", "Due"], destination="lemlist")
    first.write(ROW2, CREATED, "f1")
    first.write(ROW3, Outcome(status=Status.NOT_SENT), "f2")
    first.close()
    second = Journal(path, ["leadId", "Due"], destination="lemlist", resume=True)
    assert second.earlier["f1"] == CREATED
    assert second.earlier["f2"].status is Status.NOT_SENT
    second.write(ROW3, CREATED, "f2")
    second.close()
    assert [line["status"] for line in lines_of(path)] == ["created", "created"]


def test_rows_gone_from_the_input_keep_their_line_only_if_a_task_may_exist(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out.csv"
    journal = Journal(path, ["leadId", "Due"], destination="lemlist")
    journal.write(ROW2, CREATED, "old-created")
    journal.write(ROW2, INVALID, "old-invalid")
    journal.write(ROW2, Outcome(status=Status.UNKNOWN), "old-unknown")
    journal.write(ROW3, CREATED, "current")
    journal.close()
    compact(path, headers=result_headers(["leadId", "Due"]), current={"current"})
    assert [line["fingerprint"] for line in lines_of(path)] == [
        "old-created",
        "old-unknown",
        "current",
    ]


def test_columns_only_older_lines_have_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    first = Journal(path, ["leadId", "Due", "Note"], destination="lemlist")
    first.write(Row(2, ("lea_1", "2026-04-03", "keep me")), CREATED, "f1")
    first.close()
    second = Journal(path, ["leadId", "Due"], destination="lemlist", resume=True)
    second.write(ROW3, CREATED, "f2")
    second.close()
    lines = lines_of(path)
    assert [line["Note"] for line in lines] == ["keep me", ""]


def test_jsonl_has_one_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    journal = Journal(path, ["Due"], destination="lemlist")
    journal.write(Row(3, (datetime(2026, 4, 3, 9, 30),)), INVALID, "f9")
    journal.close()
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
        "fingerprint": "f9",
        "destination": "lemlist",
        "Due": "2026-04-03 09:30:00",
    }


def test_jsonl_torn_line_and_resume(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    journal = Journal(path, ["Due"], destination="lemlist")
    journal.write(Row(2, ("x",)), CREATED, "f1")
    journal.abandon()
    with path.open("a", encoding="utf-8") as file:
        file.write('{"row": "3", "sta')
    again = Journal(path, ["Due"], destination="lemlist", resume=True)
    assert set(again.earlier) == {"f1"}
    again.close()
    assert len(path.read_text(encoding="utf-8").splitlines()) == 1


def test_xlsx_is_written_from_a_partial_csv_kept_during_the_run(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    journal = Journal(path, ["leadId"], destination="lemlist")
    journal.write(Row(2, ("lea_1",)), CREATED, "f1")
    partial = tmp_path / "out.xlsx.partial.csv"
    assert partial.exists()
    assert not path.exists()
    journal.close()
    assert not partial.exists()
    sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert rows[0] == [*RESULT_COLUMNS, "leadId"]
    assert rows[1][:3] == [2, "created", "opp_AAAAAAAAAAAAAAAAA"]
    assert rows[1][4] == 200


def test_xlsx_results_can_be_resumed(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    first = Journal(path, ["leadId"], destination="lemlist")
    first.write(Row(2, ("lea_1",)), CREATED, "f1")
    first.close()
    second = Journal(path, ["leadId"], destination="lemlist", resume=True)
    assert second.earlier["f1"].remote_id == "opp_AAAAAAAAAAAAAAAAA"
    second.write(Row(3, ("lea_2",)), CREATED, "f2")
    second.close()
    sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    assert [row[0] for row in sheet.iter_rows(values_only=True)] == ["row", 2, 3]


def test_an_unknown_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"use \.csv, \.jsonl or \.xlsx"):
        Journal(tmp_path / "out.txt", ["a"], destination="lemlist")


def test_an_unwritable_place_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ResultsError, match="choose another place with --results"):
        Journal(blocker / "out.csv", ["a"], destination="lemlist")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_a_clear_error(tmp_path: Path) -> None:
    full = tmp_path / "out.csv"
    os.symlink("/dev/full", full)
    with pytest.raises(ResultsError, match="No space left on device; every line already written"):
        Journal(full, ["a"], destination="lemlist")


def test_a_file_that_is_not_ours_is_not_resumed(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("name,email\nJane,jane@example.com\n", encoding="utf-8")
    with pytest.raises(ResultsError, match="is not a bulk-tasks results file"):
        Journal(path, ["a"], destination="lemlist", resume=True)


def test_jsonl_lines_keep_their_own_keys_through_a_resume(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    first = Journal(path, ["Due", "Note"], destination="lemlist")
    first.write(Row(2, ("2026-04-03", "keep me")), CREATED, "f1")
    first.close()
    second = Journal(path, ["Due"], destination="lemlist", resume=True)
    second.write(Row(3, ("2026-04-04",)), CREATED, "f2")
    second.close()
    lines = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
    assert [line.get("Note") for line in lines] == ["keep me", None]
    assert [line["row"] for line in lines] == ["2", "3"]


def _results_file(path: Path, *lines: str) -> Path:
    header = ",".join(RESULT_COLUMNS) + ",Team"
    path.write_text("\ufeff" + "\r\n".join([header, *lines]) + "\r\n", encoding="utf-8")
    return path


def test_a_validation_file_holds_no_task(tmp_path: Path) -> None:
    checked = _results_file(
        tmp_path / "v.csv",
        "2,not_sent,,,,valid,valid: `bulk-tasks run` would send it,0,aaaa,lemlist,a",
        '3,invalid,,,,dueDate,"column ""dueDate"" = ""x"" is not a date, fix it",0,bbbb,lemlist,'
        '"b\nsecond line"',
    )
    assert not may_hold_tasks(checked)


@pytest.mark.parametrize(
    "line",
    [
        "5,created,opp_1,,200,,,1,cccc,lemlist,c",
        "6,sending,,,,,,1,dddd,lemlist,d",
        # quoted by another program
        '"7","unknown","","","","no_answer","","1","eeee","lemlist","e"',
    ],
)
def test_a_line_that_says_a_task_exists_or_may_is_found(tmp_path: Path, line: str) -> None:
    lines = [f"{n},not_sent,,,,valid,ok,0,f{n},lemlist,x" for n in range(2, 3000)]
    assert may_hold_tasks(_results_file(tmp_path / "r.csv", *lines, line))


@pytest.mark.parametrize("into", [-1, 0, 1, 5, 10, 11])
def test_a_task_line_cut_by_the_scans_blocks_is_found(tmp_path: Path, into: int) -> None:
    """The scan reads 1 MiB at a time: the cut may fall anywhere in the line that matters."""
    path = _results_file(tmp_path / "r.csv", "2,not_sent,,,,valid,ok,0,f2,lemlist,x")
    head = path.read_bytes()
    filler = b"3,not_sent,,,,valid,ok,0,f3,lemlist,"
    # the filler's last cell is as long as puts the cut ``into`` bytes past the task line's \n
    long_cell = b"x" * ((1 << 20) - into - len(head) - len(filler) - 1)
    path.write_bytes(head + filler + long_cell + b"\r\n5,created,opp_1,,200,,,1,cccc,lemlist,c\r\n")
    assert path.read_bytes().index(b"\n5,created") + into == 1 << 20
    assert may_hold_tasks(path)


def test_a_file_that_is_not_ours_may_hold_anything(tmp_path: Path) -> None:
    other = tmp_path / "o.csv"
    other.write_text("name,email\nAda,ada@example.com\n", encoding="utf-8")
    assert may_hold_tasks(other)


def test_a_file_sent_elsewhere_is_not_carried_on(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    trial = Journal(path, ["leadId", "Due"], destination="lemlist sandbox")
    trial.write(ROW2, CREATED, "f1")
    trial.close()
    before = path.read_bytes()
    with pytest.raises(OtherDestination) as refused:
        Journal(path, ["leadId", "Due"], destination="attio", resume=True)
    assert str(refused.value) == (
        f"{path} holds lines sent to lemlist sandbox, and this run sends to attio: give it "
        "another --results"
    )
    assert (refused.value.found, refused.value.wanted) == ("lemlist sandbox", "attio")
    assert path.read_bytes() == before


def test_a_sandbox_trial_in_a_workbook_is_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    trial = Journal(path, ["leadId", "Due"], destination="lemlist sandbox")
    trial.write(ROW2, CREATED, "f1")
    trial.close()
    with pytest.raises(OtherDestination):
        Journal(path, ["leadId", "Due"], destination="lemlist", resume=True)
    assert [file.name for file in tmp_path.iterdir()] == ["out.xlsx"]


def test_a_file_of_an_earlier_version_without_destinations_is_carried_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.csv"
    header = ",".join([*CORE_COLUMNS, "leadId", "Due"])
    old = "2,created,opp_AAAAAAAAAAAAAAAAA,,200,,,1,f1,lea_1,2026-04-03"
    path.write_text(f"\ufeff{header}\r\n{old}\r\n", encoding="utf-8")
    journal = Journal(path, ["leadId", "Due"], destination="lemlist", resume=True)
    assert journal.earlier["f1"] == CREATED
    journal.write(Row(3, ("lea_2", "2026-04-04")), CREATED, "f2")
    journal.close()
    lines = lines_of(path)
    assert [(line["fingerprint"], line["destination"], line["leadId"]) for line in lines] == [
        ("f1", "", "lea_1"),
        ("f2", "lemlist", "lea_2"),
    ]
