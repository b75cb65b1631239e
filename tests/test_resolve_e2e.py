"""No line left unknown: the real command looks up the creates that got no answer.

Against the sandbox over real HTTP, with answers dropped after the task was applied and
requests lost before it was: every lemlist and Attio line ends created exactly once (the
sandbox's own record says so), also when the answer to its resend is lost too, Saleshandy's
lines stay unknown and say why, and a run killed while it looks lines up loses nothing and
creates nothing twice on --resume.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
from helpers import KEY, Background, bulk_tasks, read_results

from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer

USER = "usr_7YzNqVRMCfdeHEzMn"
MEMBER = "50cf242c-7fa3-4cad-87d0-75b1af71c57b"
FAST = ("--rate", "50/0.5", "--timeout", "1")
#: 5% of the answers never come: half after the task was applied, half before
DROPPED = Faults(p_drop=0.025, p_lose=0.025, seed=16)


def fast_sandbox(faults: Faults) -> Sandbox:
    return Sandbox(keys={KEY}, limit=50, period=0.5, faults=faults)


def never_answered(*faults: str) -> Faults:
    """Faults that leave every create without an answer, the first ones ``faults`` ("lose":
    not applied, "drop": applied) in this order: the sandbox draws one per create from its
    seed, so the seed that gives them is searched for."""
    for seed in range(1000):
        chosen = Faults(p_drop=0.5, p_lose=0.5, seed=seed)
        draws = random.Random(seed)
        if [chosen.draw(draws) for _ in faults] == list(faults):
            return chosen
    raise AssertionError(f"no seed below 1000 draws {faults}")


def write_lemlist(path: Path, rows: int) -> Path:
    lines = ["leadId,type,assignedTo,dueDate,title"]
    lines += [f"lea_{n:017d},phone,{USER},2026-12-01 09:00,Call {n}" for n in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def created_per(sandbox: Sandbox, field: str) -> Counter[str]:
    """How many tasks the sandbox created for each value of a create body's ``field``."""
    counts: Counter[str] = Counter()
    for applied in sandbox.applied:
        body = applied.body.get("data", applied.body)
        counts[str(body[field])] += 1
    return counts


def test_lemlist_lines_with_no_answer_end_created_once(tmp_path: Path) -> None:
    sandbox = fast_sandbox(DROPPED)
    results = tmp_path / "in.results.csv"
    with SandboxServer(sandbox) as server:
        ran = bulk_tasks(
            "run", write_lemlist(tmp_path / "in.csv", 400), "-t", "lemlist",
            "--base-url", server.url, *FAST,
        )  # fmt: skip
    assert ran.code == 0, ran.stderr
    lines = read_results(results)
    assert [line["status"] for line in lines] == ["created"] * 400
    per_lead = created_per(sandbox, "recordId")
    assert set(per_lead.values()) == {1}  # 400 leads, never a duplicate
    assert {line["remote_id"] for line in lines} == {a.task_id for a in sandbox.applied}
    found = [line for line in lines if "found at lemlist afterwards" in line["error_message"]]
    again = [
        line for line in lines if "sent again: lemlist had no such task" in line["error_message"]
    ]
    unanswered = [arrival for arrival in sandbox.arrivals if arrival.status is None]
    assert len(found) + len(again) == len(unanswered) >= 10  # about 5% of 400
    assert found
    assert again
    assert f"No answer, looked up at the vendor: {len(found)} found, {len(again)} sent again" in (
        ran.stdout
    )


def test_attio_lines_with_no_answer_end_created_once(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    rows = [f"Task {n},2026-12-01 09:00,person{n}@example.com,{MEMBER}" for n in range(400)]
    data.write_text(
        "content,deadline_at,linked_records,assignees\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    sandbox = fast_sandbox(DROPPED)
    with SandboxServer(sandbox) as server:
        ran = bulk_tasks("run", data, "-t", "attio", "--base-url", server.url, *FAST)
    assert ran.code == 0, ran.stderr
    lines = read_results(tmp_path / "in.results.csv")
    assert [line["status"] for line in lines] == ["created"] * 400
    assert set(created_per(sandbox, "content").values()) == {1}
    assert len(created_per(sandbox, "content")) == 400
    noted = [
        line
        for line in lines
        if "afterwards" in line["error_message"] or "sent again" in line["error_message"]
    ]
    assert len(noted) == sum(1 for arrival in sandbox.arrivals if arrival.status is None) >= 10
    reads = [arrival for arrival in sandbox.arrivals if arrival.method == "GET"]
    assert reads  # the lookups went to Attio's list endpoint


def test_saleshandy_lines_stay_unknown_and_say_what_to_check(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text("Prospect IDs,Task Type\nA1 B2,9\n", encoding="utf-8")
    with SandboxServer(fast_sandbox(Faults(p_drop=1.0))) as server:
        ran = bulk_tasks("run", data, "-t", "saleshandy", "--base-url", server.url, *FAST)
        assert all(arrival.method == "POST" for arrival in server.sandbox.arrivals)
    assert ran.code == 1
    lines = read_results(tmp_path / "in.results.csv")
    assert [line["status"] for line in lines] == ["unknown", "unknown"]
    assert lines[0]["error_message"].endswith(
        "[looked up: Saleshandy's API has no way to list a prospect's tasks, so it cannot be "
        "looked up: open prospect A1 in Saleshandy and look for this task; if it is missing, "
        "run again with --resume --retry-unknown]"
    )
    assert (
        "No answer: 2 prospects unknown; Saleshandy cannot be asked: check them in Saleshandy's "
        "app (README: When things go wrong)"
    ) in ran.stdout


def test_two_matching_tasks_leave_the_line_unknown_naming_them(tmp_path: Path) -> None:
    sandbox = fast_sandbox(Faults(p_drop=1.0))
    with SandboxServer(sandbox) as server:
        body = {
            "recordId": "lea_00000000000000000",
            "leadId": "lea_00000000000000000",
            "type": "phone",
            "assignedTo": USER,
            "dueDate": "2026-12-01T09:00:00.000Z",
            "title": "Call 0",
        }
        # the same task made by hand beforehand (its answer is cut off too)
        with contextlib.suppress(httpx.RemoteProtocolError):
            httpx.post(f"{server.url}/api/tasks", json=body, auth=("", KEY))
        ran = bulk_tasks(
            "run", write_lemlist(tmp_path / "in.csv", 1), "-t", "lemlist",
            "--base-url", server.url, *FAST,
        )  # fmt: skip
    [line] = read_results(tmp_path / "in.results.csv")
    assert ran.code == 1
    assert line["status"] == "unknown"
    ids = sorted(applied.task_id for applied in sandbox.applied)
    assert len(ids) == 2
    assert "[looked up: 2 tasks at lemlist match it (" in line["error_message"]
    assert all(task_id in line["error_message"] for task_id in ids)
    assert line["error_message"].endswith(
        "more than the 1 line(s) asking for it: check them in lemlist and delete any duplicate]"
    )


#: a fifth of the answers lost: a run of 60 lines leaves several unknown
LOSSY = Faults(p_drop=0.1, p_lose=0.1, seed=5)


def run_without_lookups(data: Path, url: str) -> None:
    """Run ``data`` on a sandbox that loses answers, with --no-resolve: unknown lines stay."""
    first = bulk_tasks("run", data, "-t", "lemlist", "--base-url", url, *FAST, "--no-resolve")
    assert first.code == 1, first.stderr


def test_resolve_settles_an_earlier_runs_unknown_lines(tmp_path: Path) -> None:
    data = write_lemlist(tmp_path / "in.csv", 60)
    results = tmp_path / "in.results.csv"
    sandbox = fast_sandbox(LOSSY)
    with SandboxServer(sandbox) as server:
        run_without_lookups(data, server.url)
        unknown = [line for line in read_results(results) if line["status"] == "unknown"]
        assert len(unknown) >= 5
        sandbox.faults = Faults()  # the vendor answers again: every line can be settled
        resolved = bulk_tasks("resolve", results, "-t", "lemlist", "--base-url", server.url, *FAST)
        again = bulk_tasks("resolve", results, "-t", "lemlist", "--base-url", server.url)
    lines = read_results(results)
    assert resolved.code == 0, resolved.stderr
    assert f"lemlist resolve: {len(unknown)} rows in" in resolved.stdout
    assert [line["status"] for line in lines] == ["created"] * 60
    assert set(created_per(sandbox, "recordId").values()) == {1}
    assert (again.code, again.stdout.strip()) == (0, f"{results}: no unknown line to look up")


def test_kill_9_while_looking_up_then_resume_creates_nothing_twice(
    tmp_path: Path, background: Background
) -> None:
    data = write_lemlist(tmp_path / "in.csv", 100)
    results = tmp_path / "in.results.csv"
    sandbox = fast_sandbox(Faults(p_drop=0.1, p_lose=0.1, seed=7))
    run = ("run", data, "-t", "lemlist", "--rate", "50/0.5", "--timeout", "1")
    with SandboxServer(sandbox) as server:
        process = background.start(*run, "--base-url", server.url)
        deadline = time.monotonic() + 60
        while not any(arrival.method == "GET" for arrival in sandbox.arrivals):
            assert time.monotonic() < deadline, "the run never looked anything up"
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
        process.kill()  # while looking lines up
        process.communicate(timeout=10)
        killed = {line["status"] for line in read_results(results)}
        sandbox.faults = Faults()  # answers come again: every line can be settled
        finished = bulk_tasks(*run, "--base-url", server.url, "--resume")
    assert "unknown" in killed or "sending" in killed
    assert finished.code == 0, finished.stderr
    lines = read_results(results)
    assert len(lines) == 100
    assert {line["status"] for line in lines} <= {"created", "skipped"}
    per_lead = created_per(sandbox, "recordId")
    assert len(per_lead) == 100
    assert set(per_lead.values()) == {1}


def test_a_line_whose_resend_got_no_answer_is_looked_up_again(tmp_path: Path) -> None:
    # its create is lost, and its resend is applied but its answer is cut off
    sandbox = fast_sandbox(never_answered("lose", "drop"))
    with SandboxServer(sandbox) as server:
        ran = bulk_tasks(
            "run", write_lemlist(tmp_path / "in.csv", 1), "-t", "lemlist",
            "--base-url", server.url, *FAST,
        )  # fmt: skip
    assert ran.code == 0, ran.stderr
    [line] = read_results(tmp_path / "in.results.csv")
    [task] = sandbox.applied  # created once, by the resend
    assert (line["status"], line["remote_id"]) == ("created", task.task_id)
    assert line["error_message"] == (
        "no answer came when it was sent; looked up 2 times: no task the first time, so sent "
        "again, no answer; found at lemlist the second time"
    )
    assert "No answer, looked up at the vendor: 1 found" in ran.stdout


def test_an_attio_line_is_looked_up_as_many_rounds_as_it_takes(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(
        f"content,deadline_at,linked_records,assignees\nCall,,ada@example.com,{MEMBER}\n",
        encoding="utf-8",
    )
    sandbox = fast_sandbox(never_answered("lose", "lose", "drop"))
    with SandboxServer(sandbox) as server:
        ran = bulk_tasks("run", data, "-t", "attio", "--base-url", server.url, *FAST)
    assert ran.code == 0, ran.stderr
    [line] = read_results(tmp_path / "in.results.csv")
    [task] = sandbox.applied
    assert (line["status"], line["remote_id"]) == ("created", task.task_id)
    assert line["error_message"] == (
        "no answer came when it was sent; looked up 3 times: no task the first time, so sent "
        "again, no answer; no task the second time, so sent again, no answer; found at attio "
        "the third time"
    )


def test_a_line_never_answered_ends_unknown_naming_every_round(tmp_path: Path) -> None:
    sandbox = fast_sandbox(Faults(p_lose=1.0))  # no create ever lands
    with SandboxServer(sandbox) as server:
        ran = bulk_tasks(
            "run", write_lemlist(tmp_path / "in.csv", 1), "-t", "lemlist",
            "--base-url", server.url, *FAST,
        )  # fmt: skip
    assert ran.code == 1
    [line] = read_results(tmp_path / "in.results.csv")
    assert (line["status"], line["error_code"]) == ("unknown", "no_answer")
    assert line["error_message"].endswith(
        "[looked up 3 times: no task the first time, so sent again, no answer; no task the "
        "second time, so sent again, no answer; no task the third time, so sent again, no "
        "answer: its last send may have landed, so look for it in lemlist, and if it is "
        "missing, run again with --resume --retry-unknown]"
    )
    assert [arrival.method for arrival in sandbox.arrivals].count("POST") == 4  # 3 resends
    assert sandbox.applied == []
    assert "No answer, looked up at the vendor: 1 sent again" in ran.stdout


def test_resolve_looks_up_again_a_line_whose_resend_got_no_answer(tmp_path: Path) -> None:
    data = write_lemlist(tmp_path / "in.csv", 1)
    results = tmp_path / "in.results.csv"
    sandbox = fast_sandbox(Faults(p_lose=1.0))
    with SandboxServer(sandbox) as server:
        first = bulk_tasks(
            "run", data, "-t", "lemlist", "--base-url", server.url, *FAST, "--no-resolve"
        )
        assert first.code == 1
        sandbox.faults = Faults(p_drop=1.0)  # the resend lands, and its answer is cut off
        resolved = bulk_tasks("resolve", results, "-t", "lemlist", "--base-url", server.url, *FAST)
    assert resolved.code == 0, resolved.stderr
    [line] = read_results(results)
    [task] = sandbox.applied
    assert (line["status"], line["remote_id"]) == ("created", task.task_id)
    assert line["error_message"] == (
        "no answer came when it was sent; looked up 2 times: no task the first time, so sent "
        "again, no answer; found at lemlist the second time"
    )


def test_a_stop_while_waiting_to_look_up_again_says_each_round_so_far(
    tmp_path: Path, background: Background
) -> None:
    data = write_lemlist(tmp_path / "in.csv", 1)
    sandbox = fast_sandbox(Faults(p_lose=1.0))
    with SandboxServer(sandbox) as server:
        process = background.start(
            "run", data, "-t", "lemlist", "--base-url", server.url, "--rate", "50/0.5",
            "--timeout", "5",
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while [arrival.method for arrival in sandbox.arrivals].count("POST") < 2:
            assert time.monotonic() < deadline, "the line was never sent again"
            assert process.poll() is None, process.communicate()
            time.sleep(0.01)
        time.sleep(0.5)  # its answer cut off, the run waits to look it up again
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        methods = [arrival.method for arrival in sandbox.arrivals]
    assert process.returncode == 2, err
    assert methods[-1] == "POST"  # the stop ended the wait: nothing looked up after it
    [line] = read_results(tmp_path / "in.results.csv")
    assert line["status"] == "unknown"
    assert line["error_message"].endswith(
        "[looked up once: no task the first time, so sent again, no answer: its last send may "
        "have landed, so look for it in lemlist, and if it is missing, run again with --resume "
        "--retry-unknown]"
    )


def test_resolve_counts_the_quiet_period_from_the_earlier_runs_last_write(tmp_path: Path) -> None:
    data = write_lemlist(tmp_path / "in.csv", 60)
    results = tmp_path / "in.results.csv"
    sandbox = fast_sandbox(LOSSY)
    with SandboxServer(sandbox) as server:
        run_without_lookups(data, server.url)
        written = time.time() - 120  # the run ended two minutes ago
        os.utime(results, (written, written))
        sandbox.faults = Faults()
        resolved = bulk_tasks(
            "resolve", results, "-t", "lemlist", "--base-url", server.url, "--timeout", "30"
        )
    assert resolved.code == 0, resolved.stderr
    # two minutes is longer than the timeout: no request of the run can still land
    assert "waiting" not in resolved.stderr
    assert "Looking up" in resolved.stderr
    assert [line["status"] for line in read_results(results)] == ["created"] * 60


def test_resolve_rebuilds_a_repeated_lines_unknown_create_by_its_numbered_fingerprint(
    tmp_path: Path,
) -> None:
    # two identical rows: the second line's fingerprint is the first's with "#2" after it
    data = tmp_path / "in.csv"
    row = f"lea_{0:017d},phone,{USER},2026-12-01 09:00,Call twice"
    data.write_text(f"leadId,type,assignedTo,dueDate,title\n{row}\n{row}\n", encoding="utf-8")
    results = tmp_path / "in.results.csv"
    sandbox = fast_sandbox(never_answered("drop", "drop"))  # both applied, neither answered
    with SandboxServer(sandbox) as server:
        first = bulk_tasks(
            "run", data, "-t", "lemlist", "--base-url", server.url, *FAST, "--no-resolve"
        )  # fmt: skip
        assert first.code == 1, first.stderr
        written = read_results(results)
        assert [line["status"] for line in written] == ["unknown", "unknown"]
        assert written[1]["fingerprint"] == f"{written[0]['fingerprint']}#2"
        sandbox.faults = Faults()
        resolved = bulk_tasks("resolve", results, "-t", "lemlist", "--base-url", server.url, *FAST)
    assert resolved.code == 0, resolved.stderr
    lines = read_results(results)
    assert [line["status"] for line in lines] == ["created", "created"]
    assert {line["remote_id"] for line in lines} == {task.task_id for task in sandbox.applied}
    assert len(sandbox.applied) == 2


def test_a_line_sent_again_by_resolve_names_the_users_own_columns_when_refused(
    tmp_path: Path,
) -> None:
    # the first send is lost before Attio applies it; its resend is refused: the linked
    # record matches nothing, and the message names the columns as the user called them
    data = tmp_path / "in.csv"
    data.write_text(
        f"Task,Due,Who,Owner\nCall back,2026-12-01 09:00,ghost@nobody.invalid,{MEMBER}\n",
        encoding="utf-8",
    )
    results = tmp_path / "in.results.csv"
    columns = tmp_path / "columns.toml"
    columns.write_text(
        'content = "Task"\ndeadline_at = "Due"\nlinked_records = "Who"\nassignees = "Owner"\n',
        encoding="utf-8",
    )
    mapping = ("--map", columns)
    sandbox = fast_sandbox(never_answered("lose"))
    with SandboxServer(sandbox) as server:
        first = bulk_tasks(
            "run", data, "-t", "attio", "--base-url", server.url, *FAST, *mapping,
            "--no-resolve",
        )  # fmt: skip
        assert first.code == 1, first.stderr
        assert [line["status"] for line in read_results(results)] == ["unknown"]
        sandbox.faults = Faults()
        resolved = bulk_tasks(
            "resolve", results, "-t", "attio", "--base-url", server.url, *FAST, *mapping
        )  # fmt: skip
    [line] = read_results(results)
    assert line["status"] == "failed", resolved.stdout + resolved.stderr
    assert line["error_message"] == (
        'Attio refused it: No person or company matches "ghost@nobody.invalid"; no record or '
        'workspace member matches it: check the "Who" and "Owner" cells, then run again with '
        "--resume --retry-failed; sent again: attio had no such task after no answer came"
    )
