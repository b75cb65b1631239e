"""Slashed dates without --date-format: each date column's own cells tell day/month from
month/day, as a French export (`;`, Windows-1252, dd/mm/yyyy) needs. In-process: typer's
CliRunner, and the threaded sandbox."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from helpers import KEY, read_results
from typer.testing import CliRunner, Result

from bulk_tasks import job
from bulk_tasks.cli.commands import app
from bulk_tasks.job.summary import Resolved
from bulk_tasks.rows.cells import DateCell, DateOrder, MixedOrders, Reading, date_fields
from bulk_tasks.rows.columns import map_columns
from bulk_tasks.rows.date_orders import read_date_orders
from bulk_tasks.rows.inputs import Row
from bulk_tasks.sandbox import Faults, SandboxServer
from bulk_tasks.vendors import VENDORS
from bulk_tasks.vendors.attio import AttioCreate
from bulk_tasks.vendors.lemlist import LemlistCreate
from bulk_tasks.vendors.saleshandy import SaleshandyCreate

USER = "usr_7YzNqVRMCfdeHEzMn"
DMY_NOTE = 'Note: column "Due Date" read as day/month/year (DMY): row 3 has 14/12/2026'


def french_file(path: Path, dates: Sequence[str]) -> Path:
    """A lemlist export as Excel saves CSV in France: `;`, Windows-1252, CRLF."""
    lines = ["Lead ID;Type;Assigned To;Due Date;Title"]
    lines += [
        f"lea_{n:017d};phone;{USER};{due};Appeler François {n}" for n, due in enumerate(dates)
    ]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return path


def bulk_tasks_here(*args: str | Path, key: str | None = None) -> Result:
    """The command, in this process, as a user types it."""
    env = {"LEMLIST_API_KEY": key} if key else None
    return CliRunner().invoke(app, [str(arg) for arg in args], env=env)


# --- the column decides --------------------------------------------------------------------------


def test_a_french_file_is_read_day_first_without_date_format(tmp_path: Path) -> None:
    data = french_file(tmp_path / "taches.csv", ["03/04/2026 09:30", "14/12/2026", "05/01/2027"])
    ran = bulk_tasks_here("validate", data, "-t", "lemlist")
    assert ran.exit_code == 0, ran.output
    assert ran.stderr.splitlines()[:2] == [
        "Note: read as Windows-1252 because the file is not UTF-8 (pass --encoding to override)",
        DMY_NOTE,
    ]
    assert "  not_sent        3" in ran.stdout
    lines = read_results(tmp_path / "taches.validation.csv")
    assert [line["error_code"] for line in lines] == ["valid"] * 3


def test_json_logs_say_it_in_a_note(tmp_path: Path) -> None:
    data = french_file(tmp_path / "taches.csv", ["03/04/2026 09:30", "14/12/2026"])
    ran = bulk_tasks_here("validate", data, "-t", "lemlist", "--log-format", "json")
    assert ran.exit_code == 0, ran.output
    notes = [json.loads(line) for line in ran.stderr.splitlines() if '"event": "note"' in line]
    assert [note["message"] for note in notes][1:] == [DMY_NOTE.removeprefix("Note: ")]


def test_the_run_sends_the_dates_read_day_first(server: SandboxServer, tmp_path: Path) -> None:
    data = french_file(tmp_path / "taches.csv", ["03/04/2026 09:30", "14/12/2026", "05/01/2027"])
    ran = bulk_tasks_here("run", data, "-t", "lemlist", "--base-url", server.url, key=KEY)
    assert ran.exit_code == 0, ran.output
    assert DMY_NOTE in ran.stderr.splitlines()
    sent = sorted(applied.body["dueDate"] for applied in server.sandbox.applied)
    assert sent == [
        "2026-04-03T09:30:00.000Z",
        "2026-12-14T00:00:00.000Z",
        "2027-01-05T00:00:00.000Z",
    ]


def test_a_run_on_the_built_in_sandbox_creates_every_row(tmp_path: Path) -> None:
    data = french_file(tmp_path / "taches.csv", ["03/04/2026 09:30", "14/12/2026"])
    ran = bulk_tasks_here("run", data, "-t", "lemlist", "--sandbox")
    assert ran.exit_code == 0, ran.output
    assert DMY_NOTE in ran.stderr.splitlines()
    lines = read_results(tmp_path / "taches.results.csv")
    assert [line["status"] for line in lines] == ["created", "created"]


def test_a_column_with_a_second_part_above_12_is_read_month_first(
    server: SandboxServer, tmp_path: Path
) -> None:
    data = french_file(tmp_path / "tasks.csv", ["03/04/2026", "12/14/2026"])
    ran = bulk_tasks_here("run", data, "-t", "lemlist", "--base-url", server.url, key=KEY)
    assert ran.exit_code == 0, ran.output
    assert (
        'Note: column "Due Date" read as month/day/year (MDY): row 3 has 12/14/2026'
        in ran.stderr.splitlines()
    )
    sent = sorted(applied.body["dueDate"] for applied in server.sandbox.applied)
    assert sent == ["2026-03-04T00:00:00.000Z", "2026-12-14T00:00:00.000Z"]


def test_an_inferred_order_gives_the_fingerprints_date_format_gives(tmp_path: Path) -> None:
    data = french_file(tmp_path / "taches.csv", ["03/04/2026 09:30", "14/12/2026"])
    inferred = bulk_tasks_here("validate", data, "-t", "lemlist", "--results", tmp_path / "a.csv")
    told = bulk_tasks_here(
        "validate", data, "-t", "lemlist", "--date-format", "DMY", "--results", tmp_path / "b.csv"
    )
    assert (inferred.exit_code, told.exit_code) == (0, 0)
    assert "Note: column" not in told.stderr  # told: nothing inferred, nothing to say
    fingerprints = [
        [line["fingerprint"] for line in read_results(tmp_path / name)]
        for name in ("a.csv", "b.csv")
    ]
    assert fingerprints[0] == fingerprints[1]


# --- when the column cannot decide ---------------------------------------------------------------


def test_a_column_written_both_ways_refuses_its_slashed_dates(tmp_path: Path) -> None:
    data = french_file(
        tmp_path / "mixed.csv", ["03/04/2026", "14/12/2026", "2026-12-01", "12/14/2026"]
    )
    ran = bulk_tasks_here("validate", data, "-t", "lemlist")
    assert ran.exit_code == 1
    both = "has dates day first (row 3: 14/12/2026) and month first (row 5: 12/14/2026)"
    fix = "write them all one way (or as 2026-04-03), or pass --date-format DMY or MDY"
    assert (
        f'Note: column "Due Date" {both}: none of its slashed dates is read; {fix}'
        in ran.stderr.splitlines()
    )
    lines = {line["row"]: line for line in read_results(tmp_path / "mixed.validation.csv")}
    assert lines["4"]["error_code"] == "valid"  # an ISO date needs no order
    assert [lines[row]["error_code"] for row in ("2", "3", "5")] == ["dueDate"] * 3
    assert lines["2"]["error_message"] == (
        f'column "Due Date" = "03/04/2026" cannot be read: this column {both}; {fix}'
    )
    assert f'  3 rows: column "Due Date" {both}; {fix}' in ran.stdout.splitlines()


def test_a_column_where_nothing_tells_asks_for_date_format_as_before(tmp_path: Path) -> None:
    data = french_file(tmp_path / "either.csv", ["03/04/2026 09:30", "2026-12-01", "04/05/2026"])
    ran = bulk_tasks_here("validate", data, "-t", "lemlist")
    assert ran.exit_code == 1
    assert (
        'Note: column "Due Date" has dates that read both ways (row 2: 03/04/2026 09:30) and '
        "none with a day or month above 12 to tell; pass --date-format DMY or MDY, or write "
        "them as 2026-04-03" in ran.stderr.splitlines()
    )
    lines = {line["row"]: line for line in read_results(tmp_path / "either.validation.csv")}
    assert lines["4"]["error_message"] == (
        'column "Due Date" = "04/05/2026" is ambiguous (day/month or month/day?); write '
        "2026-04-03, or pass --date-format DMY (day first) or --date-format MDY (month first)"
    )
    assert (
        '  2 rows: column "Due Date" has dates that read both ways (day/month or month/day?); '
        "pass --date-format DMY or MDY, or write them as 2026-04-03" in ran.stdout.splitlines()
    )


# --- what is read, and when ---------------------------------------------------------------------


def rows_of(*dates: str | datetime.datetime) -> list[Row]:
    return [Row(number, ("lea_x", "phone", USER, due)) for number, due in enumerate(dates, 2)]


def orders(
    model: type[LemlistCreate | AttioCreate | SaleshandyCreate],
    headers: Sequence[str],
    rows: Sequence[Row],
    *,
    reading: Reading | None = None,
    constants: dict[str, str] | None = None,
) -> tuple[Reading, list[str]]:
    columns = map_columns(headers, model, constants=constants)
    return read_date_orders(reading or Reading(), columns, model, lambda: iter(rows))


LEMLIST_HEADERS = ("leadId", "type", "assignedTo", "dueDate")


def test_date_cells_and_iso_dates_do_not_vote() -> None:
    excel_cell = datetime.datetime(2026, 12, 14, 9, 30)
    reading, notes = orders(
        LemlistCreate,
        LEMLIST_HEADERS,
        rows_of(excel_cell, "2026-12-14", "2026/12/14", "03/04/2026"),
    )
    assert reading.field_orders == {}
    assert notes == [
        'column "dueDate" has dates that read both ways (row 5: 03/04/2026) and none with a '
        "day or month above 12 to tell; pass --date-format DMY or MDY, or write them as "
        "2026-04-03"
    ]


def test_the_first_cells_that_tell_are_named() -> None:
    reading, _ = orders(
        LemlistCreate,
        LEMLIST_HEADERS,
        rows_of("13.01.2026", "2026-01-01", "1/13/26 2:30 PM", "31/12/2026", "12/31/2026"),
    )
    assert reading.field_orders == {
        "dueDate": MixedOrders(
            day_first=DateCell(2, "13.01.2026"), month_first=DateCell(4, "1/13/26 2:30 PM")
        )
    }


def test_the_date_fields_are_those_read_as_dates() -> None:
    found = {
        (spec.target, spec.action): date_fields(spec)
        for vendor in VENDORS.values()
        for spec in vendor.specs
    }
    assert found == {
        ("lemlist", "create"): ("dueDate",),
        ("lemlist", "update"): ("dueDate",),
        ("saleshandy", "create"): ("dueDate",),
        ("attio", "create"): ("deadline_at",),
    }


def unread() -> Iterator[Row]:
    raise AssertionError("the rows were read")


def test_date_format_reads_no_row() -> None:
    given = Reading(date_order=DateOrder.MDY)
    columns = map_columns(LEMLIST_HEADERS, LemlistCreate)
    assert read_date_orders(given, columns, LemlistCreate, unread) == (given, [])


def test_no_date_column_no_reading() -> None:
    columns = map_columns(("content", "assignees"), AttioCreate)
    assert read_date_orders(Reading(), columns, AttioCreate, unread) == (Reading(), [])


def test_a_set_date_tells_its_own_order_without_reading_the_rows() -> None:
    columns = map_columns(LEMLIST_HEADERS, LemlistCreate, constants={"dueDate": "14/12/2026"})
    reading, notes = read_date_orders(Reading(), columns, LemlistCreate, unread)
    assert (reading.field_orders, notes) == ({"dueDate": DateOrder.DMY}, [])


def test_each_date_field_is_decided_by_its_own_column() -> None:
    rows = [Row(2, ("A1", "9", "14/12/2026")), Row(3, ("B2", "9", "03/04/2026"))]
    reading, _ = orders(SaleshandyCreate, ("prospectIds", "taskType", "dueDate"), rows)
    assert reading.field_orders == {"dueDate": DateOrder.DMY}
    other = [Row(2, ("A1", "9", "04/05/2026"))]
    assert (
        orders(SaleshandyCreate, ("prospectIds", "taskType", "dueDate"), other)[0].field_orders
        == {}
    )


# --- resolve reads the dates as the run did -----------------------------------------------------


def test_resolve_reads_the_dates_as_the_run_did(server: SandboxServer, tmp_path: Path) -> None:
    data = french_file(tmp_path / "taches.csv", ["03/04/2026 09:30", "14/12/2026"])
    results = tmp_path / "taches.results.csv"
    server.sandbox.faults = Faults(p_drop=1.0)  # applied, but the answer is cut off
    settings = job.Settings(
        input=data, target="lemlist", base_url=server.url, timeout=1.0, resolve=False
    )
    job.run(settings, key=KEY)
    assert [line["status"] for line in read_results(results)] == ["unknown", "unknown"]
    server.sandbox.faults = Faults()
    looked_up = job.Settings(
        input=results, results=results, target="lemlist", base_url=server.url, timeout=1.0
    )
    summary = job.resolve(looked_up, key=KEY)
    assert summary.resolved[Resolved.FOUND] == 2
    assert [line["status"] for line in read_results(results)] == ["created", "created"]
    assert len(server.sandbox.applied) == 2
