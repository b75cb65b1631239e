"""The ``bulk-tasks`` command: a thin layer over :mod:`bulk_tasks.job`.

User mistakes end here as one line on stderr that says what to do, and exit code 2.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import random
import shlex
import sys
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import stamina.instrumentation
import typer

from . import job
from .cells import DateOrder, Reading
from .columns import read_map_file, read_set_options
from .errors import BulkTasksError, OptionError
from .keys import Keys
from .output import LogFormat, ToStderr, err, report_reconciled, report_run, say
from .progress import watcher
from .results import Status
from .window import Rate

if TYPE_CHECKING:
    pass

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Turn a spreadsheet of sales tasks into real tasks, with a results file per row.",
)
SANDBOX_KEY = "sandbox-demo-key"


LogFormatOpt = Annotated[
    LogFormat,
    typer.Option(help="text for people; json: one JSON object a line, for log shippers."),
]


class Target(StrEnum):
    lemlist = "lemlist"
    saleshandy = "saleshandy"
    attio = "attio"


class Action(StrEnum):
    create = "create"
    update = "update"


# --- options shared by run and validate ---------------------------------------------------

InputArg = Annotated[
    Path, typer.Argument(help="The spreadsheet: .csv (also ; or tab separated) or .xlsx.")
]
TargetOpt = Annotated[Target, typer.Option("--target", "-t", help="The vendor to send to.")]
ActionOpt = Annotated[Action, typer.Option("--action", "-a", help="Create new tasks or update.")]
ResultsOpt = Annotated[
    Path | None,
    typer.Option(help="Where to write the results: .csv, .jsonl or .xlsx by extension."),
]
SheetOpt = Annotated[str | None, typer.Option(help="XLSX: the sheet to read (default: first).")]
EncodingOpt = Annotated[
    str | None, typer.Option(help="CSV: the encoding (default: UTF-8, else Windows-1252).")
]
DelimiterOpt = Annotated[
    str | None, typer.Option(help="CSV: the delimiter (default: detect , ; or tab).")
]
MapOpt = Annotated[
    Path | None,
    typer.Option("--map", help='A TOML file of field = "Column header" lines.'),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="field=value for every row, e.g. --set assignedTo=usr_… (repeatable)."
    ),
]
TimezoneOpt = Annotated[
    str, typer.Option(help="The zone of dates written without one, e.g. Europe/Paris.")
]
DateFormatOpt = Annotated[
    DateOrder | None,
    typer.Option(help="How to read 03/04/2026: DMY (3 April) or MDY (4 March)."),
]


def _settings(**given: Any) -> job.Settings:
    reading = Reading(timezone=_zone(given.pop("timezone")), date_order=given.pop("date_format"))
    map_file = given.pop("map_file")
    mapping = dict(map_file) if isinstance(map_file, dict) else None  # a job file's own table
    return job.Settings(
        reading=reading,
        mapping=mapping if mapping is not None else read_map_file(map_file) if map_file else {},
        constants=read_set_options(given.pop("set_values") or []),
        target=given.pop("target").value,
        action=given.pop("action").value,
        **given,
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise OptionError(
            f'--timezone "{name}": not a time zone name; use one like UTC, Europe/Paris '
            "or America/New_York"
        ) from None


# --- commands -----------------------------------------------------------------------------


@app.command()
def run(
    ctx: typer.Context,
    input: Annotated[
        Path | None,
        typer.Argument(help="The spreadsheet: .csv (also ; or tab separated) or .xlsx."),
    ] = None,
    target: Annotated[
        Target | None, typer.Option("--target", "-t", help="The vendor to send to.")
    ] = None,
    action: ActionOpt = Action.create,
    results: ResultsOpt = None,
    sheet: SheetOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    map_file: MapOpt = None,
    set_values: SetOpt = None,
    timezone: TimezoneOpt = "UTC",
    date_format: DateFormatOpt = None,
    base_url: Annotated[
        str | None, typer.Option(help="Send to this scheme+host instead (a proxy, a sandbox).")
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(
            help="Requests/seconds allowed for this key (default: the vendor's, lemlist 20/2)."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for each answer.")
    ] = 30.0,
    sandbox: Annotated[
        bool, typer.Option(help="Send to a built-in local emulator of the vendor: no key needed.")
    ] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="Carry on from the results file of an earlier run: rows already done are "
            "skipped, rows never sent are sent."
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            help="Start over even though the results file exists (it is kept as a backup). "
            "Rows already created will be created again."
        ),
    ] = False,
    retry_failed: Annotated[
        bool, typer.Option(help="With --resume: send again the rows the vendor refused.")
    ] = False,
    retry_unknown: Annotated[
        bool,
        typer.Option(
            help="With --resume: send again the rows whose outcome is unknown. They may "
            "already exist: this may create them twice. Check them in the vendor's app first."
        ),
    ] = False,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Saleshandy: the most prospects one request carries (1-100, default 100)."
        ),
    ] = None,
    no_pack: Annotated[
        bool,
        typer.Option(
            "--no-pack",
            help="Saleshandy: one request per row, instead of packing the prospects of rows "
            "that ask for the same task into one request.",
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A TOML job file of run's options (input, target, rate, …); options given "
            "here win over it. Keys stay in the environment.",
        ),
    ] = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Send every valid row to the vendor and write what happened to each.

    Example: LEMLIST_API_KEY=… bulk-tasks run tasks.csv --target lemlist

    Try it with no account: bulk-tasks run sample_inputs/lemlist_create.csv
    --target lemlist --sandbox (or sample_inputs/saleshandy_create.csv --target saleshandy)

    Stopped or interrupted? Run the same command with --resume: nothing done is sent twice.

    Unattended: bulk-tasks run --config job.toml (see the README's "Job files").
    """
    say.json = log_format is LogFormat.json
    with _user_errors():
        options = _with_job_file(
            ctx,
            config,
            input=input,
            target=target,
            action=action,
            results=results,
            sheet=sheet,
            encoding=encoding,
            delimiter=delimiter,
            map_file=map_file,
            set_values=set_values,
            timezone=timezone,
            date_format=date_format,
            base_url=base_url,
            rate=rate,
            timeout=timeout,
            resume=resume,
            force=force,
            retry_failed=retry_failed,
            retry_unknown=retry_unknown,
            batch_size=batch_size,
            no_pack=no_pack,
            sandbox=sandbox,
        )
        sandbox, rate_text, no_pack = (options.pop(name) for name in ("sandbox", "rate", "no_pack"))
        settings = _settings(
            **options, rate=Rate.parse(rate_text) if rate_text else None, pack=not no_pack
        )
        _check_run_options(settings, sandbox=sandbox)
        with _destination(settings, sandbox=sandbox) as (settings, key):
            summary = job.run(settings, key=key, progress=watcher(err, json_lines=say.json))
        report_run(summary, f"{settings.target} {settings.action}")
        unknown = summary.counts[Status.UNKNOWN]
        if unknown:
            say(
                "unknown",
                f"{unknown} {summary.line_noun} are unknown: they were "
                f"sent but no answer said what became of them, so they may exist in "
                f"{settings.target}. Check them before sending them again with --resume "
                "--retry-unknown (README: When things go wrong).",
                level="warning",
                to=err,
                lines=unknown,
            )
        if summary.stopped or summary.counts[Status.NOT_SENT]:
            command = _resume_command()
            say("resume_hint", f"To carry on: {command}", to=err, command=command)
        raise typer.Exit(summary.exit_code)


#: a job file's option -> run's parameter, where their names differ
_PARAMETERS = {"map": "map_file", "set": "set_values"}
_CHOICES: dict[str, type[StrEnum]] = {
    "target": Target,
    "action": Action,
    "date_format": DateOrder,
}


def _with_job_file(ctx: typer.Context, config: Path | None, **given: Any) -> dict[str, Any]:
    """run's options: those typed on the command line, else the job file's, else defaults."""
    from .jobfile import read_job_file

    options = dict(given)
    for name, value in (read_job_file(config) if config else {}).items():
        parameter = _PARAMETERS.get(name, name)
        source = ctx.get_parameter_source(parameter)
        if source is not None and source.name == "COMMANDLINE":
            if name == "set":  # --set adds to the file's table, field by field
                options[parameter] = [f"{k}={v}" for k, v in value.items()] + (given[parameter])
            continue
        options[parameter] = _from_file(config, name, value)
    for name, example in (("input", "INPUT"), ("target", "--target NAME")):
        if options[name] is None:
            where = f" or {name} = … in {config}" if config else f" (or {name} in a --config file)"
            raise OptionError(f"run needs {example}{where}")
    return options


def _from_file(config: Path | None, name: str, value: Any) -> Any:
    if name in _CHOICES:
        choice = _CHOICES[name]
        try:
            return choice(value.upper() if choice is DateOrder else value)
        except ValueError:
            allowed = ", ".join(member.value for member in choice)
            raise OptionError(f'--config {config}: "{name}" must be one of {allowed}') from None
    if name == "set":
        return [f"{field}={text}" for field, text in value.items()]
    if name in ("input", "results") or (name == "map" and isinstance(value, str)):
        return Path(value)
    return value


def _check_run_options(settings: job.Settings, *, sandbox: bool) -> None:
    if sandbox and settings.base_url:
        raise OptionError("--sandbox and --base-url both say where to send: give one")
    if settings.resume and settings.force:
        raise OptionError(
            "--resume carries on from the results file, --force starts over: give one"
        )
    if (settings.retry_failed or settings.retry_unknown) and not settings.resume:
        raise OptionError("--retry-failed and --retry-unknown go with --resume")
    most = settings.vendor.most_per_request
    if settings.batch_size is not None and most == 1:
        raise OptionError(
            f"--batch-size: {settings.target} takes one task per request; leave the option out"
        )
    if settings.batch_size is not None and not 1 <= settings.batch_size <= most:
        raise OptionError(
            f"--batch-size {settings.batch_size}: {settings.target} takes 1 to {most} "
            f"{settings.vendor.line_noun} per request"
        )


def _resume_command() -> str:
    words = ["bulk-tasks", *(word for word in sys.argv[1:] if word != "--force")]
    return shlex.join(words if "--resume" in words else [*words, "--resume"])


@app.command()
def validate(
    input: InputArg,
    target: TargetOpt,
    action: ActionOpt = Action.create,
    results: ResultsOpt = None,
    sheet: SheetOpt = None,
    encoding: EncodingOpt = None,
    delimiter: DelimiterOpt = None,
    map_file: MapOpt = None,
    set_values: SetOpt = None,
    timezone: TimezoneOpt = "UTC",
    date_format: DateFormatOpt = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Check every row without sending anything (no key needed).

    Valid rows get status not_sent and error_code "valid"; invalid rows say what is wrong.
    The results go to INPUT.validation.csv unless --results says otherwise.
    Exit code 0 when every row is valid, 1 when some are not.

    Example: bulk-tasks validate tasks.xlsx --target lemlist --action update
    """
    say.json = log_format is LogFormat.json
    with _user_errors():
        settings = _settings(
            input=input,
            target=target,
            action=action,
            results=results,
            sheet=sheet,
            encoding=encoding,
            delimiter=delimiter,
            map_file=map_file,
            set_values=set_values,
            timezone=timezone,
            date_format=date_format,
        )
        summary = job.validate(settings, progress=watcher(err, json_lines=say.json))
        report_run(summary, f"{settings.target} {settings.action} (validation only)", sent=False)
        raise typer.Exit(0 if summary.counts[Status.INVALID] == 0 else 1)


@app.command()
def reconcile(
    results: Annotated[
        list[Path],
        typer.Argument(
            metavar="RESULTS",
            help="Results files of one piece of work, oldest first: the first run, its "
            "resumes and retries, runs of failed-rows files (.csv, .jsonl or .xlsx).",
        ),
    ],
    failed_out: Annotated[
        Path | None,
        typer.Option(
            help="Write the lines not done to this .csv or .xlsx, in the input's own columns "
            "plus error_code, error_message and source: fix them, then run the file."
        ),
    ] = None,
    exclude_unknown: Annotated[
        bool, typer.Option(help="Leave the unknown lines out of --failed-out.")
    ] = False,
    report: Annotated[
        Path | None,
        typer.Option(help="Write an XLSX report: a summary with a chart, a sheet per status."),
    ] = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Settle each line of several results files once, and say what is left to do.

    A done outcome in any file wins (the task exists); otherwise the file given later wins.
    Exit code 0 when every line is done, 1 otherwise, 2 when a file cannot be read.

    Example: bulk-tasks reconcile tasks.results.csv failed.results.csv --failed-out failed.csv
    """
    say.json = log_format is LogFormat.json
    from .reconcile import failed_lines
    from .reconcile import reconcile as settle
    from .report import write_report
    from .results import write_table

    with _user_errors():
        settled = settle(results)
        if failed_out is not None:
            header, rows = failed_lines(settled, include_unknown=not exclude_unknown)
            write_table(failed_out, header, rows)
        if report is not None:
            write_report(settled, report)
        report_reconciled(settled, failed_out=failed_out, report=report)
        raise typer.Exit(settled.exit_code)


@app.command("run-folder")
def run_folder(
    inbox: Annotated[Path, typer.Argument(help="The folder where spreadsheets are dropped.")],
    target: TargetOpt,
    done: Annotated[
        Path, typer.Option("--done", help="Where each run file goes, with its results.")
    ],
    action: ActionOpt = Action.create,
    sheet: SheetOpt = None,
    map_file: MapOpt = None,
    set_values: SetOpt = None,
    timezone: TimezoneOpt = "UTC",
    date_format: DateFormatOpt = None,
    base_url: Annotated[
        str | None, typer.Option(help="Send to this scheme+host instead (a proxy, a sandbox).")
    ] = None,
    rate: Annotated[str | None, typer.Option(help="Requests/seconds allowed for this key.")] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for each answer.")
    ] = 30.0,
    batch_size: Annotated[
        int | None, typer.Option(help="Saleshandy: the most prospects one request carries.")
    ] = None,
    no_pack: Annotated[
        bool, typer.Option("--no-pack", help="Saleshandy: one request per row.")
    ] = False,
    sandbox: Annotated[
        bool, typer.Option(help="Send to a built-in local emulator of the vendor: no key needed.")
    ] = False,
    settle: Annotated[
        float,
        typer.Option(min=0, help="A file changed less than this many seconds ago is left."),
    ] = 5.0,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Run every new spreadsheet dropped in INBOX once, then move it to DONE with its results.

    The same content is never sent twice (a ledger in DONE, by content hash); a file still
    being written waits for the next pass; an unreadable one goes to DONE/failed with a note
    why. A second instance exits at once. Exit code 0 when every line of every file is done,
    1 when some are not, 2 when a file could not be run or a run stopped.

    Example: bulk-tasks run-folder inbox/ --target saleshandy --done processed/
    """
    say.json = log_format is LogFormat.json
    from .inbox import run_folder as run_inbox

    with _user_errors():
        settings = _settings(
            input=inbox,
            target=target,
            action=action,
            sheet=sheet,
            map_file=map_file,
            set_values=set_values,
            timezone=timezone,
            date_format=date_format,
            base_url=base_url,
            rate=Rate.parse(rate) if rate else None,
            timeout=timeout,
            batch_size=batch_size,
            pack=not no_pack,
        )
        _check_run_options(settings, sandbox=sandbox)
        with _destination(settings, sandbox=sandbox) as (settings, key):
            folder = run_inbox(
                inbox,
                done,
                settings,
                key=key,
                settle=settle,
                watcher=lambda: watcher(err, json_lines=say.json),
            )
        for result in folder.files:
            said = f"{result.name}: {result.said}"
            say("file", said, file=result.name, exit_code=result.code, outcome=result.said)
        if not folder.files:
            say("file", f"{inbox}: nothing to run", inbox=str(inbox), files=0)
        if folder.stopped:
            say("stopped", f"Stopped: {folder.stopped}", level="error", to=err)
        raise typer.Exit(folder.exit_code)


@app.command("sandbox")
def sandbox_command(
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any).")] = 8080,
    latency: Annotated[
        str, typer.Option(help="Seconds before each answer, or a range MIN-MAX.")
    ] = "0",
    p500: Annotated[float, typer.Option(min=0, max=1, help="Chance of a 500 answer.")] = 0.0,
    p429: Annotated[float, typer.Option(min=0, max=1, help="Chance of a spurious 429.")] = 0.0,
    phang: Annotated[
        float, typer.Option(min=0, max=1, help="Chance of applying, then never answering.")
    ] = 0.0,
    pdrop: Annotated[
        float, typer.Option(min=0, max=1, help="Chance of applying, then cutting the answer.")
    ] = 0.0,
    key: Annotated[
        list[str] | None,
        typer.Option(help="Accept only this API key (repeatable; default: any key)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Draw the same faults every time (default: new ones).")
    ] = None,
    log_format: LogFormatOpt = LogFormat.text,
) -> None:
    """Serve a local emulator of the vendors' task endpoints, for tests and demos.

    Example: bulk-tasks sandbox --port 8080 --latency 0.04-0.12
    then: LEMLIST_API_KEY=any bulk-tasks run tasks.csv -t lemlist --base-url http://127.0.0.1:8080
    """
    from .sandbox import EMULATED, Faults, Sandbox, SandboxServer

    say.json = log_format is LogFormat.json

    with _user_errors():
        try:
            faults = Faults(
                latency=_latency(latency),
                p_error_500=p500,
                p_spurious_429=p429,
                p_hang=phang,
                p_drop=pdrop,
                seed=random.randrange(2**32) if seed is None else seed,
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
def _user_errors() -> Iterator[None]:
    try:
        yield
    except BulkTasksError as error:
        say("error", f"bulk-tasks: {error}", level="error", to=err)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:  # before a run's own handling starts, or during validate
        say("error", "bulk-tasks: stopped by Ctrl-C", level="error", to=err)
        raise typer.Exit(2) from None


@contextlib.contextmanager
def _destination(settings: job.Settings, *, sandbox: bool) -> Iterator[tuple[job.Settings, Keys]]:
    """Where to send and with which keys: the built-in sandbox, or the vendor and its keys."""
    if not sandbox:
        yield settings, Keys(settings.vendor)
        return
    from .sandbox import Sandbox, SandboxServer

    with SandboxServer(Sandbox()) as server:
        say(
            "sandbox",
            f"Using the built-in sandbox at {server.url}: nothing is sent to {settings.target}.",
            to=err,
            url=server.url,
        )
        keys = Keys(settings.vendor, given=SANDBOX_KEY, sandbox=True)
        yield dataclasses.replace(settings, base_url=server.url, sandbox=True), keys


def main() -> None:
    # retries show in the progress line and the results; stamina's own log line per retry
    # ("stamina.retry_scheduled", without its details) would only be noise on the terminal
    stamina.instrumentation.set_on_retry_hooks([])
    library = logging.getLogger("bulk_tasks")
    library.addHandler(ToStderr(logging.WARNING))
    library.propagate = False
    app(prog_name="bulk-tasks")
