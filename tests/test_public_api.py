"""The library as Python calls it: ``from bulk_tasks import ...``, without the command line."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from helpers import KEY, ROOT, SAMPLES, read_results

import bulk_tasks
from bulk_tasks import (
    BulkTasksError,
    Keys,
    LogProgress,
    Settings,
    Status,
    Summary,
    reconcile,
    resolve,
    run,
    validate,
)
from bulk_tasks.errors import MissingKey
from bulk_tasks.sandbox import SandboxServer


def test_validate_run_resolve_and_reconcile_are_the_packages_own_names(
    tmp_path: Path, server: SandboxServer
) -> None:
    data = SAMPLES / "lemlist_create.csv"
    checked = validate(Settings(input=data, target="lemlist", results=tmp_path / "v.csv"))
    assert isinstance(checked, Summary)
    assert checked.exit_code == 0
    results = tmp_path / "tasks.results.csv"
    settings = Settings(input=data, target="lemlist", results=results, base_url=server.url)
    ran = run(settings, key=Keys(settings.vendor, given=KEY))
    lines = read_results(results)
    assert (ran.exit_code, ran.lines) == (0, len(lines))
    assert {line["status"] for line in lines} == {"created"}
    assert {line["remote_id"] for line in lines} == {a.task_id for a in server.sandbox.applied}
    looked_up = resolve(settings, key=KEY)  # nothing was left unknown: nothing to look up
    assert looked_up.lines == 0
    reconciled = reconcile([results])
    assert (reconciled.exit_code, sum(reconciled.counts.values())) == (0, len(lines))


def test_a_name_the_package_does_not_have_is_an_attribute_error() -> None:
    assert sorted(bulk_tasks.__all__) == sorted(
        [
            *("BulkTasksError", "Keys", "LogProgress", "Progress", "Reconciled", "Settings"),
            *("Status", "Summary", "__version__", "reconcile", "resolve", "run", "validate"),
        ]
    )
    assert all(getattr(bulk_tasks, name) is not None for name in bulk_tasks.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'send'"):
        bulk_tasks.send  # type: ignore[attr-defined]  # noqa: B018


def test_importing_the_package_loads_nothing_until_a_name_is_used() -> None:
    # a fresh interpreter is the point: this one has imported everything already
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, bulk_tasks; "
            "print(sorted(m for m in sys.modules if m.startswith('bulk_tasks')))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert loaded.stdout.strip() == "['bulk_tasks', 'bulk_tasks.version']"


def test_the_key_is_read_from_the_vendor_s_variable_when_none_is_given(
    tmp_path: Path, server: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "tasks.results.csv"
    settings = Settings(
        input=SAMPLES / "lemlist_create.csv", target="lemlist", results=results, base_url=server.url
    )
    monkeypatch.delenv("LEMLIST_API_KEY", raising=False)
    with pytest.raises(MissingKey, match=r"^LEMLIST_API_KEY is not set: export LEMLIST_API_KEY="):
        run(settings)
    assert not results.exists()  # refused before the results file was begun
    monkeypatch.setenv("LEMLIST_API_KEY", KEY)
    assert run(settings).counts == {Status.CREATED: 12}
    assert {arrival.key for arrival in server.sandbox.arrivals} == {KEY}


def test_a_sandbox_run_without_a_url_starts_the_built_in_sandbox_for_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEMLIST_API_KEY", raising=False)
    results = tmp_path / "tasks.results.csv"
    settings = Settings(
        input=SAMPLES / "lemlist_create.csv", target="lemlist", results=results, sandbox=True
    )
    summary = run(settings)
    lines = read_results(results)
    assert summary.as_dict() == {
        "vendor": "lemlist",
        "results": str(results),
        "rows": 12,
        "lines": 12,
        "line_noun": "rows",
        "counts": {"created": 12},
        "blank_rows": 0,
        "seconds": round(summary.seconds, 2),
        "exit_code": 0,
        "stopped": None,
        "requests": 12,
        "rate_limited": 0,
        "retries": 0,
    }
    assert {line["destination"] for line in lines} == {"lemlist sandbox"}
    assert all(line["remote_id"].startswith("opp_") for line in lines)
    assert resolve(settings).lines == 0  # the same results file, on a sandbox of its own


def test_every_error_a_user_can_fix_is_a_bulk_tasks_error(tmp_path: Path) -> None:
    missing = Settings(input=tmp_path / "missing.csv", target="lemlist", sandbox=True)
    with pytest.raises(BulkTasksError, match=r"missing\.csv: no such file"):
        run(missing)


class _Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_log_progress_says_a_line_at_most_every_so_often_and_one_at_the_end() -> None:
    said: list[str] = []
    clock = _Clock()
    progress = LogProgress(said.append, every=10, clock=clock)
    progress.start(4, ["read as Windows-1252"], lines="rows")
    progress.advance(Status.CREATED)
    clock.now = 5
    progress.advance(Status.CREATED)  # 5 s since the start: too soon for a line
    clock.now = 10
    progress.advance(Status.FAILED)
    progress.wait("for late answers before looking up 1 unknown row at lemlist", seconds=20)
    clock.now = 30  # the wait is left out of the pace
    progress.advance(Status.UNKNOWN)
    progress.notice("Stopping: Ctrl-C")
    progress.finish()
    assert said == [
        "Note: read as Windows-1252",
        "3/4 rows, 0.3 rows/s, ~3 s left (created 2, failed 1)",
        "waiting 20 s for late answers before looking up 1 unknown row at lemlist",
        "4/4 rows, 0.4 rows/s (created 2, failed 1, unknown 1)",
        "Stopping: Ctrl-C",  # and no line again at the end: nothing ended since
    ]


def test_log_progress_counts_saleshandy_s_prospects_apart_from_its_rows() -> None:
    said: list[str] = []
    progress = LogProgress(said.append, clock=_Clock())
    progress.start(2, [], lines="prospects")
    progress.advance(Status.CREATED, row_done=False)
    progress.advance(Status.CREATED)
    progress.advance(None)  # a blank row
    progress.finish()
    assert said == ["2/2 rows, 2000000.0 rows/s (2 prospects: created 2)"]


def test_the_package_says_it_is_typed() -> None:
    """PEP 561: a caller's type checker reads the package's own hints."""
    assert resources.files("bulk_tasks").joinpath("py.typed").is_file()
