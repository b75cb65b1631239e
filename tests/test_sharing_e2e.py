"""Several runs on one key at the same time keep to one window: on this machine through the
cache folder, across machines through Redis; and what another tool sends on the key counts.

The sandbox's strict windows are the judge: its own record of arrivals and 429s. Most tests
run a window four times lemlist's pace (20 per 0.5 s) to stay short.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import RedisServer, free_port
from helpers import (
    KEY,
    ROOT,
    Background,
    bulk_tasks,
    environment,
    once_sent,
    read_results,
    wait_for_sent,
)

from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer, max_in_window

USER = "usr_7YzNqVRMCfdeHEzMn"
QUICK = ("--rate", "20/0.5")  # as the quick sandbox's window


def quick_sandbox(faults: Faults | None = None) -> Sandbox:
    return Sandbox(keys={KEY}, limit=20, period=0.5, faults=faults)


def creates(path: Path, rows: int, *, first: int = 0) -> Path:
    lines = ["leadId,type,assignedTo,dueDate,title"]
    lines += [
        f"lea_{n:017d},phone,{USER},2026-12-01 09:00,Call {n}" for n in range(first, first + rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def start(
    background: Background,
    data: Path,
    url: str,
    *more: str | Path,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """``bulk-tasks run`` in the background, with the tests' key."""
    results = data.with_suffix(".results.csv")
    command = ("run", data, "-t", "lemlist", "--base-url", url, "--results", results)
    return background.start(*command, *more, env=env)


def finish(runs: list[subprocess.Popen[str]], *, timeout: float = 120) -> None:
    for run in runs:
        _, stderr = run.communicate(timeout=timeout)
        assert run.returncode == 0, stderr


def window_refusals(sandbox: Sandbox) -> int:
    return [arrival.status for arrival in sandbox.arrivals].count(429)


def test_two_runs_on_one_key_share_its_window(
    tmp_path: Path, own_cache_folder: Path, background: Background
) -> None:
    sandbox = quick_sandbox()
    with SandboxServer(sandbox) as server:
        runs = [
            start(
                background, creates(tmp_path / f"{name}.csv", 100, first=first), server.url, *QUICK
            )
            for name, first in (("one", 0), ("two", 100))
        ]
        finish(runs)
    times = sorted(arrival.time for arrival in sandbox.arrivals)
    assert len(sandbox.applied) == 200
    assert window_refusals(sandbox) == 0
    assert max_in_window(times, 0.5) <= 20
    # together at the window's pace: 200 requests, 20 a slot's turn (0.5 s after its answer)
    assert times[-1] - times[0] < 1.5 * (200 / 20 - 1) * 0.51
    # the runs went on at the same time
    spans = [
        (min(t), max(t))
        for name in ("one", "two")
        if (
            t := [
                a.time
                for a in sandbox.applied
                if a.body["title"] in _titles(tmp_path / f"{name}.csv")
            ]
        )
    ]
    assert max(start for start, _ in spans) < min(end for _, end in spans)
    # the window's file names the key by a hash only
    for file in own_cache_folder.rglob("*"):
        assert KEY.encode() not in file.read_bytes()


def _titles(data: Path) -> set[str]:
    return {line.split(",")[-1] for line in data.read_text(encoding="utf-8").splitlines()[1:]}


#: runs the command with a wall clock (time.time) that steps 1 s forward or back every 0.5 s:
#: 0, +1 s, 0, -1 s, the same step at the same moment in every run, as NTP may set a clock
WITH_A_STEPPING_CLOCK = """
import sys, time
wall, since = time.time, float(sys.argv.pop(1))
def stepped():
    return wall() + (0.0, 1.0, 0.0, -1.0)[int((time.monotonic() - since) / 0.5) % 4]
time.time = stepped
from bulk_tasks.cli.commands import main
sys.argv[0] = "bulk-tasks"
main()
"""


def test_steps_of_the_wall_clock_never_end_a_shared_windows_slots_early(tmp_path: Path) -> None:
    sandbox = Sandbox(keys={KEY}, limit=20, period=0.25, faults=Faults(latency=(0.005, 0.03)))
    since = repr(time.monotonic())
    with SandboxServer(sandbox) as server:
        runs = []
        for n in range(2):
            data = creates(tmp_path / f"r{n}.csv", 150, first=150 * n)
            command = [sys.executable, "-c", WITH_A_STEPPING_CLOCK, since, "run", str(data)]
            command += ["-t", "lemlist", "--base-url", server.url, "--rate", "20/0.25"]
            command += ["--results"]
            command += [str(data.with_suffix(".results.csv"))]
            runs.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=environment(key=KEY, env=None),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        finish(runs)
    times = sorted(arrival.time for arrival in sandbox.arrivals)
    assert len(sandbox.applied) == 300
    assert window_refusals(sandbox) == 0
    assert max_in_window(times, 0.25) <= 20


def test_three_machines_share_a_window_through_redis(
    tmp_path: Path, redis_url: str, background: Background
) -> None:
    sandbox = quick_sandbox()
    with SandboxServer(sandbox) as server:
        runs = []
        for n in range(3):  # each with a cache folder of its own, as on another machine
            env = {"BULK_TASKS_CACHE_DIR": str(tmp_path / f"machine-{n}")}
            data = creates(tmp_path / f"m{n}.csv", 50, first=50 * n)
            runs.append(start(background, data, server.url, *QUICK, "--share", redis_url, env=env))
        finish(runs)
    times = sorted(arrival.time for arrival in sandbox.arrivals)
    assert len(sandbox.applied) == 150
    assert window_refusals(sandbox) == 0
    assert max_in_window(times, 0.5) <= 20


def test_a_run_killed_while_holding_slots_stalls_the_others_at_most_a_period_and_a_timeout(
    tmp_path: Path, background: Background
) -> None:
    # answers take 1.5 s: the killed run holds its 8 slots in flight (8/2 s, 2 s timeout)
    options = ("--rate", "8/2", "--timeout", "2")
    sandbox = Sandbox(keys={KEY}, faults=Faults(latency=(1.5, 1.5)))
    with SandboxServer(sandbox) as server:
        killed = start(background, creates(tmp_path / "killed.csv", 50), server.url, *options)
        wait_for_sent(sandbox, 8, killed)
        killed.send_signal(signal.SIGKILL)
        killed.communicate(timeout=10)
        gone = time.monotonic()
        other = start(
            background, creates(tmp_path / "other.csv", 8, first=100), server.url, *options
        )
        finish([other])
    first_arrivals = [a.time for a in sandbox.arrivals[:8]]
    later = [a.time for a in sandbox.arrivals[8:]]
    assert len(later) == 8
    assert window_refusals(sandbox) == 0
    # it waited for the killed run's slots: without, 16 would arrive in one window
    assert max_in_window(first_arrivals + later, 2.0) <= 8
    # the killed run's slots ended on their own: no later than 2 s (timeout) + 2 s (period)
    # after they were taken, so the other run waited less than that from the kill (a slot
    # whose answer came before the kill ends a period after it, sooner)
    assert min(later) - gone < 2 + 2 + 0.5


def test_another_tools_traffic_on_the_key_is_counted_before_it_draws_429s(
    tmp_path: Path,
) -> None:
    # lemlist's own window (20 per 2 s): the server's count is read against it
    sandbox = Sandbox(keys={KEY}, faults=Faults(foreign=6))  # 6 of 20 in every window
    results = tmp_path / "in.results.csv"
    with SandboxServer(sandbox) as server:
        ran = bulk_tasks(
            "run", creates(tmp_path / "in.csv", 100), "-t", "lemlist", "--base-url", server.url,
            "--results", results,
        )  # fmt: skip
    assert ran.code == 0, ran.stderr
    assert Counter(line["status"] for line in read_results(results)) == {"created": 100}
    requests = len(sandbox.arrivals)
    assert window_refusals(sandbox) <= requests // 100
    times = sorted(arrival.time for arrival in sandbox.arrivals)
    later = [moment for moment in times if moment >= times[0] + 2.0]
    sustained = (len(later) - 1) / (later[-1] - later[0])
    left = (20 - 6) / 2.01  # what the other tool leaves, at best
    assert sustained >= 0.7 * left


def test_a_run_whose_redis_goes_away_stops_and_resumes_later(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    sandbox = Sandbox(keys={KEY})
    data = creates(tmp_path / "in.csv", 40)
    with SandboxServer(sandbox) as server, once_sent(sandbox, 5, redis_server.stop):
        ran = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url,
                         "--share", redis_server.url)  # fmt: skip
    stderr = ran.stderr
    assert ran.code == 2
    assert f"--share {redis_server.url}: Redis failed while " in stderr
    lines = read_results(data.with_suffix(".results.csv"))
    statuses = Counter(line["status"] for line in lines)
    assert statuses["created"] == len(sandbox.applied) < 40
    assert statuses["created"] + statuses["not_sent"] == 40
    assert "--resume" in stderr


@pytest.mark.parametrize("how", ["option", "job file", "variable, run-folder"])
def test_an_unreachable_redis_stops_the_run_before_anything_is_sent(
    tmp_path: Path, server: SandboxServer, how: str
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    data = creates(tmp_path / "in.csv", 3)
    if how == "option":
        ran = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url, "--share", url)
    elif how == "job file":
        job = tmp_path / "job.toml"
        job.write_text(
            f'input = "in.csv"\ntarget = "lemlist"\nbase_url = "{server.url}"\nshare = "{url}"\n',
            encoding="utf-8",
        )
        ran = bulk_tasks("run", "--config", job)
    else:
        inbox = tmp_path / "inbox"
        inbox.mkdir()
        data = data.rename(inbox / "in.csv")
        os.utime(data, (time.time() - 60, time.time() - 60))
        ran = bulk_tasks(
            "run-folder", inbox, "-t", "lemlist", "--done", tmp_path / "done",
            "--base-url", server.url, env={"BULK_TASKS_SHARE": url},
        )  # fmt: skip
    assert ran.code == 2
    assert ran.stderr.startswith(f"bulk-tasks: --share {url}: cannot reach Redis (")
    assert ran.stderr.rstrip().endswith(
        "nothing was sent. Start Redis there or correct the URL (redis://HOST:PORT/DB), or "
        "leave --share out to share the window only with the runs on this machine"
    )
    assert server.sandbox.arrivals == []
    assert not data.with_suffix(".results.csv").exists()
    assert data.exists()  # an inbox file stays for the next pass


def test_resolve_with_an_unreachable_redis_looks_nothing_up_and_leaves_the_file(
    tmp_path: Path,
) -> None:
    data = creates(tmp_path / "in.csv", 30)
    results = data.with_suffix(".results.csv")
    sandbox = quick_sandbox(Faults(p_drop=0.2, seed=3))
    with SandboxServer(sandbox) as server:
        first = bulk_tasks(
            "run", data, "-t", "lemlist", "--base-url", server.url, *QUICK, "--timeout", "1",
            "--no-resolve",
        )  # fmt: skip
        assert first.code == 1, first.stderr
        before, arrivals = results.read_bytes(), len(sandbox.arrivals)
        url = f"redis://127.0.0.1:{free_port()}/0"
        ran = bulk_tasks(
            "resolve", results, "-t", "lemlist", "--base-url", server.url, "--share", url
        )
        assert len(sandbox.arrivals) == arrivals  # not one lookup
    assert ran.code == 2
    assert ran.stderr.startswith(f"bulk-tasks: --share {url}: cannot reach Redis (")
    assert results.read_bytes() == before
    assert b",unknown," in before


def test_a_shorter_rate_period_than_the_servers_is_not_taken_for_another_tool(
    tmp_path: Path,
) -> None:
    # lemlist's window is 20 per 2 s; --rate 5/0.5 asks for the same pace with a shorter
    # window, whose slots cannot hold every request the server still counts: what the
    # server says of its window must not be read as another tool's requests then
    sandbox = Sandbox(keys={KEY})
    with SandboxServer(sandbox) as server:
        data = creates(tmp_path / "in.csv", 60)
        ran = bulk_tasks("run", data, "-t", "lemlist", "--base-url", server.url, "--rate", "5/0.5")
    assert ran.code == 0, ran.stderr
    times = sorted(arrival.time for arrival in sandbox.arrivals)
    assert window_refusals(sandbox) == 0
    assert max_in_window(times, 0.5) <= 5
    # 12 windows of 5, each 0.51 s after the answers of the one before: read as another
    # tool's, the requests of the last 2 s held most windows back (about twice as long)
    assert times[-1] - times[0] < 1.35 * 11 * 0.51
