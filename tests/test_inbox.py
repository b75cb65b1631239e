"""run-folder: an inbox for unattended runs, checked against the sandbox's own record."""

from __future__ import annotations

import os
import time
from pathlib import Path

from helpers import KEY, Ran, bulk_tasks, read_results

from bulk_tasks.lockfile import LockFile
from bulk_tasks.sandbox import Sandbox, SandboxServer

HEADER = "prospectIds,taskType"


def drop(inbox: Path, name: str, text: str, *, age: float = 60) -> Path:
    """A file put in the inbox ``age`` seconds ago."""
    inbox.mkdir(exist_ok=True)
    path = inbox / name
    path.write_text(text, encoding="utf-8")
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def run_folder(inbox: Path, done: Path, url: str, *more: str, key: str = KEY) -> Ran:
    return bulk_tasks(
        "run-folder", inbox, "--target", "saleshandy", "--done", done, "--base-url", url,
        "--rate", "50/0.5", *more, key=key,
    )  # fmt: skip


def test_files_are_run_once_and_moved_with_their_results(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    drop(inbox, "monday.csv", f"{HEADER}\nA1 B2,13\n")
    drop(inbox, "tuesday.csv", f"{HEADER}\nC3,3\n", age=30)
    sandbox = Sandbox(keys={KEY}, limit=50, period=0.5)
    with SandboxServer(sandbox) as server:
        first = run_folder(inbox, done, server.url)
        assert first.code == 0, first.stderr
        assert sorted(a.subject for a in sandbox.applied) == ["A1", "B2", "C3"]
        assert list(inbox.glob("*.csv")) == []
        assert (done / "monday.csv").exists()
        [results] = done.glob("monday.*.results.csv")
        assert {line["status"] for line in read_results(results)} == {"created"}
        # the same content again, under another name: recognised, reported, not sent
        drop(inbox, "monday (copy).csv", f"{HEADER}\nA1 B2,13\n")
        again = run_folder(inbox, done, server.url)
        assert again.code == 0
        assert "the same content as monday.csv, already run: not sent" in again.stdout
        assert len(sandbox.applied) == 3
        assert (done / "monday (copy).csv").exists()
        empty = run_folder(inbox, done, server.url)
        assert f"{inbox}: nothing to run" in empty.stdout
    assert len((done / ".bulk-tasks-ledger.jsonl").read_text().splitlines()) == 2


def test_an_unreadable_file_is_moved_out_with_why_and_the_rest_still_run(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    drop(inbox, "bad.csv", "nope,x\n1,2\n")
    drop(inbox, "broken.xlsx", "not a workbook", age=50)
    drop(inbox, "good.csv", f"{HEADER}\nA1,13\n", age=40)
    sandbox = Sandbox(keys={KEY}, limit=50, period=0.5)
    with SandboxServer(sandbox) as server:
        ran = run_folder(inbox, done, server.url)
    assert ran.code == 2
    assert [a.subject for a in sandbox.applied] == ["A1"]
    why = (done / "failed" / "bad.csv.why.txt").read_text()
    assert why.startswith("saleshandy create needs columns for prospectIds")
    assert (
        (done / "failed" / "broken.xlsx.why.txt")
        .read_text()
        .startswith(f"{inbox / 'broken.xlsx'}: looks like a CSV file (plain text)")
    )
    assert list(inbox.iterdir()) == []  # nor a lock file left behind


def test_a_file_changed_just_now_waits_for_the_next_pass(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    drop(inbox, "fresh.csv", f"{HEADER}\nA1,13\n", age=0)
    sandbox = Sandbox(keys={KEY}, limit=50, period=0.5)
    with SandboxServer(sandbox) as server:
        ran = run_folder(inbox, done, server.url)
        assert "fresh.csv: changed just now: left for the next pass" in ran.stdout
        assert sandbox.applied == []
        later = run_folder(inbox, done, server.url, "--settle", "0")
        assert later.code == 0
        assert len(sandbox.applied) == 1


def test_a_second_instance_stops_at_once(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    drop(inbox, "monday.csv", f"{HEADER}\nA1,13\n")
    with LockFile(inbox / ".bulk-tasks.lock"):  # a pass is under way
        ran = run_folder(inbox, done, "http://127.0.0.1:9")
    assert ran.code == 2
    assert ran.stderr.startswith(f"bulk-tasks: another bulk-tasks run-folder is working on {inbox}")
    assert (inbox / "monday.csv").exists()


def test_a_done_folder_that_is_a_file_is_said(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done.csv"
    drop(inbox, "monday.csv", f"{HEADER}\nA1,13\n")
    done.write_text("")
    ran = run_folder(inbox, done, "http://127.0.0.1:9")
    assert (ran.code, ran.stderr) == (
        2,
        f"bulk-tasks: --done {done} is a file; give the folder where run files and their "
        "results go\n",
    )
    assert sorted(inbox.iterdir()) == [inbox / "monday.csv"]


def test_a_stopped_run_stays_in_the_inbox_and_the_next_pass_resumes_it(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    drop(inbox, "monday.csv", f"{HEADER}\nA1 B2,13\n")
    sandbox = Sandbox(keys={KEY}, limit=50, period=0.5)
    with SandboxServer(sandbox) as server:
        refused = run_folder(inbox, done, server.url, key="wrong-key-Hh4")
        assert refused.code == 2
        assert "left in the inbox: the next pass resumes it" in refused.stdout
        assert (inbox / "monday.csv").exists()
        resumed = run_folder(inbox, done, server.url)
        assert resumed.code == 0, resumed.stderr
    assert sorted(a.subject for a in sandbox.applied) == ["A1", "B2"]
    [results] = done.glob("monday.*.results.csv")
    assert {line["status"] for line in read_results(results)} == {"created"}
    assert "wrong-key-Hh4" not in results.read_text(encoding="utf-8-sig")
