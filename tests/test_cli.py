"""The real command against the sandbox over real HTTP."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
from pathlib import Path

import openpyxl
import pytest
from helpers import KEY, SAMPLES, Ran, bulk_tasks, read_results

from bulk_tasks import __version__ as bulk_tasks_version
from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer, max_in_window

TASK_ID = re.compile(r"opp_[A-Za-z0-9]{17}")
USER = "usr_7YzNqVRMCfdeHEzMn"


def write_creates(path: Path, rows: int) -> Path:
    lines = ["leadId,type,assignedTo,dueDate,title"]
    lines += [f"lea_{n:017d},phone,{USER},2026-12-01 09:00,Call {n}" for n in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_lemlist(data: Path, url: str, *more: str | Path, key: str | None = KEY) -> Ran:
    """`bulk-tasks run DATA --target lemlist --base-url URL ...`, as a user types it."""
    return bulk_tasks("run", data, "-t", "lemlist", "--base-url", url, *more, key=key)


def assert_no_secret(ran_output: str, *files: Path) -> None:
    assert KEY not in ran_output
    for file in files:
        assert KEY not in file.read_text(encoding="utf-8-sig", errors="replace")


# --- the README's demo and the samples ---


def test_the_readme_demo_runs_on_the_built_in_sandbox(tmp_path: Path) -> None:
    results = tmp_path / "create.results.csv"
    ran = bulk_tasks(
        "run",
        SAMPLES / "lemlist_create.csv",
        "--target",
        "lemlist",
        "--sandbox",
        "--results",
        results,
        key=None,
    )
    assert ran.code == 0, ran.stderr
    assert "created        12" in ran.stdout
    assert f"Results: {results}" in ran.stdout
    lines = read_results(results)
    assert sorted(int(line["row"]) for line in lines) == list(range(2, 14))  # as they settled
    assert {line["status"] for line in lines} == {"created"}
    assert all(TASK_ID.fullmatch(line["remote_id"]) for line in lines)
    first = next(line for line in lines if line["row"] == "2")
    assert first["Account"] == "Acme Corp"  # the input's own columns are carried


SANDBOX_LINE = re.compile(
    r"Using the built-in sandbox at http://127\.0\.0\.1:\d+: nothing is sent to lemlist\."
)


def test_the_sandbox_is_announced_only_for_a_run_that_starts(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", 2)
    missing = bulk_tasks("run", "nope.csv", "-t", "lemlist", "--sandbox", cwd=tmp_path, key=None)
    assert (missing.code, missing.stderr) == (
        2,
        "bulk-tasks: nope.csv: no such file; check the path and the current folder\n",
    )
    first = bulk_tasks("run", data, "-t", "lemlist", "--sandbox", key=None)
    assert first.code == 0, first.stderr
    assert SANDBOX_LINE.fullmatch(first.stderr.splitlines()[0]), first.stderr
    again = bulk_tasks("run", "in.csv", "-t", "lemlist", "--sandbox", cwd=tmp_path, key=None)
    assert (again.code, again.stderr) == (
        2,
        "bulk-tasks: in.results.csv already exists: add --resume to carry on from it (rows "
        "already done are skipped), or --force to start over (the old file is kept as a "
        "backup)\n",
    )


def test_the_inbox_announces_the_sandbox_once_for_all_its_files(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()

    def run_inbox() -> list[str]:
        ran = bulk_tasks(
            "run-folder", inbox, "-t", "lemlist", "--done", tmp_path / "done", "--settle", "0",
            "--sandbox", key=None,
        )  # fmt: skip
        assert ran.code == 0, ran.stderr
        return [line for line in ran.stderr.splitlines() if SANDBOX_LINE.fullmatch(line)]

    assert run_inbox() == []  # nothing to run: nothing is sent anywhere
    write_creates(inbox / "a.csv", 1)
    write_creates(inbox / "b.csv", 2)
    assert len(run_inbox()) == 1


def test_results_default_to_beside_the_input(tmp_path: Path) -> None:
    data = shutil.copy(SAMPLES / "lemlist_create.csv", tmp_path / "tasks.csv")
    ran = bulk_tasks("run", data, "-t", "lemlist", "--sandbox", key=None)
    assert ran.code == 0, ran.stderr
    assert len(read_results(tmp_path / "tasks.results.csv")) == 12


def test_the_update_sample_changes_the_demo_tasks(server: SandboxServer, tmp_path: Path) -> None:
    results = tmp_path / "update.results.csv"
    ran = bulk_tasks(
        "run",
        SAMPLES / "lemlist_update.xlsx",
        "-t",
        "lemlist",
        "-a",
        "update",
        "--base-url",
        server.url,
        "--results",
        results,
    )
    assert ran.code == 0, ran.stderr
    lines = read_results(results)
    # in the order they settled; row 6 is blank
    assert sorted(int(line["row"]) for line in lines) == [2, 3, 4, 5, 7, 8]
    assert {line["status"] for line in lines} == {"updated"}
    bodies = {a.task_id: a.body for a in server.sandbox.applied}
    assert bodies["opp_DemoTask000000001"] == {"id": "opp_DemoTask000000001", "done": True}
    assert bodies["opp_DemoTask000000002"] == {
        "id": "opp_DemoTask000000002",
        "assignedTo": "usr_ahfFktBBHUIxbVG5P",
        "dueDate": "2026-12-14T10:00:00.000Z",
    }  # an Excel date cell, read in UTC
    assert bodies["opp_DemoTask000000006"] == {
        "id": "opp_DemoTask000000006",
        "done": False,
        "dueDate": "2026-12-16T16:30:00.000Z",
        "priority": "",
    }


def test_an_update_of_a_task_lemlist_lacks_names_the_id_column(
    server: SandboxServer, tmp_path: Path
) -> None:
    data = tmp_path / "done.csv"
    data.write_text(f"Task ID,done\nopp_{'N' * 17},yes\n", encoding="utf-8")
    mapping = tmp_path / "map.toml"
    mapping.write_text('id = "Task ID"\n', encoding="utf-8")
    results = tmp_path / "out.csv"
    ran = run_lemlist(data, server.url, "-a", "update", "--map", mapping, "--results", results)
    assert ran.code == 1, ran.stderr
    [line] = read_results(results)
    assert line["error_message"] == (
        'lemlist refused it: Task not found: lemlist has no task with this id; check the "Task '
        'ID" cell; fix the row, then run again with --resume --retry-failed'
    )


def test_bad_rows_are_explained_and_never_sent(server: SandboxServer, tmp_path: Path) -> None:
    results = tmp_path / "bad.results.csv"
    ran = run_lemlist(SAMPLES / "lemlist_bad_rows.csv", server.url, "--results", results)
    assert ran.code == 1, ran.stderr
    assert "Note: read as Windows-1252" in ran.stderr
    lines = {line["row"]: line for line in read_results(results)}
    assert sorted(lines, key=int) == ["2", "3", "4", "5", "6", "8", "9", "10", "11", "12"]
    assert lines["2"]["status"] == lines["12"]["status"] == "created"
    assert lines["2"]["title"] == "Appeler François"
    assert (lines["5"]["status"], lines["5"]["error_code"]) == ("invalid", "dueDate")
    assert lines["5"]["error_message"].startswith(
        'column "dueDate" = "03/04/2026" is ambiguous (day/month or month/day?)'
    )
    assert lines["6"]["error_message"] == 'column "leadId" is empty; every task needs one'
    assert lines["11"]["error_code"] == "extra_cells"
    assert len(server.sandbox.applied) == 2


def test_date_format_and_timezone_options(server: SandboxServer, tmp_path: Path) -> None:
    data = tmp_path / "dates.csv"
    data.write_text(
        f"leadId,type,assignedTo,dueDate\nlea_{'1' * 17},phone,{USER},03/04/2026 09:00\n",
        encoding="utf-8",
    )
    ran = run_lemlist(data, server.url, "--date-format", "DMY", "--timezone", "Europe/Paris")
    assert ran.code == 0, ran.stderr
    [applied] = server.sandbox.applied
    assert applied.body["dueDate"] == "2026-04-03T07:00:00.000Z"


def test_set_and_map_fill_in_fields(server: SandboxServer, tmp_path: Path) -> None:
    data = tmp_path / "people.csv"
    data.write_text(f"Prospect,When\nlea_{'2' * 17},2026-12-01\n", encoding="utf-8")
    mapping = tmp_path / "map.toml"
    mapping.write_text('recordId = "Prospect"\ndueDate = "When"\n', encoding="utf-8")
    ran = run_lemlist(
        data, server.url, "--map", mapping, "--set", f"assignedTo={USER}", "--set", "type=manual"
    )
    assert ran.code == 0, ran.stderr
    [applied] = server.sandbox.applied
    assert applied.body["assignedTo"] == USER
    assert applied.body["type"] == "manual"


# --- results formats ---


def test_jsonl_results(server: SandboxServer, tmp_path: Path) -> None:
    results = tmp_path / "out.jsonl"
    ran = run_lemlist(write_creates(tmp_path / "in.csv", 3), server.url, "--results", results)
    assert ran.code == 0, ran.stderr
    lines = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    assert [line["status"] for line in lines] == ["created"] * 3
    assert all(TASK_ID.fullmatch(line["remote_id"]) for line in lines)


def test_xlsx_results(server: SandboxServer, tmp_path: Path) -> None:
    results = tmp_path / "out.xlsx"
    ran = run_lemlist(write_creates(tmp_path / "in.csv", 3), server.url, "--results", results)
    assert ran.code == 0, ran.stderr
    sheet = openpyxl.load_workbook(results, read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:2] == ("row", "status")
    # in the order they settled
    assert sorted(row[:2] for row in rows[1:]) == [(2, "created"), (3, "created"), (4, "created")]
    assert not (tmp_path / "out.xlsx.partial.csv").exists()


# --- validate ---


def test_validate_sends_nothing_and_needs_no_key(tmp_path: Path) -> None:
    results = tmp_path / "check.csv"
    ran = bulk_tasks(
        "validate",
        SAMPLES / "lemlist_bad_rows.csv",
        "-t",
        "lemlist",
        "--results",
        results,
        key=None,
    )
    assert ran.code == 1
    statuses = [line["status"] for line in read_results(results)]
    assert statuses.count("not_sent") == 2  # the two valid rows
    assert statuses.count("invalid") == 8
    ok = bulk_tasks(
        "validate",
        SAMPLES / "lemlist_create.csv",
        "-t",
        "lemlist",
        "--results",
        tmp_path / "ok.csv",
        key=None,
    )
    assert ok.code == 0


# --- the rate limit, end to end ---


def test_400_creates_under_real_latency_never_meet_a_429(tmp_path: Path) -> None:
    # lemlist's 20 a window, in windows of 0.5 s rather than 2 s: the latency is a larger
    # share of each window, and the 20 windows take 10 s instead of 40
    sandbox = Sandbox(keys={KEY}, limit=20, period=0.5, faults=Faults(latency=(0.04, 0.12), seed=3))
    results = tmp_path / "out.csv"
    with SandboxServer(sandbox) as running:
        ran = run_lemlist(
            write_creates(tmp_path / "in.csv", 400),
            running.url,
            "--rate",
            "20/0.5",
            "--results",
            results,
        )
    assert ran.code == 0, ran.stderr
    arrivals = sandbox.arrivals
    assert [a.status for a in arrivals].count(429) == 0
    assert max_in_window([a.time for a in arrivals], 0.5) <= 20
    lines = read_results(results)
    assert len(lines) == 400
    assert sorted(line["remote_id"] for line in lines) == sorted(a.task_id for a in sandbox.applied)


def test_rate_option_sets_the_bucket(tmp_path: Path) -> None:
    sandbox = Sandbox(keys={KEY}, limit=20, period=0.5)
    with SandboxServer(sandbox) as running:
        # three windows' worth: the bucket is full in two of them at least
        ran = run_lemlist(write_creates(tmp_path / "in.csv", 60), running.url, "--rate", "20/0.5")
    assert ran.code == 0, ran.stderr
    arrivals = sandbox.arrivals
    assert len(arrivals) == 60
    assert max_in_window([a.time for a in arrivals], 0.5) <= 20
    assert max_in_window([a.time for a in arrivals], 2.0) > 20  # not lemlist's own 20 per 2 s


def test_server_errors_and_spurious_429s_are_retried(tmp_path: Path) -> None:
    sandbox = Sandbox(
        keys={KEY},
        limit=20,
        period=0.5,
        faults=Faults(p_error_500=0.15, p_spurious_429=0.1, seed=5),
    )
    results = tmp_path / "out.csv"
    with SandboxServer(sandbox) as running:
        ran = run_lemlist(
            write_creates(tmp_path / "in.csv", 16),
            running.url,
            "--rate",
            "20/0.5",
            "--results",
            results,
        )
    assert ran.code == 0, ran.stderr
    lines = read_results(results)
    assert {line["status"] for line in lines} == {"created"}
    assert sum(int(line["attempts"]) for line in lines) > 16  # some rows needed retries
    assert {500, 429} <= {arrival.status for arrival in sandbox.arrivals}  # for both causes
    assert len(sandbox.applied) == 16  # and none was applied twice


# --- stopping and refusing ---


def test_a_rejected_key_stops_the_run(server: SandboxServer, tmp_path: Path) -> None:
    results = tmp_path / "out.csv"
    wrong = "wrong-key-Xy9-secret"
    ran = run_lemlist(
        write_creates(tmp_path / "in.csv", 30), server.url, "--results", results, key=wrong
    )
    assert ran.code == 2
    assert "lemlist refused the API key" in ran.stderr
    assert "check LEMLIST_API_KEY" in ran.stderr
    statuses = [line["status"] for line in read_results(results)]
    assert statuses == ["not_sent"] * 30
    assert len(server.sandbox.arrivals) < 30
    assert wrong not in ran.stdout + ran.stderr + results.read_text(encoding="utf-8-sig")


def test_the_key_is_never_printed_nor_written(server: SandboxServer, tmp_path: Path) -> None:
    results = tmp_path / "out.jsonl"
    ran = run_lemlist(write_creates(tmp_path / "in.csv", 3), server.url, "--results", results)
    assert ran.code == 0
    assert_no_secret(ran.stdout + ran.stderr, results)


def test_a_missing_key_is_explained(tmp_path: Path) -> None:
    ran = bulk_tasks("run", SAMPLES / "lemlist_create.csv", "-t", "lemlist", key=None)
    assert ran.code == 2
    assert ran.stderr.startswith("bulk-tasks: LEMLIST_API_KEY is not set: export LEMLIST_API_KEY")
    assert "--sandbox" in ran.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.csv"], "bulk-tasks: nope.csv: no such file; check the path"),
        (["{create}", "--rate", "fast"], 'bulk-tasks: --rate "fast": write requests/seconds'),
        (["{create}", "--timezone", "Mars/Olympus"], 'bulk-tasks: --timezone "Mars/Olympus"'),
        (["{create}", "--base-url", "localhost"], 'bulk-tasks: --base-url "localhost"'),
        (["{create}", "--results", "out.txt"], "bulk-tasks: --results out.txt: the extension"),
        (
            ["{create}", "--results", "."],
            "bulk-tasks: --results . is a folder; name a file in it, such as results.csv\n",
        ),
        (
            ["{create}", "--sandbox", "--base-url", "http://127.0.0.1:1"],
            "bulk-tasks: --sandbox and",
        ),
        (["{no_type}"], "bulk-tasks: lemlist create needs a column for type"),
    ],
)
def test_user_mistakes_stop_with_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    no_type = tmp_path / "no_type.csv"
    no_type.write_text(f"leadId,assignedTo,dueDate\nlea_{'1' * 17},{USER},2026-12-01\n")
    paths = {"{create}": str(SAMPLES / "lemlist_create.csv"), "{no_type}": str(no_type)}
    ran = bulk_tasks("run", *[paths.get(arg, arg) for arg in args], "-t", "lemlist", cwd=tmp_path)
    assert ran.code == 2, ran.stderr
    assert ran.stderr.startswith(message), ran.stderr
    assert "Traceback" not in ran.stderr


SPREADSHEET_PROBLEMS = [
    (
        "tasks.xlsx",
        b"leadId,type\nlea_1,phone\n",
        "tasks.xlsx: looks like a CSV file (plain text), though its name ends in .xlsx; "
        "rename it to tasks.csv and run that file",
    ),
    (
        "tasks.xlsx",
        bytes(range(256)),
        "tasks.xlsx: is not a spreadsheet, though its name ends in .xlsx; open it in Excel "
        "and save it as .xlsx or .csv, then run that file",
    ),
    (
        "tasks.xls",
        b"<html><table><tr><td>leadId</td></tr></table></html>",
        "tasks.xls: is a web page (HTML), though its name ends in .xls; open it in Excel and "
        "save it as .xlsx or .csv, then run that file",
    ),
    (
        "tasks.xlsx",
        b"PK\x03\x04 the first bytes of a zip, and no more",
        "tasks.xlsx: cannot be opened as a spreadsheet: it is damaged or incomplete (cut short "
        "while copying, say); open it in Excel and save it again, or export it as .csv",
    ),
    (
        "tasks.csv",
        (SAMPLES / "attio_create.xlsx").read_bytes(),
        "tasks.csv: is a spreadsheet (.xlsx), though its name ends in .csv; rename it to "
        "tasks.xlsx and run that file",
    ),
]


@pytest.mark.parametrize(("name", "content", "message"), SPREADSHEET_PROBLEMS)
def test_a_file_that_is_not_what_its_name_says_is_named_for_what_it_is(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    ran = bulk_tasks("validate", name, "-t", "lemlist", cwd=tmp_path, key=None)
    assert (ran.code, ran.stderr) == (2, f"bulk-tasks: {message}\n")


@pytest.mark.parametrize("name", ["inbox", "tasks.csv"])
def test_a_folder_given_as_input_is_pointed_to_run_folder(tmp_path: Path, name: str) -> None:
    (tmp_path / name).mkdir()
    ran = bulk_tasks("validate", name, "-t", "lemlist", cwd=tmp_path, key=None)
    assert (ran.code, ran.stderr) == (
        2,
        f"bulk-tasks: {name}: is a folder; give the path of a CSV or spreadsheet file (to run "
        "each spreadsheet dropped in a folder, use bulk-tasks run-folder)\n",
    )


def test_a_missing_file_without_an_extension_is_missing(tmp_path: Path) -> None:
    ran = bulk_tasks("validate", "tasks", "-t", "lemlist", cwd=tmp_path, key=None)
    assert (ran.code, ran.stderr) == (
        2,
        "bulk-tasks: tasks: no such file; check the path and the current folder\n",
    )


def test_a_file_for_another_vendor_is_recognised(tmp_path: Path) -> None:
    sample = SAMPLES / "saleshandy_create.csv"
    ran = bulk_tasks("run", sample, "-t", "lemlist", "--sandbox", key=None)
    assert (ran.code, ran.stderr) == (
        2,
        "bulk-tasks: lemlist create needs columns for recordId (or leadId), type and "
        "assignedTo, and the file has none (its columns: Prospect IDs, Task Type, Priority, Due "
        "Date, Task Note, Account); rename columns, map them with --map, or give one value for "
        "every row with --set recordId=VALUE. These columns fit saleshandy: did you mean "
        "--target saleshandy?\n",
    )


def test_an_unknown_option_is_a_usage_error() -> None:
    ran = bulk_tasks("run", SAMPLES / "lemlist_create.csv", "-t", "hubspot")
    assert ran.code == 2
    assert "hubspot" in ran.stderr


def test_progress_is_plain_lines_when_nobody_watches(server: SandboxServer, tmp_path: Path) -> None:
    ran = bulk_tasks(
        "run", write_creates(tmp_path / "in.csv", 5), "-t", "lemlist", "--base-url", server.url
    )
    assert ran.code == 0
    assert re.search(
        r"^\[\d\d:\d\d:\d\d\] 5/5 rows, [\d.]+ rows/s \(created 5\)$", ran.stderr, re.MULTILINE
    ), ran.stderr


@pytest.mark.parametrize(
    "command",
    [
        *("run", "validate", "fields", "sandbox", "reconcile", "run-folder", "history"),
        *("ledger where", "ledger list", "ledger count", "ledger forget"),
    ],
)
def test_every_command_has_help_with_an_example(command: str) -> None:
    ran = bulk_tasks(*command.split(), "--help", key=None)
    assert ran.code == 0
    assert "Example:" in ran.stdout


def test_the_version_is_one_line() -> None:
    ran = bulk_tasks("--version", key=None)
    assert (ran.code, ran.stdout) == (0, f"bulk-tasks {bulk_tasks_version}\n")
    assert bulk_tasks_version == importlib.metadata.version("bulk-tasks")  # pyproject's


def help_of(*command: str) -> str:
    """The help a person sees at an 80-column terminal."""
    ran = bulk_tasks(*command, "--help", key=None, env={"COLUMNS": "80"})
    assert ran.code == 0, ran.stderr
    return ran.stdout


def test_the_top_level_help_gives_each_command_its_whole_description() -> None:
    commands = help_of().split("Commands:\n", 1)[1].splitlines()
    assert commands == [
        "  run         Send every valid row to the vendor; a results line for each.",
        "  validate    Check every row without sending anything (no key needed).",
        "  fields      List the columns a vendor's file takes, with an example.",
        "  resolve     Look up at the vendor the unknown lines of a results file.",
        "  reconcile   Settle several results files; say what is left to do.",
        "  run-folder  Run each spreadsheet dropped in a folder once, unattended.",
        "  history     What run-folder did with each file, newest first.",
        "  sandbox     Serve a local emulator of the vendors' task APIs.",
        "  ledger      List, count or forget the tasks earlier runs created.",
    ]


@pytest.mark.parametrize(
    ("command", "usage", "argument"),
    [
        (
            "run",
            "Usage: bulk-tasks run [OPTIONS] [INPUT]",
            "  INPUT  The spreadsheet: .csv (also ; or tab separated) or .xlsx.",
        ),
        (
            "validate",
            "Usage: bulk-tasks validate [OPTIONS] [INPUT]",
            "  INPUT  The spreadsheet: .csv (also ; or tab separated) or .xlsx.",
        ),
        (
            "reconcile",
            "Usage: bulk-tasks reconcile [OPTIONS] RESULTS...",
            "  RESULTS...  Results files of one piece of work, oldest first: the first run,",
        ),
        (
            "resolve",
            "Usage: bulk-tasks resolve [OPTIONS] RESULTS",
            "  RESULTS  The results file of an earlier run (.csv, .jsonl or .xlsx).",
        ),
        (
            "run-folder",
            "Usage: bulk-tasks run-folder [OPTIONS] [INBOX]",
            "  INBOX  The folder where spreadsheets are dropped.",
        ),
    ],
)
def test_each_commands_argument_shows_the_same_way(command: str, usage: str, argument: str) -> None:
    shown = help_of(command)
    assert shown.splitlines()[0] == usage
    assert shown.split("Arguments:\n", 1)[1].splitlines()[0] == argument


def test_runs_help_shows_a_command_for_each_vendor() -> None:
    shown = help_of("run")
    assert (
        "  Example: LEMLIST_API_KEY=… bulk-tasks run tasks.csv --target lemlist\n"
        "  (the same with SALESHANDY_API_KEY and saleshandy, or ATTIO_API_KEY and attio)\n"
        "\n"
        "  Try it with no account, on the built-in sandbox:\n"
        "    bulk-tasks run sample_inputs/lemlist_create.csv -t lemlist --sandbox\n"
        "    bulk-tasks run sample_inputs/saleshandy_create.csv -t saleshandy --sandbox\n"
        "    bulk-tasks run sample_inputs/attio_create.xlsx -t attio --sandbox\n"
    ) in shown


def test_examples_are_never_broken_inside_a_word() -> None:
    assert (
        "    bulk-tasks reconcile tasks.results.csv failed.results.csv \\\n"
        "      --failed-out failed.csv\n"
    ) in help_of("reconcile")


def test_the_choices_may_be_written_in_any_case(tmp_path: Path) -> None:
    ran = bulk_tasks(
        "validate",
        SAMPLES / "lemlist_create.csv",
        "-t",
        "Lemlist",
        "-a",
        "CREATE",
        "--date-format",
        "dmy",
        "--results",
        tmp_path / "check.csv",
        key=None,
    )
    assert ran.code == 0, ran.stderr
    assert ran.stdout.startswith("lemlist create (validation only): 12 rows")


def test_validate_never_overwrites_a_runs_results(server: SandboxServer, tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", 2)
    results = tmp_path / "in.results.csv"
    assert run_lemlist(data, server.url).code == 0
    ran = bulk_tasks("validate", data, "-t", "lemlist", "--results", results, key=None)
    assert ran.code == 2
    assert "holds a run's results or another file, which validate would overwrite" in ran.stderr
    assert {line["status"] for line in read_results(results)} == {"created"}
    # an earlier validation, though, is simply replaced
    check = tmp_path / "check.csv"
    for _ in range(2):
        again = bulk_tasks("validate", data, "-t", "lemlist", "--results", check, key=None)
        assert again.code == 0, again.stderr


def test_results_never_overwrite_the_input(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", 2)
    before = data.read_bytes()
    for command in (["run", "--sandbox"], ["validate"]):
        ran = bulk_tasks(*command, data, "-t", "lemlist", "--results", data, key=None)
        assert (ran.code, ran.stderr) == (
            2,
            f"bulk-tasks: --results {data} is the input file itself; choose another path\n",
        )
    assert data.read_bytes() == before


def test_results_may_go_to_a_new_folder(server: SandboxServer, tmp_path: Path) -> None:
    results = tmp_path / "reports" / "today" / "out.csv"
    ran = run_lemlist(write_creates(tmp_path / "in.csv", 2), server.url, "--results", results)
    assert ran.code == 0, ran.stderr
    assert len(read_results(results)) == 2
