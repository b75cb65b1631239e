"""``--limit N``: try a big file on its first rows, then send the rest with ``--resume``."""

from __future__ import annotations

from pathlib import Path

from helpers import bulk_tasks, read_results

from bulk_tasks.sandbox import SandboxServer

USER = "usr_7YzNqVRMCfdeHEzMn"
BEYOND = (
    "not sent: it comes after the first 2 rows (--limit 2); to send it, run again without "
    "--limit, with --resume"
)


def write_creates(path: Path, titles: list[str]) -> Path:
    """A lemlist create file, a row per title; an empty title makes a blank row."""
    lines = ["leadId,type,assignedTo,dueDate,title"]
    for n, title in enumerate(titles):
        row = f"lea_{n:017d},phone,{USER},2026-12-01 09:00,{title}"
        lines.append(row if title else ",,,,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_run_sends_the_first_rows_and_resume_sends_the_rest(
    server: SandboxServer, tmp_path: Path
) -> None:
    data = write_creates(tmp_path / "in.csv", ["A", "", "B", "C", "D"])  # row 3 is blank
    trial = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url, "--limit", "2")
    assert trial.code == 1, trial.stderr
    assert (
        "--limit 2: only the first 2 rows are sent; the rows after them end not_sent "
        "(beyond_limit): run again without --limit, with --resume, to send them"
    ) in trial.stderr
    assert sorted(task.body["title"] for task in server.sandbox.applied) == ["A", "B"]
    lines = {line["row"]: line for line in read_results(tmp_path / "in.results.csv")}
    assert {row: line["status"] for row, line in lines.items()} == {
        "2": "created",
        "4": "created",
        "5": "not_sent",
        "6": "not_sent",
    }
    assert (lines["5"]["error_code"], lines["5"]["error_message"]) == ("beyond_limit", BEYOND)
    rest = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url, "--resume")
    assert rest.code == 0, rest.stderr
    assert sorted(task.body["title"] for task in server.sandbox.applied) == ["A", "B", "C", "D"]
    statuses = {line["row"]: line["status"] for line in read_results(tmp_path / "in.results.csv")}
    assert statuses == {"2": "skipped", "4": "skipped", "5": "created", "6": "created"}


def test_validate_checks_the_first_rows_and_reads_no_further(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", ["A", "B", "C"])
    text = data.read_text(encoding="utf-8")
    data.write_text(text + "not-a-lead,phone,nobody,someday,X\n", encoding="utf-8")
    checked = bulk_tasks("validate", data, "-t", "lemlist", "--limit", "3")
    assert checked.code == 0, checked.stdout + checked.stderr
    assert ("--limit 3: only the first 3 rows are checked") in checked.stderr
    lines = read_results(tmp_path / "in.validation.csv")
    assert [(line["row"], line["error_code"]) for line in lines] == [
        ("2", "valid"),
        ("3", "valid"),
        ("4", "valid"),
    ]
    whole = bulk_tasks("validate", data, "-t", "lemlist")
    assert whole.code == 1  # the fifth row, which --limit 3 left unread, is invalid


def test_a_limit_below_one_is_refused(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", ["A"])
    for command in ("run", "validate"):
        ran = bulk_tasks(command, data, "-t", "lemlist", "--limit", "0")
        assert (ran.code, ran.stderr) == (
            2,
            "bulk-tasks: --limit 0: give a number of rows, 1 or more\n",
        )
    assert not (tmp_path / "in.results.csv").exists()


def test_a_job_file_may_set_the_limit(server: SandboxServer, tmp_path: Path) -> None:
    write_creates(tmp_path / "in.csv", ["A", "B", "C"])
    job = tmp_path / "trial.toml"
    job.write_text(
        f'input = "in.csv"\ntarget = "lemlist"\nbase_url = "{server.url}"\nlimit = 1\n',
        encoding="utf-8",
    )
    ran = bulk_tasks("run", "--config", job)
    assert ran.code == 1, ran.stderr
    assert [task.body["title"] for task in server.sandbox.applied] == ["A"]


def test_the_first_rows_read_their_dates_as_the_whole_column_does(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    rows = [
        f"lea_{n:017d},phone,{USER},{day},Call {n}"
        for n, day in enumerate(["03/04/2026", "05/06/2026", "14/12/2026"])
    ]
    data.write_text("leadId,type,assignedTo,dueDate,title\n" + "\n".join(rows) + "\n")
    checked = bulk_tasks("validate", data, "-t", "lemlist", "--limit", "2")
    assert checked.code == 0, checked.stdout + checked.stderr
    assert 'column "dueDate" read as day/month/year (DMY): row 4 has 14/12/2026' in checked.stderr
