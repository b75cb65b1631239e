"""``bulk-tasks ledger``: where the ledger is, listing, counting and forgetting its entries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import KEY, bulk_tasks

from bulk_tasks.job.ledger import LEDGER_FILE, Claim, Scope, key_hash
from bulk_tasks.job.ledger.sqlite_store import SQLiteLedger

LEMLIST = Scope(vendor="lemlist", destination="lemlist", key_hash=key_hash(KEY))
ATTIO = Scope(vendor="attio", destination="attio (sandbox)", key_hash=key_hash(KEY))
#: 2026-03-01 09:30:00 UTC
MORNING = 1_772_357_400.0
SHORT_KEY = key_hash(KEY)[:8]


@pytest.fixture(autouse=True)
def in_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times are shown in local time: the tests' is UTC."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def ledger_path(own_cache_folder: Path) -> Path:
    import os

    return Path(os.environ["BULK_TASKS_DATA_DIR"]) / LEDGER_FILE


@pytest.fixture
def filled(ledger_path: Path) -> Path:
    """Three entries: two lemlist tasks created (one from another file a day later) and an
    Attio line claimed."""
    now = [MORNING]
    ledger = SQLiteLedger(ledger_path, clock=lambda: now[0])
    ledger.created(
        LEMLIST, Claim("fp-1", {}, "/data/a.results.csv", 2), task_id="tsk_1", run_id="run-a"
    )
    now[0] += 86_400
    ledger.created(
        LEMLIST, Claim("fp-2", {}, "/data/b.results.csv", 3), task_id="tsk_2", run_id="run-b"
    )
    now[0] += 60
    ledger.claim(ATTIO, Claim("row-9", {}, "/data/b.results.csv", 4), run_id="run-b")
    ledger.close()
    return ledger_path


def test_where_says_the_file_and_how_to_back_it_up(ledger_path: Path) -> None:
    ran = bulk_tasks("ledger", "where")
    assert ran.code == 0
    assert ran.stdout.splitlines() == [
        f"Task ledger: {ledger_path}",
        f"Back it up: sqlite3 {ledger_path} \".backup 'task-ledger-backup.sqlite3'\"",
    ]


def test_where_hides_a_databases_password() -> None:
    ran = bulk_tasks("ledger", "where", "--ledger", "postgresql://bulk:s3cret@db:5432/tasks")
    assert ran.stdout.splitlines() == [
        "Task ledger: postgresql://bulk@db:5432/tasks",
        "Back it up: pg_dump --table 'bulk_tasks_*' postgresql://bulk@db:5432/tasks > "
        "task-ledger.sql",
    ]


def test_list_shows_entries_newest_first(filled: Path) -> None:
    ran = bulk_tasks("ledger", "list")
    assert ran.code == 0
    assert ran.stdout.splitlines() == [
        "when                 state    vendor   destination      identity  task_id  results"
        "                key",
        "2026-03-02 09:31:00  claimed  attio    attio (sandbox)  row-9     -        "
        f"/data/b.results.csv:4  {SHORT_KEY}",
        "2026-03-02 09:30:00  created  lemlist  lemlist          fp-2      tsk_2    "
        f"/data/b.results.csv:3  {SHORT_KEY}",
        "2026-03-01 09:30:00  created  lemlist  lemlist          fp-1      tsk_1    "
        f"/data/a.results.csv:2  {SHORT_KEY}",
    ]


def test_list_filters(filled: Path) -> None:
    ran = bulk_tasks("ledger", "list", "--target", "lemlist", "--since", "2026-03-02")
    assert [line.split()[5] for line in ran.stdout.splitlines()[1:]] == ["fp-2"]
    ran = bulk_tasks("ledger", "list", "--results", "/data/b.results.csv", "--limit", "1")
    [listed] = ran.stdout.splitlines()[1:]
    assert " row-9 " in listed


def test_list_in_json_gives_an_object_per_entry(filled: Path) -> None:
    ran = bulk_tasks("ledger", "list", "--identity", "fp-1", "--log-format", "json")
    [entry] = [json.loads(line) for line in ran.stdout.splitlines()]
    del entry["time"]
    assert entry == {
        "level": "info",
        "event": "ledger.entry",
        "vendor": "lemlist",
        "destination": "lemlist",
        "key_hash": key_hash(KEY),
        "identity": "fp-1",
        "task_id": "tsk_1",
        "results": "/data/a.results.csv",
        "row": 2,
        "run_id": "run-a",
        "claimed_at": "2026-03-01T09:30:00+00:00",
        "created_at": "2026-03-01T09:30:00+00:00",
        "updated_at": None,
    }


def test_count_per_vendor_and_destination(filled: Path) -> None:
    ran = bulk_tasks("ledger", "count")
    assert ran.stdout.splitlines() == [
        "vendor   destination      created  claimed",
        "attio    attio (sandbox)  0        1",
        "lemlist  lemlist          2        0",
    ]


def test_a_ledger_not_made_yet_is_empty_and_stays_unmade(ledger_path: Path) -> None:
    for command in ("list", "count"):
        ran = bulk_tasks("ledger", command)
        assert (ran.code, ran.stdout) == (
            0,
            f"Task ledger {ledger_path}: no entry (the file does not exist yet)\n",
        )
    assert not ledger_path.exists()


def test_forget_asks_first(filled: Path) -> None:
    from typer.testing import CliRunner

    from bulk_tasks.cli.commands import app

    asked = CliRunner().invoke(app, ["ledger", "forget", "--target", "lemlist"], input="n\n")
    assert asked.stdout.splitlines() == [
        f"Forget 2 entries of {filled}? Their rows will be created again by the next run that "
        "has them [y/N]: n",
        "Nothing forgotten",
    ]
    ran = bulk_tasks("ledger", "forget", "--before", "2026-03-02", "--yes")
    assert ran.stdout.splitlines() == [f"Forgot 1 entry of {filled}"]
    ran = bulk_tasks("ledger", "forget", "--all", "--yes")
    assert ran.stdout.splitlines() == [f"Forgot 2 entries of {filled}"]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ["forget"],
            "bulk-tasks: ledger forget needs --identity, --results, --target or --before (which "
            "entries to forget), or --all (every entry), not both",
        ),
        (
            ["list", "--ledger", "off"],
            "bulk-tasks: --ledger off: there is no ledger to look at; give local (the default), "
            "a file path or postgresql://USER@HOST:PORT/DB",
        ),
        (
            ["list", "--since", "1 March"],
            'bulk-tasks: --since "1 March": give a day as YYYY-MM-DD, e.g. 2026-03-01',
        ),
    ],
)
def test_mistakes_are_told(filled: Path, args: list[str], said: str) -> None:
    ran = bulk_tasks("ledger", *args)
    assert (ran.code, ran.stderr.strip()) == (2, said)


def test_a_postgres_ledger(postgres_url: str) -> None:
    ran = bulk_tasks("ledger", "count", "--ledger", postgres_url)
    assert (ran.code, ran.stdout) == (0, f"Task ledger {postgres_url}: no entry\n")
