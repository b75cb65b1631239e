"""Every Python example of the documentation runs, as the page shows it, against the
sandbox; and every recipe of docs/recipes.md runs its calls into bulk-tasks. So no example
can go stale without a test failing.

A page's ```python blocks run in the page's order, in one namespace, in a folder holding a
copy of ``sample_inputs/`` (as a reader's copy of the repository does), with no API key
set. A ```text block right after one is what it prints (compared line by line, in any
order: lines of a run may end in another order). A page whose examples read what a command
wrote first has that command in :data:`PREMISES`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shlex
import shutil
import sys
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ROOT, SAMPLES, bulk_tasks, read_results

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: the page whose recipes need stand-ins for the orchestrators: tested one by one below
RECIPES = ROOT / "docs" / "recipes.md"
#: what a page's examples take as done before them: the commands a reader ran
PREMISES: dict[str, list[list[str]]] = {
    "results.md": [
        ["run", "sample_inputs/saleshandy_create.csv", "--target", "saleshandy", "--sandbox"]
    ],
}
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```\n(?:\n```text\n(.*?)^```\n)?", re.MULTILINE | re.DOTALL)


@dataclass
class Example:
    """A fenced block of a page: its language, its text, where it starts, and what it
    prints (the text block after it; None when there is none)."""

    language: str
    code: str
    line: int
    prints: str | None


def examples(page: Path, language: str) -> list[Example]:
    text = page.read_text(encoding="utf-8")
    return [
        Example(found[1], found[2], text.count("\n", 0, found.start()) + 2, found[3])
        for found in _BLOCK.finditer(text)
        if found[1] == language
    ]


def with_python(page: Path) -> bool:
    return page != RECIPES and bool(examples(page, "python"))


@pytest.fixture
def reader_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A reader's folder: a copy of the samples, no API key, the task ledger in it."""
    folder = tmp_path / "reader"
    shutil.copytree(SAMPLES, folder / "sample_inputs")
    for name in [name for name in os.environ if name.endswith("_API_KEY")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("BULK_TASKS_DATA_DIR", str(folder / "data"))
    monkeypatch.chdir(folder)
    return folder


def run_example(example: Example, namespace: dict[str, Any], where: str) -> str:
    """Run one block in ``namespace``; what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example.code, f"{where}:{example.line}", "exec"), namespace)
    return printed.getvalue()


def test_the_pages_have_python_examples() -> None:
    """The page of the Python API and the README's example are among those run."""
    names = {page.name for page in PAGES if with_python(page)}
    assert {"README.md", "python.md", "results.md"} <= names


@pytest.mark.parametrize(
    "page", [page for page in PAGES if with_python(page)], ids=lambda p: p.name
)
def test_a_page_s_python_examples_run_and_print_what_it_shows(
    page: Path, reader_folder: Path
) -> None:
    for premise in PREMISES.get(page.name, []):
        ran = bulk_tasks(*premise, key=None, cwd=reader_folder)
        assert ran.code in (0, 1), ran.stderr
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem}"}
    for example in examples(page, "python"):
        printed = run_example(example, namespace, page.name)
        if example.prints is not None:
            where = f"{page.name}:{example.line}"
            assert sorted(printed.splitlines()) == sorted(example.prints.splitlines()), where


# --- the recipes -----------------------------------------------------------------------------


def _left_as_is(*args: Any, **options: Any) -> Any:
    """A stand-in decorator, used bare (``@task``) or with options (``@task(retries=2)``):
    the function stays as it is."""
    if len(args) == 1 and callable(args[0]) and not options:
        return args[0]
    return lambda function: function


def _a_record(*args: Any, **options: Any) -> dict[str, Any]:
    """A stand-in for an orchestrator's object: what it was given."""
    return {"args": args, **options}


#: the orchestrators' modules the recipes import, each name a stand-in
STAND_INS: dict[str, dict[str, Any]] = {
    "airflow": {},
    "airflow.sdk": {"dag": _left_as_is, "task": _left_as_is},
    "dagster": {
        "asset": _left_as_is,
        "AssetExecutionContext": object,
        "MaterializeResult": _a_record,
        "define_asset_job": _a_record,
        "Definitions": _a_record,
        "ScheduleDefinition": _a_record,
    },
    "prefect": {
        "flow": _left_as_is,
        "get_run_logger": lambda: logging.getLogger("prefect.flow_runs"),
    },
}


def recipe(name: str) -> Example:
    """The recipe whose first line names its file (``# dags/nightly_tasks.py``)."""
    (found,) = [
        example for example in examples(RECIPES, "python") if example.code.startswith(f"# {name}")
    ]
    return found


def test_every_python_recipe_is_run_here() -> None:
    named = sorted(example.code.split("\n", 1)[0] for example in examples(RECIPES, "python"))
    assert [line.split(":")[0] for line in named] == [
        "# dags/nightly_tasks.py",
        "# definitions.py",
        "# nightly.py",
        "# nightly_flow.py",
    ]


@pytest.fixture
def orchestrated(reader_folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The recipes' storage (``BULK_TASKS_DATA_DIR``, with the night's export in it), their
    shared ``nightly`` module as the page writes it, and stand-ins of the orchestrators."""
    data = reader_folder / "volume"
    (data / "exports").mkdir(parents=True)
    shutil.copy(SAMPLES / "lemlist_create.csv", data / "exports" / "tasks.csv")
    monkeypatch.setenv("BULK_TASKS_DATA_DIR", str(data))
    nightly = types.ModuleType("nightly")
    for name, names in STAND_INS.items():
        stand_in = types.ModuleType(name)
        stand_in.__dict__.update(names)
        monkeypatch.setitem(sys.modules, name, stand_in)
    monkeypatch.setitem(sys.modules, "nightly", nightly)
    run_example(recipe("nightly.py"), nightly.__dict__, "recipes.md")
    return data


def sent_tonight(data: Path) -> list[dict[str, str]]:
    """The lines of the results file the recipes' run wrote."""
    (results,) = (data / "results").glob("tasks.*.results.csv")
    return read_results(results)


def run_recipe(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "recipe"}
    run_example(recipe(name), namespace, "recipes.md")
    return namespace


def test_the_airflow_task_sends_the_export_once(orchestrated: Path) -> None:
    run_recipe("dags/nightly_tasks.py")  # the DAG's function runs its task, as stood in
    lines = sent_tonight(orchestrated)
    assert [line["status"] for line in lines] == ["created"] * 12
    assert (orchestrated / "ledger.sqlite").exists()


def test_the_dagster_asset_says_the_counts_as_its_metadata(
    orchestrated: Path, caplog: pytest.LogCaptureFixture
) -> None:
    namespace = run_recipe("definitions.py")
    context = types.SimpleNamespace(log=logging.getLogger("dagster.asset"))
    with caplog.at_level(logging.INFO, logger="dagster.asset"):
        result = namespace["lemlist_tasks"](context)
    results = str(orchestrated / "results" / f"tasks.{time.strftime('%Y-%m-%d')}.results.csv")
    assert result["metadata"] == {"results": results, "created": 12}
    assert "12/12 rows" in caplog.text  # the run's progress, in the asset's log
    assert len(sent_tonight(orchestrated)) == 12


def test_a_retried_prefect_flow_carries_on_and_creates_nothing_twice(
    orchestrated: Path,
) -> None:
    flow: Callable[[], dict[str, Any]] = run_recipe("nightly_flow.py")["nightly_tasks"]
    first, retried = flow(), flow()
    assert (first["counts"], retried["counts"]) == ({"created": 12}, {"skipped": 12})
    assert {line["status"] for line in sent_tonight(orchestrated)} == {"skipped"}


def test_a_recipe_raises_when_a_line_is_not_done(orchestrated: Path) -> None:
    shutil.copy(SAMPLES / "lemlist_bad_rows.csv", orchestrated / "exports" / "tasks.csv")
    flow = run_recipe("nightly_flow.py")["nightly_tasks"]
    with pytest.raises(RuntimeError, match=r"lines not done, \{.*'invalid': 8.*\}: see .*"):
        flow()


def _an_hour_old(path: Path) -> None:
    """As a file dropped in the inbox a while ago: run-folder leaves one just changed."""
    old = time.time() - 3600
    os.utime(path, (old, old))


def _inbox_pass(argv: list[str], *, root: Path, sample: str) -> tuple[int, Path]:
    """Run a recipe's ``bulk-tasks run-folder`` command line with ``--sandbox`` added, its
    folders under ``root``, after ``sample`` was dropped in its inbox; its exit code and its
    done folder."""
    assert argv[:2] == ["bulk-tasks", "run-folder"], argv
    inbox, done = Path(argv[2]), Path(argv[argv.index("--done") + 1])
    inbox.mkdir(parents=True)
    _an_hour_old(Path(shutil.copy(SAMPLES / sample, inbox / "tasks.csv")))
    ran = bulk_tasks(*argv[1:], "--sandbox", key=None, cwd=root)
    assert ran.code in (0, 1), ran.stderr
    return ran.code, done


def _created(done: Path) -> int:
    (results,) = done.glob("tasks.*.results.csv")
    return sum(line["status"] == "created" for line in read_results(results))


def test_the_cron_line_runs_the_inbox(tmp_path: Path) -> None:
    ((crontab,),) = [example.code.splitlines() for example in examples(RECIPES, "crontab")]
    command = crontab.split(" && ", 1)[1].split(" >> ", 1)[0]
    argv = shlex.split(command.replace("$HOME", str(tmp_path)))
    code, done = _inbox_pass(argv, root=tmp_path, sample="saleshandy_create.csv")
    assert (code, _created(done)) == (1, 12)  # the sample has 2 invalid prospects, 1 failed


def test_the_systemd_service_runs_the_inbox(tmp_path: Path) -> None:
    service = next(e.code for e in examples(RECIPES, "ini") if e.code.startswith("# /etc/"))
    (start,) = [line for line in service.splitlines() if line.startswith("ExecStart=")]
    argv = shlex.split(start.removeprefix("ExecStart=").replace("/srv/tasks", str(tmp_path)))
    assert argv[0] == "/opt/bulk-tasks/.venv/bin/bulk-tasks"
    code, done = _inbox_pass(
        ["bulk-tasks", *argv[1:]], root=tmp_path, sample="saleshandy_create.csv"
    )
    assert (code, _created(done)) == (1, 12)


def test_the_kubernetes_cronjob_keeps_results_and_ledger_on_its_volume(tmp_path: Path) -> None:
    ((manifest,),) = [[example.code] for example in examples(RECIPES, "yaml")]
    kinds = {document["kind"]: document for document in yaml.safe_load_all(manifest)}
    pod = kinds["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (mount,) = container["volumeMounts"]
    (volume,) = pod["volumes"]
    claim = volume["persistentVolumeClaim"]["claimName"]
    assert (mount["name"], claim) == (
        volume["name"],
        kinds["PersistentVolumeClaim"]["metadata"]["name"],
    )
    volume_path = mount["mountPath"]
    argv = [
        arg.replace(volume_path, str(tmp_path))
        for arg in [*container["command"], *container["args"]]
    ]
    code, done = _inbox_pass(argv, root=tmp_path, sample="lemlist_create.csv")
    assert (code, _created(done)) == (0, 12)
    counted = bulk_tasks(
        *("ledger", "count", "--ledger", tmp_path / "ledger.sqlite", "--log-format", "json"),
        key=None,
    )
    assert counted.code == 0, counted.stderr
    (entry,) = json.loads(counted.stdout)["counts"]
    assert (entry["vendor"], entry["created"]) == ("lemlist", 12)
