"""Reconcile: several results files of one piece of work, each line settled once."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from helpers import KEY, SAMPLES, Ran, bulk_tasks, read_results
from typer.testing import CliRunner

from bulk_tasks import job
from bulk_tasks.cli.commands import app
from bulk_tasks.errors import ResultsError
from bulk_tasks.results import write_table
from bulk_tasks.results.reconcile import Rows, failed_lines, reconcile
from bulk_tasks.results.report import write_report
from bulk_tasks.rows.inputs import open_table
from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer

HEADER = "prospectIds,taskType,priority,dueDate,taskNote"
TASK = "Call follow-up,Medium,2026-12-01,Proposal"


def saleshandy(data: Path, url: str, results: Path, *more: str) -> int:
    ran = bulk_tasks(
        "run", data, "-t", "saleshandy", "--base-url", url, "--results", results, *more
    )
    assert ran.code in (0, 1), ran.stderr
    return ran.code


def snapshot(results: Path, name: str) -> Path:
    return Path(shutil.copy(results, results.with_name(name)))


def run_saleshandy(data: Path, url: str, results: Path, *, timeout: float = 30) -> None:
    """A Saleshandy run in this process."""
    settings = job.Settings(
        input=data, target="saleshandy", base_url=url, results=results, timeout=timeout
    )
    job.run(settings, key=KEY)


def reconcile_command(*args: str | Path) -> Ran:
    """``bulk-tasks reconcile ARGS`` in this process (typer's CliRunner)."""
    ran = CliRunner().invoke(app, ["reconcile", *map(str, args)])
    return Ran(ran.exit_code, ran.stdout, ran.stderr)


def test_three_runs_of_one_input_settle_each_line_once(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(
        f"{HEADER}\nA1 B2 INVALIDc3,{TASK}\nD4 OMITe5,{TASK}\n",
        encoding="utf-8",
    )
    results = tmp_path / "in.results.csv"
    with SandboxServer(Sandbox(keys={"another-key"})) as refusing:
        ran = bulk_tasks("run", data, "-t", "saleshandy", "--base-url", refusing.url)
        assert ran.code == 2  # the key was refused: every line not_sent
    first = snapshot(results, "first.csv")
    with SandboxServer(Sandbox(keys={KEY}, faults=Faults(p_hang=1.0))) as hanging:
        saleshandy(data, hanging.url, results, "--resume", "--timeout", "0.5")
    resumed = snapshot(results, "resumed.csv")  # sent, no answer: every line unknown
    with SandboxServer(Sandbox(keys={KEY})) as server:
        saleshandy(data, server.url, results, "--resume", "--retry-unknown")
    retried = snapshot(results, "retried.csv")
    assert {line["status"] for line in read_results(first)} == {"not_sent"}
    assert {line["status"] for line in read_results(resumed)} == {"unknown"}

    settled = reconcile([first, resumed, retried])

    statuses = dict(zip(settled.settled["prospect_id"], settled.settled["status"], strict=True))
    assert statuses == {
        "A1": "created",  # done in the last file wins over unknown and not_sent
        "B2": "created",
        "D4": "created",
        "INVALIDc3": "failed",  # not done anywhere: the later file's word
        "OMITe5": "unknown",  # left out of Saleshandy's answer
    }
    assert settled.counts == {"created": 3, "failed": 1, "unknown": 1}
    assert settled.exit_code == 1
    assert [file.lines for file in settled.files] == [5, 5, 5]
    # done in one file, unknown in another: possible duplicates (the hang did create them)
    assert sorted(settled.disagreements["prospect_id"]) == ["A1", "B2", "D4"]


def test_done_wins_and_created_is_told_rather_than_its_echo(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(f"{HEADER}\nA1,{TASK}\n", "utf-8")
    results = tmp_path / "in.results.csv"
    with SandboxServer(Sandbox(keys={KEY})) as server:
        saleshandy(data, server.url, results)
        first = snapshot(results, "first.csv")
        saleshandy(data, server.url, results, "--resume")
    settled = reconcile([first, results])
    assert settled.counts == {"created": 1}
    assert settled.settled["_file"].to_list() == [0]


def test_the_failed_rows_round_trip_settles_the_original_lines(tmp_path: Path) -> None:
    with SandboxServer(Sandbox(keys={KEY})) as server:
        original = tmp_path / "original.csv"
        saleshandy(SAMPLES / "saleshandy_create.csv", server.url, original)
        header, rows = failed_lines(reconcile([original]))
        assert header == [
            "Prospect IDs", "Task Type", "Priority", "Due Date", "Task Note", "Account",
            "error_code", "error_message", "source",
        ]  # fmt: skip
        assert [(row[0], row[6]) for row in rows] == [
            ("INVALIDxx", "not_created"),  # the prospect without its task, not its row-mates
            ("Wq8Er5Ty", "taskType"),
            ("", "prospectIds"),
        ]
        failed = tmp_path / "failed.csv"
        write_table(failed, header, rows)
        # the user fixes two cells in a spreadsheet program, and runs the file as it is
        text = failed.read_text(encoding="utf-8-sig")
        failed.write_text(text.replace("INVALIDxx", "Lp0Ok9Ij").replace(",Email,", ",13,"), "utf-8")
        again = tmp_path / "again.csv"
        assert saleshandy(failed, server.url, again) == 1
        created = [line for line in read_results(again) if line["status"] == "created"]
        assert sorted(line["prospect_id"] for line in created) == ["Lp0Ok9Ij", "Wq8Er5Ty"]
        assert {line["source"] for line in created} == {row[8] for row in rows[:2]}

        settled = reconcile([original, again])
        assert settled.counts == {"created": 14, "invalid": 1}
        assert settled.settled["_row"].n_unique() == 9  # the original rows, settled
        _, rows_left = failed_lines(settled)
        assert [row[-1] for row in rows_left] == [rows[2][-1]]  # only row 10 is left


def test_a_partly_created_row_and_the_top_errors(tmp_path: Path) -> None:
    with SandboxServer(Sandbox(keys={KEY})) as server:
        results = tmp_path / "out.csv"
        saleshandy(SAMPLES / "saleshandy_create.csv", server.url, results)
    settled = reconcile([results])
    assert settled.rows_created() == (6, 1, 2)
    assert [(code, lines, rows) for code, lines, rows, _ in settled.top_errors()] == [
        ("not_created", 1, Rows(["4"], 1)),
        ("prospectIds", 1, Rows(["10"], 1)),
        ("taskType", 1, Rows(["7"], 1)),
    ]


def test_jsonl_and_xlsx_results_are_read_like_csv(tmp_path: Path) -> None:
    with SandboxServer(Sandbox(keys={KEY})) as server:
        for suffix in (".csv", ".jsonl", ".xlsx"):  # each a first run: the ledger is off
            results = tmp_path / f"out{suffix}"
            saleshandy(SAMPLES / "saleshandy_create.csv", server.url, results, "--ledger", "off")
    counts = [
        reconcile([tmp_path / f"out{suffix}"]).counts for suffix in (".csv", ".jsonl", ".xlsx")
    ]
    assert counts == [{"created": 12, "failed": 1, "invalid": 2}] * 3


def test_a_file_that_is_not_results_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="not a bulk-tasks results file"):
        reconcile([SAMPLES / "lemlist_create.csv"])
    with pytest.raises(ResultsError, match=r"a results file is \.csv, \.jsonl or \.xlsx"):
        reconcile([tmp_path / "notes.txt"])
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ResultsError, match="cannot be read"):
        reconcile([broken])


def test_the_report_has_a_summary_with_a_chart_then_a_sheet_per_status(tmp_path: Path) -> None:
    with SandboxServer(Sandbox(keys={KEY})) as server:
        results = tmp_path / "out.csv"
        saleshandy(SAMPLES / "saleshandy_create.csv", server.url, results)
    report = tmp_path / "report.xlsx"
    write_report(reconcile([results]), report)
    book = openpyxl.load_workbook(report)
    assert book.sheetnames == ["Summary", "created", "invalid", "failed"]
    summary = book["Summary"]
    assert len(summary._charts) == 1
    cells = {row[0]: row[1] for row in summary.iter_rows(values_only=True) if row and row[0]}
    assert (cells["created"], cells["failed"], cells["invalid"], cells["total"]) == (12, 1, 2, 15)
    assert (cells["fully created"], cells["partly created"], cells["not created"]) == (6, 1, 2)
    failed = book["failed"]
    assert failed.freeze_panes == "A2"
    assert failed.auto_filter.ref == f"A1:{failed.cell(1, failed.max_column).column_letter}2"
    assert [cell.value for cell in failed[2]][:6] == [
        4,
        str(results),
        4,
        "failed",
        None,
        "INVALIDxx",
    ]
    [highlight] = list(failed.conditional_formatting)  # every failed line shaded red
    assert str(highlight.sqref) == f"A2:{failed.cell(1, failed.max_column).column_letter}2"
    assert highlight.rules[0].dxf.fill.start_color.rgb.endswith("F8D7DA")
    assert list(book["created"].conditional_formatting) == []


def test_failed_rows_files_are_safe_and_come_back_as_written(tmp_path: Path) -> None:
    header = ["content", "Owner", "error_code", "error_message", "source"]
    rows = [['=HYPERLINK("http://x")', "-Jane", "http_400", "refused", "2:abc"]]
    for suffix in (".csv", ".xlsx"):
        path = tmp_path / f"failed{suffix}"
        write_table(path, header, rows)
        table = open_table(path)
        [row] = list(table.rows())
        assert list(row.cells) == rows[0]
    raw = (tmp_path / "failed.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in raw
    assert ",'-Jane," in raw
    cell = openpyxl.load_workbook(tmp_path / "failed.xlsx").worksheets[0]["A2"]
    assert (cell.value, cell.data_type) == ('=HYPERLINK("http://x")', "s")


# --- the command, end to end ------------------------------------------------------------------


def test_the_round_trip_through_the_command(tmp_path: Path) -> None:
    with SandboxServer(Sandbox(keys={KEY})) as server:
        original = tmp_path / "original.csv"
        saleshandy(SAMPLES / "saleshandy_create.csv", server.url, original)
        failed = tmp_path / "failed.xlsx"
        first = bulk_tasks("reconcile", original, "--failed-out", failed, key=None)
        assert first.code == 1, first.stderr
        assert first.stdout.startswith("reconcile: 1 file, 15 lines\n")
        assert "Saleshandy rows: 6 fully created, 1 partly created, 2 not created" in first.stdout
        assert "  not_created (1): row 4: Saleshandy did not create this task" in first.stdout
        assert f"Failed rows: {failed}: fix the cells" in first.stdout
        # two cells fixed in a spreadsheet program, the file saved as it is
        book = openpyxl.load_workbook(failed)
        sheet = book.worksheets[0]
        assert [sheet.cell(row, 1).value for row in (2, 3, 4)] == ["INVALIDxx", "Wq8Er5Ty", None]
        sheet.cell(2, 1).value = "Lp0Ok9Ij"
        sheet.cell(3, 2).value = "Call demo"
        book.save(failed)
        again = tmp_path / "again.csv"
        assert saleshandy(failed, server.url, again) == 1
        left = tmp_path / "left.csv"
        settled = bulk_tasks("reconcile", original, again, "--failed-out", left, key=None)
    assert settled.code == 1
    assert "  created          14\n  invalid           1\n" in settled.stdout
    assert "Saleshandy rows: 8 fully created, 0 partly created, 1 not created" in settled.stdout
    [line] = list(open_table(left).rows())
    assert line.cells[-1].startswith("10:")  # the original row 10, the one still empty


def test_exit_codes_say_done_not_done_unreadable(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(f"{HEADER}\nA1,{TASK}\n", "utf-8")
    with SandboxServer(Sandbox(keys={KEY})) as server:
        saleshandy(data, server.url, tmp_path / "ok.csv")
    done = bulk_tasks("reconcile", tmp_path / "ok.csv", key=None)
    assert (done.code, done.stdout.splitlines()[1]) == (0, "  created           1")
    missing = bulk_tasks("reconcile", "ok.csv", "nope.csv", key=None, cwd=tmp_path)
    assert (missing.code, missing.stderr) == (
        2,
        "bulk-tasks: nope.csv: no such file; check the path (a run writes its results beside "
        "its input, as NAME.results.csv, unless --results said where)\n",
    )
    (tmp_path / "runs").mkdir()
    folder = bulk_tasks("reconcile", "runs", key=None, cwd=tmp_path)
    assert (folder.code, folder.stderr) == (
        2,
        "bulk-tasks: runs: is a folder; give the results files in it, such as runs/*.results.csv\n",
    )


def test_unknown_and_possible_duplicates_are_spelled_out(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(f"{HEADER}\nA1 OMITb2,{TASK}\n", "utf-8")
    results = tmp_path / "in.results.csv"
    with SandboxServer(Sandbox(keys={KEY}, faults=Faults(p_hang=1.0))) as hanging:
        saleshandy(data, hanging.url, results, "--timeout", "0.5")
    hung = snapshot(results, "hung.csv")
    with SandboxServer(Sandbox(keys={KEY})) as server:
        saleshandy(data, server.url, results, "--resume", "--retry-unknown")
    ran = bulk_tasks("reconcile", hung, results, "--report", tmp_path / "r.xlsx", key=None)
    assert ran.code == 1
    assert (
        "Unknown: 1 line (row 2 (prospect OMITb2)) was sent, but no answer said what became of "
        "it: its task may exist. Check it in the vendor's app (README: When things go wrong) "
        "before sending it again; its error_message in the results says what is known of it.\n"
    ) in ran.stdout
    assert (
        "Possible duplicates: 1 line (row 2 (prospect A1)) is done in one file and unknown in "
        "another: the task may exist twice; check it in the vendor's app.\n"
    ) in ran.stdout
    assert openpyxl.load_workbook(tmp_path / "r.xlsx").sheetnames == [
        "Summary",
        "created",
        "unknown",
    ]


def test_a_journal_left_by_a_kill_settles_to_each_lines_last_word(tmp_path: Path) -> None:
    from bulk_tasks.results import Journal, Outcome, Status
    from bulk_tasks.rows.inputs import Row

    path = tmp_path / "killed.csv"
    journal = Journal(path, ["leadId"], destination="lemlist")
    journal.write(Row(2, ("lea_a",)), Outcome(status=Status.SENDING), "f1")
    journal.write(Row(3, ("lea_b",)), Outcome(status=Status.SENDING), "f2")
    journal.write(Row(2, ("lea_a",)), Outcome(status=Status.CREATED, remote_id="opp_1"), "f1")
    journal.abandon()  # as kill -9 leaves it: no tidying
    settled = reconcile([path])
    assert settled.counts == {"created": 1, "unknown": 1}  # f2's sending mark: it may exist
    assert sorted(settled.settled["_key"]) == ["f1", "f2"]


def test_first_run_resume_and_retry_failed_give_each_line_once(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(f"{HEADER}\nA1 INVALIDb2,{TASK}\nC3,{TASK}\n", encoding="utf-8")
    results = tmp_path / "in.results.csv"
    with SandboxServer(Sandbox(keys={KEY})) as server:
        saleshandy(data, server.url, results)
        first = snapshot(results, "first.csv")
        saleshandy(data, server.url, results, "--resume")
        resumed = snapshot(results, "resumed.csv")
        saleshandy(data, server.url, results, "--resume", "--retry-failed")
        retried = snapshot(results, "retried.csv")
        assert len(server.sandbox.arrivals) == 2  # the retry sent the refused prospect alone
    settled = reconcile([first, resumed, retried])
    assert settled.settled.height == 3
    statuses = dict(zip(settled.settled["prospect_id"], settled.settled["status"], strict=True))
    assert statuses == {"A1": "created", "INVALIDb2": "failed", "C3": "created"}
    assert settled.settled.filter(pl.col("prospect_id") == "INVALIDb2")["_file"].to_list() == [2]


def test_files_of_different_inputs_are_refused_with_how_to_reconcile_them(
    tmp_path: Path,
) -> None:
    for name in ("lemlist_create.csv", "saleshandy_create.csv"):
        shutil.copy(SAMPLES / name, tmp_path / name)
    lemlist, saleshandy = tmp_path / "lemlist_create.csv", tmp_path / "saleshandy_create.csv"
    assert bulk_tasks("run", lemlist, "-t", "lemlist", "--sandbox").code == 0
    assert bulk_tasks("run", saleshandy, "-t", "saleshandy", "--sandbox").code == 1
    first, second = (path.with_suffix(".results.csv") for path in (lemlist, saleshandy))

    refused = bulk_tasks("reconcile", first, second)

    assert refused.code == 2
    assert refused.stderr.strip() == (
        f"bulk-tasks: {first} and {second} come from different input files (other columns, or "
        "no line in common): reconcile settles one piece of work at a time (a run, its "
        "resumes, and the runs of its failed-rows files). Reconcile each input's files apart: "
        f"bulk-tasks reconcile {first}; bulk-tasks reconcile {second}"
    )


def test_files_with_the_same_columns_but_no_line_in_common_are_refused(tmp_path: Path) -> None:
    one, other = tmp_path / "one.csv", tmp_path / "other.csv"
    one.write_text(f"{HEADER}\nA1,{TASK}\n", encoding="utf-8")
    other.write_text(f"{HEADER}\nB2,{TASK}\n", encoding="utf-8")
    with SandboxServer(Sandbox(keys={KEY})) as server:
        for data in (one, other):
            assert saleshandy(data, server.url, data.with_suffix(".results.csv")) == 0
    with pytest.raises(ResultsError, match="come from different input files"):
        reconcile([one.with_suffix(".results.csv"), other.with_suffix(".results.csv")])


# --- unknown lines and the failed-rows file --------------------------------------------------


def results_of(tmp_path: Path, prospects: list[str], *, hang: bool = False) -> Path:
    """The results of a run of one row per cell of ``prospects``; with ``hang``, every request
    is applied and never answered (its lines end unknown)."""
    data = tmp_path / "in.csv"
    data.write_text(HEADER + "".join(f"\n{cell},{TASK}" for cell in prospects), "utf-8")
    results = tmp_path / "in.results.csv"
    with SandboxServer(Sandbox(keys={KEY}, faults=Faults(p_hang=float(hang)))) as server:
        run_saleshandy(data, server.url, results, timeout=0.5 if hang else 30)
    return results


def sent_without_answer(tmp_path: Path) -> Path:
    """Results where row 2's two prospects are unknown (sent, no answer) and row 3 invalid."""
    return results_of(tmp_path, ["A1 B2", ""], hang=True)


def test_unknown_lines_are_left_out_of_the_failed_rows_file_and_listed_apart(
    tmp_path: Path,
) -> None:
    results = sent_without_answer(tmp_path)
    failed = tmp_path / "failed.csv"

    ran = reconcile_command(results, "--failed-out", failed)

    assert ran.code == 1, ran.stderr
    [line] = list(open_table(failed).rows())
    assert line.cells[-1].startswith("3:")  # the invalid row only: nothing sent may be resent
    assert (
        "Unknown: 2 lines (row 2 (prospects A1, B2)) were sent, but no answer said what became "
        "of them: their tasks may exist. Check them in the vendor's app (README: When things go "
        "wrong) before sending them again; each one's error_message in the results says what "
        "is known of it.\n"
    ) in ran.stdout
    assert ran.stdout.endswith(
        f"Failed rows: {failed}: fix the cells, then `bulk-tasks run {failed} --target …`. "
        "The 2 unknown lines are not in it: --include-unknown puts unknown lines in, to send "
        "once checked.\n"
    )
    assert reconcile_command(results, "--failed-out", failed, "--exclude-unknown").code == 1
    assert len(list(open_table(failed).rows())) == 1  # as before, for the scripts that say it


def test_include_unknown_puts_them_in_and_says_to_check_them_first(tmp_path: Path) -> None:
    results = sent_without_answer(tmp_path)
    failed = tmp_path / "failed.csv"

    ran = reconcile_command(results, "--failed-out", failed, "--include-unknown")

    assert ran.code == 1, ran.stderr
    assert [line.cells[0] for line in open_table(failed).rows()] == ["A1", "B2", ""]
    assert ran.stdout.endswith(
        f"Failed rows: {failed}: fix the cells, then `bulk-tasks run {failed} --target …`. "
        "It holds the 2 unknown lines too (--include-unknown): first delete from it any whose "
        "task exists in the vendor's app.\n"
    )


def test_a_failed_rows_file_with_no_line_to_fix_says_so(tmp_path: Path) -> None:
    results = results_of(tmp_path, ["A1"], hang=True)

    ran = reconcile_command(
        results, "--failed-out", tmp_path / "failed.csv", "--log-format", "json"
    )

    summary = json.loads(ran.stdout.splitlines()[-1])
    assert (summary["failed_out_lines"], summary["unknown_in_failed_out"]) == (0, False)
    text = reconcile_command(results, "--failed-out", tmp_path / "failed.csv")
    assert text.stdout.endswith(
        f"Failed rows: {tmp_path / 'failed.csv'} holds no line: none is invalid, failed or not "
        "sent. The unknown line is not in it: --include-unknown puts unknown lines in, to send "
        "once checked.\n"
    )


# --- where the lines are reported ------------------------------------------------------------


def sheet_lines(book: openpyxl.Workbook, status: str) -> list[tuple[object, ...]]:
    """(row, file, row in file, prospect_id) of each line of a status sheet, top to bottom."""
    sheet = book[status]
    header = [cell.value for cell in sheet[1]]
    assert header[:3] == ["row", "file", "row in file"]
    where = header.index("prospect_id")
    return [(*line[:3], line[where]) for line in sheet.iter_rows(min_row=2, values_only=True)]


def test_a_round_trip_is_reported_at_the_original_rows_with_each_lines_file(
    tmp_path: Path,
) -> None:
    first, again = tmp_path / "first.results.csv", tmp_path / "failed.results.csv"
    failed, report = tmp_path / "failed.xlsx", tmp_path / "report.xlsx"
    with SandboxServer(Sandbox(keys={KEY})) as server:
        run_saleshandy(SAMPLES / "saleshandy_create.csv", server.url, first)
        assert reconcile_command(first, "--failed-out", failed).code == 1
        book = openpyxl.load_workbook(failed)  # rows 2, 3, 4: the original rows 4, 7, 10
        book.worksheets[0].cell(2, 1).value = "OMITp4"  # sent, left out of the answer: unknown
        book.worksheets[0].cell(3, 2).value = "Call demo"  # fixed: created
        book.save(failed)
        run_saleshandy(failed, server.url, again)

    ran = reconcile_command(first, again, "--report", report)

    assert ran.code == 1, ran.stderr
    assert "  prospectIds (1): row 10: column" in ran.stdout
    assert "Unknown: 1 line (row 4 (prospect OMITp4)) was sent" in ran.stdout
    book = openpyxl.load_workbook(report)
    created = sheet_lines(book, "created")
    assert [line for line in created if line[1] == str(again)] == [
        (7, str(again), 3, "Wq8Er5Ty")  # beside the original row 7, not row 3
    ]
    assert {line[1] for line in created} == {str(first), str(again)}
    assert [line[0] for line in created] == sorted(line[0] for line in created)
    assert sheet_lines(book, "unknown") == [(4, str(again), 2, "OMITp4")]
    assert sheet_lines(book, "invalid") == [(10, str(again), 4, None)]
    summary = {line[0]: line[1:3] for line in book["Summary"].iter_rows(values_only=True)}
    assert summary["prospectIds"] == (1, "10")  # the top error, at its sheet's row
    assert summary["unknown"] == (1, "4")  # to check in the vendor's app


def test_input_columns_named_like_the_reports_own_are_told_apart(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(f"{HEADER},status,file\n,{TASK},to do,deck.pdf\n", encoding="utf-8")
    results, report = tmp_path / "in.results.csv", tmp_path / "report.xlsx"
    with SandboxServer(Sandbox(keys={KEY})) as server:
        run_saleshandy(data, server.url, results)

    assert reconcile_command(results, "--report", report).code == 1

    sheet = openpyxl.load_workbook(report)["invalid"]
    line = dict(zip(*sheet.iter_rows(values_only=True), strict=True))
    assert (line["row"], line["file"], line["status"]) == (2, str(results), "invalid")
    assert (line["status (input)"], line["file (input)"]) == ("to do", "deck.pdf")


def test_rows_are_named_once_and_in_the_singular_for_one(tmp_path: Path) -> None:
    results = results_of(tmp_path, ["INVALIDa1 INVALIDb2", *[""] * 5])

    ran = reconcile_command(results)

    assert ran.stdout.startswith("reconcile: 1 file, 7 lines\n")
    assert "  prospectIds (5): rows 3, 4, 5, 6, 7: column" in ran.stdout  # five: no "…"
    assert "  not_created (2): row 2: Saleshandy did not create" in ran.stdout  # not "rows 2, 2"


def test_more_rows_than_named_end_with_an_ellipsis() -> None:
    assert Rows(["3", "4", "5", "6", "7"], 5).listed() == "3, 4, 5, 6, 7"
    assert Rows(["3", "4", "5", "6", "7"], 6).listed() == "3, 4, 5, 6, 7, …"


# --- where the failed-rows file and the report cannot be written -----------------------------


@pytest.mark.parametrize("option", ["--failed-out", "--report"])
def test_a_path_that_cannot_be_written_is_one_line_and_exit_2(tmp_path: Path, option: str) -> None:
    results = results_of(tmp_path, ["INVALIDa1"])  # a line to fix
    in_the_way = tmp_path / "reports"
    in_the_way.write_text("a file where a folder was meant", encoding="utf-8")
    path = in_the_way / "out.xlsx"

    ran = bulk_tasks("reconcile", results, option, path, key=None)  # what ends the process too

    assert (ran.code, ran.stdout) == (2, "")
    assert ran.stderr == (
        f"bulk-tasks: cannot write {path}: {in_the_way} is a file, not a folder; "
        "choose another path\n"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in a read-only folder")
@pytest.mark.parametrize("option", ["--failed-out", "--report"])
def test_a_read_only_folder_is_one_line_and_exit_2(tmp_path: Path, option: str) -> None:
    results = results_of(tmp_path, ["INVALIDa1"])  # a line to fix
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)

    ran = bulk_tasks("reconcile", results, option, folder / "out.xlsx", key=None)

    assert (ran.code, ran.stderr) == (
        2,
        f"bulk-tasks: cannot write {folder / 'out.xlsx'}: Permission denied; choose another path\n",
    )


def test_a_sandbox_trial_is_never_counted_with_real_runs(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    user = "usr_7YzNqVRMCfdeHEzMn"
    rows = [f"lea_{n:017d},phone,{user},2026-12-01,Call {n}" for n in range(3)]
    data.write_text("leadId,type,assignedTo,dueDate,title\n" + "\n".join(rows) + "\n")
    trial, real = tmp_path / "trial.csv", tmp_path / "real.csv"
    assert bulk_tasks("run", data, "-t", "lemlist", "--sandbox", "--results", trial).code == 0
    with SandboxServer(Sandbox(keys={KEY})) as server:  # stands for lemlist itself here
        ran = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url, "--results", real)
        assert ran.code == 0, ran.stderr
    both = bulk_tasks("reconcile", trial, real)
    assert (both.code, both.stdout, both.stderr) == (
        2,
        "",
        f"bulk-tasks: {trial} holds lines sent to lemlist sandbox, and {real} lines sent to "
        "lemlist: reconcile settles the lines of one destination at a time (a --sandbox "
        "trial's tasks exist only in the sandbox, never at the vendor). Reconcile the real "
        f"runs' files apart: bulk-tasks reconcile {real}\n",
    )
    alone = bulk_tasks("reconcile", trial, "--report", tmp_path / "trial.xlsx")
    assert alone.code == 0, alone.stderr
    assert alone.stdout.splitlines()[:3] == [
        "reconcile: 1 file, 3 lines",
        "Sent to the built-in sandbox (--sandbox): none of these tasks exists at lemlist.",
        "  created           3",
    ]
    summary = openpyxl.load_workbook(tmp_path / "trial.xlsx")["Summary"]
    assert [summary["A3"].value, summary["B3"].value] == [
        "sent to",
        "the built-in sandbox: none of these tasks exists at lemlist",
    ]
