"""``bulk-tasks fields``: the columns each vendor's file takes, as the specs say them.

Every field of every spec is listed, required as the spec requires it; every example is a
value the checks accept (a file of the examples validates); the Input files page's tables
agree with the specs. In-process, through typer's runner.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from helpers import ROOT
from typer.testing import CliRunner, Result

from bulk_tasks.cli.commands import app
from bulk_tasks.vendors import VENDORS
from bulk_tasks.vendors.base import Spec

SPECS = [(vendor.name, spec) for vendor in VENDORS.values() for spec in vendor.specs]


def fields(*options: str) -> Result:
    return CliRunner().invoke(app, ["fields", *options])


def listed(*options: str) -> list[dict[str, Any]]:
    """The actions ``bulk-tasks fields`` lists, from its JSON record."""
    ran = fields(*options, "--log-format", "json")
    assert ran.exit_code == 0, ran.stderr
    [record] = [json.loads(line) for line in ran.stdout.splitlines()]
    assert record["event"] == "fields"
    actions: list[dict[str, Any]] = record["actions"]
    return actions


def test_without_a_target_every_action_of_every_vendor_is_listed() -> None:
    assert [(action["target"], action["action"]) for action in listed()] == [
        (name, spec.action) for name, spec in SPECS
    ]


@pytest.mark.parametrize(("name", "spec"), SPECS, ids=[f"{n}-{s.action}" for n, s in SPECS])
def test_every_field_is_listed_as_the_spec_says(name: str, spec: type[Spec]) -> None:
    [action] = listed("--target", name, "--action", spec.action)
    columns = action["columns"]
    assert [column["field"] for column in columns] == [*spec.model_fields, "apiKeyEnv"]
    for column in columns:
        field = column["field"]
        assert column["required"] is (field in spec.required), field
        assert column["other_names"] == list(spec.aliases.get(field, ())), field
        assert column["write"], field
        assert column["example"], field


@pytest.mark.parametrize(("name", "spec"), SPECS, ids=[f"{n}-{s.action}" for n, s in SPECS])
def test_a_file_of_the_examples_is_valid(name: str, spec: type[Spec], tmp_path: Path) -> None:
    [action] = listed("--target", name, "--action", spec.action)
    data = tmp_path / "examples.csv"
    with data.open("w", encoding="utf-8", newline="") as file:
        rows = csv.writer(file)
        rows.writerow([column["field"] for column in action["columns"]])
        rows.writerow([column["example"] for column in action["columns"]])
    ran = CliRunner().invoke(app, ["validate", str(data), "-t", name, "-a", spec.action])
    assert ran.exit_code == 0, (ran.stdout, ran.stderr)


def test_each_field_reads_as_a_few_lines() -> None:
    ran = fields("-t", "Saleshandy")
    assert ran.exit_code == 0, ran.stderr
    assert (
        "\n\nsaleshandy create (--target saleshandy --action create): one task for each "
        "prospect of the row, a results line for each\n"
        "  prospectIds (or prospectId or Prospect ID(s)): required\n"
        "    write: one or more Saleshandy prospect ids, separated by commas, semicolons, "
        "spaces or new lines; an id written twice in a row is sent once\n"
        "    example: 8PvBmrB7P7, Xy7Rt2Vb\n"
    ) in ran.stdout
    assert (
        "  priority: optional\n"
        "    write: 1 (Urgent), 2 (High), 3 (Medium), 4 (Low): a code or its label\n"
        "    blank: no priority\n"
        "    example: High\n"
    ) in ran.stdout
    assert ran.stdout.startswith(
        "A column feeds a field when its header is the field's name, or one of the names in "
        "brackets after it, ignoring case, spaces, _ and - (Due Date feeds dueDate);"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["-t", "hubspot"],
            'bulk-tasks: --target "hubspot": not a vendor; use one of lemlist, saleshandy, attio\n',
        ),
        (["-t", "attio", "-a", "update"], "bulk-tasks: --action update: attio can only create\n"),
        (["-a", "delete"], "bulk-tasks: --action delete: no vendor has it; use create or update\n"),
    ],
)
def test_a_wrong_target_or_action_is_told(options: list[str], message: str) -> None:
    ran = fields(*options)
    assert (ran.exit_code, ran.stdout, ran.stderr) == (2, "", message)


# --- the Input files page agrees with the specs ---


def documented_tables() -> dict[str, dict[str, bool]]:
    """Each vendor's create table in docs/input-files.md: field -> required, for the fields
    its first column names (the other names in it are left out)."""
    page = (ROOT / "docs" / "input-files.md").read_text(encoding="utf-8")
    tables: dict[str, dict[str, bool]] = {}
    for section in re.split(r"^## ", page, flags=re.MULTILINE)[1:]:
        name = section.split("\n", 1)[0].strip().lower()
        if name not in VENDORS:
            continue
        known = set(VENDORS[name].specs[0].model_fields)
        rows = re.findall(r"^\| (.+?) \| (yes|no) \|", section, flags=re.MULTILINE)
        tables[name] = {
            field: required == "yes"
            for names, required in rows
            for field in re.findall(r"`([^`]+)`", names)
            if field in known
        }
    return tables


def test_the_input_files_page_lists_each_create_as_the_spec_says() -> None:
    assert documented_tables() == {
        name: {field: field in spec.required for field in spec.model_fields}
        for name, spec in SPECS
        if spec.action == "create"
    }
