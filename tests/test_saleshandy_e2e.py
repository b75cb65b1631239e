"""Saleshandy end to end: the real command, the sandbox over real HTTP.

Every claim is checked against the sandbox's own record of the tasks it created (one
``Applied`` per task, ``subject`` = the prospect), not only against the results file.
"""

from __future__ import annotations

import random
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import KEY, SAMPLES, Background, Ran, bulk_tasks, read_results, wait_for_sent

from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer, max_in_window

HEADER = "prospectIds,taskType,priority,dueDate,taskNote"
TASK_ID = re.compile(r"[A-Za-z0-9]{10}")


def write(path: Path, *rows: str) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def run(data: Path, url: str, *more: str | Path, key: str | None = KEY) -> Ran:
    return bulk_tasks("run", data, "-t", "saleshandy", "--base-url", url, *more, key=key)


def tasks_per_prospect(sandbox: Sandbox) -> Counter[str]:
    return Counter(applied.subject for applied in sandbox.applied)


def requests_sent(sandbox: Sandbox) -> list[list[str]]:
    """The prospect ids of each create request the sandbox applied, in arrival order."""
    seen: dict[int, list[str]] = {}
    for applied in sandbox.applied:
        seen.setdefault(id(applied.body), applied.body["prospectIds"])
    return list(seen.values())


def by_prospect(results: Path) -> dict[str, dict[str, str]]:
    return {line["prospect_id"]: line for line in read_results(results)}


def fast_sandbox(faults: Faults | None = None) -> Sandbox:
    return Sandbox(keys={KEY}, limit=50, period=0.5, faults=faults)


FAST = ("--rate", "50/0.5")


# --- the sample and the README's demo -------------------------------------------------------------


def test_the_sample_gives_a_line_per_prospect_with_a_partial_failure(
    server: SandboxServer, tmp_path: Path
) -> None:
    results = tmp_path / "out.csv"
    ran = run(SAMPLES / "saleshandy_create.csv", server.url, "--results", results)
    assert ran.code == 1, ran.stderr
    assert "saleshandy create: 9 rows, 15 prospects in" in ran.stdout
    assert "  created        12\n  invalid         2\n  failed          1\n" in ran.stdout
    assert "Rows: 6 fully created, 1 partly created, 2 not created" in ran.stdout
    assert "partly created: row 4 (see prospect_id in the results)" in ran.stdout
    lines = read_results(results)
    assert len(lines) == 15
    row4 = {line["prospect_id"]: line for line in lines if line["row"] == "4"}
    assert {p: line["status"] for p, line in row4.items()} == {
        "Xy7Rt2Vb": "created",
        "Qz9Lm4Hn": "created",
        "INVALIDxx": "failed",
    }
    assert row4["INVALIDxx"]["error_message"] == (
        "Saleshandy did not create this task for this prospect (no reason given): "
        "check the prospect id"
    )
    # every created line names the task the sandbox made for that very prospect
    made = {applied.task_id: applied.subject for applied in server.sandbox.applied}
    created = [line for line in lines if line["status"] == "created"]
    assert {line["remote_id"]: line["prospect_id"] for line in created} == made
    assert all(TASK_ID.fullmatch(line["remote_id"]) for line in created)
    assert set(tasks_per_prospect(server.sandbox).values()) == {1}
    # the input's own columns follow, on every line of the row
    assert {line["Account"] for line in row4.values()} == {"Initech"}


def test_the_samples_notes_and_invalid_rows(server: SandboxServer, tmp_path: Path) -> None:
    results = tmp_path / "out.csv"
    run(SAMPLES / "saleshandy_create.csv", server.url, "--results", results)
    lines = by_prospect(results)
    assert lines["Ab12Cd34"]["error_message"] == "due today (Saleshandy's default)"
    assert "dueDate" not in next(a.body for a in server.sandbox.applied if a.subject == "Ab12Cd34")
    assert lines["Ju7Ki8Lo"]["error_message"] == (
        "prospect Ju7Ki8Lo appears 2 times in this row; it was sent once"
    )
    assert (lines["Wq8Er5Ty"]["status"], lines["Wq8Er5Ty"]["error_code"]) == (
        "invalid",
        "taskType",
    )
    assert lines["Wq8Er5Ty"]["error_message"].startswith(
        'column "Task Type" = "Email" is not a Saleshandy task type'
    )
    assert (lines[""]["row"], lines[""]["error_message"]) == (
        "10",
        'column "Prospect IDs" is empty; every task needs one',
    )


def test_the_readme_demo_runs_on_the_built_in_sandbox(tmp_path: Path) -> None:
    results = tmp_path / "demo.csv"
    ran = bulk_tasks(
        "run",
        SAMPLES / "saleshandy_create.csv",
        "--target",
        "saleshandy",
        "--sandbox",
        "--results",
        results,
        key=None,
    )
    assert ran.code == 1, ran.stderr
    assert "Using the built-in sandbox" in ran.stderr
    assert Counter(line["status"] for line in read_results(results)) == {
        "created": 12,
        "invalid": 2,
        "failed": 1,
    }


# --- packing -------------------------------------------------------------------------------------


def test_rows_asking_for_the_same_task_share_a_request(
    server: SandboxServer, tmp_path: Path
) -> None:
    run(SAMPLES / "saleshandy_create.csv", server.url, "--results", tmp_path / "out.csv")
    sent = requests_sent(server.sandbox)
    assert len(server.sandbox.arrivals) == 6  # 7 valid rows, two of them one task
    assert ["8PvBmrB7P7", "Pr9xQ2Lm", "Pr4Kb8Qw", "Xy7Rt2Vb", "Qz9Lm4Hn"] in [
        [p for p in request if not p.startswith("INVALID")] for request in sent
    ]


def test_no_pack_sends_one_request_per_row(server: SandboxServer, tmp_path: Path) -> None:
    ran = run(
        SAMPLES / "saleshandy_create.csv", server.url, "--results", tmp_path / "o.csv", "--no-pack"
    )
    assert ran.code == 1, ran.stderr
    assert len(server.sandbox.arrivals) == 7
    assert ["Xy7Rt2Vb", "Qz9Lm4Hn", "INVALIDxx"] in [
        list(a.body["prospectIds"]) for a in server.sandbox.applied
    ]


def test_100_prospects_a_request_at_most(tmp_path: Path) -> None:
    rows = [f'"{" ".join(f"P{r}x{n}" for n in range(10))}",13,,2026-12-01,Call' for r in range(25)]
    data = write(tmp_path / "in.csv", *rows)
    with SandboxServer(fast_sandbox()) as server:
        ran = run(data, server.url, *FAST)
        assert ran.code == 0, ran.stderr
        assert sorted(len(r) for r in requests_sent(server.sandbox)) == [50, 100, 100]
        smaller = run(data, server.url, *FAST, "--force", "--create-again", "--batch-size", "30")
        assert smaller.code == 0, smaller.stderr
        assert len(server.sandbox.arrivals) == 3 + 9
    assert len(read_results(tmp_path / "in.results.csv")) == 250


def test_mixed_tasks_never_share_a_request(server: SandboxServer, tmp_path: Path) -> None:
    rows = [f"A{n} B{n},{13 if n % 2 else 3},,2026-12-0{1 + n % 3},Note" for n in range(12)]
    ran = run(write(tmp_path / "in.csv", *rows), server.url)
    assert ran.code == 0, ran.stderr
    for applied in server.sandbox.applied:
        twins = [a for a in server.sandbox.applied if a.body is applied.body]
        assert {(a.body["taskType"], a.body["dueDate"]) for a in twins} == {
            (applied.body["taskType"], applied.body["dueDate"])
        }
    assert len(server.sandbox.arrivals) == 6  # 2 types x 3 dates
    assert sum(tasks_per_prospect(server.sandbox).values()) == 24


def test_a_repeated_row_goes_in_another_request_and_asks_again(
    server: SandboxServer, tmp_path: Path
) -> None:
    row = "A1 B2,Call demo,High,2026-12-01,Demo"
    results = tmp_path / "out.csv"
    ran = run(write(tmp_path / "in.csv", row, row), server.url, "--results", results)
    assert ran.code == 0, ran.stderr
    assert requests_sent(server.sandbox) == [["A1", "B2"], ["A1", "B2"]]
    lines = read_results(results)
    assert len({line["fingerprint"] for line in lines}) == 4
    assert sorted(line["fingerprint"][-2:] for line in lines).count("#2") == 2


# --- outcomes ----------------------------------------------------------------------------------


def test_a_prospect_left_out_of_the_answer_is_unknown(
    server: SandboxServer, tmp_path: Path
) -> None:
    results = tmp_path / "out.csv"
    ran = run(
        write(tmp_path / "in.csv", "A1 OMITb2 C3,9,,,Custom"), server.url, "--results", results
    )
    assert ran.code == 1
    assert "1 prospect is unknown: it was sent" in ran.stderr
    lines = by_prospect(results)
    assert {p: line["status"] for p, line in lines.items()} == {
        "A1": "created",
        "OMITb2": "unknown",
        "C3": "created",
    }
    assert lines["OMITb2"]["error_code"] == "no_result"
    assert tasks_per_prospect(server.sandbox)["OMITb2"] == 1  # it does exist: hence unknown


def test_no_answer_makes_every_prospect_of_the_request_unknown(tmp_path: Path) -> None:
    results = tmp_path / "out.csv"
    with SandboxServer(fast_sandbox(Faults(p_hang=1.0))) as server:
        ran = run(
            write(tmp_path / "in.csv", "A1 B2 C3,9,,,Custom"),
            server.url,
            "--results",
            results,
            "--timeout",
            "0.5",
        )
        assert len(server.sandbox.arrivals) == 1  # a create without answer is never resent
        assert sum(tasks_per_prospect(server.sandbox).values()) == 3
    assert ran.code == 1
    assert {(line["status"], line["error_code"]) for line in read_results(results)} == {
        ("unknown", "no_answer")
    }


def test_a_rejected_key_stops_the_run(server: SandboxServer, tmp_path: Path) -> None:
    results = tmp_path / "out.csv"
    ran = run(
        write(tmp_path / "in.csv", "A1 B2,9,,,x", "C3,3,,,y"),
        server.url,
        "--results",
        results,
        key="wrong-key-Xy9-secret",
    )
    assert ran.code == 2
    assert "saleshandy refused the API key" in ran.stderr
    assert "check SALESHANDY_API_KEY" in ran.stderr
    assert {line["status"] for line in read_results(results)} == {"not_sent"}
    assert "wrong-key-Xy9-secret" not in ran.stdout + ran.stderr + results.read_text("utf-8-sig")


# --- resume ------------------------------------------------------------------------------------


def test_resume_sends_only_the_prospects_that_did_not_get_a_task(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    results = tmp_path / "in.results.csv"
    task = "Call follow-up,Medium,2026-12-01,Proposal"
    with SandboxServer(fast_sandbox()) as server:
        write(data, f"A1 B2 INVALIDc3,{task}", f"D4,{task}")
        assert run(data, server.url).code == 1
        first = by_prospect(results)
        assert first["INVALIDc3"]["status"] == "failed"
        # the user fixes the bad id, moves B2 to the other row, and adds a prospect there
        write(data, f"A1 C3,{task}", f"D4 B2 E5,{task}")
        again = run(data, server.url, "--resume")
        assert again.code == 0, again.stderr
        sandbox = server.sandbox
    assert tasks_per_prospect(sandbox) == dict.fromkeys(["A1", "B2", "D4", "C3", "E5"], 1)
    assert requests_sent(sandbox)[-1] == ["C3", "E5"]  # packed anew, across the two rows
    lines = by_prospect(results)
    assert {p: line["status"] for p, line in lines.items()} == {
        "A1": "skipped",
        "B2": "skipped",
        "D4": "skipped",
        "C3": "created",
        "E5": "created",
    }
    assert lines["B2"]["remote_id"] == first["B2"]["remote_id"]
    assert lines["B2"]["row"] == "3"


def test_a_failed_prospect_is_left_alone_unless_retry_failed(tmp_path: Path) -> None:
    data = write(tmp_path / "in.csv", "A1 INVALIDb2,9,,,Custom")
    with SandboxServer(fast_sandbox()) as server:
        assert run(data, server.url).code == 1
        assert run(data, server.url, "--resume").code == 1
        assert len(server.sandbox.arrivals) == 1
        assert run(data, server.url, "--resume", "--retry-failed").code == 1
        assert requests_sent(server.sandbox) == [["A1", "INVALIDb2"]]
        assert server.sandbox.arrivals[-1].path == "/v1/tasks/create"
        assert len(server.sandbox.arrivals) == 2  # only the refused prospect went again
    lines = by_prospect(tmp_path / "in.results.csv")
    assert (lines["A1"]["status"], lines["INVALIDb2"]["status"]) == ("skipped", "failed")


def test_kill_9_then_resume_never_gives_a_prospect_two_tasks(
    tmp_path: Path, background: Background
) -> None:
    tasks = [f"{t},,2026-12-0{1 + n % 4},Task {n}" for n, t in enumerate([9, 3, 13, 16, 17])]
    # 300 requests of 10 prospects: a run sends about 50 before its kill (the window allows
    # 100 a second), so the three kills all land on runs with much left to send
    rows = [f"R{r}a R{r}b R{r}c,{tasks[r % 5]}" for r in range(1000)]
    data = write(tmp_path / "in.csv", *rows)
    sandbox = fast_sandbox(Faults(latency=(0.0, 0.03), seed=6))
    chance = random.Random(2027)
    with SandboxServer(sandbox) as server:
        command = ("run", data, "-t", "saleshandy", "--base-url", server.url, *FAST, "--resume")
        for _ in range(3):
            before = len(sandbox.arrivals)
            process = background.start(*command, "--batch-size", "10")
            wait_for_sent(sandbox, before + 1, process)
            time.sleep(chance.uniform(0.05, 0.4))
            process.kill()
            process.communicate(timeout=10)
            assert process.returncode == -signal.SIGKILL  # killed on its way, not ended
        finished = bulk_tasks(*command)
        assert finished.code in (0, 1), finished.stderr
    lines = read_results(tmp_path / "in.results.csv")
    assert len(lines) == 3000
    made = {applied.subject: applied.task_id for applied in sandbox.applied}
    assert max(tasks_per_prospect(sandbox).values()) == 1
    statuses = Counter(line["status"] for line in lines)
    assert set(statuses) <= {"created", "skipped", "unknown"}
    assert statuses["skipped"] > 0
    for line in lines:
        if line["status"] in ("created", "skipped"):
            assert made[line["prospect_id"]] == line["remote_id"], line
        elif line["status"] == "unknown":
            assert line["error_code"] == "interrupted"


# --- the rate, options, validate -----------------------------------------------------------------


def test_the_window_counts_requests_not_prospects(tmp_path: Path) -> None:
    rows = [f"A{n} B{n} C{n} D{n} E{n},9,,,Note {n}" for n in range(60)]  # 60 distinct tasks
    sandbox = Sandbox(keys={KEY}, limit=10, period=0.5)
    with SandboxServer(sandbox) as server:
        ran = run(write(tmp_path / "in.csv", *rows), server.url, "--rate", "10/0.5")
    assert ran.code == 0, ran.stderr
    arrivals = sandbox.arrivals
    assert len(arrivals) == 60
    assert [a.status for a in arrivals].count(429) == 0
    assert max_in_window([a.time for a in arrivals], 0.5) <= 10
    assert sum(tasks_per_prospect(sandbox).values()) == 300


def test_validate_reports_a_line_per_prospect(tmp_path: Path) -> None:
    results = tmp_path / "check.csv"
    ran = bulk_tasks(
        "validate",
        SAMPLES / "saleshandy_create.csv",
        "-t",
        "saleshandy",
        "--results",
        results,
        key=None,
    )
    assert ran.code == 1
    assert "saleshandy create (validation only): 9 rows, 15 prospects" in ran.stdout
    assert "Rows:" not in ran.stdout  # nothing was sent, so nothing to say of rows created
    lines = read_results(results)
    assert Counter(line["status"] for line in lines) == {"not_sent": 13, "invalid": 2}
    assert [line["prospect_id"] for line in lines if line["row"] == "2"] == [
        "8PvBmrB7P7",
        "Pr9xQ2Lm",
        "Pr4Kb8Qw",
    ]


def test_an_invalid_row_gets_a_line_per_prospect_it_names(tmp_path: Path) -> None:
    data = write(tmp_path / "in.csv", "A1 B2; A1,Email,,,Send the deck")
    results = tmp_path / "check.csv"
    ran = bulk_tasks("validate", data, "-t", "saleshandy", "--results", results, key=None)
    assert ran.code == 1
    lines = read_results(results)
    assert [(line["prospect_id"], line["status"]) for line in lines] == [
        ("A1", "invalid"),
        ("B2", "invalid"),
    ]
    assert {line["error_code"] for line in lines} == {"taskType"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--batch-size", "101"],
            "bulk-tasks: --batch-size 101: saleshandy takes 1 to 100 prospects",
        ),
        (["--batch-size", "0"], "bulk-tasks: --batch-size 0: saleshandy takes 1 to 100 prospects"),
        (["--action", "update"], "bulk-tasks: --action update: saleshandy can only create"),
    ],
)
def test_option_mistakes_are_explained(args: list[str], message: str) -> None:
    ran = bulk_tasks(
        "run", SAMPLES / "saleshandy_create.csv", "-t", "saleshandy", "--sandbox", *args
    )
    assert ran.code == 2
    assert ran.stderr.splitlines()[-1].startswith(message), ran.stderr


def test_batch_size_is_for_saleshandy_only() -> None:
    ran = bulk_tasks(
        "run", SAMPLES / "lemlist_create.csv", "-t", "lemlist", "--sandbox", "--batch-size", "5"
    )
    assert ran.code == 2
    assert ran.stderr.startswith("bulk-tasks: --batch-size: lemlist takes one task per request")


def test_a_missing_key_names_the_variable(tmp_path: Path) -> None:
    ran = bulk_tasks("run", SAMPLES / "saleshandy_create.csv", "-t", "saleshandy", key=None)
    assert ran.code == 2
    assert ran.stderr.startswith(
        "bulk-tasks: SALESHANDY_API_KEY is not set: export SALESHANDY_API_KEY=your-key"
    )
