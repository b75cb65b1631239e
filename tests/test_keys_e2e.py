"""Several API keys in one file: an apiKeyEnv column names each row's key variable."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from helpers import Ran, bulk_tasks, read_results

from bulk_tasks.sandbox import Sandbox, SandboxServer, max_in_window

USER = "usr_7YzNqVRMCfdeHEzMn"
TEAM_KEYS = {
    "TEAM_A_KEY": "team-a-key-Aa1-secret",
    "TEAM_B_KEY": "team-b-key-Bb2-secret",
    "TEAM_C_KEY": "team-c-key-Cc3-secret",
}


def write_teams(path: Path, per_team: int, *, header: str = "apiKeyEnv") -> Path:
    """``per_team`` rows for each team, grouped by team as a CRM export would be."""
    lines = [f"leadId,type,assignedTo,dueDate,title,{header}"]
    for team in TEAM_KEYS:
        lines += [
            f"lea_{team[5]}{n:016d},phone,{USER},2026-12-01 09:00,Call {n},{team}"
            for n in range(per_team)
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(data: Path, url: str, *more: str | Path, env: dict[str, str]) -> Ran:
    return bulk_tasks("run", data, "-t", "lemlist", "--base-url", url, *more, key=None, env=env)


def assert_no_key_in(ran: Ran, *files: Path) -> None:
    for secret in TEAM_KEYS.values():
        assert secret not in ran.stdout + ran.stderr
        for file in files:
            assert secret not in file.read_text(encoding="utf-8")


def test_each_key_is_sent_in_parallel_under_its_own_window(tmp_path: Path) -> None:
    sandbox = Sandbox(keys=set(TEAM_KEYS.values()))
    results = tmp_path / "out.csv"
    with SandboxServer(sandbox) as server:
        ran = run(
            write_teams(tmp_path / "in.csv", 25, header="API Key Env"),
            server.url,
            "--results",
            results,
            env=TEAM_KEYS,  # LEMLIST_API_KEY is not set: no row needs it
        )
    assert ran.code == 0, ran.stderr
    lines = read_results(results)
    assert Counter(line["status"] for line in lines) == {"created": 75}
    # every task was made with its row's key, and each key kept to its own window
    key_of_lead = {a.body["leadId"]: a.key for a in sandbox.applied}
    for line in lines:
        assert key_of_lead[line["leadId"]] == TEAM_KEYS[line["API Key Env"]]
    arrivals = sandbox.arrivals
    assert [a.status for a in arrivals].count(429) == 0
    for secret in TEAM_KEYS.values():
        times = [a.time for a in arrivals if a.key == secret]
        assert len(times) == 25
        assert max_in_window(times, 2.0) <= 20
    # the keys were sent at the same time, though the file lists the teams one after another
    spans = [
        (min(times), max(times))
        for secret in TEAM_KEYS.values()
        if (times := [a.time for a in arrivals if a.key == secret])
    ]
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    assert_no_key_in(ran, results)


def test_a_variable_not_set_fails_its_rows_only(tmp_path: Path) -> None:
    sandbox = Sandbox(keys=set(TEAM_KEYS.values()))
    results = tmp_path / "out.csv"
    env = {name: key for name, key in TEAM_KEYS.items() if name != "TEAM_C_KEY"}
    with SandboxServer(sandbox) as server:
        ran = run(write_teams(tmp_path / "in.csv", 5), server.url, "--results", results, env=env)
    assert ran.code == 1, ran.stderr
    assert "TEAM_C_KEY is not set" in ran.stdout + ran.stderr
    by_team = {
        team: {
            (line["status"], line["error_code"])
            for line in read_results(results)
            if line["apiKeyEnv"] == team
        }
        for team in TEAM_KEYS
    }
    assert by_team == {
        "TEAM_A_KEY": {("created", "")},
        "TEAM_B_KEY": {("created", "")},
        "TEAM_C_KEY": {("not_sent", "key_missing")},
    }
    assert len(sandbox.applied) == 10
    # once the variable is set, --resume sends just those rows
    with SandboxServer(sandbox) as server:
        again = run(
            tmp_path / "in.csv", server.url, "--results", results, "--resume", env=TEAM_KEYS
        )
    assert again.code == 0, again.stderr
    assert len(sandbox.applied) == 15
    assert_no_key_in(again, results)


def test_a_refused_key_stops_its_rows_only(tmp_path: Path) -> None:
    sandbox = Sandbox(keys={TEAM_KEYS["TEAM_A_KEY"], TEAM_KEYS["TEAM_C_KEY"]})
    results = tmp_path / "out.csv"
    with SandboxServer(sandbox) as server:
        ran = run(
            write_teams(tmp_path / "in.csv", 30), server.url, "--results", results, env=TEAM_KEYS
        )
    assert ran.code == 1, ran.stderr
    assert "Key TEAM_B_KEY: lemlist refused the API key in TEAM_B_KEY (HTTP 401" in ran.stdout
    statuses = Counter(
        (line["apiKeyEnv"], line["status"], line["error_code"]) for line in read_results(results)
    )
    assert statuses == {
        ("TEAM_A_KEY", "created", ""): 30,
        ("TEAM_B_KEY", "not_sent", "key_rejected"): 30,
        ("TEAM_C_KEY", "created", ""): 30,
    }
    refused = [a for a in sandbox.arrivals if a.key == TEAM_KEYS["TEAM_B_KEY"]]
    assert 1 <= len(refused) <= 20  # what was on its way; nothing after the refusal
    assert_no_key_in(ran, results)


@pytest.mark.parametrize("cell", ["", "LEMLIST_API_KEY"])
def test_a_blank_cell_uses_the_vendors_variable(tmp_path: Path, cell: str) -> None:
    data = tmp_path / "in.csv"
    data.write_text(
        "leadId,type,assignedTo,dueDate,apiKeyEnv\n"
        f"lea_AAAAAAAAAAAAAAAAA,phone,{USER},2026-12-01,{cell}\n"
        f"lea_BBBBBBBBBBBBBBBBB,phone,{USER},2026-12-01,TEAM_A_KEY\n",
        encoding="utf-8",
    )
    sandbox = Sandbox()
    with SandboxServer(sandbox) as server:
        ran = run(data, server.url, env=TEAM_KEYS | {"LEMLIST_API_KEY": "vendor-key-Vv9-secret"})
    assert ran.code == 0, ran.stderr
    assert sorted(a.key for a in sandbox.applied) == [
        "team-a-key-Aa1-secret",
        "vendor-key-Vv9-secret",
    ]


def test_a_cell_that_names_no_variable_is_invalid_and_not_echoed(tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text(
        "leadId,type,assignedTo,dueDate,Key Env\n"
        f"lea_AAAAAAAAAAAAAAAAA,phone,{USER},2026-12-01,sk live 123\n",
        encoding="utf-8",
    )
    results = tmp_path / "check.csv"
    ran = bulk_tasks(
        "validate", data, "-t", "lemlist", "--map", _map(tmp_path), "--results", results, key=None
    )
    assert ran.code == 1, ran.stderr
    [line] = read_results(results)
    assert (line["status"], line["error_code"]) == ("invalid", "apiKeyEnv")
    assert line["error_message"].startswith(
        'column "Key Env" does not hold the name of an environment variable'
    )
    assert "sk live" not in line["error_message"]


def _map(tmp_path: Path) -> Path:
    path = tmp_path / "map.toml"
    path.write_text('apiKeyEnv = "Key Env"\n', encoding="utf-8")
    return path
