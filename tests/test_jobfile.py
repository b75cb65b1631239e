"""Job files: run's options in TOML, command-line flags over them, keys never in them."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import KEY, SAMPLES, bulk_tasks, read_results

from bulk_tasks.cli.jobfile import read_job_file
from bulk_tasks.errors import OptionError
from bulk_tasks.sandbox import Sandbox, SandboxServer


def job(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs" / "job.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_every_kind_of_option_is_read_and_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = job(
        tmp_path,
        'input = "in.csv"\ntarget = "saleshandy"\nresults = "out/r.csv"\nrate = "10/1"\n'
        'timeout = 12.5\nbatch-size = 50\nresume = true\nmap = "map.toml"\n'
        'share = "redis://cache.internal:6379/2"\n'
        '[set]\ntaskNote = "Weekly"\n',
    )
    assert read_job_file(path) == {
        "input": str(path.parent / "in.csv"),
        "target": "saleshandy",
        "results": str(path.parent / "out/r.csv"),
        "rate": "10/1",
        "timeout": 12.5,
        "batch_size": 50,
        "resume": True,
        "map": str(path.parent / "map.toml"),
        "set": {"taskNote": "Weekly"},
        "share": "redis://cache.internal:6379/2",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('api_key = "k"', '"api_key" looks like an API key; keys never go in a job file'),
        ('token = "k"', '"token" looks like an API key; keys never go in a job file'),
        ('colour = "blue"', '"colour" is not an option of run; use input, target, action'),
        ('done = "processed"', '"done" is an option of run-folder, not of run; remove it'),
        ('timeout = "soon"', "\"timeout\" must be a number of seconds, not 'soon'"),
        ("resume = 1", '"resume" must be true or false, not 1'),
        ("batch_size = true", '"batch_size" must be a whole number, not True'),
        ("[set]\npriority = 2", 'every value of "set" must be in quotes'),
        ("input = ", "not a TOML file"),
    ],
)
def test_a_wrong_entry_names_the_key_and_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = job(tmp_path, text + "\n")
    with pytest.raises(OptionError) as error:
        read_job_file(path)
    assert str(error.value).startswith(f"--config {path}: ")
    assert message in str(error.value)


def test_a_job_runs_and_flags_win_over_the_file(tmp_path: Path) -> None:
    data = tmp_path / "jobs" / "follow-ups.csv"
    data.parent.mkdir()
    data.write_text((SAMPLES / "saleshandy_create.csv").read_text("utf-8"), "utf-8")
    sandbox = Sandbox(keys={KEY})
    with SandboxServer(sandbox) as server:
        path = job(
            tmp_path,
            f'input = "follow-ups.csv"\ntarget = "saleshandy"\nresults = "out/r.csv"\n'
            f'base_url = "{server.url}"\nbatch_size = 100\n'
            '[set]\ntaskNote = "From the weekly import"\n',
        )
        ran = bulk_tasks("run", "--config", path, "--batch-size", "2", "--set", "priority=Low")
        assert ran.code == 1, ran.stderr
        bodies = [applied.body for applied in sandbox.applied]
    assert max(len(body["prospectIds"]) for body in bodies) == 2  # the flag, not the file
    assert {body["taskNote"] for body in bodies} == {"From the weekly import"}  # the file's
    assert {body["priority"] for body in bodies} == {"4"}  # --set adds to the file's table
    assert len(read_results(path.parent / "out" / "r.csv")) == 15


def test_run_without_input_or_target_says_where_to_give_them(tmp_path: Path) -> None:
    ran = bulk_tasks("run", key=None)
    assert (ran.code, ran.stderr) == (
        2,
        "bulk-tasks: run needs INPUT (or input in a --config file)\n",
    )
    path = job(tmp_path, 'input = "x.csv"\n')
    ran = bulk_tasks("run", "--config", path, key=None)
    assert ran.stderr == f"bulk-tasks: run needs --target NAME or target = … in {path}\n"
    wrong = job(tmp_path, 'input = "x.csv"\ntarget = "hubspot"\n')
    ran = bulk_tasks("run", "--config", wrong, key=None)
    assert ran.stderr.startswith(
        f'bulk-tasks: --config {wrong}: "target" must be one of lemlist, saleshandy, attio'
    )


def test_an_inline_map_table_and_the_sandbox_from_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "jobs"
    folder.mkdir()
    (folder / "people.csv").write_text("Who,What\nA1 B2,Call demo\n", encoding="utf-8")
    path = job(
        tmp_path,
        'input = "people.csv"\ntarget = "saleshandy"\nsandbox = true\n'
        '[map]\nprospectIds = "Who"\ntaskType = "What"\n',
    )
    ran = bulk_tasks("run", "--config", path, key=None)
    assert ran.code == 0, ran.stderr
    assert "Using the built-in sandbox" in ran.stderr
    lines = read_results(folder / "people.results.csv")
    assert [(line["prospect_id"], line["status"]) for line in lines] == [
        ("A1", "created"),
        ("B2", "created"),
    ]
