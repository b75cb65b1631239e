"""The one lookup procedure, given an earlier run's lines or the run's own, and how what it
settles reaches the gate: a :class:`~bulk_tasks.job.state.Run` against the threaded sandbox, in
this process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import httpx
from helpers import KEY, read_results

from bulk_tasks.job import Plan, Run
from bulk_tasks.job.gate import LineGate
from bulk_tasks.job.lookups import LookupPlan, LookupRounds
from bulk_tasks.job.progress import Silent
from bulk_tasks.job.resolver import Unresolved
from bulk_tasks.job.summary import Summary
from bulk_tasks.keys import Keys
from bulk_tasks.results import Journal, Outcome, Status
from bulk_tasks.rows.rules import Line
from bulk_tasks.sandbox import Sandbox, SandboxServer
from bulk_tasks.sending.window import Rate
from bulk_tasks.settings import Settings

USER = "usr_7YzNqVRMCfdeHEzMn"
HEADERS = ["leadId", "type", "assignedTo", "dueDate", "title"]
NO_ANSWER = Outcome(status=Status.UNKNOWN, error_code="no_answer", error_message="no answer")
#: what lemlist is sent for the line of lead 0 (``settings_for``'s rows)
BODY = {
    "recordId": "lea_00000000000000000",
    "leadId": "lea_00000000000000000",
    "type": "phone",
    "assignedTo": USER,
    "title": "Call",
    "dueDate": "2026-12-01T09:00:00.000Z",
}


@dataclass
class Heard:
    """How the looked-up lines ended, as a lookup's ``ends`` hears it; a line that ends is
    written to ``journal``, as every lookup's ends write it."""

    journal: Journal
    ended_with: list[Outcome] = field(default_factory=list)
    left_unknown: list[Outcome] = field(default_factory=list)

    def ended(self, line: Line, outcome: Outcome) -> None:
        self.journal.write(line.row, outcome, line.fingerprint)
        self.ended_with.append(outcome)

    def still_unknown(self, line: Line, outcome: Outcome) -> None:
        self.left_unknown.append(outcome)


def settings_for(tmp_path: Path, url: str, *, leads: int = 1, rows_each: int = 1) -> Settings:
    """Settings of a lemlist run of ``rows_each`` identical rows for each of ``leads``."""
    data = tmp_path / "in.csv"
    lines = [",".join(HEADERS)]
    for n in range(leads):
        lines += [f"lea_{n:017d},phone,{USER},2026-12-01 09:00,Call"] * rows_each
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Settings(
        input=data, target="lemlist", base_url=url, rate=Rate(50, 0.5), timeout=1, share="off"
    )


def lines_of(settings: Settings) -> list[Line]:
    plan = Plan(settings)
    return list(plan.lines(plan.summary(settings.input), Silent()))


def run_of(settings: Settings, journal: Journal) -> Run:
    summary = Summary(results=journal.path)
    return Run(settings, journal, keys=Keys(settings.vendor, given=KEY), summary=summary,
               progress=Silent())  # fmt: skip


async def look_up(run: Run, lines: list[Line], *, recent: bool, ends: Heard) -> None:
    """``lines``, unknown, looked up by ``run`` with no quiet period left to wait."""
    async with run.going(key_of=run.keys.key) as lanes:
        lookup = LookupPlan(
            [Unresolved(line, NO_ANSWER) for line in lines],
            quiet_from=asyncio.get_running_loop().time() - 60,
            recent=recent,
            ends=ends,
            refusal_stops_run=True,
        )
        await LookupRounds(run, lanes, lookup).look_up()


def test_whether_a_missing_task_is_sent_again_is_the_lookups_to_say(tmp_path: Path) -> None:
    with SandboxServer(Sandbox(keys={KEY})) as server:
        settings = settings_for(tmp_path, server.url)
        [line] = lines_of(settings)
        journal = Journal(tmp_path / "out.csv", HEADERS, destination=settings.destination)
        run = run_of(settings, journal)
        older, own = Heard(journal), Heard(journal)
        # an earlier run's line, sent long ago: its lemlist task may have been marked done
        asyncio.run(look_up(run, [line], recent=False, ends=older))
        assert server.sandbox.applied == []
        # the run's own line: a task not found never landed, so it is sent again
        asyncio.run(look_up(run, [line], recent=True, ends=own))
        [task] = server.sandbox.applied
        journal.close()
    assert older.ended_with == []
    [unknown] = older.left_unknown
    assert unknown.error_message == (
        "no answer [looked up: it is not among lemlist's pending tasks: it never landed, or it "
        "was marked done since (lemlist does not list done tasks); look for it in lemlist, and "
        "if it is missing, run again with --resume --retry-unknown]"
    )
    [created] = own.ended_with
    assert (created.status, created.remote_id) == (Status.CREATED, task.task_id)
    assert created.error_message.endswith(
        "sent again: lemlist had no such task after no answer came"
    )
    assert run.summary.resolved == {"still unknown": 1, "sent again": 1}


class TwoIdentical(NamedTuple):
    """A run of two identical lines against the sandbox, which holds a task made for them."""

    server: SandboxServer
    first: Line
    second: Line
    journal: Journal
    run: Run
    made: str


@contextlib.contextmanager
def two_identical_lines(tmp_path: Path) -> Iterator[TwoIdentical]:
    with SandboxServer(Sandbox(keys={KEY})) as server:
        settings = settings_for(tmp_path, server.url, rows_each=2)
        first, second = lines_of(settings)
        made = httpx.post(f"{server.url}/api/tasks", json=BODY, auth=("", KEY)).json()["_id"]
        journal = Journal(tmp_path / "out.csv", HEADERS, destination=settings.destination)
        yield TwoIdentical(server, first, second, journal, run_of(settings, journal), made)


def test_a_task_one_lookup_of_the_run_found_is_never_taken_by_a_later_one(tmp_path: Path) -> None:
    with two_identical_lines(tmp_path) as (server, first, second, journal, run, made):
        before, after = Heard(journal), Heard(journal)
        # before sending, an earlier run's line finds the task made for it
        asyncio.run(look_up(run, [first], recent=True, ends=before))
        # at the end of the run, an identical line (a #2) does not take it again: it is sent
        asyncio.run(look_up(run, [second], recent=True, ends=after))
        tasks = [applied.task_id for applied in server.sandbox.applied]
        journal.close()
    [found] = before.ended_with
    assert found.remote_id == made
    [sent] = after.ended_with
    assert sent.status is Status.CREATED
    assert sent.remote_id not in (made, "")
    assert tasks == [made, sent.remote_id]
    assert run.known_tasks({made, sent.remote_id, "opp_NotOurs"}) == {made, sent.remote_id}


def test_a_task_a_line_of_the_results_file_names_is_never_taken_by_a_lookup(
    tmp_path: Path,
) -> None:
    with two_identical_lines(tmp_path) as (server, first, second, journal, run, made):
        # the first of two identical rows was answered: its task is in the file, and only there
        created = Outcome(status=Status.CREATED, remote_id=made, http_status=200)
        journal.write(first.row, created, first.fingerprint)
        heard = Heard(journal)
        # the second got no answer: the task the first made is no answer to it, so it is sent
        asyncio.run(look_up(run, [second], recent=True, ends=heard))
        tasks = [applied.task_id for applied in server.sandbox.applied]
        journal.close()
    [sent] = heard.ended_with
    assert (sent.status, sent.error_message) == (
        Status.CREATED,
        "sent again: lemlist had no such task after no answer came",
    )
    assert tasks == [made, sent.remote_id]
    assert [line["remote_id"] for line in read_results(tmp_path / "out.csv")] == [
        made,
        sent.remote_id,
    ]


def test_what_a_lookup_before_sending_settles_the_gate_records_in_place_of_sending(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, "http://127.0.0.1:9", leads=2)
    results = tmp_path / "out.csv"
    earlier = Journal(results, HEADERS, destination=settings.destination)
    for line in lines_of(settings):
        earlier.write(line.row, NO_ANSWER, line.fingerprint)
    earlier.close()
    journal = Journal(results, HEADERS, destination=settings.destination, resume=True)
    run = run_of(settings, journal)
    plan = Plan(settings)
    gate = LineGate(run, plan.rules)
    first, second = plan.lines(run.summary, run.progress)
    found = Outcome(status=Status.CREATED, remote_id="opp_Found000000000001", http_status=200)
    run.earlier.decide(first.fingerprint, found)
    run.earlier.leave_unknown(
        second.fingerprint, Outcome(status=Status.UNKNOWN, error_message="no answer [looked up]")
    )
    assert (gate.ask(first), gate.ask(second)) == (None, None)
    journal.close()
    lines = read_results(results)[-2:]
    assert [(line["status"], line["remote_id"]) for line in lines] == [
        ("created", "opp_Found000000000001"),
        ("unknown", ""),
    ]
    assert lines[1]["error_message"] == (
        "no answer [looked up] [left alone by --resume; to send it again add --retry-unknown, "
        "which may create it twice]"
    )
    assert run.earlier.decided_statuses() == {Status.CREATED: 1}
