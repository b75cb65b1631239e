"""What a user reads when an option is wrong, a key cannot be one, or a run waits or ends:
one line that names the value and says what to do, counts that read right for one line.

In-process, through typer's runner and the threaded sandbox over real HTTP.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from helpers import KEY, KEY_VARIABLES, SAMPLES, read_results
from rich.console import Console
from typer.testing import CliRunner, Result

from bulk_tasks.cli.commands import app
from bulk_tasks.cli.progress import watcher
from bulk_tasks.results import Status
from bulk_tasks.sandbox import Faults, Sandbox, SandboxServer

LEMLIST_CREATE = str(SAMPLES / "lemlist_create.csv")
USER = "usr_7YzNqVRMCfdeHEzMn"
KEYS = dict.fromkeys(KEY_VARIABLES, KEY)


def write_lemlist(path: Path, *, rows: int, key_envs: list[str] | None = None) -> Path:
    """A lemlist create file of ``rows`` rows, naming in turn the variables ``key_envs``."""
    header = "leadId,type,assignedTo,dueDate,title" + (",apiKeyEnv" if key_envs else "")
    lines = [header]
    for n in range(rows):
        key_env = f",{key_envs[n % len(key_envs)]}" if key_envs else ""
        lines.append(f"lea_{n:017d},phone,{USER},2026-12-01 09:00,Call {n}{key_env}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    """``bulk-tasks ARGS``, as a user types it, with no API key but those in ``env``."""
    unset: dict[str, str | None] = dict.fromkeys(KEY_VARIABLES)
    return CliRunner().invoke(app, [str(arg) for arg in args], env=unset | (env or {}))


def run_lemlist(
    data: Path, server: SandboxServer, *, env: dict[str, str], more: tuple[str, ...] = ()
) -> Result:
    """``bulk-tasks run DATA --target lemlist`` against the sandbox, with the keys in ``env``
    and the options ``more``."""
    return invoke("run", data, "-t", "lemlist", "--base-url", server.url, *more, env=env)


def run_saleshandy(tmp_path: Path, server: SandboxServer, row: str) -> Result:
    """``bulk-tasks run`` of a Saleshandy file of one ``row`` (prospect ids, task type), with
    its results at in.results.csv."""
    data = tmp_path / "in.csv"
    data.write_text(f"Prospect IDs,Task Type\n{row}\n", encoding="utf-8")
    return invoke("run", data, "-t", "saleshandy", "--base-url", server.url, env=KEYS)


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            ["--target", "hubspot"],
            'bulk-tasks: --target "hubspot": not a vendor; use one of lemlist, saleshandy, attio\n',
        ),
        (
            ["--target", "lemlist", "--action", "delete"],
            "bulk-tasks: --action delete: lemlist can only create or update\n",
        ),
        (
            ["--target", "lemlist", "--date-format", "YMD"],
            'bulk-tasks: --date-format "YMD": not a date order; use DMY (03/04/2026 is 3 April) '
            "or MDY (03/04/2026 is 4 March)\n",
        ),
    ],
)
def test_a_wrong_choice_is_named_with_the_choices(option: list[str], message: str) -> None:
    ran = invoke("validate", LEMLIST_CREATE, *option)
    assert (ran.exit_code, ran.stdout, ran.stderr) == (2, "", message)


# --- keys that cannot be keys ---


def test_a_key_with_a_space_inside_is_refused_before_anything_is_sent(
    server: SandboxServer, tmp_path: Path
) -> None:
    data = write_lemlist(tmp_path / "in.csv", rows=3)
    ran = run_lemlist(data, server, env={"LEMLIST_API_KEY": f" {KEY[:4]} {KEY[4:]}\n"})
    assert (ran.exit_code, ran.stdout, ran.stderr) == (
        2,
        "",
        "bulk-tasks: LEMLIST_API_KEY holds a space: an API key has none; copy the key again "
        "(find it in lemlist's settings, under integrations), or try the built-in sandbox with "
        "--sandbox\n",
    )
    assert server.sandbox.arrivals == []


def test_a_key_copied_with_spaces_and_a_new_line_around_it_is_used(
    server: SandboxServer, tmp_path: Path
) -> None:
    data = write_lemlist(tmp_path / "in.csv", rows=1)
    ran = run_lemlist(data, server, env={"LEMLIST_API_KEY": f"  {KEY}\r\n"})
    assert ran.exit_code == 0, ran.stderr


def test_rows_naming_a_key_that_cannot_be_one_are_not_sent_and_say_why(
    server: SandboxServer, tmp_path: Path
) -> None:
    data = write_lemlist(tmp_path / "in.csv", rows=4, key_envs=["ACME_KEY", "GLOBEX_KEY"])
    ran = run_lemlist(data, server, env={"ACME_KEY": KEY, "GLOBEX_KEY": f"{KEY}\tcopied-too"})
    said = (
        "GLOBEX_KEY holds a tab: an API key has none; copy the key again (the lemlist key of the "
        "rows that name it)"
    )
    assert ran.exit_code == 1, ran.stderr
    assert ran.stderr.count(said) == 1
    assert f"Key GLOBEX_KEY: {said}; its rows were not sent\n" in ran.stdout
    lines = sorted(read_results(tmp_path / "in.results.csv"), key=lambda line: line["row"])
    assert [(line["status"], line["error_code"]) for line in lines] == [
        ("created", ""),
        ("not_sent", "key_missing"),
    ] * 2
    assert lines[1]["error_message"] == (
        f"{said}; nothing was sent: set it, then run again with --resume"
    )
    assert len(server.sandbox.arrivals) == 2


# --- counts that read right for one ---


def test_one_row_of_one_prospect_is_counted_in_the_singular(
    server: SandboxServer, tmp_path: Path
) -> None:
    ran = run_saleshandy(tmp_path, server, "OMITb2,9")  # left out of the answer: unknown
    assert ran.exit_code == 1, ran.stderr
    assert re.match(r"saleshandy create: 1 row, 1 prospect in [\d.]+ s\n", ran.stdout)
    assert re.search(
        r"^\[\d\d:\d\d:\d\d\] 1/1 rows, [\d.]+ rows/s \(1 prospect: unknown 1\)$",
        ran.stderr,
        re.MULTILINE,
    )
    assert ran.stderr.endswith(
        "1 prospect is unknown: it was sent but no answer said what became of it, so it may "
        "exist in saleshandy. Check it before sending it again with --resume --retry-unknown "
        "(README: When things go wrong).\n"
    )


def test_one_partly_created_row_is_named_in_the_singular(
    server: SandboxServer, tmp_path: Path
) -> None:
    ran = run_saleshandy(tmp_path, server, "A1 INVALIDxx,9")  # the sandbox refuses INVALIDxx
    assert ran.exit_code == 1, ran.stderr
    assert "\n  partly created: row 2 (see prospect_id in the results)\n" in ran.stdout


def test_a_one_row_validation_says_one_row(tmp_path: Path) -> None:
    data = write_lemlist(tmp_path / "in.csv", rows=1)
    ran = invoke("validate", data, "-t", "lemlist")
    assert ran.exit_code == 0, ran.stderr
    assert re.match(r"lemlist create \(validation only\): 1 row in [\d.]+ s\n", ran.stdout)


# --- what the summary says of lines that got no answer ---


def test_saleshandy_lines_with_no_answer_are_not_said_to_be_looked_up(
    server: SandboxServer, tmp_path: Path
) -> None:
    ran = run_saleshandy(tmp_path, server, "OMITb2,9")  # left out of the answer: unknown
    results = tmp_path / "in.results.csv"
    resolved = invoke("resolve", results, "-t", "saleshandy", "--base-url", server.url, env=KEYS)
    said = (
        "No answer: 1 prospect unknown; Saleshandy cannot be asked: check it in Saleshandy's app "
        "(README: When things go wrong)\n"
    )
    for summary in (ran, resolved):
        assert summary.exit_code == 1, summary.stderr
        assert said in summary.stdout
        assert "looked up" not in summary.stdout
    assert "  unknown         1\n" in resolved.stdout
    assert [line["status"] for line in read_results(results)] == ["unknown"]


# --- the wait before unknown lines are looked up ---


def test_the_wait_before_the_lookups_says_what_it_waits_for(tmp_path: Path) -> None:
    data = write_lemlist(tmp_path / "in.csv", rows=1)
    dropped = Faults(p_drop=1.0)  # the task is created, but no answer comes
    with SandboxServer(Sandbox(keys={KEY}, faults=dropped)) as server:
        ended = run_lemlist(data, server, env=KEYS, more=("--timeout", "3"))
    with SandboxServer(Sandbox(keys={KEY}, faults=dropped)) as server:
        # another sandbox: the task ledger's word on the first one's task does not hold here
        more = ("--timeout", "3", "--force", "--no-resolve", "--ledger", "off")
        first = run_lemlist(data, server, env=KEYS, more=more)
        again = run_lemlist(
            data, server, env=KEYS, more=("--timeout", "3", "--resume", "--ledger", "off")
        )
    assert first.exit_code == 1, first.stderr
    for ran, whose in ((again, "an earlier run's"), (ended, "")):
        assert ran.exit_code == 0, ran.stderr
        waited = (
            rf"^\[\d\d:\d\d:\d\d\] waiting \d s for late answers before looking up "
            rf"{whose}{' ' if whose else ''}1 unknown row at lemlist$"
        )
        assert re.search(waited, ran.stderr, re.MULTILINE), ran.stderr
        assert " s left" not in ran.stderr


def test_the_time_left_leaves_the_wait_out() -> None:
    now = [0.0]
    shown = io.StringIO()
    progress = watcher(Console(file=shown, width=200), clock=lambda: now[0])
    progress.start(100, [])
    now[0] = 1.0
    for _ in range(10):
        progress.advance(Status.CREATED)
    progress.wait("for late answers before looking up 1 unknown row at lemlist", seconds=1000)
    now[0] = 1001.0  # the wait is over: one more row, 11 in 1 s of sending
    progress.advance(Status.CREATED)
    assert re.fullmatch(
        r"\[\d\d:\d\d:\d\d\] waiting 1000 s for late answers before looking up 1 unknown row "
        r"at lemlist\n"
        r"\[\d\d:\d\d:\d\d\] 11/100 rows, 11\.0 rows/s, ~8 s left \(created 11\)\n",
        shown.getvalue(),
    ), shown.getvalue()


def bar_after_a_wait(*, seconds_after: float, more_rows: int) -> str:
    """The last frame of a terminal's bar: 10 rows, a row a second for 3 s, a wait of 30 s,
    then ``more_rows`` rows ``seconds_after`` the wait began."""
    now = [0.0]
    shown = io.StringIO()
    progress = watcher(Console(file=shown, force_terminal=True, width=200), clock=lambda: now[0])
    progress.start(10, [])
    for second in (1.0, 2.0, 3.0):
        now[0] = second
        progress.advance(Status.CREATED)
    progress.wait("for late answers before looking up 1 unknown row at lemlist", seconds=30)
    now[0] = 3.0 + seconds_after
    for _ in range(more_rows):
        progress.advance(Status.CREATED)
    progress.finish()  # draws the last frame
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.getvalue()).replace("\r", "\n")
    return [frame for frame in frames.splitlines() if frame.strip()][-1]


def test_the_bar_counts_the_wait_down() -> None:
    assert bar_after_a_wait(seconds_after=10, more_rows=0).endswith(
        " 3/10  30% 1.0 rows/s waiting 20 s for late answers before looking up 1 unknown row at "
        "lemlist"
    )


def test_the_bars_time_left_leaves_the_wait_out() -> None:
    # 6 rows left at a row a second
    assert bar_after_a_wait(seconds_after=31, more_rows=1).endswith(" 4/10  40% 1.0 rows/s 0:00:06")
