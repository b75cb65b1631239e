"""Nothing lost, nothing created twice: the real command under faults, signals and kills.

Every assertion is checked against the sandbox's own record of what it applied, not only
against what the command says it did.
"""

from __future__ import annotations

import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from helpers import KEY, ROOT, Background, bulk_tasks, read_results, wait_for_sent

from bulk_tasks.job.lock import LockFile
from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer

USER = "usr_7YzNqVRMCfdeHEzMn"
FAST = ("--rate", "50/0.5")  # the sandboxes below allow 50 per 0.5 s, to keep tests short


def lead(n: int) -> str:
    return f"lea_{n:017d}"


def write_creates(path: Path, numbers: range | list[int], *, title: str = "Call") -> Path:
    lines = ["leadId,type,assignedTo,dueDate,title"]
    lines += [f"{lead(n)},phone,{USER},2026-12-01 09:00,{title} {n}" for n in numbers]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def fast_sandbox(faults: Faults | None = None) -> Sandbox:
    return Sandbox(keys={KEY}, limit=50, period=0.5, faults=faults)


def applied_per_lead(sandbox: Sandbox) -> dict[str, list[str]]:
    """lead id -> the task ids the sandbox created for it."""
    created: dict[str, list[str]] = {}
    for applied in sandbox.applied:
        created.setdefault(applied.body["recordId"], []).append(applied.task_id)
    return created


def check_nothing_twice_nothing_lost(
    sandbox: Sandbox, lines: list[dict[str, str]], *, allowed: set[str]
) -> Counter[str]:
    """The three guarantees, checked line by line against what the sandbox applied."""
    applied = applied_per_lead(sandbox)
    statuses: Counter[str] = Counter()
    for line in lines:
        status, task_ids = line["status"], applied.get(line["leadId"], [])
        statuses[status] += 1
        assert status in allowed, line
        assert len(task_ids) <= 1, f"{line['leadId']} was created {len(task_ids)} times"
        if status in ("created", "skipped"):
            assert task_ids == [line["remote_id"]], line
        elif status != "unknown":  # may exist only where the file says it may
            assert task_ids == [], line
    return statuses


# --- refusing to lose the journal -------------------------------------------------------------


def test_an_existing_results_file_is_not_overwritten(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(3))
    with SandboxServer(fast_sandbox()) as server:
        first = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url, *FAST)
        assert first.code == 0, first.stderr
        again = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url, *FAST)
        assert again.code == 2
        assert again.stderr.startswith(
            f"bulk-tasks: {tmp_path / 'in.results.csv'} already exists: add --resume"
        )
        assert len(server.sandbox.applied) == 3
        forced = bulk_tasks(
            "run",
            data,
            "-t",
            "lemlist",
            "--base-url",
            server.url,
            *FAST,
            "--force",
            "--create-again",  # the task ledger would skip the tasks the first run created
        )
        assert forced.code == 0
        assert len(server.sandbox.applied) == 6  # start over means what it says
    backups = list(tmp_path.glob("in.results.backup-*.csv"))
    assert len(backups) == 1
    assert len(read_results(backups[0])) == 3


def test_a_second_run_on_the_same_results_file_is_refused(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(3))
    results = tmp_path / "in.results.csv"
    with LockFile(results.with_name("in.results.csv.lock")):  # a run in progress holds it
        ran = bulk_tasks("run", data, "-t", "lemlist", "--sandbox", "--resume", key=None)
    assert ran.code == 2
    assert "another bulk-tasks run is writing" in ran.stderr
    assert not results.exists()


def test_two_runs_at_once_exclude_each_other_and_leave_no_lock_file(
    tmp_path: Path, background: Background
) -> None:
    data = write_creates(tmp_path / "in.csv", range(8))
    results = tmp_path / "in.results.csv"
    sandbox = Sandbox(keys={KEY}, faults=Faults(latency=(0.2, 0.2)))
    with SandboxServer(sandbox) as server:
        command = ("run", data, "-t", "lemlist", "--base-url", server.url, "--rate", "1/0.1")
        first = background.start(*command)
        wait_for_sent(sandbox, 1, first)
        assert (tmp_path / "in.results.csv.lock").exists()
        second = bulk_tasks(*command, "--resume")
        assert (second.code, second.stderr) == (
            2,
            f"bulk-tasks: another bulk-tasks run is writing {results} (it holds {results}.lock); "
            "wait for it to end, or give this run another --results\n",
        )
        _, stderr = first.communicate(timeout=60)
        assert first.returncode == 0, stderr
        assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv", "in.results.csv"]
        third = bulk_tasks(*command, "--resume")  # the lock is free again, and let go again
        assert third.code == 0, third.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv", "in.results.csv"]
    assert {line["status"] for line in read_results(results)} == {"skipped"}
    assert len(sandbox.applied) == 8


# --- resume ------------------------------------------------------------------------------------


def test_resume_skips_what_is_done_and_sends_what_is_new_or_edited(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(5))
    results = tmp_path / "in.results.csv"
    with SandboxServer(fast_sandbox()) as server:
        first = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url, *FAST)
        assert first.code == 0
        earlier = {line["leadId"]: line["remote_id"] for line in read_results(results)}
        # two rows inserted above, and row 3's title edited
        lines = data.read_text(encoding="utf-8").splitlines()
        edited = lines[4].replace("Call 3", "Call 3 again")
        data.write_text(
            "\n".join(
                [
                    lines[0],
                    f"{lead(90)},email,{USER},2026-12-02,New",
                    f"{lead(91)},email,{USER},2026-12-02,New",
                    *lines[1:4],
                    edited,
                    lines[5],
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        ran = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url, *FAST, "--resume")
        assert ran.code == 0, ran.stderr
        sandbox = server.sandbox
    by_lead = {line["leadId"]: line for line in read_results(results) if line["title"] != "Call 3"}
    for n in (0, 1, 2, 4):
        assert by_lead[lead(n)]["status"] == "skipped"
        assert by_lead[lead(n)]["remote_id"] == earlier[lead(n)]
    assert by_lead[lead(90)]["status"] == by_lead[lead(91)]["status"] == "created"
    assert by_lead[lead(3)]["status"] == "created"  # an edited row is a new row
    assert by_lead[lead(3)]["row"] == "7"
    assert Counter(a.body["recordId"] for a in sandbox.applied)[lead(3)] == 2
    assert len(sandbox.applied) == 8
    # the old line of the edited row stays: that task exists
    old = [line for line in read_results(results) if line["title"] == "Call 3"]
    assert [line["status"] for line in old] == ["created"]


def test_identical_rows_are_told_apart_by_their_order(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(
        "leadId,type,assignedTo,dueDate\n" + f"{lead(1)},phone,{USER},2026-12-01\n" * 3,
        encoding="utf-8",
    )
    results = tmp_path / "in.results.csv"
    with SandboxServer(fast_sandbox()) as server:
        assert bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url).code == 0
        again = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url, "--resume")
        assert again.code == 0
        assert len(server.sandbox.applied) == 3
    lines = read_results(results)
    assert [line["status"] for line in lines] == ["skipped"] * 3
    assert len({line["fingerprint"] for line in lines}) == 3


def test_resume_leaves_unknown_and_refused_rows_unless_asked(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(4))
    results = tmp_path / "in.results.csv"
    # without looking lines up (tested in test_resolve_e2e.py): what --resume does alone
    run = ("run", data, "-t", "lemlist", *FAST, "--no-resolve")
    with SandboxServer(fast_sandbox(Faults(p_hang=1.0))) as hanging:
        first = bulk_tasks(*run, "--base-url", hanging.url, "--timeout", "0.5")
        assert first.code == 1
    assert {line["status"] for line in read_results(results)} == {"unknown"}
    with SandboxServer(fast_sandbox()) as server:
        kept = bulk_tasks(*run, "--base-url", server.url, "--resume")
        assert kept.code == 1
        assert server.sandbox.applied == []
        [message] = {line["error_message"] for line in read_results(results)}
        assert message.endswith(
            "[left alone by --resume; to send it again add --retry-unknown,"
            " which may create it twice]"
        )
        resent = bulk_tasks(*run, "--base-url", server.url, "--resume", "--retry-unknown")
        assert resent.code == 0
        assert len(server.sandbox.applied) == 4


def test_resume_sends_rows_whose_retries_ran_out(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(2))
    results = tmp_path / "in.results.csv"
    run = ("run", data, "-t", "lemlist", *FAST)
    # every answer a 429: retries run out after 8 attempts, a second apart
    with SandboxServer(fast_sandbox(Faults(p_spurious_429=1.0))) as failing:
        assert bulk_tasks(*run, "--base-url", failing.url).code == 1
    assert {line["error_code"] for line in read_results(results)} == {"retries_exhausted"}
    with SandboxServer(fast_sandbox()) as server:
        assert bulk_tasks(*run, "--base-url", server.url, "--resume").code == 0
        assert len(server.sandbox.applied) == 2


def test_resume_leaves_vendor_refusals_unless_retry_failed(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text("id,done\nopp_DemoTask000000001,x\nopp_Missing0000000001,x\n", encoding="utf-8")
    results = tmp_path / "in.results.csv"
    with SandboxServer(fast_sandbox()) as server:
        run = ("run", data, "-t", "lemlist", "-a", "update", "--base-url", server.url)
        assert bulk_tasks(*run).code == 1
        statuses = {line["row"]: line["status"] for line in read_results(results)}
        assert statuses == {"2": "updated", "3": "failed"}  # in the order they settled
        assert bulk_tasks(*run, "--resume").code == 1
        assert len(server.sandbox.arrivals) == 2  # nothing sent again
        assert bulk_tasks(*run, "--resume", "--retry-failed").code == 1
        assert len(server.sandbox.arrivals) == 3  # the refused row only


# --- faults --------------------------------------------------------------------------------


def test_under_faults_every_row_is_applied_once_or_reported_unknown(tmp_path: Path) -> None:
    faults = Faults(p_error_500=0.10, p_spurious_429=0.05, p_hang=0.02, p_drop=0.03, seed=11)
    sandbox = fast_sandbox(faults)
    results = tmp_path / "in.results.csv"
    with SandboxServer(sandbox) as server:
        ran = bulk_tasks(
            "run",
            write_creates(tmp_path / "in.csv", range(200)),
            "-t",
            "lemlist",
            "--base-url",
            server.url,
            *FAST,
            "--timeout",
            "1",
            "--no-resolve",  # what the run alone guarantees; looking up: test_resolve_e2e.py
        )
    lines = read_results(results)
    assert len(lines) == 200
    statuses = check_nothing_twice_nothing_lost(sandbox, lines, allowed={"created", "unknown"})
    assert statuses["unknown"] >= 1  # the hangs and drops happened, and were noticed
    assert ran.code == 1
    hung_or_cut = sum(1 for a in sandbox.arrivals if a.status is None)
    assert statuses["unknown"] == hung_or_cut


# --- signals -------------------------------------------------------------------------------


def test_ctrl_c_lets_requests_finish_and_resume_completes(
    tmp_path: Path, background: Background
) -> None:
    data = write_creates(tmp_path / "in.csv", range(120))
    results = tmp_path / "in.results.csv"
    sandbox = fast_sandbox(Faults(latency=(0.05, 0.15)))
    with SandboxServer(sandbox) as server:
        process = background.start("run", data, "-t", "lemlist", "--base-url", server.url, *FAST)
        wait_for_sent(sandbox, 15, process)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        assert process.returncode == 2
        assert "Stopping: no new rows are sent" in err
        assert "Stopped: stopped by SIGINT" in err
        assert re.search(r"To carry on: bulk-tasks run .* --resume$", err, re.MULTILINE)
        lines = read_results(results)
        assert len(lines) == 120
        statuses = check_nothing_twice_nothing_lost(sandbox, lines, allowed={"created", "not_sent"})
        assert 15 <= statuses["created"] < 120
        finished = bulk_tasks(
            "run", data, "-t", "lemlist", "--base-url", server.url, "--resume", *FAST
        )
        assert finished.code == 0
    final = check_nothing_twice_nothing_lost(
        sandbox, read_results(results), allowed={"created", "skipped"}
    )
    assert final["skipped"] == statuses["created"]
    assert len(sandbox.applied) == 120


def test_a_second_ctrl_c_stops_at_once_and_marks_rows_on_their_way_unknown(
    tmp_path: Path, background: Background
) -> None:
    data = write_creates(tmp_path / "in.csv", range(40))
    results = tmp_path / "in.results.csv"
    sandbox = fast_sandbox(Faults(p_hang=1.0))
    with SandboxServer(sandbox) as server:
        process = background.start("run", data, "-t", "lemlist", "--base-url", server.url, *FAST)
        wait_for_sent(sandbox, 5, process)
        process.send_signal(signal.SIGINT)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
        assert process.returncode == 2
    lines = read_results(results)
    statuses = check_nothing_twice_nothing_lost(sandbox, lines, allowed={"unknown", "not_sent"})
    assert statuses["unknown"] == len(sandbox.applied) >= 5
    unknown = [line for line in lines if line["status"] == "unknown"]
    # ended by the second Ctrl-C, not by waiting out their hung requests ("no_answer")
    assert {line["error_code"] for line in unknown} == {"interrupted"}


def test_sigterm_waits_a_bounded_time_for_requests_on_their_way(
    tmp_path: Path, background: Background
) -> None:
    data = write_creates(tmp_path / "in.csv", range(20))
    sandbox = fast_sandbox(Faults(p_hang=1.0))
    with SandboxServer(sandbox) as server:
        process = background.start(
            "run", data, "-t", "lemlist", "--base-url", server.url, *FAST, "--timeout", "2"
        )
        wait_for_sent(sandbox, 3, process)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        assert process.returncode == 2
    lines = read_results(tmp_path / "in.results.csv")
    statuses = Counter(line["status"] for line in lines)
    assert statuses["unknown"] == len(sandbox.applied)
    assert statuses["unknown"] + statuses["not_sent"] == 20
    # waited for: each ended at its request's own 2 s timeout, not cut short by the stop
    assert {line["error_code"] for line in lines if line["status"] == "unknown"} == {"no_answer"}


# --- kill -9 -------------------------------------------------------------------------------


def test_kill_9_at_random_moments_then_resume(tmp_path: Path, background: Background) -> None:
    data = write_creates(tmp_path / "in.csv", range(300))
    results = tmp_path / "in.results.csv"
    sandbox = fast_sandbox(Faults(latency=(0.0, 0.03), seed=4))
    chance = random.Random(2026)
    with SandboxServer(sandbox) as server:
        # each resume would first wait out the quiet period to look lines up (tested in
        # test_resolve_e2e.py): here, what the journal alone keeps across kills
        run = ("run", data, "-t", "lemlist", "--base-url", server.url, *FAST, "--resume")
        run += ("--no-resolve",)
        for _ in range(4):
            before = len(sandbox.arrivals)
            process = background.start(*run)
            wait_for_sent(sandbox, before + 1, process)
            time.sleep(chance.uniform(0.05, 0.6))
            process.kill()
            process.communicate(timeout=10)
        finished = bulk_tasks(*run)
        assert finished.code in (0, 1), finished.stderr
    lines = read_results(results)
    assert len(lines) == 300
    statuses = check_nothing_twice_nothing_lost(
        sandbox, lines, allowed={"created", "skipped", "unknown"}
    )
    assert statuses["skipped"] > 0
    assert statuses["unknown"] <= 4 * 50  # at most what was on its way at each kill
    assert finished.code == (1 if statuses["unknown"] else 0)


# --- what a kill leaves marked ----------------------------------------------------------------

#: a sandbox that takes any rate, and a run that goes as fast as it can
UNTHROTTLED = ("--rate", "100000/1")


def test_kill_9_leaves_marked_only_the_lines_whose_requests_were_on_their_way(
    tmp_path: Path, background: Background
) -> None:
    data = write_creates(tmp_path / "in.csv", range(2000))
    results = tmp_path / "in.results.csv"
    sandbox = Sandbox(keys={KEY}, limit=10**6, period=1.0)
    with SandboxServer(sandbox) as server:
        run = ("run", data, "-t", "lemlist", "--base-url", server.url, *UNTHROTTLED)
        process = background.start(*run)
        wait_for_sent(sandbox, 700, process)
        process.kill()
        process.communicate(timeout=10)
        time.sleep(0.3)  # requests already written reach the sandbox
        applied = applied_per_lead(sandbox)
        last = {line["fingerprint"]: line for line in read_results(results)}
        marked = [line for line in last.values() if line["status"] == "sending"]
        # every request that arrived left its line: its outcome, or its mark
        assert set(applied) <= {line["leadId"] for line in last.values()}
        # a line marked whose request never arrived: each of the 8 workers between its mark
        # and the socket, no more; --resume looks them up, as any unknown line
        assert marked
        assert len([line for line in marked if line["leadId"] not in applied]) <= 8
        finished = bulk_tasks(*run, "--resume", "--timeout", "1")
        assert finished.code == 0, finished.stderr
        statuses = check_nothing_twice_nothing_lost(
            sandbox, read_results(results), allowed={"created", "skipped"}
        )
    assert sum(statuses.values()) == 2000


# --- a full disk ---------------------------------------------------------------------------


def test_a_full_disk_stops_the_run_and_loses_nothing_written(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(60))
    results = tmp_path / "in.results.csv"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["LEMLIST_API_KEY"] = KEY

    def small_disk() -> None:  # files this process writes can grow to 6 kB only
        resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))

    with SandboxServer(fast_sandbox()) as server:
        full = subprocess.run(
            [
                sys.executable,
                "-m",
                "bulk_tasks",
                "run",
                str(data),
                "-t",
                "lemlist",
                "--base-url",
                server.url,
                *FAST,
                "--ledger",  # the results file meets the full disk first: what is tested here
                "off",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            preexec_fn=small_disk,
            timeout=60,
            check=False,
        )
        assert full.returncode == 2
        assert full.stderr.splitlines()[-1].startswith(
            f"bulk-tasks: cannot write to {results}: File too large;"
            " every line already written is kept"
        )
        assert "Traceback" not in full.stderr
        written = read_results(results)
        assert 0 < len(written) < 60
        # lines on their way when the disk filled are looked up: no answer can come after 2 s
        finished = bulk_tasks(
            "run", data, "-t", "lemlist", "--base-url", server.url, *FAST, "--resume",
            "--timeout", "2",
        )  # fmt: skip
        assert finished.code in (0, 1), finished.stderr
        sandbox = server.sandbox
    check_nothing_twice_nothing_lost(
        sandbox, read_results(results), allowed={"created", "skipped", "unknown"}
    )
    assert len(read_results(results)) == 60


def test_a_sandbox_trial_is_never_carried_on_by_a_real_run(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(3))
    results = tmp_path / "in.results.csv"
    demo = bulk_tasks("run", data, "-t", "lemlist", "--sandbox", key=None)
    assert demo.code == 0, demo.stderr
    assert {line["destination"] for line in read_results(results)} == {"lemlist sandbox"}
    trial = results.read_bytes()
    refusal = (
        f"bulk-tasks: {results} holds the results of a --sandbox trial: those tasks exist "
        "only in the sandbox, never in lemlist, so a real run cannot carry on from it. Start "
        "the real run over with --force (the trial's file is kept as a backup), or give it "
        "another --results\n"
    )
    with SandboxServer(fast_sandbox()) as real:  # stands for lemlist itself here
        for resume in ((), ("--resume",)):
            ran = bulk_tasks("run", data, "-t", "lemlist", "--base-url", real.url, *resume)
            assert (ran.code, ran.stderr) == (2, refusal)
        looked_up = bulk_tasks("resolve", results, "-t", "lemlist", "--base-url", real.url)
        assert (looked_up.code, looked_up.stderr) == (
            2,
            f"bulk-tasks: {results} holds lines sent to lemlist sandbox, not to lemlist: "
            "there is nothing to look up at lemlist (a --sandbox trial's tasks exist only in "
            "the sandbox)\n",
        )
        assert real.sandbox.arrivals == []
        assert results.read_bytes() == trial
        ran = bulk_tasks("run", data, "-t", "lemlist", "--base-url", real.url, "--force")
        assert ran.code == 0, ran.stderr
        assert len(real.sandbox.applied) == 3
    lines = read_results(results)
    assert [line["status"] for line in lines] == ["created"] * 3  # the trial is not in it
    assert {line["destination"] for line in lines} == {"lemlist"}
    [backup] = tmp_path.glob("in.results.backup-*.csv")
    assert backup.read_bytes() == trial
    again = bulk_tasks("run", data, "-t", "lemlist", "--sandbox", "--resume", key=None)
    assert (again.code, again.stderr) == (
        2,
        f"bulk-tasks: {results} holds the results of a run sent to lemlist; a --sandbox "
        "trial cannot carry on from it: give the trial another --results\n",
    )
