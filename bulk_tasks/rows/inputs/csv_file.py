"""CSV files: streamed twice (count, then read) as a chain of generators::

    bytes --decode--> lines --csv--> (number, cells) --> Row

The encoding is UTF-8 unless told (else Windows-1252, with a note), the delimiter the one
the header line uses most; a quoted new line stays in its cell, and every record keeps the
row number a spreadsheet program would show.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from ...errors import InputError, OptionError
from .table import (
    Row,
    Table,
    content_kind,
    first_bytes,
    os_problem,
    refuse_pdf,
    unique_headers,
)

_DELIMITERS = (",", ";", "\t")
_FIELD_LIMIT = 10 * 1024 * 1024  # a long message fits; a runaway quote still stops
_HEADER_SCAN_LIMIT = 1024 * 1024
# Bytes the codec could not decode come through as lone surrogates (errors="surrogateescape").
_UNDECODED = re.compile("[\udc80-\udcff]")
_BLOCK = 1 << 20  # characters read at a time by the quick check of a whole file


def codec_for(encoding: str) -> str:
    """The codec to read with; an explicit UTF-8 still drops a BOM (it would stick to a header)."""
    try:
        io.TextIOWrapper(io.BytesIO(), encoding=encoding)  # refuses base64 and such, too
    except LookupError:
        raise OptionError(
            f"--encoding {encoding!r} is not a known text encoding; try utf-8, cp1252 or latin-1"
        ) from None
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def delimiter_option(delimiter: str | None) -> str | None:
    if delimiter is None:
        return None
    value = "\t" if delimiter.lower() in ("tab", "\\t") else delimiter
    if len(value) != 1 or value in '"\r\n':
        raise OptionError(
            f"--delimiter {delimiter!r} cannot be used; give one character such as , or ; or tab"
        )
    return value


class _Undecodable(InputError):
    """A record holds bytes the chosen encoding cannot decode."""

    def __init__(self, path: Path, number: int, encoding: str) -> None:
        super().__init__(
            f"{path}: row {number} is not valid {encoding} text; "
            "pass --encoding with the file's real encoding (e.g. --encoding cp1252)"
        )
        self.number = number


def open_csv(path: Path, encoding: str | None, delimiter: str | None) -> Table:
    codec = None if encoding is None else codec_for(encoding)
    start = first_bytes(path)
    kind = content_kind(start)
    refuse_pdf(path, kind)
    if kind in ("zip", "ole2"):
        real = ".xlsx" if kind == "zip" else ".xls"
        raise InputError(
            f"{path}: is a spreadsheet ({real}), though its name ends in {path.suffix}; rename "
            f"it to {path.with_suffix(real).name} and run that file"
        )
    if codec is None and start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = codec = "utf-16"  # Excel's "Unicode Text" export
    delimiter = delimiter or _detect_delimiter(path, codec or "utf-8-sig")
    if codec is not None:
        return _csv_table(path, encoding or codec, codec, delimiter, [])
    try:
        return _csv_table(path, "utf-8", "utf-8-sig", delimiter, [])
    except _Undecodable:
        pass  # somewhere in the file: fall back to what Excel on Windows writes
    note = "read as Windows-1252 because the file is not UTF-8 (pass --encoding to override)"
    try:
        return _csv_table(path, "cp1252", "cp1252", delimiter, [note])
    except _Undecodable as error:
        raise InputError(
            f"{path}: row {error.number} is neither UTF-8 nor Windows-1252 text; "
            "pass --encoding with the file's encoding (e.g. --encoding utf-16)"
        ) from None


def _csv_table(path: Path, shown: str, codec: str, delimiter: str, notes: list[str]) -> Table:
    # a file with no NUL and nothing undecodable, as most are, is read without a check per line
    checked = not _clean(path, codec)
    header_number, header, total = _survey(path, codec, delimiter, checked=checked)
    headers = unique_headers(cell.strip() for cell in header)
    where = (path, codec, delimiter, header_number, len(headers))
    source = functools.partial(_csv_rows, *where, checked=checked)
    return Table(path, headers, total, notes, shown, delimiter, source)


def _clean(path: Path, encoding: str) -> bool:
    """Whether the text holds no NUL and nothing undecodable (a quick pass, a block at a time);
    when it does, the records are read line by line to name the row."""
    try:
        with path.open(encoding=encoding, errors="surrogateescape", newline="") as file:
            while block := file.read(_BLOCK):
                if "\x00" in block or (not block.isascii() and _UNDECODED.search(block)):
                    return False
    except (UnicodeError, OSError):
        return False
    return True


def _detect_delimiter(path: Path, encoding: str) -> str:
    """The candidate seen most often outside quotes in the first non-blank line; else a comma."""
    line = ""
    try:
        with path.open(encoding=encoding, errors="replace", newline="") as file:
            while not line.strip() and (line := file.readline(_HEADER_SCAN_LIMIT)):
                pass
    except UnicodeError:  # utf-16 without a BOM, say: the full read will name the row
        line = ""
    counts = dict.fromkeys(_DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_DELIMITERS, key=counts.__getitem__)
    return best if counts[best] else ","


def _survey(
    path: Path, encoding: str, delimiter: str, *, checked: bool
) -> tuple[int, list[str], int]:
    """First pass: the header (first non-blank record), its number, and how many records
    follow."""
    header: tuple[int, list[str]] | None = None
    last = 0
    for last, cells in _records(path, encoding, delimiter, checked=checked):
        if header is None and any(cell.strip() for cell in cells):
            header = (last, cells)
    if header is None:
        raise InputError(f"{path}: has only blank lines; save the sheet again with its header row")
    return header[0], header[1], last - header[0]


def _csv_rows(
    path: Path, encoding: str, delimiter: str, header_number: int, width: int, *, checked: bool
) -> Iterator[Row]:
    for number, cells in _records(path, encoding, delimiter, checked=checked):
        if number > header_number:
            yield _csv_row(number, cells, width)


def _records(
    path: Path,
    encoding: str,
    delimiter: str,
    *,
    checked: bool = True,
) -> Iterator[tuple[int, list[str]]]:
    """(row number, raw cells) of every record; a quoted newline does not start a new row.

    ``checked``: each line is checked for NUL and undecodable bytes on the way (else the
    file is known to be clean).
    """
    csv.field_size_limit(max(csv.field_size_limit(), _FIELD_LIMIT))
    number = 0
    try:
        with path.open(encoding=encoding, errors="surrogateescape", newline="") as file:
            lines: Iterable[str] = _checked_lines(file) if checked else file
            # strict: an unclosed quote at the end of the file is an error, not a swallowed tail
            reader = csv.reader(lines, delimiter=delimiter, strict=True)
            for number, cells in enumerate(reader, 1):
                yield number, cells
    except UnicodeError:  # from the codec, or from _checked_lines
        raise _Undecodable(path, number + 1, encoding.removesuffix("-sig")) from None
    except csv.Error as error:
        raise InputError(f"{path}: row {number + 1} {_csv_problem(str(error))}") from None
    except OSError as error:
        raise InputError(f"{path}: {os_problem(error)}") from None


def _checked_lines(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        if "\x00" in line:  # the csv module accepts NUL since 3.11; no text file has one
            raise csv.Error("line contains NUL")
        # isascii() is O(1) on CPython, so plain lines cost nothing to check
        if not line.isascii() and _UNDECODED.search(line):
            raise UnicodeError
        yield line


def _csv_problem(message: str) -> str:
    """What went wrong in a record and what to do, from the csv module's terse message."""
    if "field limit" in message or "end of data" in message:
        return 'has a quote (") that is never closed; close it, or remove it'
    if "expected after" in message:
        return (
            'has text after a closing quote; quote the whole cell and double quotes inside it ("")'
        )
    if "NUL" in message:
        return "contains a NUL byte; save the sheet again as CSV, or pass --encoding utf-16"
    return f"cannot be read as CSV ({message}); save the sheet again as CSV"


def _csv_row(number: int, cells: list[str], width: int) -> Row:
    texts = tuple(map(str.strip, cells))
    if len(texts) <= width:
        return Row(number, texts + ("",) * (width - len(texts)))
    extra = list(texts[width:])
    while extra and not extra[-1]:  # trailing separators are not extra data
        extra.pop()
    return Row(number, texts[:width], tuple(extra))
