"""The task ledger's stores, SQLite and PostgreSQL, held to the same behaviour."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import free_port
from helpers import KEY

from bulk_tasks.errors import LedgerUnavailable, OptionError
from bulk_tasks.job.ledger import (
    STALE,
    Claim,
    Ledger,
    RunState,
    Scope,
    check_ledger,
    key_hash,
    open_ledger,
)
from bulk_tasks.job.ledger.postgres_store import PostgresLedger
from bulk_tasks.job.ledger.sqlite_store import SQLiteLedger

LEMLIST = Scope(vendor="lemlist", destination="lemlist", key_hash=key_hash(KEY))
ATTIO = Scope(vendor="attio", destination="attio (sandbox)", key_hash=key_hash(KEY))


class Clock:
    """Epoch seconds that the test moves."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


#: opens a new connection to the test's ledger, with a clock
Opener = Callable[[Clock], Ledger]


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    if request.param == "sqlite":
        return lambda clock: SQLiteLedger(tmp_path / "ledger.sqlite3", clock=clock)
    url = request.getfixturevalue("postgres_url")
    return lambda clock: PostgresLedger(url, clock=clock)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(opener: Opener, clock: Clock) -> Iterator[Ledger]:
    opened = opener(clock)
    yield opened
    opened.close()


def line(identity: str, *, results: str = "/work/tasks.results.csv", row: int = 2) -> Claim:
    return Claim(identity=identity, fields={"title": "3f2a9c"}, results=results, row=row)


def test_a_second_claim_gets_what_the_first_holds(ledger: Ledger, clock: Clock) -> None:
    assert ledger.claim(LEMLIST, line("fp-1"), run_id="run-a") is None
    clock.now += 1
    held = ledger.claim(LEMLIST, line("fp-1", row=9), run_id="run-b")
    assert held is not None
    assert (held.identity, held.run_id, held.row, held.task_id) == ("fp-1", "run-a", 2, "")
    assert (held.claimed_at, held.created, held.fields) == (
        1_800_000_000.0,
        False,
        {"title": "3f2a9c"},
    )
    # another scope is another ledger's line
    assert ledger.claim(ATTIO, line("fp-1"), run_id="run-b") is None


def test_a_task_created_is_read_by_a_new_connection(opener: Opener, clock: Clock) -> None:
    first = opener(clock)
    first.claim(LEMLIST, line("fp-1"), run_id="run-a")
    clock.now += 2
    first.created(LEMLIST, line("fp-1", row=5), task_id="tsk_1", run_id="run-a")
    first.close()
    second = opener(clock)
    entry = second.get(LEMLIST, "fp-1")
    second.close()
    assert entry is not None
    assert (entry.task_id, entry.row, entry.created_at, entry.claimed_at) == (
        "tsk_1",
        5,
        1_800_000_002.0,
        1_800_000_000.0,
    )
    assert entry.created


def test_an_edit_records_its_fields(ledger: Ledger, clock: Clock) -> None:
    ledger.created(LEMLIST, line("row-7"), task_id="tsk_7", run_id="run-a")
    clock.now += 60
    ledger.updated(LEMLIST, "row-7", fields={"title": "3f2a9c", "dueDate": "77e0aa"})
    entry = ledger.get(LEMLIST, "row-7")
    assert entry is not None
    assert (entry.fields, entry.updated_at) == ({"dueDate": "77e0aa", "title": "3f2a9c"}, clock.now)


def test_release_deletes_only_its_own_claim(ledger: Ledger) -> None:
    ledger.claim(LEMLIST, line("fp-1"), run_id="run-a")
    ledger.release(LEMLIST, "fp-1", run_id="run-b")
    assert ledger.get(LEMLIST, "fp-1") is not None
    ledger.created(LEMLIST, line("fp-2"), task_id="tsk_2", run_id="run-a")
    ledger.release(LEMLIST, "fp-2", run_id="run-a")
    assert ledger.get(LEMLIST, "fp-2") is not None  # created: no longer a claim
    ledger.release(LEMLIST, "fp-1", run_id="run-a")
    assert ledger.get(LEMLIST, "fp-1") is None


def test_a_claim_is_taken_over_once(ledger: Ledger, clock: Clock) -> None:
    ledger.claim(LEMLIST, line("fp-1"), run_id="run-a")
    held = ledger.get(LEMLIST, "fp-1")
    assert held is not None
    clock.now += 30
    assert ledger.take_over(held, run_id="run-b")
    assert not ledger.take_over(held, run_id="run-c")  # run-b holds it now
    taken = ledger.get(LEMLIST, "fp-1")
    assert taken is not None
    assert (taken.run_id, taken.claimed_at) == ("run-b", clock.now)
    ledger.created(LEMLIST, line("fp-1"), task_id="tsk_1", run_id="run-b")
    assert not ledger.take_over(taken, run_id="run-c")  # created meanwhile


def test_a_run_is_alive_then_ended_or_gone(ledger: Ledger, clock: Clock) -> None:
    assert ledger.run_state("run-a") is RunState.GONE  # never seen
    ledger.beat("run-a")
    ledger.beat("run-b")
    clock.now += STALE
    assert ledger.run_state("run-a") is RunState.ALIVE
    ledger.beat("run-a", ended=True)
    clock.now += 0.5
    assert ledger.run_state("run-a") is RunState.ENDED
    assert ledger.run_state("run-b") is RunState.GONE  # its last beat is older than STALE


def fill(ledger: Ledger, clock: Clock) -> None:
    """Four entries, a second apart: three created, the newest only claimed."""
    for number, (scope, results) in enumerate(
        [(LEMLIST, "/a.csv"), (LEMLIST, "/b.csv"), (ATTIO, "/a.csv")], start=1
    ):
        ledger.created(
            scope, line(f"fp-{number}", results=results), task_id=f"t{number}", run_id="r"
        )
        clock.now += 1
    ledger.claim(LEMLIST, line("fp-4", results="/b.csv"), run_id="r")


def identities(ledger: Ledger, **filters: object) -> list[str]:
    return [entry.identity for entry in ledger.entries(**filters)]  # type: ignore[arg-type]


def test_entries_come_newest_first_and_filtered(ledger: Ledger, clock: Clock) -> None:
    fill(ledger, clock)
    assert identities(ledger) == ["fp-4", "fp-3", "fp-2", "fp-1"]
    assert identities(ledger, vendor="lemlist") == ["fp-4", "fp-2", "fp-1"]
    assert identities(ledger, results="/a.csv") == ["fp-3", "fp-1"]
    assert identities(ledger, identity="fp-2") == ["fp-2"]
    assert identities(ledger, since=1_800_000_001.0) == ["fp-4", "fp-3", "fp-2"]
    assert identities(ledger, limit=2) == ["fp-4", "fp-3"]
    assert ledger.count() == [("attio", "attio (sandbox)", 1, 0), ("lemlist", "lemlist", 2, 1)]


@pytest.mark.parametrize(
    ("filters", "removed", "left"),
    [
        ({"identity": "fp-2"}, 1, ["fp-4", "fp-3", "fp-1"]),
        ({"results": "/a.csv"}, 2, ["fp-4", "fp-2"]),
        ({"vendor": "lemlist"}, 3, ["fp-3"]),
        ({"before": 1_800_000_002.0}, 2, ["fp-4", "fp-3"]),
        ({}, 4, []),
    ],
)
def test_forget(
    ledger: Ledger, clock: Clock, filters: dict[str, object], removed: int, left: list[str]
) -> None:
    fill(ledger, clock)
    assert ledger.forget(**filters) == removed  # type: ignore[arg-type]
    assert identities(ledger) == left


def test_two_connections_racing_claim_each_line_once(opener: Opener, clock: Clock) -> None:
    names = [f"fp-{number}" for number in range(200)]
    won: dict[str, list[str]] = {"run-a": [], "run-b": []}
    start = threading.Barrier(2)

    def claim_all(run_id: str) -> None:
        ledger = opener(clock)
        start.wait(10)
        for name in names:
            if ledger.claim(LEMLIST, line(name), run_id=run_id) is None:
                won[run_id].append(name)
        ledger.close()

    threads = [threading.Thread(target=claim_all, args=(run,)) for run in won]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(won["run-a"] + won["run-b"]) == sorted(names)


def test_two_connections_making_a_new_ledger_at_once_both_use_it(opener: Opener) -> None:
    claimed: list[bool] = []
    start = threading.Barrier(2)

    def open_and_claim(run_id: str) -> None:
        start.wait(10)
        ledger = opener(Clock())
        claimed.append(ledger.claim(LEMLIST, line("fp-1"), run_id=run_id) is None)
        ledger.close()

    threads = [threading.Thread(target=open_and_claim, args=(run,)) for run in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(claimed) == [False, True]


def test_the_key_is_never_in_the_file(tmp_path: Path) -> None:
    ledger = open_ledger(str(tmp_path))
    assert ledger is not None
    ledger.created(LEMLIST, line("fp-1"), task_id="tsk_1", run_id="run-a")
    ledger.beat("run-a")
    ledger.close()
    written = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    assert b"fp-1" in written
    assert KEY.encode() not in written
    assert LEMLIST.key_hash == key_hash(KEY)
    assert len(LEMLIST.key_hash) == 32


def test_a_folder_gets_the_ledger_file_and_local_the_data_folder(tmp_path: Path) -> None:
    opened = open_ledger(str(tmp_path))
    local = open_ledger("local")
    assert opened is not None
    assert local is not None
    assert opened.where == str(tmp_path / "task-ledger.sqlite3")
    assert Path(local.where).name == "task-ledger.sqlite3"
    opened.close()
    local.close()
    assert open_ledger("off") is None


def test_an_unwritable_file_is_unavailable(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(LedgerUnavailable) as raised:
        open_ledger(str(blocked / "ledger.sqlite3"))
    assert str(raised.value) == (
        f"the task ledger {blocked}/ledger.sqlite3 cannot be opened ([Errno 17] File exists: "
        f"'{blocked}'); give --ledger a file in a folder you can write"
    )


def test_a_file_that_is_no_ledger_is_unavailable(tmp_path: Path) -> None:
    other = tmp_path / "tasks.csv"
    other.write_text("title,dueDate\n" * 100)
    with pytest.raises(LedgerUnavailable) as raised:
        open_ledger(str(other))
    assert str(raised.value) == (
        f"the task ledger {other} cannot be opened (file is not a database); give --ledger a "
        "file in a folder you can write"
    )


def test_a_folder_not_made_yet_gets_the_ledger_file(tmp_path: Path) -> None:
    ledger = open_ledger(f"{tmp_path}/shared/")
    assert ledger is not None
    assert ledger.where == str(tmp_path / "shared" / "task-ledger.sqlite3")
    ledger.close()


def test_a_database_that_does_not_exist_is_unavailable(postgres_url: str) -> None:
    missing = postgres_url.rpartition("/")[0] + "/no_such_database"
    port = postgres_url.rpartition(":")[2].partition("/")[0]
    with pytest.raises(LedgerUnavailable) as raised:
        open_ledger(missing)
    assert str(raised.value) == (
        f"the task ledger {missing} cannot be reached (connection failed: connection to server "
        f'at "127.0.0.1", port {port} failed: FATAL:  database "no_such_database" does not '
        "exist): check that PostgreSQL runs there, that it lets this machine in with that user "
        "and password, and that the database exists; or give --ledger local"
    )


def test_an_unreachable_database_is_unavailable_without_its_password() -> None:
    port = free_port()
    with pytest.raises(LedgerUnavailable) as raised:
        open_ledger(f"postgresql://bob:s3cret@127.0.0.1:{port}/tasks")
    assert str(raised.value) == (
        f"the task ledger postgresql://bob@127.0.0.1:{port}/tasks cannot be reached (connection "
        f'failed: connection to server at "127.0.0.1", port {port} failed: Connection refused): '
        "check that PostgreSQL runs there, that it lets this machine in with that user and "
        "password, and that the database exists; or give --ledger local"
    )


@pytest.mark.parametrize(
    ("where", "said"),
    [
        (
            "ftp://x",
            '--ledger "ftp://x": give local (the default: a file in the user\'s data folder), '
            "a file path (a volume the runs and containers of one machine share), "
            "postgresql://USER@HOST:PORT/DB "
            "(every machine using that database) or off (no ledger: rows created by earlier "
            "runs may be created again)",
        ),
        (
            "redis://127.0.0.1:6379/0",
            '--ledger "redis://127.0.0.1:6379/0": Redis keeps rate windows (--share) but is no '
            "ledger, as a ledger must survive a restart; give local, a file path or "
            "postgresql://USER@HOST:PORT/DB",
        ),
    ],
)
def test_what_cannot_be_a_ledger_is_refused(where: str, said: str) -> None:
    with pytest.raises(OptionError) as raised:
        check_ledger(where)
    assert str(raised.value) == said


@pytest.mark.parametrize("where", ["local", "off", "/var/lib/ledger", "postgresql://u@h:5432/d"])
def test_what_can_be_a_ledger_passes(where: str) -> None:
    check_ledger(where)
