"""The ``bulk-tasks`` command: a thin layer over :mod:`bulk_tasks.job.batch`.

Every option that two commands share is declared once, in the block below, and each command
takes that same definition: their help cannot drift. Checks of option combinations live in
:class:`~bulk_tasks.settings.Settings`, so Python callers get them too. User mistakes end
here as one line on stderr that says what to do, and exit code 2.
"""

from __future__ import annotations

import contextlib
import logging
import random
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import stamina.instrumentation
import typer

from .. import __version__, job
from ..errors import BulkTasksError, OptionError
from ..job.batch import on_built_in_sandbox
from ..job.progress import Progress
from ..keys import Keys
from ..results import Status
from ..results.messages import counted
from ..settings import Settings, spec_of, vendor_named
from ..vendors import VENDORS
from ..vendors.base import Spec, Vendor
from .ledger import app as ledger_app
from .metrics import MetricsFile, metrics_written
from .notify import Ended, NotifyOn, check_urls, notify
from .options import (
    Action,
    ActionOpt,
    BaseUrlOpt,
    BatchSizeOpt,
    Command,
    ConfigOpt,
    CreateAgainOpt,
    DateFormatOpt,
    DelimiterOpt,
    EncodingOpt,
    InputArg,
    LedgerOpt,
    LimitOpt,
    LogFormatOpt,
    MapOpt,
    MetricsFileOpt,
    NoPackOpt,
    NotifyOnOpt,
    NotifyOpt,
    RateOpt,
    ResolveOpt,
    ResultsOpt,
    RowKeyOpt,
    SandboxOpt,
    SetOpt,
    ShareOpt,
    SheetOpt,
    SinceOpt,
    TargetOpt,
    TimeoutOpt,
    TimezoneOpt,
    day_start,
    given,
    settings_from,
    with_job_file,
)
from .output import (
    LogFormat,
    ToStderr,
    aligned,
    err,
    report_fields,
    report_reconciled,
    report_run,
    say,
    user_errors,
)
from .progress import Announced, Once, watcher

if TYPE_CHECKING:
    from .inbox import FileResult

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Turn a spreadsheet of sales tasks into real tasks, with a results file per row.",
)


# --- commands -----------------------------------------------------------------------------


@app.callback(invoke_without_command=True)
def _top(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True)
    ] = False,
) -> None:
    if version:
        typer.echo(f"bulk-tasks {__version__}")
        raise typer.Exit(0)


@app.command(cls=Command, short_help="Send every valid row to the vendor; a results line for each.")
def run(
    ctx: typer.Context,
    input: InputArg = None,
    target: TargetOpt = None,
    action: ActionOpt = Action.create,
    results: ResultsOpt = None,
    sheet: SheetOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    map_file: MapOpt = None,
    set_values: SetOpt = None,
    timezone: TimezoneOpt = "UTC",
    date_format: DateFormatOpt = None,
    base_url: BaseUrlOpt = None,
    rate: RateOpt = None,
    timeout: TimeoutOpt = 30.0,
    sandbox: SandboxOpt = False,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume/--no-resume",
            help="Carry on from the results file of an earlier run: rows already done are "
            "skipped, rows never sent are sent.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force/--no-force",
            help="Start over even though the results file exists (it is kept as a backup). "
            "The task ledger still skips the rows whose tasks exist (--create-again creates "
            "them again; with --ledger off, every row is created again).",
        ),
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed/--no-retry-failed",
            help="With --resume: send again the rows the vendor refused.",
        ),
    ] = False,
    retry_unknown: Annotated[
        bool,
        typer.Option(
            "--retry-unknown/--no-retry-unknown",
            help="With --resume: send again the rows whose outcome is unknown. They may "
            "already exist: this may create them twice. Check them in the vendor's app first.",
        ),
    ] = False,
    resolve: ResolveOpt = True,
    batch_size: BatchSizeOpt = None,
    no_pack: NoPackOpt = False,
    share: ShareOpt = "local",
    limit: LimitOpt = None,
    ledger: LedgerOpt = None,
    row_key: RowKeyOpt = None,
    create_again: CreateAgainOpt = False,
    notify: NotifyOpt = None,
    notify_on: NotifyOnOpt = NotifyOn.failure,
    metrics_file: MetricsFileOpt = None,
    config: ConfigOpt = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Send every valid row to the vendor and write what happened to each.

    \b
    Example: LEMLIST_API_KEY=… bulk-tasks run tasks.csv --target lemlist
    (the same with SALESHANDY_API_KEY and saleshandy, or ATTIO_API_KEY and attio)

    \b
    Try it with no account, on the built-in sandbox:
      bulk-tasks run sample_inputs/lemlist_create.csv -t lemlist --sandbox
      bulk-tasks run sample_inputs/saleshandy_create.csv -t saleshandy --sandbox
      bulk-tasks run sample_inputs/attio_create.xlsx -t attio --sandbox

    \b
    A big file? Send its first 5 rows, check them, then the rest:
      bulk-tasks run tasks.csv -t lemlist --limit 5
      bulk-tasks run tasks.csv -t lemlist --resume

    Stopped or interrupted? Run the same command with --resume: nothing done is sent twice.
    Nor is a task any earlier run created (the task ledger: --ledger).

    \b
    A sheet whose rows carry your CRM's id: edited rows update their tasks:
      bulk-tasks run follow-ups.csv -t lemlist --row-key "CRM id"

    Unattended: bulk-tasks run --config job.toml (see the README's "Job files").
    """
    say.json = log_format is LogFormat.json
    with user_errors():
        options = with_job_file(ctx, "run", config, **given(ctx))
        about = ("run", str(options["target"]), str(options["input"]))
        with _end_told(options, about) as (notice, metrics):
            sandbox = options.pop("sandbox")
            settings = settings_from(**options)
            with _destination(settings, sandbox=sandbox) as (settings, keys, watch):
                summary = job.run(settings, key=keys, progress=watch(settings.input))
            notice.append(_ended(about, summary))
            metrics.write(
                exit_code=summary.exit_code,
                counts={status.value: n for status, n in summary.counts.items()},
                traffic=summary.traffic,
            )
            report_run(summary, f"{settings.target} {settings.action}")
            unknown = summary.counts[Status.UNKNOWN]
            if unknown:
                they, them, are, were = (
                    ("it", "it", "is", "was") if unknown == 1 else ("they", "them", "are", "were")
                )
                say(
                    "unknown",
                    f"{counted(unknown, summary.line_noun)} {are} unknown: {they} {were} "
                    f"sent but no answer said what became of {them}, so {they} may exist in "
                    f"{settings.target}. Check {them} before sending {them} again with --resume "
                    "--retry-unknown (README: When things go wrong).",
                    level="warning",
                    to=err,
                    lines=unknown,
                )
            if summary.stopped or summary.counts[Status.NOT_SENT]:
                command = _resume_command()
                say("resume_hint", f"To carry on: {command}", to=err, command=command)
            raise typer.Exit(summary.exit_code)


@contextlib.contextmanager
def _end_told(
    options: dict[str, Any], about: tuple[str, str, str]
) -> Iterator[tuple[list[Ended], MetricsFile]]:
    """How the end of the run within is told, as the options (taken out of ``options``)
    say: its notifications (``--notify``, ``--notify-on``) and its metrics file."""
    urls = check_urls(options.pop("notify") or [])
    on = NotifyOn(options.pop("notify_on"))
    metrics_file = options.pop("metrics_file")
    with (
        _notified(urls, on, about) as notice,
        metrics_written(metrics_file, vendor=about[1].lower()) as metrics,
    ):
        yield notice, metrics


@contextlib.contextmanager
def _notified(urls: list[str], on: NotifyOn, about: tuple[str, str, str]) -> Iterator[list[Ended]]:
    """The runs that end within, each notified to ``urls`` as ``on`` says; a run that could
    not start, or was stopped by an error, is notified with its error (exit code 2)."""
    ended: list[Ended] = []
    started = time.monotonic()
    try:
        yield ended
    except BulkTasksError as error:
        command, vendor, input = about
        seconds = time.monotonic() - started
        ended = [Ended(command, vendor, input, 2, seconds=seconds, error=str(error))]
        raise
    finally:
        for run in ended:
            notify(urls, on, run)


def _ended(about: tuple[str, str, str], summary: job.Summary) -> Ended:
    command, vendor, input = about
    done = summary.exit_code == 0
    return Ended(
        command,
        vendor,
        input,
        summary.exit_code,
        results=str(summary.results),
        counts={status.value: n for status, n in sorted(summary.counts.items()) if n},
        seconds=summary.seconds,
        # a webhook's URL is a secret of its own: not sent to it, nor to another
        resume=None if done else _resume_command(leaving_out=("--notify",)),
        error=summary.stopped,
    )


def _file_ended(about: tuple[str, str, str], result: FileResult) -> Ended:
    """One file of a run-folder pass, as its notification says it."""
    from .inbox import FileStatus

    command, vendor, _ = about
    return Ended(
        command,
        vendor,
        str(result.input),
        result.code,
        results=None if result.results is None else str(result.results),
        counts=result.counts,
        resume=None if result.code == 0 else "the next pass of run-folder carries it on",
        error=result.stopped or (result.said if result.status is FileStatus.NOT_RUN else None),
    )


def _resume_command(*, leaving_out: tuple[str, ...] = ()) -> str:
    """The command as typed, to carry on: with --resume, without --force nor --limit, nor the
    options ``leaving_out`` names (with their values)."""
    words = ["bulk-tasks"]
    given = iter(sys.argv[1:])
    left_out = ("--limit", *leaving_out)
    for word in given:
        if word in left_out:
            next(given, None)  # and its value
        elif word != "--force" and not word.startswith(tuple(f"{o}=" for o in left_out)):
            words.append(word)
    return shlex.join(words if "--resume" in words else [*words, "--resume"])


@app.command(cls=Command, short_help="Check every row without sending anything (no key needed).")
def validate(
    ctx: typer.Context,
    input: InputArg = None,
    target: TargetOpt = None,
    action: ActionOpt = Action.create,
    results: ResultsOpt = None,
    sheet: SheetOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    map_file: MapOpt = None,
    set_values: SetOpt = None,
    timezone: TimezoneOpt = "UTC",
    date_format: DateFormatOpt = None,
    limit: LimitOpt = None,
    row_key: RowKeyOpt = None,
    config: ConfigOpt = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Check every row without sending anything (no key needed).

    Valid rows get status not_sent and error_code "valid"; invalid rows say what is wrong.
    The results go to INPUT.validation.csv unless --results says otherwise. With --config,
    the job file's input and reading options are used; its sending options are not.
    Exit code 0 when every row is valid, 1 when some are not.

    \b
    Example: bulk-tasks validate tasks.xlsx --target lemlist --action update
    """
    say.json = log_format is LogFormat.json
    with user_errors():
        settings = settings_from(**with_job_file(ctx, "validate", config, **given(ctx)))
        summary = job.validate(settings, progress=_watcher(settings.input))
        report_run(summary, f"{settings.target} {settings.action} (validation only)", sent=False)
        raise typer.Exit(summary.exit_code)


@app.command(cls=Command, short_help="List the columns a vendor's file takes, with an example.")
def fields(
    target: TargetOpt = None,
    action: ActionOpt = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """List the columns a file takes for each vendor and action: the field each feeds,
    whether it is required, what to write in it, and an example.

    Without --target: every vendor; without --action: every action of the vendor. Nothing
    is read or sent, and no key is needed.

    \b
    Example: bulk-tasks fields --target lemlist --action update
    """
    say.json = log_format is LogFormat.json
    with user_errors():
        report_fields(_actions(target and target.lower(), action and action.lower()))


def _actions(target: str | None, action: str | None) -> list[tuple[Vendor, type[Spec]]]:
    """The actions --target and --action name: without --target, those of every vendor
    that has the action; without --action, every action of the vendor."""
    if target is not None:
        vendor = vendor_named(target)
        specs = [spec_of(vendor, action)] if action else vendor.specs
        return [(vendor, spec) for spec in specs]
    named = [
        (vendor, spec)
        for vendor in VENDORS.values()
        for spec in vendor.specs
        if action in (None, spec.action)
    ]
    if not named:
        actions = sorted({spec.action for vendor in VENDORS.values() for spec in vendor.specs})
        raise OptionError(f"--action {action}: no vendor has it; use {' or '.join(actions)}")
    return named


@app.command(cls=Command, short_help="Look up at the vendor the unknown lines of a results file.")
def resolve(
    results: Annotated[
        Path,
        typer.Argument(
            metavar="RESULTS",
            help="The results file of an earlier run (.csv, .jsonl or .xlsx).",
            show_default=False,
        ),
    ],
    target: TargetOpt = None,
    map_file: MapOpt = None,
    set_values: SetOpt = None,
    timezone: TimezoneOpt = "UTC",
    date_format: DateFormatOpt = None,
    base_url: BaseUrlOpt = None,
    rate: RateOpt = None,
    timeout: TimeoutOpt = 30.0,
    share: ShareOpt = "local",
    ledger: LedgerOpt = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Look up at the vendor the creates of an earlier run that got no answer (unknown).

    A task found once makes its line created, with the task's id; a task that is not there
    never landed, and is sent again once; several matching tasks leave the line unknown,
    naming them. lemlist and Attio can be asked; Saleshandy's lines stay unknown with what
    to check. Give the run's --map, --set, --timezone and --date-format if it had any: each
    line's request is rebuilt from its cells in the results file.
    Exit code 0 when no line is left unknown or not done, 1 when some are.

    \b
    Example: LEMLIST_API_KEY=… bulk-tasks resolve tasks.results.csv --target lemlist
    """
    say.json = log_format is LogFormat.json
    with user_errors():
        if target is None:
            raise OptionError("resolve needs --target NAME (the vendor the run sent to)")
        settings = settings_from(
            input=results,
            results=results,
            target=target,
            action=Action.create,
            map_file=map_file,
            set_values=set_values,
            timezone=timezone,
            date_format=date_format,
            base_url=base_url,
            rate=rate,
            timeout=timeout,
            share=share,
            ledger=ledger,
        )
        summary = job.resolve(settings, key=Keys(settings.vendor), progress=_watcher(results))
        if not summary.lines:
            say("summary", f"{results}: no unknown line to look up", results=str(results))
            raise typer.Exit(0)
        report_run(summary, f"{settings.target} resolve")
        raise typer.Exit(summary.exit_code)


@app.command(cls=Command, short_help="Settle several results files; say what is left to do.")
def reconcile(
    results: Annotated[
        list[Path],
        typer.Argument(
            metavar="RESULTS",
            help="Results files of one piece of work, oldest first: the first run, its "
            "resumes and retries, runs of failed-rows files (.csv, .jsonl or .xlsx).",
            show_default=False,
        ),
    ],
    failed_out: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="Write the lines to fix to this .csv or .xlsx (invalid, failed, not sent), in "
            "the input's own columns plus error_code, error_message and source: fix them, then "
            "run the file.",
        ),
    ] = None,
    include_unknown: Annotated[
        bool,
        typer.Option(
            "--include-unknown/--exclude-unknown",
            help="Put the unknown lines in --failed-out too (by default they are left out). "
            "They were sent and their tasks may exist: running the file sends them again and "
            "may create them twice. Check each in the vendor's app first and delete from the "
            "file those that exist.",
        ),
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            help="Write an XLSX report: a summary with a chart, a sheet per status.",
        ),
    ] = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Settle each line of several results files once, and say what is left to do.

    A done outcome in any file wins (the task exists); otherwise the file given later wins.
    Exit code 0 when every line is done, 1 otherwise, 2 when a file cannot be read.

    \b
    Example:
      bulk-tasks reconcile tasks.results.csv failed.results.csv \\
        --failed-out failed.csv
    """
    say.json = log_format is LogFormat.json
    from ..results import delimiter_of, write_table
    from ..results.reconcile import failed_lines
    from ..results.reconcile import reconcile as reconcile_files
    from ..results.report import write_report

    with user_errors():
        settled = reconcile_files(results)
        if failed_out is not None:
            header, rows = failed_lines(settled, include_unknown=include_unknown)
            # a failed-rows CSV is opened where its results were: with their delimiter
            delimiter = delimiter_of(results[0]) or ","
            write_table(failed_out, header, rows, delimiter=delimiter)
        if report is not None:
            write_report(settled, report)
        report_reconciled(
            settled, failed_out=failed_out, report=report, include_unknown=include_unknown
        )
        raise typer.Exit(settled.exit_code)


@app.command(
    "run-folder",
    cls=Command,
    short_help="Run each spreadsheet dropped in a folder once, unattended.",
)
def run_folder(
    ctx: typer.Context,
    inbox: Annotated[
        Path | None,
        typer.Argument(
            metavar="INBOX", help="The folder where spreadsheets are dropped.", show_default=False
        ),
    ] = None,
    done: Annotated[
        Path | None,
        typer.Option(
            "--done", metavar="FOLDER", help="Where each run file goes, with its results."
        ),
    ] = None,
    target: TargetOpt = None,
    action: ActionOpt = Action.create,
    sheet: SheetOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    map_file: MapOpt = None,
    set_values: SetOpt = None,
    timezone: TimezoneOpt = "UTC",
    date_format: DateFormatOpt = None,
    base_url: BaseUrlOpt = None,
    rate: RateOpt = None,
    timeout: TimeoutOpt = 30.0,
    resolve: ResolveOpt = True,
    batch_size: BatchSizeOpt = None,
    no_pack: NoPackOpt = False,
    sandbox: SandboxOpt = False,
    share: ShareOpt = "local",
    ledger: LedgerOpt = None,
    row_key: RowKeyOpt = None,
    create_again: CreateAgainOpt = False,
    notify: NotifyOpt = None,
    notify_on: NotifyOnOpt = NotifyOn.failure,
    metrics_file: MetricsFileOpt = None,
    settle: Annotated[
        float,
        typer.Option(
            min=0,
            metavar="SECONDS",
            help="A file changed less than this many seconds ago is left for the next pass.",
        ),
    ] = 5.0,
    config: ConfigOpt = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Run every new spreadsheet dropped in INBOX once, then move it to the --done folder
    with its results.

    The same content is never sent twice (the processed-files record in the --done folder,
    by content hash), nor a line an earlier file created (a fixed file dropped again sends
    only its new or fixed rows); a file still being written waits for the next pass; an
    unreadable one goes to failed/ in the --done folder with a note why; a file with no rows
    is a warning. A second instance exits at once. Exit code 0 when every line of every file
    is done, 1 when some are not or a file had no rows, 2 when a file could not be run or a
    run stopped.

    \b
    Example: bulk-tasks run-folder inbox/ --target saleshandy --done processed/
    Unattended: bulk-tasks run-folder --config inbox.toml (inbox, done, target, …)
    """
    say.json = log_format is LogFormat.json
    from .inbox import FileStatus
    from .inbox import run_folder as run_inbox

    with user_errors():
        options = with_job_file(ctx, "run-folder", config, **given(ctx))
        inbox, done = options.pop("inbox"), options.pop("done")
        about = ("run-folder", str(options["target"]), str(inbox))
        with _end_told(options, about) as (notice, metrics):
            settle, sandbox = options.pop("settle"), options.pop("sandbox")
            settings = settings_from(input=inbox, **options)
            with _destination(settings, sandbox=sandbox) as (settings, keys, watch):
                folder = run_inbox(inbox, done, settings, key=keys, settle=settle, watcher=watch)
            notice.extend(
                _file_ended(about, result)
                for result in folder.files
                if result.status is not FileStatus.CHANGED_JUST_NOW
            )
            metrics.write(
                exit_code=folder.exit_code,
                counts=folder.counts,
                traffic=folder.traffic,
            )
            for result in folder.files:
                say(
                    "file",
                    f"{result.name}: {result.said}",
                    level=result.level,
                    file=result.name,
                    input=str(result.input),
                    file_status=result.status.value,
                    exit_code=result.code,
                    outcome=result.said,
                    counts=result.counts,
                    by_earlier_files=result.by_earlier_files,
                    results=None if result.results is None else str(result.results),
                    moved_to=None if result.moved_to is None else str(result.moved_to),
                )
            if not folder.files:
                say("file", f"{inbox}: nothing to run", inbox=str(inbox), files=0)
            if folder.stopped:
                say("stopped", f"Stopped: {folder.stopped}", level="error", to=err)
            raise typer.Exit(folder.exit_code)


app.add_typer(ledger_app, name="ledger")


@app.command(cls=Command, short_help="What run-folder did with each file, newest first.")
def history(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="FOLDER",
            help="The inbox that run-folder watches, or its --done folder.",
            show_default=False,
        ),
    ],
    since: SinceOpt = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Say what run-folder did with each file of an inbox, newest first: when, the vendor,
    what became of the file, its lines by status, those still to act on (failed, unknown,
    not_sent), its exit code and its results file.

    \b
    Example: bulk-tasks history inbox/ --since 2026-03-01
    """
    from .history import history_of, read_history

    say.json = log_format is LogFormat.json
    with user_errors():
        start = day_start(since, "--since")
        when = None if start is None else datetime.fromtimestamp(start).astimezone()
        runs = read_history(history_of(folder), since=when)
    if say.json:
        for run in runs:
            say("history.file", "", **run.fields())
        return
    if not runs:
        say("history.empty", f"{folder}: no file run" + (f" since {since}" if since else ""))
        return
    rows = [["when", "file", "vendor", "outcome", "exit", "created", "updated", "skipped"]]
    rows[0] += ["invalid", "to act on", "results"]
    for run in runs:
        counts = run.counts
        rows.append(
            [
                run.when.strftime("%Y-%m-%d %H:%M:%S"),
                run.file,
                run.vendor,
                run.outcome,
                str(run.exit_code),
                *(str(counts.get(status, 0)) for status in ("created", "updated", "skipped")),
                str(counts.get("invalid", 0)),
                str(run.to_act_on),
                run.results or "",
            ]
        )
    for line in aligned(rows):
        say("history.file", line)


class RemainingAt(StrEnum):
    """When the sandbox's rate headers count the key's window (``Faults.remaining_at``)."""

    admission = "admission"
    answer = "answer"


@app.command("sandbox", cls=Command, short_help="Serve a local emulator of the vendors' task APIs.")
def sandbox_command(
    port: Annotated[
        int, typer.Option(min=0, max=65535, metavar="PORT", help="Port on 127.0.0.1 (0: any).")
    ] = 8080,
    latency: Annotated[
        str, typer.Option(metavar="SECONDS", help="Seconds before each answer, or a range MIN-MAX.")
    ] = "0",
    p500: Annotated[
        float, typer.Option(min=0, max=1, metavar="CHANCE", help="Chance of a 500 answer.")
    ] = 0.0,
    p429: Annotated[
        float, typer.Option(min=0, max=1, metavar="CHANCE", help="Chance of a spurious 429.")
    ] = 0.0,
    phang: Annotated[
        float,
        typer.Option(
            min=0, max=1, metavar="CHANCE", help="Chance of applying, then never answering."
        ),
    ] = 0.0,
    pdrop: Annotated[
        float,
        typer.Option(
            min=0, max=1, metavar="CHANCE", help="Chance of applying, then cutting the answer."
        ),
    ] = 0.0,
    plose: Annotated[
        float,
        typer.Option(
            min=0,
            max=1,
            metavar="CHANCE",
            help="Chance of cutting the connection before applying (the request never lands).",
        ),
    ] = 0.0,
    key: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY", help="Accept only this API key (repeatable; default: any key)."
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(metavar="N", help="Draw the same faults every time (default: new ones)."),
    ] = None,
    foreign: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="N",
            help="Requests per rate window that another tool sends on every key: they count "
            "against the limit (X-RateLimit-Remaining, 429s).",
        ),
    ] = 0,
    remaining_at: Annotated[
        RemainingAt,
        typer.Option(
            metavar="WHEN",
            help="When X-RateLimit-Remaining counts the key's window: admission (as the "
            "request arrives) or answer (as its answer starts, counting the requests that "
            "arrived meanwhile).",
        ),
    ] = RemainingAt.admission,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Serve a local emulator of the vendors' task endpoints, for tests and demos.

    \b
    Example: bulk-tasks sandbox --port 8080 --latency 0.04-0.12
    then, in another terminal:
      LEMLIST_API_KEY=any bulk-tasks run tasks.csv -t lemlist \\
        --base-url http://127.0.0.1:8080
    """
    from ..sandbox import EMULATED, Faults, Sandbox, SandboxServer

    say.json = log_format is LogFormat.json

    with user_errors():
        try:
            faults = Faults(
                latency=_latency(latency),
                p_error_500=p500,
                p_spurious_429=p429,
                p_hang=phang,
                p_drop=pdrop,
                p_lose=plose,
                seed=random.randrange(2**32) if seed is None else seed,
                foreign=foreign,
                remaining_at=remaining_at.value,
            )
        except ValueError as error:
            raise OptionError(f"sandbox faults: {error}") from None
        emulator = Sandbox(keys=set(key) if key else None, faults=faults)
        try:
            server = SandboxServer(emulator, port=port)
        except OSError as error:
            raise OptionError(
                f"--port {port}: cannot listen there ({error.strerror}); choose another port"
            ) from None
        with server, contextlib.suppress(KeyboardInterrupt):
            for name, emulated in EMULATED.items():
                url = f"{server.url}{emulated.prefix}/"
                say(
                    "sandbox.serving",
                    f"Sandbox serving {name} at {url}…",
                    to=err,
                    vendor=name,
                    url=url,
                )
            say("sandbox.ready", "Ctrl-C stops it.", to=err)
            while True:
                time.sleep(3600)


def _latency(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        bounds = (float(low), float(high or low))
    except ValueError:
        raise OptionError(f'--latency "{text}": give seconds, e.g. 0.05 or 0.04-0.12') from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise OptionError(f'--latency "{text}": give MIN-MAX with 0 <= MIN <= MAX')
    return bounds


# --- plumbing -----------------------------------------------------------------------------


@contextlib.contextmanager
def _destination(
    settings: Settings, *, sandbox: bool
) -> Iterator[tuple[Settings, Keys, Callable[[Path], Progress]]]:
    """Where to send and with which keys: the built-in sandbox, or the vendor and its keys;
    and what watches each run, from its input file (a run on the sandbox says so as it
    starts)."""
    if not sandbox:
        yield settings, Keys(settings.vendor), _watcher
        return
    if settings.base_url:
        raise OptionError("--sandbox and --base-url both say where to send: give one")
    with on_built_in_sandbox(settings) as (settings, keys):
        url = settings.url
        said = f"Using the built-in sandbox at {url}: nothing is sent to {settings.target}."
        announcement = Once(lambda: say("sandbox", said, to=err, url=url))
        yield settings, keys, lambda input: Announced(_watcher(input), announcement)


def _watcher(input: Path) -> Progress:
    return watcher(err, json_lines=say.json, input=input)


def main() -> None:
    with terminal_logging():
        app(prog_name="bulk-tasks")


@contextlib.contextmanager
def terminal_logging() -> Iterator[None]:
    """While a command runs: the library's warnings on stderr, and no line of stamina's per
    retry. Undone afterwards, for a process that runs several commands (the tests)."""
    # retries show in the progress line and the results; stamina's own log line per retry
    # ("stamina.retry_scheduled", without its details) would only be noise on the terminal
    stamina.instrumentation.set_on_retry_hooks([])
    library = logging.getLogger("bulk_tasks")
    handler = ToStderr(logging.WARNING)
    library.addHandler(handler)
    library.propagate = False
    try:
        yield
    finally:
        library.removeHandler(handler)
        library.propagate = True
        stamina.instrumentation.set_on_retry_hooks(None)
