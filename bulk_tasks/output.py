"""What the commands print: lines for people, or one JSON object a line for log shippers.

Everything goes through :data:`say` (``--log-format`` sets it); the run and reconcile
summaries are blocks: their lines in text, one record with their figures in JSON.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from .progress import json_line
from .results import Status
from .summary import Resolved, Summary

if TYPE_CHECKING:
    from .reconcile import Reconciled

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


def report_reconciled(settled: Reconciled, *, failed_out: Path | None, report: Path | None) -> None:
    lines: list[str] = []
    fields: dict[str, Any] = {"files": [str(file.path) for file in settled.files]}
    total = sum(settled.counts.values())
    files = len(settled.files)
    lines.append(f"reconcile: {files} file{'s' * (files != 1)}, {total:,} lines")
    fields |= {"lines": total, "counts": dict(settled.counts)}
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
        for code, count, first, example in errors:
            short = example if len(example) <= 90 else example[:89] + "…"
            lines.append(f"  {code} ({count:,}): rows {_first_rows(first)}: {short}")
        fields["top_errors"] = [
            {"error_code": code, "lines": count, "first_rows": first, "example": example}
            for code, count, first, example in errors
        ]
    unknown = settled.counts.get("unknown", 0)
    if unknown:
        rows = settled.rows_with(["unknown"])
        lines.append(
            f"Unknown: {unknown:,} lines (rows {_first_rows(rows)}) were sent, but no answer said "
            "what became of them: they may exist. Check them in the vendor's app (README: When "
            "things go wrong) before sending them again with --resume --retry-unknown."
        )
        fields["unknown_rows"] = rows
    doubtful = settled.disagreements.height
    if doubtful:
        rows = settled.rows_with(["created", "updated", "skipped"], settled.disagreements)
        lines.append(
            f"Possible duplicates: {doubtful:,} lines (rows {_first_rows(rows)}) are done in one "
            "file and unknown in another: the task may exist twice; check them in the vendor's app."
        )
        fields |= {"possible_duplicates": doubtful, "possible_duplicate_rows": rows}
    if failed_out is not None:
        lines.append(
            f"Failed rows: {failed_out}: fix the cells, then "
            f"`bulk-tasks run {failed_out} --target …`"
        )
        fields["failed_out"] = str(failed_out)
    if report is not None:
        lines.append(f"Report: {report}")
        fields["report"] = str(report)
    say.block("reconcile.summary", lines, exit_code=settled.exit_code, **fields)


def _first_rows(rows: list[str]) -> str:
    """The first few row numbers, and "…" when the list was cut (it stops at five)."""
    return ", ".join(rows) + (", …" if len(rows) >= 5 else "")


def report_run(summary: Summary, what: str, *, sent: bool = True) -> None:
    rows, noun = summary.rows, summary.line_noun
    lines: list[str] = []
    if noun == "rows":
        lines.append(f"{what}: {summary.lines} rows in {summary.seconds:.1f} s")
    else:
        lines.append(
            f"{what}: {rows.settled} rows, {summary.lines} {noun} in {summary.seconds:.1f} s"
        )
    counts = {status.value: n for status, n in summary.counts.items() if n}
    for status in Status:
        if summary.counts[status]:
            lines.append(f"  {status.value:<9} {summary.counts[status]:>7}")
    if rows.blank:
        lines.append(f"  (blank rows ignored: {rows.blank})")
    reasons = summary.invalid_reasons.most_common()
    if reasons:
        lines.append("Invalid, by reason:")
        lines += [f"  {count:,} {noun}: {reason}" for reason, count, _ in reasons]
    fields: dict[str, Any] = {
        "what": what,
        "rows": rows.settled,
        "lines": summary.lines,
        "line_noun": noun,
        "counts": counts,
        "blank_rows": rows.blank,
        "seconds": round(summary.seconds, 2),
        "results": str(summary.results),
        "exit_code": summary.exit_code,
    }
    if reasons:
        fields["invalid_reasons"] = [
            {"reason": reason, "lines": count, "first_rows": first}
            for reason, count, first in reasons
        ]
    if not sent:
        fields["helpers"] = summary.helpers
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
            lines.append(f"  partly created: rows {listed}{more} (see prospect_id in the results)")
    if summary.resolved:
        said = ", ".join(
            f"{summary.resolved[what]} {what}" for what in Resolved if summary.resolved[what]
        )
        lines.append(f"No answer, looked up at the vendor: {said}")
        fields["resolved"] = {what.value: summary.resolved[what] for what in Resolved}
    for variable, trouble in summary.keys_unused.items():
        lines.append(f"Key {variable}: {trouble}")
    if summary.keys_unused:
        fields["keys_unused"] = summary.keys_unused
    lines.append(f"Results: {summary.results}")
    say.block("summary", lines, **fields)
    if summary.stopped:
        say("stopped", f"Stopped: {summary.stopped}", level="error", to=err)


class ToStderr(logging.Handler):
    """The library's warnings, on stderr above any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        say("warning", f"bulk-tasks: {record.getMessage()}", level="warning", to=err)
