from __future__ import annotations

from pathlib import Path

import pytest

from bulk_tasks.errors import ColumnError, OptionError
from bulk_tasks.rows.columns import map_columns, normalise, read_map_file, read_set_options
from bulk_tasks.rows.inputs import Row
from bulk_tasks.vendors.lemlist import LemlistCreate, LemlistUpdate

HEADERS = ("Lead ID", "Type", "assigned_to", "Due-Date", "Notes")


@pytest.mark.parametrize("header", ["Due Date", "due_date", "dueDate", "DUE-DATE", " due date "])
def test_headers_match_ignoring_case_spaces_underscores_hyphens(header: str) -> None:
    assert normalise(header) == "duedate"


def test_columns_feed_fields_and_unknown_columns_are_left_alone() -> None:
    columns = map_columns(HEADERS, LemlistCreate)
    assert columns.columns == {"recordId": 0, "type": 1, "assignedTo": 2, "dueDate": 3}
    row = Row(2, ("lea_1", "phone", "usr_1", "", "keep me"))
    # a blank cell is no value at all
    assert columns.values(row) == {"recordId": "lea_1", "type": "phone", "assignedTo": "usr_1"}
    assert columns.source("dueDate") == 'column "Due-Date"'


def test_either_record_id_or_lead_id_names_the_record() -> None:
    assert (
        map_columns(("recordId", "type", "assignedTo", "dueDate"), LemlistCreate).columns[
            "recordId"
        ]
        == 0
    )


def test_a_missing_required_column_stops_with_the_fix() -> None:
    with pytest.raises(ColumnError) as caught:
        map_columns(("leadId", "type", "dueDate"), LemlistCreate)
    assert str(caught.value) == (
        "lemlist create needs a column for assignedTo, and the file has none (its columns: "
        "leadId, type, dueDate); rename a column, map one with --map, or give one value for "
        "every row with --set assignedTo=VALUE"
    )


def test_several_missing_columns_are_named_with_their_other_names() -> None:
    from bulk_tasks.vendors.saleshandy import SaleshandyCreate

    with pytest.raises(ColumnError) as caught:
        map_columns(("Account", "Due Date"), SaleshandyCreate)
    assert str(caught.value) == (
        "saleshandy create needs columns for prospectIds (or prospectId or Prospect ID(s)) and "
        "taskType, and the file has neither (its columns: Account, Due Date); rename columns, "
        "map them with --map, or give one value for every row with --set prospectIds=VALUE"
    )


def test_columns_that_fit_another_vendor_suggest_it() -> None:
    with pytest.raises(ColumnError) as caught:
        map_columns(("Prospect IDs", "Task Type"), LemlistCreate)
    assert str(caught.value) == (
        "lemlist create needs columns for recordId (or leadId), type, assignedTo and dueDate, "
        "and the file has none (its columns: Prospect IDs, Task Type); rename columns, map "
        "them with --map, or give one value for every row with --set recordId=VALUE. These "
        "columns fit saleshandy: did you mean --target saleshandy?"
    )


def test_set_gives_a_constant_and_satisfies_a_requirement() -> None:
    columns = map_columns(
        ("leadId", "type", "dueDate"), LemlistCreate, constants={"assigned to": "usr_9"}
    )
    assert columns.values(Row(2, ("lea_1", "phone", "2026-04-03")))["assignedTo"] == "usr_9"
    assert columns.source("assignedTo") == "--set assignedTo"


def test_map_picks_a_column_by_its_header() -> None:
    columns = map_columns(
        ("Task", "Owner", "Finished"), LemlistUpdate, mapping={"id": "Task", "assignedTo": "owner"}
    )
    assert columns.columns == {"id": 0, "assignedTo": 1}


def test_map_to_a_missing_column_names_the_columns_there_are() -> None:
    with pytest.raises(ColumnError, match=r"no such column; its columns are: id, Owner"):
        map_columns(("id", "Owner"), LemlistUpdate, mapping={"assignedTo": "Assignee"})


def test_map_or_set_of_an_unknown_field() -> None:
    with pytest.raises(OptionError, match='--set names "owner", which is not a field here'):
        map_columns(("id",), LemlistUpdate, constants={"owner": "usr_1"})


def test_two_columns_for_one_field_must_be_settled() -> None:
    with pytest.raises(ColumnError, match='columns "Due Date" and "due_date" both give dueDate'):
        map_columns(("id", "Due Date", "due_date"), LemlistUpdate)
    settled = map_columns(
        ("id", "Due Date", "due_date"), LemlistUpdate, mapping={"dueDate": "due_date"}
    )
    assert settled.columns["dueDate"] == 2


def test_set_options_are_field_equals_value() -> None:
    assert read_set_options(["assignedTo=usr_1", " type = phone "]) == {
        "assignedTo": "usr_1",
        "type": "phone",
    }
    with pytest.raises(OptionError, match="write it as field=value"):
        read_set_options(["assignedTo"])
    with pytest.raises(OptionError, match="has no value"):
        read_set_options(["title="])


def test_map_file_is_toml(tmp_path: Path) -> None:
    good = tmp_path / "map.toml"
    good.write_text('recordId = "Prospect"\nassignedTo = "Rep"\n', encoding="utf-8")
    assert read_map_file(good) == {"recordId": "Prospect", "assignedTo": "Rep"}
    bad = tmp_path / "bad.toml"
    bad.write_text("recordId = 3\n", encoding="utf-8")
    with pytest.raises(OptionError, match="recordId must be a column header in quotes"):
        read_map_file(bad)
    with pytest.raises(OptionError, match="cannot read it"):
        read_map_file(tmp_path / "missing.toml")
