"""The library as Python calls it: ``from bulk_tasks import ...``, without the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import KEY, ROOT, SAMPLES, read_results

import bulk_tasks
from bulk_tasks import Keys, Settings, Summary, reconcile, resolve, run, validate
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
        ["Keys", "Settings", "Summary", "__version__", "reconcile", "resolve", "run", "validate"]
    )
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
