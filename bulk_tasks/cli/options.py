"""Every option the commands share, declared once, and how options become :class:`Settings`.

A command takes an option by naming its type here (``target: TargetOpt = None``), so two
commands that take ``--rate`` take the same definition and the same help. A job file
(``--config``) fills in what the command line leaves out.
"""

from __future__ import annotations

import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from typer.core import TyperCommand

from ..errors import OptionError
from ..job.ledger import LEDGER_ENV
from ..rows.cells import DateOrder, Reading
from ..rows.columns import read_map_file, read_set_options
from ..sending.window import Rate
from ..settings import Settings
from .notify import NotifyOn
from .output import LogFormat


class Target(StrEnum):
    lemlist = "lemlist"
    saleshandy = "saleshandy"
    attio = "attio"


class Action(StrEnum):
    create = "create"
    update = "update"


class Command(TyperCommand):
    """A command whose help names its arguments the way most commands do: ``INBOX`` when it
    is required, ``[INPUT]`` when not, ``RESULTS...`` for several, and with no Python type
    beside them (typer's own help says ``{INBOX}``, ``{RESULTS...}...``, ``INPUT <path>``)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                name = _argument_name(param)
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((_argument_name(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _argument_name(param: Any) -> str:
    name = str(param.metavar or param.name).upper()
    return name if param.nargs == 1 else f"{name}..."


# --- options, each declared once --------------------------------------------------------------

InputArg = Annotated[
    Path | None,
    typer.Argument(
        metavar="INPUT",
        help="The spreadsheet: .csv (also ; or tab separated) or .xlsx.",
        show_default=False,
    ),
]
# --target, --action and --date-format are read as text (in any case) and checked as the
# settings are made, so that a wrong value is told like every other option's
TargetOpt = Annotated[
    str | None,
    typer.Option("--target", "-t", metavar="VENDOR", help="lemlist, saleshandy or attio."),
]
ActionOpt = Annotated[
    str | None,
    typer.Option("--action", "-a", metavar="ACTION", help="create new tasks, or update them."),
]
ResultsOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="PATH", help="Where to write the results: .csv, .jsonl or .xlsx by extension."
    ),
]
SheetOpt = Annotated[
    str | None, typer.Option(metavar="NAME", help="XLSX: the sheet to read (default: the first).")
]
EncodingOpt = Annotated[
    str | None,
    typer.Option(metavar="NAME", help="CSV: the encoding (default: UTF-8, else Windows-1252)."),
]
DelimiterOpt = Annotated[
    str | None,
    typer.Option(metavar="CHAR", help="CSV: the delimiter (default: detect , ; or tab)."),
]
MapOpt = Annotated[
    Path | None,
    typer.Option("--map", metavar="PATH", help='A TOML file of field = "Column header" lines.'),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="FIELD=VALUE",
        help="One value for every row, e.g. --set assignedTo=usr_… (repeatable).",
    ),
]
TimezoneOpt = Annotated[
    str,
    typer.Option(metavar="ZONE", help="The zone of dates written without one, e.g. Europe/Paris."),
]
DateFormatOpt = Annotated[
    str | None,
    typer.Option(metavar="ORDER", help="How to read 03/04/2026: DMY (3 April) or MDY (4 March)."),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(metavar="URL", help="Send to this scheme+host instead (a proxy, a sandbox)."),
]
RateOpt = Annotated[
    str | None,
    typer.Option(
        metavar="N/SECONDS",
        help="Requests allowed per key in any window, e.g. 20/2 (default: the vendor's: "
        "lemlist and Saleshandy 20/2, Attio 25/1).",
    ),
]
TimeoutOpt = Annotated[
    float, typer.Option(min=0.1, metavar="SECONDS", help="Seconds to wait for each answer.")
]
SandboxOpt = Annotated[
    bool,
    typer.Option(
        "--sandbox/--no-sandbox",
        help="Send to a built-in local emulator of the vendor: no key needed.",
    ),
]
ResolveOpt = Annotated[
    bool,
    typer.Option(
        "--resolve/--no-resolve",
        help="Look up at the vendor the creates that got no answer, once the answer timeout "
        "has passed: found ones end created, missing ones are sent again once (lemlist and "
        "Attio; Saleshandy cannot be asked).",
    ),
]
BatchSizeOpt = Annotated[
    int | None,
    typer.Option(
        metavar="N", help="Saleshandy: the most prospects one request carries (1-100, default 100)."
    ),
]
NoPackOpt = Annotated[
    bool,
    typer.Option(
        "--no-pack",
        help="Saleshandy: one request per row, instead of packing the prospects of rows that "
        "ask for the same task into one request.",
    ),
]
ShareOpt = Annotated[
    str,
    typer.Option(
        envvar="BULK_TASKS_SHARE",
        metavar="WHERE",
        help="Who shares each key's rate window: local (the runs on this machine, through a "
        "file in the user's cache folder), redis://HOST:PORT/DB (every machine using that "
        "Redis), or off (this run alone).",
    ),
]
LedgerOpt = Annotated[
    str | None,
    typer.Option(
        envvar=LEDGER_ENV,
        metavar="WHERE",
        show_default=False,
        help="The task ledger, which remembers every task created so that no later run "
        "creates it again: local (the default: a file in the user's data folder), a file path "
        "(a volume the runs of one machine share), postgresql://USER@HOST/DB (several "
        "machines), or off. "
        "The built-in sandbox runs without one unless given.",
    ),
]
RowKeyOpt = Annotated[
    str | None,
    typer.Option(
        metavar="COLUMN",
        help="The column holding each row's own id (a CRM id, say): the ledger knows the row "
        "by it, so an edited row updates its task instead of creating another.",
    ),
]
CreateAgainOpt = Annotated[
    bool,
    typer.Option(
        "--create-again",
        help="Create the rows whose tasks the ledger says an earlier run created, on purpose "
        "(the ledger then names the new tasks).",
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(metavar="YYYY-MM-DD", help="Only from this day on (local time)."),
]
NotifyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--notify",
        envvar="BULK_TASKS_NOTIFY",
        metavar="URL",
        show_default=False,
        help="POST a JSON document here when the run ends (run-folder: each file's), e.g. a "
        "Slack incoming webhook, which shows its text field (repeatable).",
    ),
]
NotifyOnOpt = Annotated[
    NotifyOn,
    typer.Option(
        envvar="BULK_TASKS_NOTIFY_ON",
        metavar="WHEN",
        help="failure: notify when the exit code is not 0; always: after every run.",
    ),
]
MetricsFileOpt = Annotated[
    Path | None,
    typer.Option(
        envvar="BULK_TASKS_METRICS_FILE",
        metavar="PATH",
        show_default=False,
        help="When the run ends (run-folder: the whole pass), write its figures for "
        "Prometheus there (lines by status, requests, 429s, retries, duration, exit code, "
        "last success), in the text format of node_exporter's textfile collector; the job "
        "label is the file's name without its suffix, e.g. "
        "/var/lib/node_exporter/textfile/nightly-lemlist.prom.",
    ),
]
LimitOpt = Annotated[
    int | None,
    typer.Option(
        metavar="N",
        help="Only the first N data rows (blank rows aside), to try a big file on a few rows: "
        "run sends them and ends the rest not_sent (send them later with --resume and no "
        "--limit); validate checks them only.",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="PATH",
        help="A TOML job file of the command's options (input or inbox, target, rate, …); "
        "options given here win over it. Keys stay in the environment.",
    ),
]
LogFormatOpt = Annotated[
    LogFormat,
    typer.Option(
        metavar="FORMAT", help="text for people; json: one JSON object a line, for log shippers."
    ),
]


def settings_from(**given: Any) -> Settings:
    """Settings from the options a command shares; what ``given`` holds beyond them too."""
    reading = Reading(
        timezone=zone(given.pop("timezone")), date_order=date_order(given.pop("date_format"))
    )
    map_file = given.pop("map_file")
    mapping = dict(map_file) if isinstance(map_file, dict) else None  # a job file's own table
    rate = given.pop("rate", None)
    return Settings(
        reading=reading,
        mapping=mapping if mapping is not None else read_map_file(map_file) if map_file else {},
        constants=read_set_options(given.pop("set_values") or []),
        target=str(given.pop("target")).lower(),
        action=str(given.pop("action")).lower(),
        rate=Rate.parse(rate) if rate else None,
        pack=not given.pop("no_pack", False),
        **given,
    )


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise OptionError(
            f'--timezone "{name}": not a time zone name; use one like UTC, Europe/Paris '
            "or America/New_York"
        ) from None


def date_order(text: str | None) -> DateOrder | None:
    if text is None:
        return None
    try:
        return DateOrder(text.upper())
    except ValueError:
        raise OptionError(
            f'--date-format "{text}": not a date order; use DMY (03/04/2026 is 3 April) '
            "or MDY (03/04/2026 is 4 March)"
        ) from None


def given(ctx: typer.Context, *besides: str) -> dict[str, Any]:
    """The command's parameters as given, but ``besides`` and those that are not settings."""
    skipped = {"config", "log_format", *besides}
    return {name: value for name, value in ctx.params.items() if name not in skipped}


#: a job file's option -> the commands' parameter, where their names differ
_PARAMETERS = {"map": "map_file", "set": "set_values"}
_CHOICES: dict[str, type[StrEnum]] = {
    "notify_on": NotifyOn,
    "target": Target,
    "action": Action,
    "date_format": DateOrder,
}
#: what validate takes of a run's job file: where the rows are and how to read them
_READING = frozenset(
    {"input", "target", "action", "results", "sheet", "encoding", "delimiter", "map", "set"}
    | {"timezone", "date_format", "limit", "row_key"}
)


#: what each command cannot go without, and how its command line gives it
_NEEDED = {
    "run": (("input", "INPUT"), ("target", "--target NAME")),
    "validate": (("input", "INPUT"), ("target", "--target NAME")),
    "run-folder": (("inbox", "INBOX"), ("done", "--done FOLDER"), ("target", "--target NAME")),
}


def with_job_file(
    ctx: typer.Context, command: str, config: Path | None, **given: Any
) -> dict[str, Any]:
    """A command's options: those typed on the command line, else the job file's, else
    defaults. ``validate`` reads a job file of ``run``, and takes only the options about
    reading the rows."""
    from .jobfile import read_job_file

    options = dict(given)
    kind = "run-folder" if command == "run-folder" else "run"
    for name, value in (read_job_file(config, command=kind) if config else {}).items():
        parameter = _PARAMETERS.get(name, name)
        if parameter not in options or (command == "validate" and name not in _READING):
            continue
        source = ctx.get_parameter_source(parameter)
        if source is not None and source.name == "COMMANDLINE":
            if name == "set":  # --set adds to the file's table, field by field
                options[parameter] = [f"{k}={v}" for k, v in value.items()] + (given[parameter])
            continue
        options[parameter] = _from_file(config, name, value)
    for name, example in _NEEDED[command]:
        if options[name] is None:
            where = f" or {name} = … in {config}" if config else f" (or {name} in a --config file)"
            raise OptionError(f"{command} needs {example}{where}")
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
    if name == "notify" and isinstance(value, str):
        return [value]
    if name in ("input", "results", "inbox", "done", "metrics_file") or (
        name == "map" and isinstance(value, str)
    ):
        return Path(value)
    return value


def day_start(text: str | None, option: str) -> float | None:
    """The start of the day ``text`` names, in local time, as epoch seconds."""
    if text is None:
        return None
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise OptionError(f'{option} "{text}": give a day as YYYY-MM-DD, e.g. 2026-03-01') from None
    return datetime.datetime.combine(day, datetime.time()).timestamp()
