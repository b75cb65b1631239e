"""A claim another run holds in the task ledger: waited for while that run is alive, taken
over when it went without saying. The other run is played by writing to the ledger through
its own API, as a run on another machine would; the run under test is the real command,
against the sandbox over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import KEY, bulk_tasks, once_sent, read_results
from test_guarantees import FAST, fast_sandbox, write_creates
from test_ledger_runs import lemlist

from bulk_tasks.job.claims import ledger_destination
from bulk_tasks.job.ledger import Claim, Ledger, Scope, key_hash, open_ledger
from bulk_tasks.sandbox import SandboxServer
from bulk_tasks.settings import Settings


def scope(server: SandboxServer) -> Scope:
    """The scope of the lines a run sends to ``server`` with the test's key."""
    settings = Settings(input=Path("in.csv"), target="lemlist", base_url=server.url)
    return Scope("lemlist", ledger_destination(settings), key_hash(KEY))


ELSEWHERE = "/srv/other-machine/in.results.csv"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    opened = open_ledger(str(tmp_path / "ledger.sqlite3"))
    assert opened is not None
    yield opened
    opened.close()


def fingerprints(data: Path) -> list[str]:
    """The lines' fingerprints, as validate reports them."""
    checked = bulk_tasks("validate", data, "-t", "lemlist", "--results", data.with_suffix(".v.csv"))
    assert checked.code == 0, checked.stderr
    return [line["fingerprint"] for line in read_results(data.with_suffix(".v.csv"))]


def claim(ledger: Ledger, at: Scope, fingerprint: str, *, run_id: str) -> None:
    assert ledger.claim(at, Claim(fingerprint, {}, ELSEWHERE, 3), run_id=run_id) is None


def run(data: Path, server: SandboxServer, tmp_path: Path) -> tuple[int, str]:
    ledger = tmp_path / "ledger.sqlite3"
    ran = bulk_tasks(*lemlist(data, server, "--ledger", ledger, "--timeout", "1"))
    return ran.code, ran.stdout + ran.stderr


def statuses(data: Path) -> list[tuple[str, str]]:
    lines = sorted(read_results(data.with_suffix(".results.csv")), key=lambda x: int(x["row"]))
    return [(line["status"], line["error_message"]) for line in lines]


def test_a_claim_whose_run_went_before_sending_it_is_sent_at_once(
    tmp_path: Path, ledger: Ledger
) -> None:
    data = write_creates(tmp_path / "in.csv", range(3))
    with SandboxServer(fast_sandbox()) as server:
        claim(ledger, scope(server), fingerprints(data)[1], run_id="killed-before-sending")
        code, said = run(data, server, tmp_path)
        assert code == 0, said
        assert len(server.sandbox.applied) == 3
    assert [status for status, _ in statuses(data)] == ["created"] * 3
    assert "looked up" not in said  # nothing to look up: it was never sent


def test_a_claim_whose_run_went_after_sending_it_is_looked_up_and_found(
    tmp_path: Path, ledger: Ledger
) -> None:
    data = write_creates(tmp_path / "in.csv", range(3))
    one = write_creates(tmp_path / "one.csv", [1])
    [sent] = fingerprints(one)
    assert sent == fingerprints(data)[1]
    with SandboxServer(fast_sandbox()) as server:
        # the other run's create landed, and then it was killed before it heard so
        made = bulk_tasks(
            "run", one, "-t", "lemlist", "--base-url", server.url, *FAST, "--ledger", "off"
        )
        assert made.code == 0, made.stderr
        [task] = [applied.task_id for applied in server.sandbox.applied]
        claim(ledger, scope(server), sent, run_id="killed-after-sending")
        ledger.sending(scope(server), [sent], run_id="killed-after-sending")
        code, said = run(data, server, tmp_path)
        assert code == 0, said
        assert len(server.sandbox.applied) == 3  # the found task, and two new
        entry = ledger.get(scope(server), sent)
    lines = sorted(read_results(data.with_suffix(".results.csv")), key=lambda x: int(x["row"]))
    assert (lines[1]["status"], lines[1]["remote_id"]) == ("created", task)
    assert "found at lemlist" in lines[1]["error_message"]
    assert entry is not None
    assert entry.task_id == task


class OtherRun(threading.Thread):
    """Another run, on its own connection to the ledger: it claims a line and stays alive
    until told to end, then ``ends`` (creates the task, or lets the claim go)."""

    def __init__(self, path: Path, at: Scope, fingerprint: str, *, created: str = "") -> None:
        super().__init__()
        self._path, self._fingerprint, self._created = path, fingerprint, created
        self._scope = at
        self.claimed, self.end = threading.Event(), threading.Event()

    def __enter__(self) -> OtherRun:
        self.start()
        assert self.claimed.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self.end.set()
        self.join()

    def run(self) -> None:
        other = open_ledger(str(self._path))
        assert other is not None
        try:
            claim(other, self._scope, self._fingerprint, run_id="alive")
            other.beat("alive")
            self.claimed.set()
            while not self.end.wait(0.2):
                other.beat("alive")
            if self._created:
                line = Claim(self._fingerprint, {}, ELSEWHERE, 3)
                other.created(self._scope, line, task_id=self._created, run_id="alive")
            else:  # its create was refused
                other.release(self._scope, self._fingerprint, run_id="alive")
            other.beat("alive", ended=True)
        finally:
            other.close()


def test_a_line_another_live_run_is_creating_waits_for_it_and_is_skipped(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(6))
    ledger, theirs = tmp_path / "ledger.sqlite3", fingerprints(data)[2]
    with SandboxServer(fast_sandbox()) as server:
        other = OtherRun(ledger, scope(server), theirs, created="opp_TheOtherRuns1")
        # the other run says how its create ended once this run has sent the others
        with other, once_sent(server.sandbox, 5, lambda: (time.sleep(0.5), other.end.set())):
            code, said = run(data, server, tmp_path)
        assert code == 0, said
        assert len(server.sandbox.applied) == 5
    status, message = statuses(data)[2]
    assert status == "skipped"
    assert message.startswith("task opp_TheOtherRuns1 created ")
    assert message.endswith(
        f"UTC by {ELSEWHERE} row 3, as the task ledger says: another run created it while this "
        "one ran; not sent again"
    )
    assert "Waiting for 1 row that another run is creating" in said
    assert "Task ledger: 1 row created by another run meanwhile" in said


def test_a_line_another_live_run_lets_go_is_sent(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(4))
    ledger, theirs = tmp_path / "ledger.sqlite3", fingerprints(data)[0]
    with SandboxServer(fast_sandbox()) as server:
        other = OtherRun(ledger, scope(server), theirs)
        with other, once_sent(server.sandbox, 3, other.end.set):
            code, said = run(data, server, tmp_path)
        assert code == 0, said
        assert len(server.sandbox.applied) == 4
    assert [status for status, _ in statuses(data)] == ["created"] * 4
