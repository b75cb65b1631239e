"""What the commands print: lines for people, or one JSON object a line for log shippers.

Everything goes through :data:`say` (``--log-format`` sets it); the run and reconcile
summaries are blocks: their lines in text, one record with their figures in JSON.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from ..errors import BulkTasksError
from ..job.summary import Ledgered, Resolved, Summary
from ..results import Status, vendor_of
from ..results.messages import counted
from ..rows.columns import Column, columns_for
from .progress import json_line

if TYPE_CHECKING:
    from ..results.reconcile import Reconciled, Rows
    from ..vendors.base import Spec, Vendor

err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)
out = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)


class LogFormat(StrEnum):
    text = "text"
    json = "json"


class _Say:
    """Everything a command prints: lines for people, or one JSON object a line (--log-format
    json) with the time, the level, the event and its figures."""

    json = False

    def __call__(
        self,
        event: str,
        text: str,
        /,
        *,
        level: str = "info",
        to: Console | None = None,
        **fields: Any,
    ) -> None:
        stream = to or out
        if self.json:
            message = text.removeprefix("bulk-tasks: ")
            stream.print(
                json_line(event, level=level, **({"message": message} if text else {}) | fields)
            )
        else:
            stream.print(text)

    def block(self, event: str, said: list[str], /, **fields: Any) -> None:
        """A summary: its lines for people, one record for machines."""
        if self.json:
            self(event, "", **fields)
        else:
            for line in said:
                out.print(line)


say = _Say()


def report_reconciled(
    settled: Reconciled,
    *,
    failed_out: Path | None,
    report: Path | None,
    include_unknown: bool = False,
) -> None:
    lines: list[str] = []
    fields: dict[str, Any] = {"files": [str(file.path) for file in settled.files]}
    total = sum(settled.counts.values())
    files = len(settled.files)
    lines.append(f"reconcile: {counted(files, 'files')}, {counted(total, 'lines')}")
    fields |= {"lines": total, "counts": dict(settled.counts)}
    if settled.destination:
        fields["destination"] = settled.destination
    if settled.sandbox:
        vendor = vendor_of(settled.destination)
        lines.append(
            f"Sent to the built-in sandbox (--sandbox): none of these tasks exists at {vendor}."
        )
    for status in Status:
        if settled.counts.get(status.value):
            lines.append(f"  {status.value:<9} {settled.counts[status.value]:>9,}")
    if settled.has_prospects:
        fully, partly, none = settled.rows_created()
        lines.append(
            f"Saleshandy rows: {fully} fully created, {partly} partly created, {none} not created"
        )
        fields["rows"] = {"fully_created": fully, "partly_created": partly, "not_created": none}
    errors = settled.top_errors()
    if errors:
        lines.append("Top errors:")
        for code, count, rows, example in errors:
            short = example if len(example) <= 90 else example[:89] + "…"
            lines.append(f"  {code} ({count:,}): {_where(rows)}: {short}")
        fields["top_errors"] = [
            {"error_code": code, "lines": count, "first_rows": rows.first, "example": example}
            for code, count, rows, example in errors
        ]
    unknown = settled.counts.get("unknown", 0)
    if unknown:
        rows = settled.rows_with(["unknown"])
        lines.append(_unknown_said(unknown, rows))
        fields["unknown_rows"] = rows.first
    doubtful = settled.disagreements.height
    if doubtful:
        rows = settled.rows_with(["created", "updated", "skipped"], settled.disagreements)
        lines.append(_duplicates_said(doubtful, rows))
        fields |= {"possible_duplicates": doubtful, "possible_duplicate_rows": rows.first}
    if failed_out is not None:
        held = settled.failed_out_lines(include_unknown=include_unknown)
        lines.append(_failed_out_said(failed_out, held, unknown, include_unknown=include_unknown))
        fields |= {"failed_out": str(failed_out), "failed_out_lines": held}
        if unknown:
            fields["unknown_in_failed_out"] = include_unknown
    if report is not None:
        lines.append(f"Report: {report}")
        fields["report"] = str(report)
    say.block("reconcile.summary", lines, exit_code=settled.exit_code, **fields)


def _unknown_said(unknown: int, rows: Rows) -> str:
    """The unknown lines: where they are, why they must not be sent blindly, what to check."""
    if unknown == 1:
        told = (
            f"1 line ({_where(rows)}) was sent, but no answer said what became of it: its task "
            "may exist. Check it in the vendor's app (README: When things go wrong) before "
            "sending it again; its error_message in the results says what is known of it."
        )
    else:
        told = (
            f"{unknown:,} lines ({_where(rows)}) were sent, but no answer said what became of "
            "them: their tasks may exist. Check them in the vendor's app (README: When things "
            "go wrong) before sending them again; each one's error_message in the results says "
            "what is known of it."
        )
    return f"Unknown: {told}"


def _duplicates_said(doubtful: int, rows: Rows) -> str:
    """The lines done in one file and unknown in another."""
    if doubtful == 1:
        told = "is done in one file and unknown in another: the task may exist twice; check it"
    else:
        told = "are done in one file and unknown in another: the tasks may exist twice; check them"
    where = f"{counted(doubtful, 'lines')} ({_where(rows)})"
    return f"Possible duplicates: {where} {told} in the vendor's app."


def _failed_out_said(path: Path, held: int, unknown: int, *, include_unknown: bool) -> str:
    """What the failed-rows file holds, and what to do with it."""
    if held:
        said = [f"Failed rows: {path}: fix the cells, then `bulk-tasks run {path} --target …`"]
    else:
        said = [f"Failed rows: {path} holds no line: none is invalid, failed or not sent"]
    the_unknown = "the unknown line" if unknown == 1 else f"the {unknown:,} unknown lines"
    if unknown and include_unknown:
        said.append(
            f"It holds {the_unknown} too (--include-unknown): first delete from it any whose "
            "task exists in the vendor's app"
        )
    elif unknown:
        said.append(
            f"{the_unknown.capitalize()} {'is' if unknown == 1 else 'are'} not in it: "
            "--include-unknown puts unknown lines in, to send once checked"
        )
    text = ". ".join(said)
    return f"{text}." if len(said) > 1 or not held else text


def _where(rows: Rows) -> str:
    """``row 4``, ``rows 4, 7, …``; with each row's prospects when its lines have them."""
    named = []
    for row in rows.first:
        prospects = rows.prospects.get(row, [])
        if not prospects:
            named.append(row)
            continue
        shown = ", ".join(prospects[:3])
        shown += f" and {len(prospects) - 3} more" if len(prospects) > 3 else ""
        named.append(f"{row} ({'prospect' if len(prospects) == 1 else 'prospects'} {shown})")
    more = ", …" if rows.count > len(rows.first) else ""
    return f"{'row' if rows.count == 1 else 'rows'} {', '.join(named)}{more}"


def report_run(summary: Summary, what: str, *, sent: bool = True) -> None:
    rows, noun = summary.rows, summary.line_noun
    lines: list[str] = []
    if noun == "rows":
        lines.append(f"{what}: {counted(summary.lines, noun)} in {summary.seconds:.1f} s")
    else:
        lines.append(
            f"{what}: {counted(rows.ended, 'rows')}, {counted(summary.lines, noun)} in "
            f"{summary.seconds:.1f} s"
        )
    for status in Status:
        if summary.counts[status]:
            lines.append(f"  {status.value:<9} {summary.counts[status]:>7}")
    if rows.blank:
        lines.append(f"  (blank rows ignored: {rows.blank})")
    reasons = summary.invalid_reasons.most_common()
    if reasons:
        lines.append("Invalid, by reason:")
        lines += [f"  {count:,} {noun}: {reason}" for reason, count, _ in reasons]
    fields: dict[str, Any] = {"what": what, **summary.as_dict()}
    if reasons:
        fields["invalid_reasons"] = [
            {"reason": reason, "lines": count, "first_rows": first}
            for reason, count, first in reasons
        ]
    if noun != "rows" and sent:
        lines.append(
            f"Rows: {rows.fully} fully created, {rows.partly} partly created, "
            f"{rows.not_done} not created"
        )
        fields |= {"rows_fully_created": rows.fully, "rows_partly_created": rows.partly}
        fields |= {"rows_not_created": rows.not_done, "partly_created_rows": rows.partly_rows}
        if rows.partly_rows:
            more = ", …" if rows.partly > len(rows.partly_rows) else ""
            listed = ", ".join(map(str, rows.partly_rows))
            these = "row" if len(rows.partly_rows) == 1 else "rows"
            lines.append(
                f"  partly created: {these} {listed}{more} (see prospect_id in the results)"
            )
    if summary.by_ledger:
        said = ", ".join(
            f"{counted(summary.by_ledger[how], noun)} {how}"
            for how in Ledgered
            if summary.by_ledger[how]
        )
        lines.append(f"Task ledger: {said}")
        fields["ledger"] = {how.value: summary.by_ledger[how] for how in Ledgered}
    if summary.resolved:
        lines.extend(_resolved_lines(summary))
        fields["resolved"] = {what.value: summary.resolved[what] for what in Resolved}
    for variable, trouble in summary.keys_unused.items():
        lines.append(f"Key {variable}: {trouble}")
    if summary.keys_unused:
        fields["keys_unused"] = summary.keys_unused
    lines.append(f"Results: {summary.results}")
    say.block("summary", lines, **fields)
    if summary.stopped:
        say("stopped", f"Stopped: {summary.stopped}", level="error", to=err)


def _resolved_lines(summary: Summary) -> list[str]:
    """What became of the lines that got no answer: looked up, or not (the vendor cannot be
    asked)."""
    lines = []
    looked_up = [what for what in Resolved if what is not Resolved.NOT_ASKED]
    said = ", ".join(
        f"{summary.resolved[what]} {what}" for what in looked_up if summary.resolved[what]
    )
    if said:
        lines.append(f"No answer, looked up at the vendor: {said}")
    not_asked, vendor = summary.resolved[Resolved.NOT_ASKED], summary.vendor
    if not_asked:
        lines.append(
            f"No answer: {counted(not_asked, summary.line_noun)} unknown; {vendor} cannot be "
            f"asked: check {'it' if not_asked == 1 else 'them'} in {vendor}'s app (README: When "
            "things go wrong)"
        )
    return lines


#: how headers find their fields, said once before the fields of every action
HEADERS = (
    "A column feeds a field when its header is the field's name, or one of the names in "
    "brackets after it, ignoring case, spaces, _ and - (Due Date feeds dueDate); --map FILE "
    "points a field to any other header, --set FIELD=VALUE gives every row one value. Other "
    "columns are carried into the results file untouched."
)


def report_fields(actions: list[tuple[Vendor, type[Spec]]]) -> None:
    """The columns each of ``actions`` reads: required or not, how to write them, an example."""
    lines, listed = [HEADERS], []
    for vendor, spec in actions:
        columns = columns_for(spec, key_env=vendor.key_env)
        about = f": {spec.about}" if spec.about else ""
        lines += [
            "",
            f"{vendor.name} {spec.action} (--target {vendor.name} --action {spec.action}){about}",
        ]
        lines += [line for column in columns for line in _column_lines(column)]
        listed.append(
            {
                "target": vendor.name,
                "action": spec.action,
                "about": spec.about,
                "columns": [_column_fields(column) for column in columns],
            }
        )
    say.block("fields", lines, headers=HEADERS, actions=listed)


def _column_lines(column: Column) -> list[str]:
    names = (
        f"{column.field} (or {' or '.join(column.other_names)})"
        if column.other_names
        else column.field
    )
    lines = [f"  {names}: {'required' if column.required else 'optional'}"]
    lines.append(f"    write: {column.form.says}")
    if column.form.blank:
        lines.append(f"    blank: {column.form.blank}")
    lines.append(f"    example: {column.form.example}")
    return lines


def _column_fields(column: Column) -> dict[str, Any]:
    return {
        "field": column.field,
        "other_names": list(column.other_names),
        "required": column.required,
        "write": column.form.says,
        "blank": column.form.blank,
        "example": column.form.example,
    }


class ToStderr(logging.Handler):
    """The library's warnings, on stderr above any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        say("warning", f"bulk-tasks: {record.getMessage()}", level="warning", to=err)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """A user's mistake (a :class:`~bulk_tasks.errors.BulkTasksError`) or a Ctrl-C said in
    one line, and exit code 2: no traceback."""
    try:
        yield
    except BulkTasksError as error:
        say("error", f"bulk-tasks: {error}", level="error", to=err)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:  # before a run's own handling starts, or during validate
        say("error", "bulk-tasks: stopped by Ctrl-C", level="error", to=err)
        raise typer.Exit(2) from None


def aligned(rows: list[list[str]]) -> list[str]:
    """Rows as lines of columns two spaces apart, each as wide as its widest cell."""
    widths = [max(map(len, column)) for column in zip(*rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
