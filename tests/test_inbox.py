"""run-folder: an inbox for unattended runs, checked against the sandbox's own record."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import KEY, KEY_VARIABLES, Ran, bulk_tasks, read_results
from typer.testing import CliRunner

from bulk_tasks.cli.commands import app
from bulk_tasks.cli.inbox import FileStatus
from bulk_tasks.cli.inbox import run_folder as run_folder_here
from bulk_tasks.job.gate import not_sent_again
from bulk_tasks.job.lock import LockFile
from bulk_tasks.results import SentBefore, Status
from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer
from bulk_tasks.sending.window import Rate
from bulk_tasks.settings import Settings

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
    assert len((done / ".bulk-tasks-processed.jsonl").read_text().splitlines()) == 2


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
    # no lock file left behind: only where the inbox's done folder is, for its history
    assert list(inbox.iterdir()) == [inbox / ".bulk-tasks-done"]


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


# --- in-process: the pass itself, and the command through typer's CliRunner ----------------


def settings(url: str, **more: Any) -> Settings:
    """run-folder's settings for a Saleshandy inbox sending to ``url``."""
    return Settings(
        input=Path("."), target="saleshandy", base_url=url, rate=Rate.parse("50/0.5"), **more
    )


def invoke(*args: str | Path, key: str | None = KEY) -> Ran:
    """The command, in this process."""
    env = dict.fromkeys(KEY_VARIABLES, key)
    ran = CliRunner().invoke(app, [str(arg) for arg in args], env=env)
    return Ran(ran.exit_code, ran.stdout, ran.stderr)


@pytest.mark.parametrize("comma", [",", ";"])  # ";": its results are separated so too
def test_a_fixed_file_dropped_again_sends_only_its_fixed_rows(tmp_path: Path, comma: str) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    header = HEADER.replace(",", comma)
    drop(inbox, "tasks.csv", f"{header}\nA1 B2{comma}13\nC3{comma}bogus\nD4{comma}3\n")
    sandbox = Sandbox(keys={KEY}, limit=50, period=0.5)
    with SandboxServer(sandbox) as server:
        first = run_folder_here(inbox, done, settings(server.url), key=KEY, settle=0)
        assert first.exit_code == 1  # row 3 is invalid
        fixed = f"{header}\nA1 B2{comma}13\nC3{comma}13\nD4{comma}3\n"
        drop(inbox, "tasks.csv", fixed)
        second = run_folder_here(inbox, done, settings(server.url), key=KEY, settle=0)
    assert second.exit_code == 0
    assert sorted(a.subject for a in sandbox.applied) == ["A1", "B2", "C3", "D4"]
    [earlier] = done.glob(f"tasks.{_digest8(done / 'tasks.csv')}.results.csv")
    created = {line["prospect_id"]: line for line in read_results(earlier)}
    [result] = second.files
    assert result.by_earlier_files == {"skipped": 3}
    assert result.said == (
        f"created 1, skipped 3 (3 done by an earlier file, not sent again); results "
        f"{result.results}"
    )
    assert result.results is not None
    lines = {line["prospect_id"]: line for line in read_results(result.results)}
    assert {p: line["status"] for p, line in lines.items()} == {
        "A1": "skipped",
        "B2": "skipped",
        "C3": "created",
        "D4": "skipped",
    }
    b2 = created["B2"]
    assert (lines["B2"]["remote_id"], lines["B2"]["error_message"]) == (
        b2["remote_id"],
        f"created by an earlier file of the inbox: {earlier} row 2 ({b2['remote_id']}); "
        "not sent again",
    )


def _digest8(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:8]


def test_a_line_an_earlier_file_left_unknown_is_not_sent_again(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    drop(inbox, "tasks.csv", f"{HEADER}\nA1,13\nB2,bogus\n")
    with SandboxServer(Sandbox(keys={KEY}, faults=Faults(p_hang=1.0))) as hanging:
        hung = run_folder_here(inbox, done, settings(hanging.url, timeout=0.5), key=KEY, settle=0)
    [earlier] = [result.results for result in hung.files]
    assert earlier is not None
    assert {line["prospect_id"]: line["status"] for line in read_results(earlier)} == {
        "A1": "unknown",
        "B2": "invalid",
    }
    drop(inbox, "tasks-fixed.csv", f"{HEADER}\nA1,13\nB2,13\n")
    with SandboxServer(Sandbox(keys={KEY})) as server:
        again = run_folder_here(inbox, done, settings(server.url), key=KEY, settle=0)
        assert [a.subject for a in server.sandbox.applied] == ["B2"]
    [result] = again.files
    assert (result.code, result.by_earlier_files) == (1, {"unknown": 1})
    assert result.results is not None
    lines = {line["prospect_id"]: line for line in read_results(result.results)}
    a1, b2 = lines["A1"], lines["B2"]
    assert (a1["status"], a1["error_code"], b2["status"]) == ("unknown", "no_answer", "created")
    assert a1["error_message"] == (
        f"an earlier file of the inbox sent it and got no answer ({earlier} row 2): the task "
        f"may exist, so it is not sent again; look it up with `bulk-tasks resolve {earlier} "
        "--target saleshandy` (a missing task is sent then), or check in saleshandy and send a "
        "missing one with `bulk-tasks run`"
    )


def test_lines_sent_to_the_sandbox_never_count_for_the_real_vendor(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    drop(inbox, "tasks.csv", f"{HEADER}\nA1,13\n")
    with SandboxServer(Sandbox(keys={KEY})) as sandbox:
        tried = settings(sandbox.url, sandbox=True)
        assert run_folder_here(inbox, done, tried, key=KEY, settle=0).exit_code == 0
        drop(inbox, "tasks-more.csv", f"{HEADER}\nA1,13\nB2,13\n")
        with SandboxServer(Sandbox(keys={KEY})) as vendor:
            real = run_folder_here(inbox, done, settings(vendor.url), key=KEY, settle=0)
            assert sorted(a.subject for a in vendor.sandbox.applied) == ["A1", "B2"]
    assert real.files[0].by_earlier_files == {}


def test_a_file_with_no_rows_is_a_warning_and_is_not_remembered(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    drop(inbox, "nightly.csv", f"{HEADER}\n")
    with SandboxServer(Sandbox(keys={KEY})) as server:
        ran = invoke(
            "run-folder", inbox, "-t", "saleshandy", "--done", done, "--base-url", server.url,
        )  # fmt: skip
        assert (ran.code, ran.stdout) == (
            1,
            "nightly.csv: no rows under its header (an empty export?): nothing sent; moved to "
            f"{done / 'nightly.csv'}\n",
        )
        drop(inbox, "nightly.csv", f"{HEADER}\n")  # the same empty export the next night
        again = invoke(
            "run-folder", inbox, "-t", "saleshandy", "--done", done, "--base-url", server.url,
            "--log-format", "json",
        )  # fmt: skip
    [event] = [json.loads(line) for line in again.stdout.splitlines()]
    assert (again.code, event["level"], event["file_status"]) == (1, "warning", "empty")
    assert (done / "nightly (2).csv").exists()
    assert (done / ".bulk-tasks-processed.jsonl").read_text() == ""


def former_record_line(done: Path, name: str, text: str) -> str:
    """The line an earlier version wrote in ``.bulk-tasks-ledger.jsonl`` for a file ``name``
    holding ``text``, run and moved to ``done``."""
    sha256 = hashlib.sha256(text.encode()).hexdigest()
    entry = {
        "sha256": sha256,
        "name": name,
        "moved_to": str(done / name),
        "results": str(done / f"{Path(name).stem}.{sha256[:8]}.results.csv"),
        "exit_code": 0,
        "time": "2025-03-03T02:00:05",
    }
    return json.dumps(entry, ensure_ascii=False) + "\n"


def test_an_inbox_run_under_the_former_record_name_still_knows_its_files(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    done.mkdir()
    monday = f"{HEADER}\nA1,13\n"
    former = done / ".bulk-tasks-ledger.jsonl"
    former.write_text(former_record_line(done, "lundi-été.csv", monday), encoding="utf-8")
    drop(inbox, "monday (copy).csv", monday)
    ran = run_folder_here(inbox, done, settings("http://127.0.0.1:9"), key=KEY, settle=0)
    [result] = ran.files
    assert (result.status, result.said) == (
        FileStatus.SAME_CONTENT,
        "the same content as lundi-été.csv, already run: not sent; moved to "
        f"{done / 'monday (copy).csv'}",
    )
    assert not former.exists()
    assert (done / ".bulk-tasks-processed.jsonl").read_text(encoding="utf-8") == (
        former_record_line(done, "lundi-été.csv", monday)
    )


def test_a_record_under_each_name_is_read_and_only_the_new_one_written(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    done.mkdir()
    monday, tuesday = f"{HEADER}\nA1,13\n", f"{HEADER}\nB2,13\n"
    former, record = done / ".bulk-tasks-ledger.jsonl", done / ".bulk-tasks-processed.jsonl"
    former.write_text(former_record_line(done, "monday.csv", monday), encoding="utf-8")
    record.write_text(former_record_line(done, "tuesday.csv", tuesday), encoding="utf-8")
    drop(inbox, "monday again.csv", monday, age=90)
    drop(inbox, "tuesday again.csv", tuesday, age=80)
    drop(inbox, "wednesday.csv", f"{HEADER}\nC3,13\n", age=70)
    with SandboxServer(Sandbox(keys={KEY})) as server:
        ran = run_folder_here(inbox, done, settings(server.url), key=KEY, settle=0)
        assert [a.subject for a in server.sandbox.applied] == ["C3"]
    assert [result.said for result in ran.files[:2]] == [
        "the same content as monday.csv, already run: not sent; moved to "
        f"{done / 'monday again.csv'}",
        "the same content as tuesday.csv, already run: not sent; moved to "
        f"{done / 'tuesday again.csv'}",
    ]
    assert former.read_text(encoding="utf-8") == former_record_line(done, "monday.csv", monday)
    tuesday_line, wednesday_line = record.read_text(encoding="utf-8").splitlines(keepends=True)
    assert tuesday_line == former_record_line(done, "tuesday.csv", tuesday)
    assert json.loads(wednesday_line)["name"] == "wednesday.csv"


def test_run_folder_help_names_the_processed_files_record() -> None:
    ran = invoke("run-folder", "--help")
    said = " ".join(ran.stdout.split())
    assert (
        "The same content is never sent twice (the processed-files record in the --done folder, "
        "by content hash), nor a line an earlier file created" in said
    )


def test_json_file_events_have_the_level_and_the_figures_of_their_outcome(
    tmp_path: Path,
) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    drop(inbox, "good.csv", f"{HEADER}\nA1,13\n", age=90)
    drop(inbox, "partly.csv", f"{HEADER}\nB2,13\nC3,bogus\n", age=80)
    drop(inbox, "wrong.csv", "nope,x\n1,2\n", age=70)
    with SandboxServer(Sandbox(keys={KEY})) as server:
        ran = invoke(
            "run-folder", inbox, "-t", "saleshandy", "--done", done, "--base-url", server.url,
            "--log-format", "json",
        )  # fmt: skip
    assert ran.code == 2
    files = [json.loads(line) for line in ran.stdout.splitlines()]
    levels = [(f["file"], f["level"], f["exit_code"], f["file_status"]) for f in files]
    assert levels == [
        ("good.csv", "info", 0, "ran"),
        ("partly.csv", "warning", 1, "ran"),
        ("wrong.csv", "error", 2, "not_run"),
    ]
    partly = files[1]
    assert (partly["counts"], partly["by_earlier_files"]) == ({"created": 1, "invalid": 1}, {})
    assert partly["results"] == str(done / f"partly.{_digest8(done / 'partly.csv')}.results.csv")
    assert (partly["input"], partly["moved_to"]) == (
        str(inbox / "partly.csv"),
        str(done / "partly.csv"),
    )
    progress = [json.loads(line) for line in ran.stderr.splitlines()]
    named = [(p["event"], p["input"]) for p in progress if p["event"] != "progress"]
    assert named == [
        ("run.started", str(inbox / "good.csv")),
        ("run.started", str(inbox / "partly.csv")),
    ]
    assert {p["input"] for p in progress if p["event"] == "progress"} == {
        str(inbox / "good.csv"),
        str(inbox / "partly.csv"),
    }


def test_run_folder_takes_a_job_file_and_flags_win_over_it(tmp_path: Path) -> None:
    inbox = tmp_path / "jobs" / "inbox"
    inbox.parent.mkdir()
    drop(inbox, "monday.csv", f"{HEADER}\nA1,13\n")
    job = tmp_path / "jobs" / "inbox.toml"
    with SandboxServer(Sandbox(keys={KEY})) as server:
        job.write_text(
            f'inbox = "inbox"\ndone = "done"\ntarget = "saleshandy"\nbase_url = "{server.url}"\n'
            'settle = 0\n[set]\ntaskNote = "From the inbox"\n',
            encoding="utf-8",
        )
        ran = invoke("run-folder", "--config", job, "--done", tmp_path / "elsewhere")
        [body] = [applied.body for applied in server.sandbox.applied]
    assert ran.code == 0, ran.stderr
    assert body["taskNote"] == "From the inbox"
    assert (tmp_path / "elsewhere" / "monday.csv").exists()  # the flag, not the file
    assert not (tmp_path / "jobs" / "done").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'inbox = "in"\ntarget = "saleshandy"\n',
            "run-folder needs --done FOLDER or done = … in {job}",
        ),
        (
            'inbox = "in"\ndone = "out"\nretry_unknown = true\n',
            '--config {job}: "retry_unknown" is an option of run, not of run-folder; remove it '
            "from the file",
        ),
        (
            'colour = "blue"\n',
            '--config {job}: "colour" is not an option of run-folder; use target, action, sheet, '
            "encoding, delimiter, map, set, timezone, date_format, base_url, rate, timeout, "
            "resolve, batch_size, no_pack, sandbox, share, ledger, row_key, create_again, "
            "notify, notify_on, metrics_file, inbox, done, settle",
        ),
    ],
)
def test_a_job_file_run_folder_cannot_use_is_said(tmp_path: Path, text: str, message: str) -> None:
    job = tmp_path / "inbox.toml"
    job.write_text(text, encoding="utf-8")
    ran = invoke("run-folder", "--config", job)
    assert (ran.code, ran.stderr) == (2, f"bulk-tasks: {message.format(job=job)}\n")


def test_run_folder_without_a_done_folder_says_where_to_give_it(tmp_path: Path) -> None:
    ran = invoke("run-folder", tmp_path, "-t", "saleshandy")
    assert (ran.code, ran.stderr) == (
        2,
        "bulk-tasks: run-folder needs --done FOLDER (or done in a --config file)\n",
    )


def test_a_done_folder_it_cannot_write_in_is_said_without_run_options(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    drop(inbox, "monday.csv", f"{HEADER}\nA1,13\n")
    done.mkdir()
    with read_only(done) as why:
        ran = invoke("run-folder", inbox, "-t", "saleshandy", "--done", done, "--sandbox")
    assert (ran.code, ran.stderr) == (
        2,
        f"bulk-tasks: cannot write in --done {done} ({why}); run-folder moves each file it "
        "runs there, with its results: give a folder it may write in\n",
    )
    assert (inbox / "monday.csv").exists()


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[str]:
    """``folder`` where nothing can be written, even by root; yields what writing says."""
    folder.chmod(0o555)
    immutable = os.geteuid() == 0  # root writes in any folder, but not an immutable one
    if immutable and subprocess.run(["chattr", "+i", folder], check=False).returncode:
        folder.chmod(0o755)
        pytest.skip("running as root where chattr +i is not allowed")
    try:
        try:
            (folder / "probe").open("a").close()
        except OSError as error:
            yield error.strerror
        else:
            pytest.fail(f"{folder} is still writable")
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", folder], check=True)
        folder.chmod(0o755)


def test_an_update_an_earlier_file_left_unknown_is_sent_again() -> None:
    before = SentBefore(
        status=Status.UNKNOWN, remote_id="", error_code="no_answer", results=Path("r.csv"), row=2
    )
    update = Settings(input=Path("."), target="lemlist", action="update")
    create = dataclasses.replace(update, action="create")
    assert not_sent_again(before, update) is None  # an update sent twice does no harm
    outcome = not_sent_again(before, create)
    assert outcome is not None
    assert (outcome.status, outcome.error_code) == (Status.UNKNOWN, "no_answer")
