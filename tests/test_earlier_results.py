"""A results file written by an earlier version resumes with the same messages.

``tests/data/earlier_run`` holds an input, the results file an earlier version wrote for it
(a line of each kind of message: found by a lookup, looked up and still unknown, sent again,
never answered, left alone by ``--resume``), and the file that version's ``--resume``
made of it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from helpers import bulk_tasks

EARLIER = Path(__file__).parent / "data" / "earlier_run"


def test_an_earlier_versions_results_resume_with_the_same_messages(tmp_path: Path) -> None:
    shutil.copy(EARLIER / "tasks.csv", tmp_path / "tasks.csv")
    results = tmp_path / "tasks.results.csv"
    shutil.copy(EARLIER / "earlier.results.csv", results)
    ran = bulk_tasks(
        "run", tmp_path / "tasks.csv", "--target", "lemlist", "--resume", "--no-resolve",
        "--base-url", "http://127.0.0.1:9", "--share", "off",
    )  # fmt: skip
    assert ran.code == 1  # nothing sent: done lines skipped, the others left alone
    assert results.read_bytes() == (EARLIER / "resumed.results.csv").read_bytes()
