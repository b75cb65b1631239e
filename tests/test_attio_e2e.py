"""Attio end to end: the real command, the sandbox over real HTTP."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from helpers import KEY, SAMPLES, Ran, bulk_tasks, bulk_tasks_in_child, read_results

from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer, max_in_window


def run(data: Path, url: str, *more: str | Path, key: str | None = KEY) -> Ran:
    return bulk_tasks("run", data, "-t", "attio", "--base-url", url, *more, key=key)


def write(path: Path, *rows: str) -> Path:
    header = "content,deadline_at,is_completed,linked_records,assignees"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_the_sample_creates_its_tasks_and_explains_the_rest(
    server: SandboxServer, tmp_path: Path
) -> None:
    results = tmp_path / "out.csv"
    ran = run(SAMPLES / "attio_create.xlsx", server.url, "--results", results)
    assert ran.code == 1, ran.stderr
    assert "attio create: 7 rows in" in ran.stdout
    lines = {line["row"]: line for line in read_results(results)}
    assert Counter(line["status"] for line in lines.values()) == {
        "created": 5,
        "failed": 1,
        "invalid": 1,
    }
    bodies = {applied.task_id: applied.body["data"] for applied in server.sandbox.applied}
    first = bodies[lines["2"]["remote_id"]]
    assert first == {
        "content": "Follow up on current software solutions",
        "format": "plaintext",
        "deadline_at": "2026-12-01T15:00:00.000Z",  # a real Excel date cell
        "is_completed": False,
        "linked_records": ["person@company.com", "fundstack.com"],
        "assignees": [{"workspace_member_email_address": "alice@attio.com"}],
    }
    assert bodies[lines["5"]["remote_id"]]["deadline_at"] is None  # a blank deadline
    assert bodies[lines["5"]["remote_id"]]["is_completed"] is True
    assert bodies[lines["6"]["remote_id"]]["linked_records"] == [
        {"target_object": "people", "email_addresses": [{"email_address": "pilot@initech.com"}]},
        {"target_object": "deals", "target_record_id": "7b3e0a4c-1d2f-4e5a-8b9c-0d1e2f3a4b5c"},
    ]
    refused = lines["7"]
    assert (refused["status"], refused["http_status"], refused["error_code"]) == (
        "failed",
        "404",
        "not_found",
    )
    assert refused["error_message"] == (
        'Attio refused it: No person or company matches "ceo@hooli.invalid"; no record or '
        'workspace member matches it: check the "Linked Records" and "Assignees" cells, then '
        "run again with --resume --retry-failed"
    )
    assert (lines["8"]["status"], lines["8"]["error_code"]) == ("invalid", "linked_records")
    assert len(server.sandbox.applied) == 5
    assert lines["3"]["Account"] == "Acme"


def test_the_invalid_link_of_the_sample_is_said_once(server: SandboxServer, tmp_path: Path) -> None:
    results = tmp_path / "out.csv"
    run(SAMPLES / "attio_create.xlsx", server.url, "--results", results)
    [invalid] = [line for line in read_results(results) if line["row"] == "8"]
    assert invalid["error_message"] == (
        'column "Linked Records" = "https://umbrella.com" is not an email address (a person), '
        "a domain such as acme.com (a company), or object:record-id such as "
        "people:891dcbfc-9141-415d-9b2a-2238a6cc012d (write the bare domain, without http:// "
        "or www.)"
    )


def test_a_record_not_found_names_the_columns_as_the_file_has_them(
    server: SandboxServer, tmp_path: Path
) -> None:
    data = tmp_path / "in.csv"
    data.write_text("Task,Records,Owner\nChase,ghost@nobody.invalid,alice@attio.com\n")
    results = tmp_path / "out.csv"
    ran = run(data, server.url, "--results", results, "--map", write_map(tmp_path))
    assert ran.code == 1, ran.stderr
    [line] = read_results(results)
    assert line["error_message"] == (
        'Attio refused it: No person or company matches "ghost@nobody.invalid"; no record or '
        'workspace member matches it: check the "Records" and "Owner" cells, then run again '
        "with --resume --retry-failed"
    )
    data.write_text("Task,Records\nChase,ghost@nobody.invalid\n")
    results = tmp_path / "set.csv"
    ran = run(data, server.url, "--results", results, "--set", "assignees=alice@attio.com")
    assert ran.code == 1, ran.stderr
    [line] = read_results(results)
    assert line["error_message"].endswith(
        'no record or workspace member matches it: check the "Records" cell and --set '
        "assignees, then run again with --resume --retry-failed"
    )


def test_international_addresses_and_domains_are_sent_as_written(
    server: SandboxServer, tmp_path: Path
) -> None:
    data = write(
        tmp_path / "in.csv",
        'Call José,,,"josé@exämple.es, EXÄMPLE.de",josé@exämple.es',
        "Write to Пример,,,пример.рф,",
        "Broken,,,ex_ämple.de,",
    )
    results = tmp_path / "out.csv"
    ran = run(data, server.url, "--results", results)
    assert ran.code == 1, ran.stderr
    lines = {line["row"]: line for line in read_results(results)}
    assert [lines[row]["status"] for row in ("2", "3", "4")] == ["created", "created", "invalid"]
    bodies = {applied.task_id: applied.body["data"] for applied in server.sandbox.applied}
    first = bodies[lines["2"]["remote_id"]]
    assert first["linked_records"] == ["josé@exämple.es", "exämple.de"]
    assert first["assignees"] == [{"workspace_member_email_address": "josé@exämple.es"}]
    assert bodies[lines["3"]["remote_id"]]["linked_records"] == ["пример.рф"]
    assert lines["4"]["error_message"].startswith(
        'column "linked_records" = "ex_ämple.de" is not an email address (a person), a domain'
    )


def write_map(folder: Path) -> Path:
    mapping = folder / "map.toml"
    mapping.write_text('assignees = "Owner"\n', encoding="utf-8")
    return mapping


def test_the_sample_on_the_built_in_sandbox(tmp_path: Path) -> None:
    # in a child, through the entry point, which starts reading the spreadsheet early
    results = tmp_path / "demo.csv"
    ran = bulk_tasks_in_child(
        "run",
        SAMPLES / "attio_create.xlsx",
        "--target",
        "attio",
        "--sandbox",
        "--results",
        results,
        key=None,
    )
    assert ran.code == 1, ran.stderr
    statuses = Counter(line["status"] for line in read_results(results))
    assert statuses == {"created": 5, "failed": 1, "invalid": 1}


def test_a_spurious_429_with_an_http_date_is_waited_out_and_retried(tmp_path: Path) -> None:
    sandbox = Sandbox(keys={KEY}, faults=Faults(p_spurious_429=0.3, seed=8))
    results = tmp_path / "out.csv"
    rows = [f"Call {n},2026-12-01,,,alice@attio.com" for n in range(20)]
    with SandboxServer(sandbox) as server:
        ran = run(write(tmp_path / "in.csv", *rows), server.url, "--results", results)
    assert ran.code == 0, ran.stderr
    assert [a.status for a in sandbox.arrivals].count(429) >= 1  # the fault did happen
    lines = read_results(results)
    assert {line["status"] for line in lines} == {"created"}
    assert sorted(line["remote_id"] for line in lines) == sorted(a.task_id for a in sandbox.applied)


def test_25_a_second_never_more(tmp_path: Path) -> None:
    sandbox = Sandbox(keys={KEY}, faults=Faults(latency=(0.01, 0.03), seed=9))
    rows = [f"Task {n},,,acme.com," for n in range(80)]
    with SandboxServer(sandbox) as server:
        ran = run(write(tmp_path / "in.csv", *rows), server.url)
    assert ran.code == 0, ran.stderr
    arrivals = sandbox.arrivals
    assert len(arrivals) == 80
    assert [a.status for a in arrivals].count(429) == 0
    assert max_in_window([a.time for a in arrivals], 1.0) <= 25


def test_a_rejected_token_stops_the_run(server: SandboxServer, tmp_path: Path) -> None:
    results = tmp_path / "out.csv"
    ran = run(
        write(tmp_path / "in.csv", "A,,,,", "B,,,,"),
        server.url,
        "--results",
        results,
        key="wrong-token-Qq1-secret",
    )
    assert ran.code == 2
    assert "attio refused the API key" in ran.stderr
    assert "check ATTIO_API_KEY" in ran.stderr
    assert {line["status"] for line in read_results(results)} == {"not_sent"}


def test_a_missing_key_names_the_variable() -> None:
    ran = bulk_tasks("run", SAMPLES / "attio_create.xlsx", "-t", "attio", key=None)
    assert ran.code == 2
    assert ran.stderr.startswith("bulk-tasks: ATTIO_API_KEY is not set: export ATTIO_API_KEY=")


def test_validate_checks_every_rule_without_a_key(tmp_path: Path) -> None:
    long = "x" * 2431
    data = write(tmp_path / "in.csv", "Fine,2026-12-01,yes,acme.com,", f"{long},,,,", ",,,,a@b.com")
    results = tmp_path / "check.csv"
    ran = bulk_tasks("validate", data, "-t", "attio", "--results", results, key=None)
    assert ran.code == 1
    lines = {line["row"]: line for line in read_results(results)}
    assert lines["2"]["error_code"] == "valid"
    assert lines["3"]["error_message"] == (
        'column "content" = "' + long + '" is 2,431 characters; Attio takes at most 2,000: '
        "shorten it"
    )
    assert lines["4"]["error_message"] == 'column "content" is empty; every task needs one'
