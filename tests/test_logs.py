"""--log-format json: every line a command prints is one JSON object, keys never in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from helpers import KEY, ROOT, SAMPLES, Ran, bulk_tasks

from bulk_tasks.sandbox import Sandbox, SandboxServer


def records(ran: Ran) -> list[dict[str, Any]]:
    """Every line printed, parsed; fails if one is not a JSON object with the basics."""
    parsed = [json.loads(line) for line in (ran.stdout + ran.stderr).splitlines()]
    for record in parsed:
        assert {"time", "level", "event"} <= set(record), record
        assert record["time"].endswith("Z")
    assert KEY not in ran.stdout + ran.stderr
    return parsed


def by_event(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["event"]: record for record in found}


def test_a_lemlist_run_in_json(tmp_path: Path) -> None:
    results = tmp_path / "out.csv"
    ran = bulk_tasks(
        "run", SAMPLES / "lemlist_create.csv", "-t", "lemlist", "--sandbox", "--results", results,
        "--log-format", "json", key=None,
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    events = by_event(records(ran))
    assert {"sandbox", "run.started", "progress", "summary"} <= set(events)
    summary = events["summary"]
    assert (summary["counts"], summary["rows"], summary["exit_code"]) == ({"created": 12}, 12, 0)
    assert summary["results"] == str(results)
    assert events["progress"]["rows_done"] == 12
    named = {events[event]["input"] for event in ("run.started", "progress")}
    assert named == {str(SAMPLES / "lemlist_create.csv")}


def test_a_saleshandy_run_says_rows_and_prospects(tmp_path: Path) -> None:
    ran = bulk_tasks(
        "run", SAMPLES / "saleshandy_create.csv", "-t", "saleshandy", "--sandbox", "--results",
        tmp_path / "out.csv", "--log-format", "json", key=None,
    )  # fmt: skip
    assert ran.code == 1
    summary = by_event(records(ran))["summary"]
    assert summary["line_noun"] == "prospects"
    assert (summary["lines"], summary["rows_partly_created"], summary["partly_created_rows"]) == (
        15,
        1,
        [4],
    )


def test_a_stopped_run_and_an_error_in_json(tmp_path: Path) -> None:
    data = SAMPLES / "lemlist_create.csv"
    with SandboxServer(Sandbox(keys={"another-key"})) as server:
        ran = bulk_tasks(
            "run", data, "-t", "lemlist", "--base-url", server.url, "--results",
            tmp_path / "out.csv", "--log-format", "json",
        )  # fmt: skip
    assert ran.code == 2
    events = by_event(records(ran))
    assert events["stopped"]["level"] == "error"
    assert "refused the API key" in events["stopped"]["message"]
    assert events["resume_hint"]["command"].endswith("--resume")
    missing = bulk_tasks("run", data, "-t", "lemlist", "--log-format", "json", key=None)
    [error] = records(missing)
    assert (error["event"], error["level"]) == ("error", "error")
    assert error["message"].startswith("LEMLIST_API_KEY is not set")


def test_validate_reconcile_and_run_folder_in_json(tmp_path: Path) -> None:
    checked = bulk_tasks(
        "validate", SAMPLES / "saleshandy_create.csv", "-t", "saleshandy", "--results",
        tmp_path / "check.csv", "--log-format", "json", key=None,
    )  # fmt: skip
    assert by_event(records(checked))["summary"]["counts"] == {"not_sent": 13, "invalid": 2}
    results = tmp_path / "out.csv"
    bulk_tasks(
        "run", SAMPLES / "saleshandy_create.csv", "-t", "saleshandy", "--sandbox", "--results",
        results, key=None,
    )  # fmt: skip
    settled = bulk_tasks("reconcile", results, "--log-format", "json", key=None)
    summary = by_event(records(settled))["reconcile.summary"]
    assert summary["rows"] == {"fully_created": 6, "partly_created": 1, "not_created": 2}
    assert summary["top_errors"][0]["error_code"] == "not_created"
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_text("prospectIds,taskType\nA1,13\n", encoding="utf-8")
    folder = bulk_tasks(
        "run-folder", inbox, "-t", "saleshandy", "--done", tmp_path / "done", "--sandbox",
        "--settle", "0", "--log-format", "json", key=None,
    )  # fmt: skip
    assert folder.code == 0, folder.stderr
    files = [record for record in records(folder) if record["event"] == "file"]
    assert [(f["file"], f["exit_code"]) for f in files] == [("a.csv", 0)]


def test_the_sandbox_in_json() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    command = [sys.executable, "-m", "bulk_tasks", "sandbox", "--port", "0", "--log-format", "json"]
    with subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) as process:
        assert process.stderr is not None
        lines = [process.stderr.readline() for _ in range(4)]
        process.terminate()
        process.wait(timeout=10)
    found = [json.loads(line) for line in lines]
    assert [record["event"] for record in found] == ["sandbox.serving"] * 3 + ["sandbox.ready"]
    assert [record["vendor"] for record in found[:3]] == ["lemlist", "saleshandy", "attio"]
