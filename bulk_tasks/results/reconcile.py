"""Several results files of one piece of work -> each line's settled outcome (polars).

The files are a first run, its resumes and retries, and runs of failed-rows files made
from them, in the order given. A line is known by its fingerprint; a line run from a
failed-rows file carries the original line's row number and fingerprint in its ``source``
column (``ROW:FINGERPRINT``), so an edited row still settles the original line. Each line
settles once: a done outcome in any file wins (the task exists; ``created`` or ``updated``
before the ``skipped`` that only echoes them); otherwise the file given later wins. Lines
done in one file and ``unknown`` in another may exist twice: they are counted and listed.

Every column is read as text. CSV files are scanned lazily; only the few columns the
settling needs are kept for every line, and the full lines are read again only for those
a failed-rows file or a report needs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import polars as pl

from ..errors import ResultsError
from ..rows.cells import ID_SEPARATORS
from ..rows.inputs.table import os_problem
from ..rows.safe_cells import restore
from . import (
    DESTINATION,
    RESULT_COLUMNS,
    SANDBOX,
    delimiter_of,
    input_columns,
    is_sandbox,
    vendor_of,
)

DONE = ("created", "updated", "skipped")
#: the statuses of the lines a failed-rows file holds: never sent, or refused
FAILED_OUT = ("invalid", "failed", "not_sent")
FIRST_ROWS = 5  # the rows named where a summary points at some lines
#: columns a failed-rows file adds after the input's own, and how a run renames them
ADDED = ("error_code", "error_message", "source")
_CARRIED_AGAIN = ("error_code (input)", "error_message (input)", "source")
#: columns full_lines adds to a results file's own: the original row and fingerprint, the file
_ADDED_HERE = ("_key", "_row", "_file")


@dataclass(frozen=True)
class ResultsFile:
    path: Path
    modified: datetime
    lines: int


@dataclass(frozen=True)
class Rows:
    """Where some lines stand in the original input: the first few rows, each once and in
    order, how many rows in all, and each first row's prospects (Saleshandy lines)."""

    first: list[str]
    count: int
    prospects: dict[str, list[str]] = field(default_factory=dict)

    def listed(self) -> str:
        """The first rows, and "…" when there are more: ``4, 7, …``."""
        return ", ".join(self.first) + (", …" if self.count > len(self.first) else "")


class TopError(NamedTuple):
    error_code: str
    lines: int
    rows: Rows
    example: str


@dataclass
class Reconciled:
    """Each line's settled outcome, and what the files disagree on: what
    [`reconcile`][bulk_tasks.reconcile] returns."""

    files: list[ResultsFile]
    #: one row per line: _key (its fingerprint), _row (its original row), prospect_id,
    #: status, error_code, and _file and _line (where its settling outcome stands)
    settled: pl.DataFrame
    #: lines done in one file and unknown (or left sending) in another
    disagreements: pl.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    #: where the lines were sent, as their ``destination`` says ("": files too old to say)
    destination: str = ""

    @property
    def sandbox(self) -> bool:
        """Whether the lines went to the built-in sandbox: none of their tasks exists."""
        return is_sandbox(self.destination)

    @property
    def exit_code(self) -> int:
        """0 when every line is done, 1 otherwise."""
        return 0 if all(status in DONE for status in self.counts) else 1

    @property
    def has_prospects(self) -> bool:
        return bool(self.settled.filter(pl.col("prospect_id") != "").height)

    def rows_created(self) -> tuple[int, int, int]:
        """Rows with every line done, some, none (by original row number)."""
        per_row = self.settled.group_by("_row").agg(
            pl.col("status").is_in(DONE).sum().alias("done"), pl.len().alias("lines")
        )
        fully = per_row.filter(pl.col("done") == pl.col("lines")).height
        none = per_row.filter(pl.col("done") == 0).height
        return fully, per_row.height - fully - none, none

    def failed_out_lines(self, *, include_unknown: bool = False) -> int:
        """How many lines the failed-rows file holds (see `failed_lines`)."""
        wanted = failed_out_statuses(include_unknown=include_unknown)
        return sum(self.counts.get(status, 0) for status in wanted)

    def top_errors(self, most: int = 5) -> list[TopError]:
        """The most frequent error codes of the lines not done, with their first rows and an
        example message, the most frequent first."""
        failing = self.settled.filter(pl.col("status").is_in(FAILED_OUT))
        number = pl.col("_row").cast(pl.Int64, strict=False).drop_nulls().unique()
        grouped = (
            failing.sort(["_file", "_line"])
            .group_by("error_code")
            .agg(
                pl.len().alias("lines"),
                number.sort().head(FIRST_ROWS).alias("rows"),
                number.len().alias("row_count"),
                pl.col("_file").first(),
                pl.col("_line").first(),
            )
            .sort(["lines", "error_code"], descending=[True, False])
            .head(most)
        )
        examples = self._messages(grouped.select("_file", "_line"))
        return [
            TopError(
                code or "(none)",
                lines,
                Rows([str(row) for row in rows], row_count),
                examples[(file, line)],
            )
            for code, lines, rows, row_count, file, line in grouped.iter_rows()
        ]

    def _messages(self, where: pl.DataFrame) -> dict[tuple[int, int], str]:
        """The error_message of a few lines, read from their files."""
        found: dict[tuple[int, int], str] = {}
        for (index,), lines in where.partition_by("_file", as_dict=True).items():
            frame = scan(self.files[int(index)].path).with_row_index("_line")
            picked = frame.join(lines.lazy().select("_line"), on="_line").collect()
            for line, message in picked.select("_line", "error_message").iter_rows():
                found[(int(index), int(line))] = restore(message or "")
        return found

    def rows_with(self, statuses: Sequence[str], table: pl.DataFrame | None = None) -> Rows:
        """The rows of the lines with ``statuses`` (in ``table``, by default every line)."""
        frame = self.settled if table is None else table
        per_row = (
            frame.filter(pl.col("status").is_in(statuses))
            .with_columns(pl.col("_row").cast(pl.Int64, strict=False).alias("_number"))
            .drop_nulls("_number")
            .group_by("_number")
            .agg(pl.col("prospect_id").filter(pl.col("prospect_id") != "").sort())
            .sort("_number")
        )
        first = per_row.head(FIRST_ROWS)
        return Rows(
            [str(row) for row in first["_number"]],
            per_row.height,
            {str(row): prospects for row, prospects in first.iter_rows() if prospects},
        )


# --- reading ------------------------------------------------------------------------------


def _check_header(path: Path, columns: Sequence[str]) -> None:
    if not set(RESULT_COLUMNS[:2]) <= set(columns) or "fingerprint" not in columns:
        raise ResultsError(
            f"{path}: not a bulk-tasks results file (it has no row, status and fingerprint "
            "columns); give the results files that bulk-tasks run wrote"
        )


def _text_frame(rows: list[dict[str, str]], path: Path) -> pl.LazyFrame:
    columns = list(dict.fromkeys(name for row in rows for name in row))
    _check_header(path, columns)
    data = {name: [row.get(name, "") for row in rows] for name in columns}
    return pl.LazyFrame(data, schema=dict.fromkeys(columns, pl.String))


def _jsonl_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8") as file:
        for text in file:
            try:
                line = json.loads(text)
            except ValueError:
                continue  # a line torn by a kill
            if isinstance(line, dict) and "status" in line:
                yield {str(key): str(value) for key, value in line.items()}


def _xlsx_rows(path: Path) -> list[dict[str, str]]:
    import python_calamine

    try:
        with python_calamine.CalamineWorkbook.from_path(path) as workbook:
            rows = workbook.get_sheet_by_index(0).to_python()
    except python_calamine.CalamineError as error:
        raise ValueError(str(error) or "not a workbook") from None
    if not rows:
        return []
    header = [str(name) for name in rows[0]]
    return [
        {name: _text(value) for name, value in zip(header, values, strict=False)}
        for values in rows[1:]
    ]


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def scan(path: Path) -> pl.LazyFrame:
    """One results file, every column as text ("" for a missing cell)."""
    if path.is_dir():
        raise ResultsError(
            f"{path}: is a folder; give the results files in it, such as {path}/*.results.csv"
        )
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".xlsx"):
        raise ResultsError(f"{path}: a results file is .csv, .jsonl or .xlsx")
    _check_readable(path)
    try:
        if suffix == ".csv":
            frame = pl.scan_csv(
                path,
                separator=delimiter_of(path) or ",",
                infer_schema=False,
                empty_string_is_null=False,
            )
            _check_header(path, frame.collect_schema().names())
            return frame
        if suffix == ".jsonl":
            return _text_frame(list(_jsonl_rows(path)), path)
        return _text_frame(_xlsx_rows(path), path)
    except ResultsError:
        raise
    except (OSError, pl.exceptions.PolarsError, ValueError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ResultsError(f"{path}: cannot be read ({reason}); check the file") from None


def _check_readable(path: Path) -> None:
    """The ways a file cannot be opened, said in our words rather than its reader's."""
    try:
        with path.open("rb"):
            pass
    except FileNotFoundError:
        raise ResultsError(
            f"{path}: no such file; check the path (a run writes its results beside its input, "
            "as NAME.results.csv, unless --results said where)"
        ) from None
    except OSError as error:
        raise ResultsError(f"{path}: {os_problem(error)}") from None


def _narrow(frame: pl.LazyFrame, index: int) -> pl.LazyFrame:
    """What settling needs of each line, and nothing long: a line's identity and word."""
    names = frame.collect_schema().names()

    def column(name: str) -> pl.Expr:
        return pl.col(name) if name in names else pl.lit("")

    source = column("source").str.split_exact(":", 1)
    carried = column("source").str.contains(":")
    return frame.with_row_index("_line").select(
        pl.lit(index, dtype=pl.UInt16).alias("_file"),
        "_line",
        pl.when(carried)
        .then(source.struct.field("field_1"))
        .otherwise(column("fingerprint"))
        .alias("_key"),
        pl.when(carried)
        .then(source.struct.field("field_0"))
        .otherwise(column("row"))
        .alias("_row"),
        column("prospect_id").alias("prospect_id"),
        column("status").replace({"sending": "unknown"}).alias("status"),
        column("error_code").alias("error_code"),
        column(DESTINATION).alias("destination"),
    )


def reconcile(paths: Sequence[Path]) -> Reconciled:
    """Settle every line of several results files of one input: the first run's, its
    ``resume`` runs', a ``resolve``'s.

    A line's settled outcome is its done one if any file has one (created or updated
    first), else the one of the latest file given. Lines that one file says are done and
    another left ``unknown`` are listed apart: their tasks may exist twice.

    Args:
        paths: the results files, oldest first (later files win).

    Returns:
        Each line's settled outcome (``settled``, a polars DataFrame), the lines by
            status (``counts``) and the disagreements; its ``exit_code`` is 0 when every
            line is done.

    Raises:
        ResultsError: no file given, a file that cannot be read or is no results file,
            or files of different inputs or of different destinations.
    """
    if not paths:
        raise ResultsError("give one or more results files to reconcile")
    frames = [scan(path) for path in paths]
    narrow = [_narrow(frame, index) for index, frame in enumerate(frames)]
    lines = pl.concat(narrow).collect(engine="streaming")  # short columns only
    # within a file, a line's last entry is its word (a killed run leaves two)
    last = lines.unique(subset=["_file", "_key"], keep="last").with_columns(
        # the outcome that settles: done, then created or updated, then the later file
        (
            pl.col("status").is_in(DONE).cast(pl.UInt32) * 4
            + pl.col("status").is_in(("created", "updated")).cast(pl.UInt32) * 2
        )
        .mul(65536)
        .add(pl.col("_file").cast(pl.UInt32))
        .alias("_rank")
    )
    _one_piece_of_work(paths, frames, last)
    destination = _one_destination(paths, last)
    best = last.group_by("_key").agg(pl.col("_rank").max())
    settled_frame = last.join(best, on=["_key", "_rank"]).drop("_rank")
    doubtful_keys = (
        last.group_by("_key")
        .agg(
            pl.col("status").is_in(DONE).any().alias("done"),
            (pl.col("status") == "unknown").any().alias("unknown"),
        )
        .filter(pl.col("done") & pl.col("unknown"))
        .select("_key")
    )
    sizes = last.group_by("_file").len()
    per_file = dict(sizes.iter_rows())
    files = [
        ResultsFile(path, datetime.fromtimestamp(path.stat().st_mtime), int(per_file.get(i, 0)))
        for i, path in enumerate(paths)
    ]
    counts = {str(k): int(v) for k, v in settled_frame.group_by("status").len().iter_rows()}
    disagreements = settled_frame.join(doubtful_keys, on="_key")
    return Reconciled(files, settled_frame, disagreements, counts, destination)


def _trial_of_the_same_vendor(last: pl.DataFrame) -> bool:
    """Whether some lines went to a vendor's sandbox and others to that vendor."""
    sent = set(last.filter(pl.col("destination") != "")["destination"].unique().to_list())
    return any(is_sandbox(destination) and vendor_of(destination) in sent for destination in sent)


def _one_destination(paths: Sequence[Path], last: pl.DataFrame) -> str:
    """The one destination of every line (files too old to say it aside); files whose
    lines went to different ones (a --sandbox trial and real runs) are refused."""
    sent = (
        last.filter(pl.col("destination") != "")
        .group_by("destination")
        .agg(pl.col("_file").min())
        .sort("_file")
    )
    if sent.height <= 1:
        return str(sent.get_column("destination")[0]) if sent.height else ""
    (one, first), (other, second) = sent.head(2).iter_rows()
    trials = set(last.filter(pl.col("destination").str.ends_with(SANDBOX))["_file"].to_list())
    real = [path for index, path in enumerate(paths) if index not in trials]
    apart = f"bulk-tasks reconcile {' '.join(map(str, real))}" if real else ""
    raise ResultsError(
        f"{paths[first]} holds lines sent to {one}, and {paths[second]} lines sent to "
        f"{other}: reconcile settles the lines of one destination at a time (a --sandbox "
        "trial's tasks exist only in the sandbox, never at the vendor)."
        + (f" Reconcile the real runs' files apart: {apart}" if apart else "")
    )


def _one_piece_of_work(
    paths: Sequence[Path], frames: Sequence[pl.LazyFrame], last: pl.DataFrame
) -> None:
    """Refuse files of different inputs: a row is known by its input, not its number.

    Files of one piece of work (a run, its resumes, runs of its failed-rows files) have the
    same input columns and share lines; a file with other columns, or sharing no line with
    the others, comes from another input, whose rows 7 are not these rows 7. A --sandbox
    trial beside real runs of the same vendor shares no line with them (its lines have
    their own fingerprints): :func:`_one_destination` names it instead.
    """
    if len(paths) < 2 or _trial_of_the_same_vendor(last):
        return
    columns = [frozenset(own_columns(frame.collect_schema().names()).values()) for frame in frames]
    sharing = (
        last.group_by("_key")
        .agg(pl.col("_file").unique())
        .filter(pl.col("_file").list.len() > 1)
        .explode("_file")
        .get_column("_file")
        .unique()
        .to_list()
    )
    used = set(last.get_column("_file").unique().to_list())
    strangers = [
        index
        for index in range(len(paths))
        if columns[index] != columns[0] or (index in used and index not in sharing)
    ]
    if not strangers:
        return
    apart = paths[next((index for index in strangers if index != 0), 1)]
    commands = "; ".join(f"bulk-tasks reconcile {path}" for path in (paths[0], apart))
    raise ResultsError(
        f"{paths[0]} and {apart} come from different input files (other columns, or no line "
        "in common): reconcile settles one piece of work at a time (a run, its resumes, and "
        f"the runs of its failed-rows files). Reconcile each input's files apart: {commands}"
    )


# --- the failed-rows file -------------------------------------------------------------------


def own_columns(names: Sequence[str]) -> dict[str, str]:
    """The input's own columns of a results file: name in the file -> name to write."""
    own: dict[str, str] = {}
    for name in input_columns(names):
        if name in _CARRIED_AGAIN or name in _ADDED_HERE:
            continue
        own[name] = name.removesuffix(" (input)")
    return own


def _prospect_column(line: dict[str, str], own: dict[str, str]) -> str | None:
    """The input column that held the line's prospect id (Saleshandy), if any."""
    prospect = line.get("prospect_id", "")
    if not prospect:
        return None
    for name in own:
        if prospect in ID_SEPARATORS.split(line.get(name, "")):
            return name
    return None


def full_lines(reconciled: Reconciled, statuses: Sequence[str]) -> Iterator[dict[str, str]]:
    """The settled lines with ``statuses``, every column of their results file, values as
    written, with ``_row`` and ``_key`` (the original row and fingerprint) and ``_file``
    (the results file the line stands in, as given); by file."""
    chosen = reconciled.settled.filter(pl.col("status").is_in(statuses))
    for (index,), picks in chosen.partition_by("_file", as_dict=True).items():
        path = reconciled.files[int(index)].path
        keys = picks.select("_line", "_key", "_row").lazy()
        joined = scan(path).with_row_index("_line").join(keys, on="_line").drop("_line")
        for line in joined.collect().iter_rows(named=True):
            yield {name: restore(str(value or "")) for name, value in line.items()} | {
                "_file": str(path)
            }


def failed_out_statuses(*, include_unknown: bool) -> list[str]:
    """The statuses of the lines a failed-rows file holds."""
    return [*FAILED_OUT, *(["unknown"] if include_unknown else [])]


def failed_lines(
    reconciled: Reconciled, *, include_unknown: bool = False
) -> tuple[list[str], list[list[str]]]:
    """The header and rows of a failed-rows file: each line not done, in its input's own
    columns (a Saleshandy line with just its prospect in the prospect column), then
    error_code, error_message and source. Values are as the user wrote them.

    ``unknown`` lines are left out unless ``include_unknown``: they were sent and their
    task may exist, so running the file would send them again before anyone checked."""
    wanted = failed_out_statuses(include_unknown=include_unknown)
    header: list[str] = []
    lines: list[tuple[int, str, dict[str, str]]] = []  # (row, prospect, cells by name)
    for line in full_lines(reconciled, wanted):
        own = own_columns(list(line))
        header += [name for name in own.values() if name not in header]
        cells = {written: line[name] for name, written in own.items()}
        column = _prospect_column(line, own)
        if column is not None:  # only the prospect that did not get its task
            cells[own[column]] = line["prospect_id"]
        cells |= {
            "error_code": line["error_code"],
            "error_message": line["error_message"],
            "source": f"{line['_row']}:{line['_key']}",
        }
        row = int(line["_row"]) if line["_row"].isdigit() else 0
        lines.append((row, line.get("prospect_id", ""), cells))
    lines.sort(key=lambda entry: entry[:2])
    columns = [*header, *ADDED]
    return columns, [[cells.get(name, "") for name in columns] for _, _, cells in lines]
