"""Once per task across runs, files and machines: the task ledger, end to end.

Every assertion about tasks is checked against the sandbox's own record of what it applied.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from helpers import KEY, Background, bulk_tasks, read_results, wait_for_sent
from test_guarantees import FAST, fast_sandbox, lead, write_creates
from test_history import run_inbox

from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer


def lemlist(data: Path, server: SandboxServer, *more: str | Path) -> tuple[str | Path, ...]:
    return ("run", data, "-t", "lemlist", "--base-url", server.url, *FAST, *more)


def created_per_lead(sandbox: Sandbox) -> dict[str, list[str]]:
    """lead id -> the task ids the sandbox created for it (updates aside)."""
    created: dict[str, list[str]] = {}
    for applied in sandbox.applied:
        if applied.method == "POST":
            created.setdefault(applied.body["recordId"], []).append(applied.task_id)
    return created


def once_each(server: SandboxServer, leads: range) -> None:
    """The sandbox holds exactly one task for each lead of ``leads``, and no other task."""
    applied = created_per_lead(server.sandbox)
    assert sorted(applied) == [lead(n) for n in leads]
    assert [ids for ids in applied.values() if len(ids) != 1] == []


# --- a file's rows again, in another file or after a lost results file ---------------------


def test_rows_an_earlier_file_created_are_skipped_saying_when_where_and_which_task(
    tmp_path: Path,
) -> None:
    monday = write_creates(tmp_path / "monday.csv", range(6))
    tuesday = write_creates(tmp_path / "tuesday.csv", range(3, 9))
    with SandboxServer(fast_sandbox()) as server:
        first = bulk_tasks(*lemlist(monday, server))
        assert first.code == 0, first.stderr
        second = bulk_tasks(*lemlist(tuesday, server))
        assert second.code == 0, second.stderr
        once_each(server, range(9))
    made = {line["leadId"]: line for line in read_results(tmp_path / "monday.results.csv")}
    lines = read_results(tmp_path / "tuesday.results.csv")
    assert Counter(line["status"] for line in lines) == {"skipped": 3, "created": 3}
    repeated = lines[0]
    assert repeated["leadId"] == lead(3)
    assert repeated["remote_id"] == made[lead(3)]["remote_id"]
    said = repeated["error_message"]
    assert said.startswith(f"task {made[lead(3)]['remote_id']} created ")
    assert said.endswith(
        f" UTC by {tmp_path / 'monday.results.csv'} row 5, as the task ledger says: not sent "
        "again (--create-again creates it again)"
    )
    assert "Task ledger: 3 rows created by an earlier run" in second.stdout


def test_a_lost_results_file_creates_nothing_again_unless_asked(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(5))
    results = tmp_path / "in.results.csv"
    with SandboxServer(fast_sandbox()) as server:
        assert bulk_tasks(*lemlist(data, server)).code == 0
        first = {line["leadId"]: line["remote_id"] for line in read_results(results)}
        results.unlink()
        again = bulk_tasks(*lemlist(data, server))
        assert again.code == 0, again.stderr
        assert {line["status"] for line in read_results(results)} == {"skipped"}
        once_each(server, range(5))
        results.unlink()
        on_purpose = bulk_tasks(*lemlist(data, server, "--create-again"))
        assert on_purpose.code == 0, on_purpose.stderr
        assert len(server.sandbox.applied) == 10
        second = {line["leadId"]: line["remote_id"] for line in read_results(results)}
        results.unlink()
        # the ledger names the newest task of each row
        third = bulk_tasks(*lemlist(data, server))
        assert {line["remote_id"] for line in read_results(results)} == set(second.values())
        assert third.code == 0
    assert set(first.values()).isdisjoint(second.values())


def test_force_starts_a_new_results_file_and_the_ledger_still_skips(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(3))
    with SandboxServer(fast_sandbox()) as server:
        assert bulk_tasks(*lemlist(data, server)).code == 0
        forced = bulk_tasks(*lemlist(data, server, "--force"))
        assert forced.code == 0, forced.stderr
        assert len(server.sandbox.applied) == 3
        off = bulk_tasks(*lemlist(data, server, "--force", "--ledger", "off"))
        assert off.code == 0, off.stderr
        assert len(server.sandbox.applied) == 6


def test_the_ledger_keeps_keys_and_destinations_apart(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(3))
    other_key = "another-key-of-another-team"
    sandbox = Sandbox(keys={KEY, other_key}, limit=50, period=0.5)
    with SandboxServer(sandbox) as server:
        assert bulk_tasks(*lemlist(data, server)).code == 0
        (tmp_path / "in.results.csv").unlink()
        other = bulk_tasks(*lemlist(data, server), key=other_key)
        assert other.code == 0, other.stderr
        assert len(sandbox.applied) == 6  # another key is another account's tasks


# --- --row-key --------------------------------------------------------------------------------


def write_keyed(path: Path, rows: dict[str, tuple[int, str]]) -> Path:
    """A lemlist file with a "CRM id" column: key -> (lead number, due date)."""
    lines = ["CRM id,leadId,type,assignedTo,dueDate,title"]
    lines += [
        f"{key},{lead(n)},phone,usr_7YzNqVRMCfdeHEzMn,{due},Call {n}"
        for key, (n, due) in rows.items()
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_rows_sharing_a_row_key_are_invalid_naming_each_other(tmp_path: Path) -> None:
    data = write_keyed(
        tmp_path / "in.csv",
        {"A-1": (1, "2026-12-01 09:00"), "A-2": (2, "2026-12-01 09:00")},
    )
    text = data.read_text(encoding="utf-8")
    text += f"A-1,{lead(3)},phone,usr_7YzNqVRMCfdeHEzMn,2026-12-01 09:00,x\n"
    text += f",{lead(4)},phone,usr_7YzNqVRMCfdeHEzMn,2026-12-01 09:00,y\n"
    data.write_text(text, encoding="utf-8")
    checked = bulk_tasks("validate", data, "-t", "lemlist", "--row-key", "crm_id")
    assert checked.code == 1
    lines = read_results(tmp_path / "in.validation.csv")
    assert [(line["row"], line["status"], line["error_code"]) for line in lines] == [
        ("2", "invalid", "row_key"),
        ("3", "not_sent", "valid"),
        ("4", "invalid", "row_key"),
        ("5", "invalid", "row_key"),
    ]
    assert lines[0]["error_message"] == (
        'column "CRM id" = "A-1" is also the key of row 4: with --row-key each row needs a '
        "key of its own, so none of them is sent; give each its own key"
    )
    assert lines[2]["error_message"].endswith(
        "is also the key of row 2: with --row-key each "
        "row needs a key of its own, so none of them is "
        "sent; give each its own key"
    )
    assert lines[3]["error_message"] == (
        'column "CRM id" is empty: with --row-key every row needs a key of its own (the '
        "task's id in your CRM, say); fill it in"
    )


def test_a_row_key_column_that_is_not_there_stops_the_run_before_anything(
    tmp_path: Path,
) -> None:
    data = write_creates(tmp_path / "in.csv", range(2))
    ran = bulk_tasks(
        "run",
        data,
        "-t",
        "lemlist",
        "--sandbox",
        "--row-key",
        "CRM id",
        "--ledger",
        str(tmp_path / "ledger.sqlite3"),
    )
    assert ran.code == 2
    assert ran.stderr == (
        'bulk-tasks: --row-key "CRM id": the input has no such column; its columns are: '
        "leadId, type, assignedTo, dueDate, title\n"
    )
    assert not (tmp_path / "in.results.csv").exists()


def test_an_edited_due_date_updates_the_lemlist_task_and_unchanged_rows_are_skipped(
    tmp_path: Path,
) -> None:
    rows = {f"CRM-{n}": (n, "2026-12-01 09:00") for n in range(4)}
    data = write_keyed(tmp_path / "in.csv", rows)
    with SandboxServer(fast_sandbox()) as server:
        keyed = ("--row-key", "CRM id")
        assert bulk_tasks(*lemlist(data, server, *keyed)).code == 0
        made = {
            line["CRM id"]: line["remote_id"] for line in read_results(tmp_path / "in.results.csv")
        }
        rows["CRM-2"] = (2, "2026-12-03 15:30")
        write_keyed(data, rows)
        again = bulk_tasks(*lemlist(data, server, *keyed, "--force"))
        assert again.code == 0, again.stderr
        once_each(server, range(4))
        lines = sorted(read_results(tmp_path / "in.results.csv"), key=lambda line: int(line["row"]))
        assert [line["status"] for line in lines] == ["skipped", "skipped", "updated", "skipped"]
        assert lines[2]["remote_id"] == made["CRM-2"]
        assert lines[2]["error_message"].startswith(
            f'updated task {made["CRM-2"]}: the "dueDate" cell changed since it was created '
        )
        assert lines[0]["error_message"].endswith(
            "as the task ledger says: its row is unchanged since, so nothing was sent"
        )
        assert "Task ledger: 3 rows unchanged, 1 row updated" in again.stdout
        updates = [applied for applied in server.sandbox.applied if applied.method == "PATCH"]
        assert [(update.task_id, update.body.get("dueDate")) for update in updates] == [
            (made["CRM-2"], "2026-12-03T15:30:00.000Z")
        ]


# --- several machines -------------------------------------------------------------------------


def shared_ledger(share: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A ledger several machines share: a file on a volume, or a PostgreSQL database."""
    if share == "path":
        return str(tmp_path / "volume" / "ledger.sqlite3")
    return str(request.getfixturevalue("postgres_url"))


@pytest.mark.parametrize("share", ["path", "postgres"])
def test_kill_9_then_a_lost_results_file_on_another_machine_creates_every_task_once(
    tmp_path: Path, background: Background, share: str, request: pytest.FixtureRequest
) -> None:
    data = write_creates(tmp_path / "in.csv", range(300))
    results = tmp_path / "in.results.csv"
    shared = shared_ledger(share, tmp_path, request)
    sandbox = fast_sandbox()
    with SandboxServer(sandbox) as server:
        command = (*lemlist(data, server), "--ledger", shared, "--timeout", "1")
        first = background.start(*command, env={"BULK_TASKS_DATA_DIR": str(tmp_path / "a")})
        wait_for_sent(sandbox, 120, first)
        first.kill()
        first.communicate(timeout=10)
        time.sleep(0.3)  # requests already written reach the sandbox
        results.unlink()
        other = {"BULK_TASKS_DATA_DIR": str(tmp_path / "b"), "HOME": str(tmp_path / "b")}
        second = bulk_tasks(*command, env=other)
        assert second.code == 0, second.stderr
        once_each(server, range(300))
    assert Counter(line["status"] for line in read_results(results)).keys() <= {
        "created",
        "skipped",
    }


@pytest.mark.parametrize("share", ["path", "postgres"])
def test_two_machines_sending_one_file_at_once_create_every_task_once(
    tmp_path: Path, background: Background, share: str, request: pytest.FixtureRequest
) -> None:
    ledger = shared_ledger(share, tmp_path, request)
    data = write_creates(tmp_path / "in.csv", range(200))
    sandbox = fast_sandbox()
    with SandboxServer(sandbox) as server:
        runs = [
            background.start(
                *lemlist(data, server, "--ledger", ledger, "--results", tmp_path / f"{name}.csv"),
                env={"BULK_TASKS_DATA_DIR": str(tmp_path / name)},
            )
            for name in ("a", "b")
        ]
        for process in runs:
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr
        once_each(server, range(200))
    statuses = Counter(
        line["status"] for name in ("a", "b") for line in read_results(tmp_path / f"{name}.csv")
    )
    assert statuses == {"created": 200, "skipped": 200}


def test_nightly_files_repeating_half_of_the_last_create_every_task_once(tmp_path: Path) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    inbox.mkdir()
    with SandboxServer(fast_sandbox()) as server:
        for night, first in enumerate((0, 10, 20)):
            write_creates(inbox / f"night-{night}.csv", range(first, first + 20))
            ran = run_inbox(inbox, done, server)
            assert ran.code == 0, ran.stderr
        once_each(server, range(40))


def test_an_edited_attio_row_updates_its_deadline_and_says_its_content_cannot_be(
    tmp_path: Path,
) -> None:
    header = "CRM id,content,deadline_at,is_completed,linked_records,assignees"
    first = [
        "T-1,Call Ann,2026-12-01 09:00,false,person@company.com,alice@attio.com",
        "T-2,Send the deck,2026-12-02 09:00,false,fundstack.com,alice@attio.com",
    ]
    data = tmp_path / "in.csv"
    data.write_text("\n".join([header, *first]) + "\n", encoding="utf-8")
    results = tmp_path / "in.results.csv"
    with SandboxServer(Sandbox(keys={KEY})) as server:
        run = ("run", data, "-t", "attio", "--base-url", server.url, "--row-key", "CRM id")
        assert bulk_tasks(*run).code == 0
        made = {line["CRM id"]: line["remote_id"] for line in read_results(results)}
        edited = [
            "T-1,Call Ann,2026-12-04 16:00,true,person@company.com,alice@attio.com",
            "T-2,Send the new deck,2026-12-02 09:00,false,fundstack.com,alice@attio.com",
        ]
        data.write_text("\n".join([header, *edited]) + "\n", encoding="utf-8")
        again = bulk_tasks(*run, "--force")
        assert again.code == 1, again.stderr
        updates = [(a.task_id, a.body) for a in server.sandbox.applied if a.method == "PATCH"]
        assert updates == [
            (
                made["T-1"],
                {"data": {"deadline_at": "2026-12-04T16:00:00.000Z", "is_completed": True}},
            )
        ]
        assert [a.method for a in server.sandbox.applied].count("POST") == 2
    lines = {line["CRM id"]: line for line in read_results(results)}
    assert (lines["T-1"]["status"], lines["T-1"]["remote_id"]) == ("updated", made["T-1"])
    assert lines["T-1"]["error_message"].startswith(
        f'updated task {made["T-1"]}: the "deadline_at" and "is_completed" cells changed since '
        "it was created "
    )
    refused = lines["T-2"]
    assert (refused["status"], refused["error_code"]) == ("failed", "not_updatable")
    said = refused["error_message"]
    assert said.startswith(f"edited since its task {made['T-2']} was made (created ")
    assert said.endswith(
        f' UTC by {results} row 3): the "content" cell changed, which Attio cannot update '
        "through its API; nothing was sent: edit the task in Attio's app, or create a new one "
        "with --create-again (the old one stays)"
    )
    assert "Task ledger: 1 row updated, 1 row edited, not updatable" in again.stdout


def test_an_edited_saleshandy_row_explains_itself_prospect_by_prospect(tmp_path: Path) -> None:
    header = "CRM id,prospectIds,taskType,priority,dueDate,taskNote"
    data = tmp_path / "in.csv"
    data.write_text(f"{header}\nS-1,A1 B2,13,,2026-12-01,Call\n", encoding="utf-8")
    results = tmp_path / "in.results.csv"
    with SandboxServer(Sandbox(keys={KEY})) as server:
        run = ("run", data, "-t", "saleshandy", "--base-url", server.url, "--row-key", "CRM id")
        assert bulk_tasks(*run).code == 0
        data.write_text(f"{header}\nS-1,A1 B2 C3,13,,2026-12-01,Call Ann\n", encoding="utf-8")
        again = bulk_tasks(*run, "--force")
        assert again.code == 1, again.stderr
        assert Counter(a.subject for a in server.sandbox.applied) == {"A1": 1, "B2": 1, "C3": 1}
    lines = {line["prospect_id"]: line for line in read_results(results)}
    assert {p: (line["status"], line["error_code"]) for p, line in lines.items()} == {
        "A1": ("failed", "not_updatable"),
        "B2": ("failed", "not_updatable"),
        "C3": ("created", ""),
    }
    assert lines["A1"]["error_message"].endswith(
        ' row 2): the "taskNote" cell changed, which Saleshandy cannot update through its '
        "API; nothing was sent: edit the task in Saleshandy's app, on the prospect's tasks, or "
        "create a new one with --create-again (the old one stays)"
    )


def test_an_unreachable_postgresql_stops_the_run_before_anything(tmp_path: Path) -> None:
    from conftest import free_port

    data = write_creates(tmp_path / "in.csv", range(2))
    url = f"postgresql://bulk:s3cret@127.0.0.1:{free_port()}/tasks"
    with SandboxServer(fast_sandbox()) as server:
        ran = bulk_tasks(*lemlist(data, server, "--ledger", url))
        assert server.sandbox.arrivals == []
    assert ran.code == 2
    assert "s3cret" not in ran.stderr
    assert ran.stderr.startswith(
        f"bulk-tasks: the task ledger postgresql://bulk@127.0.0.1:{url.split(':')[3]}"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.csv"]


def test_a_results_file_from_before_the_ledger_teaches_it_its_tasks_on_resume(
    tmp_path: Path,
) -> None:
    data = write_creates(tmp_path / "in.csv", range(4))
    results = tmp_path / "in.results.csv"
    with SandboxServer(fast_sandbox()) as server:
        assert bulk_tasks(*lemlist(data, server, "--ledger", "off")).code == 0
        resumed = bulk_tasks(*lemlist(data, server, "--resume"))
        assert resumed.code == 0, resumed.stderr
        made = {line["leadId"]: line["remote_id"] for line in read_results(results)}
        results.unlink()
        again = bulk_tasks(*lemlist(data, server))
        assert again.code == 0, again.stderr
        once_each(server, range(4))
    assert {line["leadId"]: line["remote_id"] for line in read_results(results)} == made
    assert {line["status"] for line in read_results(results)} == {"skipped"}


def test_tasks_resolve_finds_are_in_the_ledger(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(3))
    results = tmp_path / "in.results.csv"
    dropped = Sandbox(keys={KEY}, limit=50, period=0.5, faults=Faults(p_drop=1.0))
    with SandboxServer(dropped) as server:
        sent = bulk_tasks(*lemlist(data, server, "--no-resolve", "--timeout", "0.5"))
        assert sent.code == 1
        assert {line["status"] for line in read_results(results)} == {"unknown"}
        looked_up = bulk_tasks(
            "resolve", results, "-t", "lemlist", "--base-url", server.url, "--timeout", "0.5"
        )
        assert looked_up.code == 0, looked_up.stderr
        found = {line["leadId"]: line["remote_id"] for line in read_results(results)}
        results.unlink()
        again = bulk_tasks(*lemlist(data, server, "--timeout", "0.5"))
        assert again.code == 0, again.stderr
        once_each(server, range(3))
    assert {line["leadId"]: line["remote_id"] for line in read_results(results)} == found
    assert {line["status"] for line in read_results(results)} == {"skipped"}  # not looked up


def test_a_sandbox_at_another_address_is_another_destination(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(3))
    with SandboxServer(fast_sandbox()) as first:
        assert bulk_tasks(*lemlist(data, first)).code == 0
    (tmp_path / "in.results.csv").unlink()
    with SandboxServer(fast_sandbox()) as second:  # another port: its tasks are its own
        again = bulk_tasks(*lemlist(data, second))
        assert again.code == 0, again.stderr
        once_each(second, range(3))
