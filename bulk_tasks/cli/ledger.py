"""``bulk-tasks ledger``: where the task ledger is, what it holds, and forgetting entries so
that their rows are created again."""

from __future__ import annotations

import datetime
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import OptionError
from ..job.ledger import LOCAL, OFF, Entry, Ledger, check_ledger, ledger_file, open_ledger, shown
from ..settings import vendor_named
from .options import Command, LedgerOpt, LogFormatOpt, SinceOpt, TargetOpt, day_start
from .output import LogFormat, aligned, say, user_errors

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    short_help="List, count or forget the tasks earlier runs created.",
    help="The task ledger: every task a run creates, so that no later run creates it again. "
    "Say where it is, list and count its entries, forget some.",
)

# --- the filters list and forget share, each declared once --------------------------------

IdentityOpt = Annotated[
    str | None,
    typer.Option(metavar="IDENTITY", help="Only this line's identity (a fingerprint or row key)."),
]
ResultsFileOpt = Annotated[
    Path | None,
    typer.Option("--results", metavar="FILE", help="Only the lines written to this results file."),
]


@app.command(cls=Command, short_help="Say where the ledger is and how to back it up.")
def where(ledger: LedgerOpt = None, log_format: LogFormatOpt = LogFormat.text) -> None:
    """Say where the task ledger is, and how to back it up.

    \b
    Example: bulk-tasks ledger where --ledger /mnt/shared/task-ledger.sqlite3
    """
    say.json = log_format is LogFormat.json
    with user_errors():
        ledger = _check(ledger)
        path = ledger_file(ledger)
        if path is None:
            named = shown(ledger)
            backup = f"pg_dump --table 'bulk_tasks_*' {shlex.quote(named)} > task-ledger.sql"
        else:
            named = str(path)
            backup = f"sqlite3 {shlex.quote(named)} \".backup 'task-ledger-backup.sqlite3'\""
        say.block(
            "ledger.where",
            [f"Task ledger: {named}", f"Back it up: {backup}"],
            ledger=named,
            backup=backup,
        )


@app.command("list", cls=Command, short_help="List the entries, newest first.")
def list_entries(
    target: TargetOpt = None,
    identity: IdentityOpt = None,
    results: ResultsFileOpt = None,
    since: SinceOpt = None,
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="At most N entries.")] = 50,
    ledger: LedgerOpt = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """List the ledger's entries, newest first: when each task was created (or claimed), where
    it went, its identity and task id, the results file and row that wrote it.

    \b
    Example: bulk-tasks ledger list --target lemlist --since 2026-03-01
    """
    say.json = log_format is LogFormat.json
    with user_errors(), _opened(ledger) as opened:
        if opened is None:
            return
        filters = _filters(target=target, identity=identity, results=results)
        entries = list(opened.entries(**filters, since=day_start(since, "--since"), limit=limit))
        if not entries:
            say(
                "ledger.empty", f"Task ledger {opened.where}: no entry to list", ledger=opened.where
            )
        if say.json:
            for entry in entries:
                say("ledger.entry", "", **_entry_fields(entry))
            return
        for line in aligned([_HEADER, *map(_entry_row, entries)] if entries else []):
            say("ledger.entry", line)


@app.command(cls=Command, short_help="Count the entries per vendor and destination.")
def count(ledger: LedgerOpt = None, log_format: LogFormatOpt = LogFormat.text) -> None:
    """Count the ledger's entries per vendor and destination: tasks created, and lines
    claimed whose task is not known yet.

    \b
    Example: bulk-tasks ledger count --ledger postgresql://bulk@db.internal:5432/tasks
    """
    say.json = log_format is LogFormat.json
    with user_errors(), _opened(ledger) as opened:
        if opened is None:
            return
        counted = opened.count()
        if not counted:
            say("ledger.empty", f"Task ledger {opened.where}: no entry", ledger=opened.where)
            return
        rows = [["vendor", "destination", "created", "claimed"]]
        rows += [[vendor, dest, str(made), str(held)] for vendor, dest, made, held in counted]
        say.block(
            "ledger.count",
            aligned(rows),
            ledger=opened.where,
            counts=[
                {"vendor": vendor, "destination": dest, "created": made, "claimed": held}
                for vendor, dest, made, held in counted
            ],
        )


@app.command(cls=Command, short_help="Forget entries: their rows are created again.")
def forget(
    target: TargetOpt = None,
    identity: IdentityOpt = None,
    results: ResultsFileOpt = None,
    before: Annotated[
        str | None,
        typer.Option(metavar="YYYY-MM-DD", help="Entries of days before this one (local time)."),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every entry.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask first.")] = False,
    ledger: LedgerOpt = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Forget the entries the options name, so that the next run that has their rows creates
    them again (the tasks already created stay at the vendor).

    \b
    Example: bulk-tasks ledger forget --results nightly-03-01.results.csv
    """
    say.json = log_format is LogFormat.json
    with user_errors():
        filters = _filters(target=target, identity=identity, results=results)
        cutoff = day_start(before, "--before")
        if every == bool(filters or cutoff is not None):
            raise OptionError(
                "ledger forget needs --identity, --results, --target or --before (which entries "
                "to forget), or --all (every entry), not both"
            )
        with _opened(ledger) as opened:
            if opened is None:
                return
            if not yes:
                held = sum(1 for _ in opened.entries(**filters, before=cutoff))
                if not held or not typer.confirm(
                    f"Forget {_entries(held)} of {opened.where}? Their rows will be created "
                    "again by the next run that has them"
                ):
                    say("ledger.forgot", "Nothing forgotten", ledger=opened.where, forgotten=0)
                    return
            forgotten = opened.forget(**filters, before=cutoff)
            say(
                "ledger.forgot",
                f"Forgot {_entries(forgotten)} of {opened.where}",
                ledger=opened.where,
                forgotten=forgotten,
            )


# --- plumbing -------------------------------------------------------------------------


def _check(given: str | None) -> str:
    """Where the ledger is (``given``, else local), checked."""
    ledger = given or LOCAL
    check_ledger(ledger)
    if ledger == OFF:
        raise OptionError(
            "--ledger off: there is no ledger to look at; give local (the default), a file "
            "path or postgresql://USER@HOST:PORT/DB"
        )
    return ledger


@contextmanager
def _opened(given: str | None) -> Iterator[Ledger | None]:
    """The ledger, open; None (having said it is empty) for a file that does not exist yet,
    which is not made."""
    ledger = _check(given)
    path = ledger_file(ledger)
    if path is not None and not path.exists():
        say("ledger.empty", f"Task ledger {path}: no entry (the file does not exist yet)")
        yield None
        return
    opened = open_ledger(ledger)
    assert opened is not None
    try:
        yield opened
    finally:
        opened.close()


def _filters(*, target: str | None, identity: str | None, results: Path | None) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if target is not None:
        filters["vendor"] = vendor_named(target.lower()).name
    if identity is not None:
        filters["identity"] = identity
    if results is not None:
        filters["results"] = str(results.absolute())
    return filters


def _entries(number: int) -> str:
    return f"{number} {'entry' if number == 1 else 'entries'}"


_HEADER = ["when", "state", "vendor", "destination", "identity", "task_id", "results", "key"]


def _entry_row(entry: Entry) -> list[str]:
    return [
        _local(entry.when),
        "created" if entry.created else "claimed",
        entry.scope.vendor,
        entry.scope.destination,
        entry.identity,
        entry.task_id or "-",
        f"{entry.results}:{entry.row}",
        entry.scope.key_hash[:8],
    ]


def _entry_fields(entry: Entry) -> dict[str, Any]:
    return {
        "vendor": entry.scope.vendor,
        "destination": entry.scope.destination,
        "key_hash": entry.scope.key_hash,
        "identity": entry.identity,
        "task_id": entry.task_id,
        "results": entry.results,
        "row": entry.row,
        "run_id": entry.run_id,
        "claimed_at": _iso(entry.claimed_at),
        "created_at": _iso(entry.created_at),
        "updated_at": _iso(entry.updated_at),
    }


def _iso(epoch: float | None) -> str | None:
    """For machines: the time with its offset from UTC."""
    if epoch is None:
        return None
    return datetime.datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


def _local(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")
