"""The inbox's history: each file run-folder ran or set aside, read back by
``bulk-tasks history`` from the inbox or its done folder."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import Ran, bulk_tasks
from test_guarantees import FAST, fast_sandbox, write_creates

from bulk_tasks.sandbox import SandboxServer


def run_inbox(inbox: Path, done: Path, server: SandboxServer, *more: str | Path) -> Ran:
    """A pass of run-folder over ``inbox``, of lemlist creates, to ``server``."""
    ran = bulk_tasks(
        *("run-folder", inbox, "--done", done, "-t", "lemlist", "--base-url", server.url),
        *(*FAST, "--settle", "0", *more),
    )
    assert ran.code in (0, 1), ran.stderr
    return ran


def test_history_tells_each_file_newest_first_from_the_inbox_or_its_done_folder(
    tmp_path: Path,
) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    inbox.mkdir()
    with SandboxServer(fast_sandbox()) as server:
        write_creates(inbox / "monday.csv", range(3))
        run_inbox(inbox, done, server)
        tuesday = write_creates(inbox / "tuesday.csv", range(2, 5))
        tuesday.write_text(  # one row with no lead: invalid
            tuesday.read_text(encoding="utf-8") + ",phone,usr_x,2026-12-01 09:00,No lead\n",
            encoding="utf-8",
        )
        run_inbox(inbox, done, server)
    from_inbox, from_done = bulk_tasks("history", inbox), bulk_tasks("history", done)
    assert from_inbox.code == from_done.code == 0
    assert from_inbox.stdout == from_done.stdout
    header, newest, oldest = from_inbox.stdout.splitlines()
    assert header.split() == [
        "when",
        "file",
        "vendor",
        "outcome",
        "exit",
        "created",
        "updated",
        "skipped",
        "invalid",
        "to",
        "act",
        "on",
        "results",
    ]
    assert newest.split()[2:11] == ["tuesday.csv", "lemlist", "ran", "1", "2", "0", "1", "1", "0"]
    assert newest.split()[11].startswith(str(done / "tuesday."))
    assert oldest.split()[2:11] == ["monday.csv", "lemlist", "ran", "0", "3", "0", "0", "0", "0"]
    said = bulk_tasks("history", inbox, "--log-format", "json")
    runs = [json.loads(line) for line in said.stdout.splitlines()]
    assert [(run["file"], run["counts"], run["to_act_on"], run["exit_code"]) for run in runs] == [
        ("tuesday.csv", {"created": 2, "invalid": 1, "skipped": 1}, 0, 1),
        ("monday.csv", {"created": 3}, 0, 0),
    ]


def test_history_since_a_day_leaves_out_the_files_before_it(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    inbox.mkdir()
    with SandboxServer(fast_sandbox()) as server:
        write_creates(inbox / "monday.csv", range(2))
        run_inbox(inbox, done, server)
    later = bulk_tasks("history", done, "--since", "2999-01-01")
    assert (later.code, later.stdout) == (0, f"{done}: no file run since 2999-01-01\n")
    wrong = bulk_tasks("history", done, "--since", "yesterday")
    assert (wrong.code, wrong.stderr) == (
        2,
        'bulk-tasks: --since "yesterday": give a day as YYYY-MM-DD, e.g. 2026-03-01\n',
    )


def test_a_folder_run_folder_never_ran_has_no_history(tmp_path: Path) -> None:
    ran = bulk_tasks("history", tmp_path)
    assert (ran.code, ran.stderr) == (
        2,
        f"bulk-tasks: {tmp_path} has no run-folder history: give the inbox that `bulk-tasks "
        "run-folder` watches, or its --done folder\n",
    )
