"""Fingerprints are a contract between versions: a results file written by an earlier
version must be recognised by this one, byte for byte."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import pytest
from helpers import ROOT, SAMPLES, read_results

from bulk_tasks import job
from bulk_tasks.rows.rules import fingerprint

#: (target, action, content) -> the fingerprint version 0.1.0 wrote for it
WRITTEN_BY_0_1_0: list[tuple[str, str, object, str]] = [
    (
        "lemlist",
        "create",
        [
            "POST",
            "/api/tasks",
            {
                "recordId": "lea_x",
                "leadId": "lea_x",
                "type": "phone",
                "dueDate": "2026-12-01T09:30:00.000Z",
                "title": "Appeler François — café ☕",
                "message": 'a"b\\c\nd\te',
            },
        ],
        "b2ca7dd52470ecfe",
    ),
    (
        "lemlist sandbox",
        "create",
        ["POST", "/api/tasks", {"recordId": "lea_x"}],
        "44b753d6e529cf2b",
    ),
    (
        "lemlist",
        "update",
        [
            "PATCH",
            "/api/tasks",
            {"id": "opp_x", "done": True, "priority": "2", "images": ["https://x/a.png"]},
        ],
        "d43df559cb73c179",
    ),
    (
        "saleshandy",
        "create",
        [{"prospectIds": "A, B", "taskType": "Email"}, "A"],
        "b7c1227b7be7bcdb",
    ),
    (
        "attio",
        "create",
        {
            "values": {"content": "x", "deadline_at": datetime.datetime(2026, 4, 3, 9, 30)},
            "extra": ("a", "b"),
        },
        "7a703e5f76b9d7ee",
    ),
    (
        "attio",
        "create",
        {
            "content": "x",
            "n": 1.5,
            "big": 1e300,
            "nan": math.nan,
            "inf": math.inf,
            "neg": -0.0,
            "none": None,
            "false": False,
            "int": 12345678901234567890,
            "ctrl": "\x00\x1f\u2028",
            "emoji": "😀",
            "z": [],
            "a": {},
        },
        "9364aba3c39c3adc",
    ),
    ("lemlist", "create", {"b": 1, "a": 2, "é": 3, "E": 4, "10": 5, "9": 6}, "b9a9300b44f92a80"),
    (
        "lemlist",
        "create",
        {
            "date": datetime.date(2026, 1, 2),
            "tz": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        },
        "cca1b4e8f8b26139",
    ),
]


@pytest.mark.parametrize(("target", "action", "content", "written"), WRITTEN_BY_0_1_0)
def test_a_fingerprint_is_what_version_0_1_0_wrote(
    target: str, action: str, content: object, written: str
) -> None:
    assert fingerprint(target, action, content) == written


SAMPLE_ACTIONS = {
    "lemlist_create.csv": ("lemlist", "create"),
    "lemlist_bad_rows.csv": ("lemlist", "create"),
    "saleshandy_create.csv": ("saleshandy", "create"),
    "attio_create.xlsx": ("attio", "create"),
    "lemlist_update.xlsx": ("lemlist", "update"),
}


@pytest.mark.parametrize("sample", sorted(SAMPLE_ACTIONS))
def test_the_samples_lines_keep_the_fingerprints_of_version_0_1_0(
    tmp_path: Path, sample: str
) -> None:
    written = json.loads((ROOT / "tests" / "data" / "fingerprints_0.1.0.json").read_text("utf-8"))
    target, action = SAMPLE_ACTIONS[sample]
    results = tmp_path / "validation.csv"
    settings = job.Settings(input=SAMPLES / sample, target=target, action=action, results=results)
    job.validate(settings)
    lines = [[r["row"], r["prospect_id"], r["fingerprint"]] for r in read_results(results)]
    assert lines == written[sample]
