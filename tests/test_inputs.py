from __future__ import annotations

import datetime
import threading
from pathlib import Path

import openpyxl
import pytest

from bulk_tasks.errors import InputError, OptionError
from bulk_tasks.rows.inputs import Row, Table, is_blank, open_table, read_ahead

NOTE_1252 = "read as Windows-1252 because the file is not UTF-8 (pass --encoding to override)"


def write(tmp_path: Path, data: bytes | str, name: str = "tasks.csv") -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


def read(path: Path, **options: str) -> tuple[Table, list[Row]]:
    table = open_table(path, **options)
    return table, list(table.rows())


def xlsx(tmp_path: Path, rows: list[list[object]], title: str = "Tasks") -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    for values in rows:
        sheet.append(values)
    path = tmp_path / "tasks.xlsx"
    workbook.save(path)
    return path


# --- CSV: encodings ---


def test_utf8_with_bom_strips_the_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeffleadId,title\nlea_1,Café\n".encode())
    table, rows = read(path)
    assert table.headers == ("leadId", "title")
    assert rows == [Row(2, ("lea_1", "Café"))]
    assert (table.encoding, table.notes) == ("utf-8", [])


def test_utf8_without_bom(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "leadId,title\nlea_1,Zürich 東京\n"))
    assert rows == [Row(2, ("lea_1", "Zürich 東京"))]
    assert table.notes == []


def test_windows_1252_is_detected_and_noted(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, b"leadId,title\nlea_1,caf\xe9 \x80\n"))
    assert rows == [Row(2, ("lea_1", "café €"))]
    assert table.encoding == "cp1252"
    assert table.notes == [NOTE_1252]


def test_invalid_utf8_late_in_the_file_still_switches(tmp_path: Path) -> None:
    data = b"leadId,title\n" + b"lea_1,plain\n" * 5000 + b"lea_2,na\xefve\n"
    table, rows = read(write(tmp_path, data))
    assert table.encoding == "cp1252"
    assert rows[-1] == Row(5002, ("lea_2", "naïve"))


def test_neither_utf8_nor_1252_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, b"leadId,title\nlea_1,ok\nlea_2,bad\x81\n")
    with pytest.raises(InputError) as caught:
        open_table(path)
    assert str(caught.value) == (
        f"{path}: row 3 is neither UTF-8 nor Windows-1252 text; "
        "pass --encoding with the file's encoding (e.g. --encoding utf-16)"
    )


def test_explicit_encoding(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, b"leadId,title\nlea_1,\x81caf\xe9\n"), encoding="latin-1")
    assert rows == [Row(2, ("lea_1", "\x81café"))]
    assert (table.encoding, table.notes) == ("latin-1", [])


def test_explicit_encoding_that_fails_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, b"leadId,title\nlea_1,ok\nlea_2,caf\xe9\n")
    with pytest.raises(InputError, match=r"row 3 is not valid utf-8 text; pass --encoding"):
        open_table(path, encoding="utf-8")


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "leadId\ttitle\r\nlea_1\tCafé\r\n".encode("utf-16")))
    assert (table.encoding, table.delimiter, table.headers) == ("utf-16", "\t", ("leadId", "title"))
    assert rows == [Row(2, ("lea_1", "Café"))]


@pytest.mark.parametrize("encoding", ["klingon", "base64"])
def test_unknown_encoding_is_an_option_error(tmp_path: Path, encoding: str) -> None:
    with pytest.raises(OptionError, match=f"--encoding '{encoding}' is not a known text encoding"):
        open_table(write(tmp_path, "a\n1\n"), encoding=encoding)


def test_explicit_utf16_without_bom_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="row 1 is not valid utf-16 text"):
        open_table(write(tmp_path, "a\n1\n"), encoding="utf-16")


def test_utf16_without_bom_suggests_the_encoding(tmp_path: Path) -> None:
    path = write(tmp_path, "id,title\n1,a\n".encode("utf-16-le"))
    with pytest.raises(InputError, match=r"row 1 contains a NUL byte; .* --encoding utf-16$"):
        open_table(path)


# --- CSV: delimiters ---


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    text = delimiter.join(["leadId", "title", "due"]) + "\n" + delimiter.join("abc") + "\n"
    table, rows = read(write(tmp_path, text))
    assert table.delimiter == delimiter
    assert rows == [Row(2, ("a", "b", "c"))]


def test_delimiter_inside_quotes_does_not_count(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, '"a,b,c";d\n1;2\n'))
    assert (table.delimiter, table.headers) == (";", ("a,b,c", "d"))


@pytest.mark.parametrize("option", ["|", "tab", "\\t"])
def test_explicit_delimiter_overrides(tmp_path: Path, option: str) -> None:
    char = "|" if option == "|" else "\t"
    text = f"a,b{char}c\n1,2{char}3\n"
    table, rows = read(write(tmp_path, text), delimiter=option)
    assert table.headers == ("a,b", "c")
    assert rows == [Row(2, ("1,2", "3"))]


@pytest.mark.parametrize("option", ["", ";;", '"'])
def test_bad_delimiter_is_an_option_error(tmp_path: Path, option: str) -> None:
    with pytest.raises(OptionError, match="--delimiter"):
        open_table(write(tmp_path, "a\n1\n"), delimiter=option)


# --- CSV: records and numbering ---


def test_quoted_newline_is_one_row(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, 'id,message\n1,"Hi,\nsee you"\n2,bye\n'))
    assert rows == [Row(2, ("1", "Hi,\nsee you")), Row(3, ("2", "bye"))]
    assert table.total == 2


def test_crlf_and_lone_cr_line_endings(tmp_path: Path) -> None:
    _, rows = read(write(tmp_path, 'id,message\r\n1,"a\r\nb"\r\n2,c\r'))
    assert rows == [Row(2, ("1", "a\r\nb")), Row(3, ("2", "c"))]


def test_blank_rows_keep_their_numbers(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "id,title\n1,a\n\n2,b\n"))
    assert [row.number for row in rows] == [2, 3, 4]
    assert [is_blank(row) for row in rows] == [False, True, False]
    assert rows[1] == Row(3, ("", ""))
    assert table.total == 3


def test_blank_lines_above_the_header_are_counted(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "\n\nid,title\n1,a\n"))
    assert table.headers == ("id", "title")
    assert rows == [Row(4, ("1", "a"))]
    assert table.total == 1


def test_rows_can_be_read_twice(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, "id\n1\n2\n"))
    assert list(table.rows()) == list(table.rows()) == [Row(2, ("1",)), Row(3, ("2",))]


def test_trimming_keeps_inner_whitespace(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, ' lead Id ,\ttitle \n lea_1\u00a0," two  words\nok "\n'))
    assert table.headers == ("lead Id", "title")
    assert rows == [Row(2, ("lea_1", "two  words\nok"))]


def test_blank_and_duplicate_headers(tmp_path: Path) -> None:
    table = open_table(write(tmp_path, "id,,title,id, ,id,id (2)\n"))
    assert table.headers == (
        "id",
        "column 2",
        "title",
        "id (3)",  # "id (2)" is a real header further right
        "column 5",
        "id (4)",
        "id (2)",
    )


def test_short_rows_padded_and_long_rows_keep_extra(tmp_path: Path) -> None:
    _, rows = read(write(tmp_path, "a,b,c\n1\n1,2,3,4,,\n1,2,3,,\n"))
    assert rows == [
        Row(2, ("1", "", "")),
        Row(3, ("1", "2", "3"), ("4",)),
        Row(4, ("1", "2", "3")),  # trailing separators are not extra data
    ]


def test_extra_makes_a_row_not_blank(tmp_path: Path) -> None:
    _, rows = read(write(tmp_path, "a,b\n,,x\n"))
    assert rows == [Row(2, ("", ""), ("x",))]
    assert not is_blank(rows[0])


def test_header_only_has_no_rows(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "id,title\n"))
    assert (table.total, rows) == (0, [])


# --- CSV: broken files ---


def test_unclosed_quote_names_its_row(tmp_path: Path) -> None:
    path = write(tmp_path, 'id,title\n1,ok\n2,"never closed\n3,x\n')
    with pytest.raises(InputError) as caught:
        open_table(path)
    assert (
        str(caught.value)
        == f'{path}: row 3 has a quote (") that is never closed; close it, or remove it'
    )


def test_runaway_quote_hits_the_field_limit(tmp_path: Path) -> None:
    long_row = "y" * 1_000_000 + "\n"
    path = write(tmp_path, 'id,title\n1,"open\n' + long_row * 11 + '2,"closed"\n')
    with pytest.raises(InputError, match=r"row 2 has a quote \(\"\) that is never closed"):
        open_table(path)


def test_long_cell_under_the_limit_is_fine(tmp_path: Path) -> None:
    _, rows = read(write(tmp_path, 'id,message\n1,"' + "z" * 500_000 + '"\n'))
    assert rows[0].cells[1] == "z" * 500_000


def test_text_after_closing_quote(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"row 2 has text after a closing quote"):
        open_table(write(tmp_path, 'id,title\n1,"a"b\n'))


def test_nul_byte(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"row 3 contains a NUL byte"):
        open_table(write(tmp_path, b"id,title\n1,a\n2,\x00\n"))


def test_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, b"")
    with pytest.raises(InputError) as caught:
        open_table(path)
    assert (
        str(caught.value) == f"{path}: the file is empty; save the sheet again with its header row"
    )


def test_only_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "\n\r\n  \n,,\n")
    with pytest.raises(InputError, match="has only blank lines"):
        open_table(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(InputError) as caught:
        open_table(path)
    assert str(caught.value) == f"{path}: no such file; check the path and the current folder"


def test_directory(tmp_path: Path) -> None:
    path = tmp_path / "folder.csv"
    path.mkdir()
    with pytest.raises(InputError, match="is a folder"):
        open_table(path)


@pytest.mark.parametrize("name", ["tasks.pdf", "tasks"])
def test_unknown_extension(tmp_path: Path, name: str) -> None:
    with pytest.raises(
        InputError, match=r"cannot read .*; save it as one of .csv, .tsv, .txt, .xlsx"
    ):
        open_table(write(tmp_path, "a\n1\n", name))


def test_sheet_option_for_csv(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match=r"^--sheet only applies to spreadsheets"):
        open_table(write(tmp_path, "a\n1\n"), sheet="Tasks")


# --- spreadsheets ---


def test_xlsx_cells_as_text_dates_as_datetime(tmp_path: Path) -> None:
    due = datetime.datetime(2024, 5, 1, 9, 30)
    path = xlsx(
        tmp_path,
        [
            [" leadId ", "n", "x", "due", "day", "flag", "at"],
            ["00123", 12345, 3.5, due, datetime.date(2024, 5, 2), True, datetime.time(8, 5)],
            ["  lea_2 ", 0.1, -7, None, None, False, None],
        ],
    )
    table, rows = read(path)
    assert table.headers == ("leadId", "n", "x", "due", "day", "flag", "at")
    assert (table.total, table.encoding, table.delimiter, table.notes) == (2, None, None, [])
    assert rows == [
        Row(2, ("00123", "12345", "3.5", due, datetime.datetime(2024, 5, 2), "TRUE", "08:05:00")),
        Row(3, ("lea_2", "0.1", "-7", "", "", "FALSE", "")),
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-0.0, "0"),
        (1e15, "1000000000000000.0"),
        (123456789012345.0, "123456789012345"),
        (1e-05, "1e-05"),
    ],
)
def test_xlsx_number_text(tmp_path: Path, value: float, text: str) -> None:
    _, rows = read(xlsx(tmp_path, [["n"], [value]]))
    assert rows == [Row(2, (text,))]


def test_xlsx_blank_row_inside_data_keeps_numbering(tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["id", "title"], ["1", "a"], [], ["2", "b"]])
    table, rows = read(path)
    assert [row.number for row in rows] == [2, 3, 4]
    assert [is_blank(row) for row in rows] == [False, True, False]
    assert table.total == 3


def test_xlsx_header_below_empty_rows(tmp_path: Path) -> None:
    path = xlsx(tmp_path, [[], [], [None, "id", "title"], [None, "1", "a"], [None, "2", "b"]])
    table, rows = read(path)
    assert table.headers == ("id", "title")
    assert rows == [Row(4, ("1", "a")), Row(5, ("2", "b"))]
    assert table.total == 2


def test_xlsx_sheet_by_name_and_missing_sheet(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    first = workbook.active
    assert first is not None
    first.append(["wrong"])
    workbook.create_sheet("Tasks").append(["id"])
    workbook["Tasks"].append(["7"])
    path = tmp_path / "book.xlsx"
    workbook.save(path)
    table, rows = read(path, sheet="Tasks")
    assert (table.headers, rows) == (("id",), [Row(2, ("7",))])
    with pytest.raises(InputError) as caught:
        open_table(path, sheet="Taks")
    assert str(caught.value) == f"{path}: no sheet named 'Taks'; the sheets are 'Sheet', 'Tasks'"


def test_xlsx_empty_sheet(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="sheet 'Tasks' is empty"):
        open_table(xlsx(tmp_path, []))


def test_not_really_an_xlsx(tmp_path: Path) -> None:
    path = write(tmp_path, "id,title\n1,a\n", "tasks.xlsx")
    with pytest.raises(InputError) as caught:
        open_table(path)
    assert str(caught.value) == (
        f"{path}: looks like a CSV file (plain text), though its name ends in .xlsx; rename "
        "it to tasks.csv and run that file"
    )


#: how a PDF begins: its version, a line of high bytes, then objects and compressed streams
PDF_START = (
    b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"4 0 obj\n<< /Length 42 /Filter /FlateDecode >>\nstream\nx\x9c\x81\x8d\xa5\xfe\nendstream\n"
)


@pytest.mark.parametrize("name", ["tasks.csv", "tasks.xlsx"])
def test_a_pdf_is_called_a_pdf_whatever_its_name(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, PDF_START, name)
    with pytest.raises(InputError) as caught:
        open_table(path)
    suffix = path.suffix
    assert str(caught.value) == (
        f"{path}: is a PDF document, though its name ends in {suffix}; a PDF cannot be read as "
        "a table: export the spreadsheet as .csv or .xlsx instead, then run that file"
    )


def test_csv_options_for_a_spreadsheet(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match=r"^--encoding only applies to CSV files"):
        open_table(xlsx(tmp_path, [["id"]]), encoding="utf-8")


# --- reading a sheet ahead -------------------------------------------------------------------


def test_a_sheet_read_ahead_gives_the_same_rows(tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["leadId", "n"], ["lea_1", 5], [], ["lea_2", "x"]])
    _, expected = read(path)
    read_ahead(path)
    table, rows = read(path)
    assert rows == expected
    assert table.headers == ("leadId", "n")


def test_a_sheet_changed_after_its_read_ahead_is_read_again(tmp_path: Path) -> None:
    path = xlsx(tmp_path, [["leadId"], ["lea_old"]])
    read_ahead(path)
    for thread in threading.enumerate():
        if thread.name == "read-ahead":
            thread.join()  # the old sheet is loaded: only the file's stamp can tell
    assert xlsx(tmp_path, [["leadId"], ["lea_new"], ["lea_more"]]) == path
    _, rows = read(path)
    assert [row.cells[0] for row in rows] == ["lea_new", "lea_more"]


def test_a_broken_sheet_read_ahead_still_gets_its_message(tmp_path: Path) -> None:
    path = tmp_path / "tasks.xlsx"
    path.write_bytes(b"PK\x03\x04 a zip cut short")
    read_ahead(path)
    with pytest.raises(InputError, match="cannot be opened as a spreadsheet"):
        open_table(path)
