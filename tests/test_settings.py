"""Settings refuse what cannot be, with the very messages the command prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from helpers import SAMPLES, bulk_tasks

from bulk_tasks.cli.commands import app
from bulk_tasks.errors import OptionError
from bulk_tasks.settings import Settings

LEMLIST = SAMPLES / "lemlist_create.csv"
SALESHANDY = SAMPLES / "saleshandy_create.csv"

IMPOSSIBLE: list[tuple[dict[str, Any], list[str], str]] = [
    (
        {"resume": True, "force": True},
        ["--resume", "--force"],
        "--resume carries on from the results file, --force starts over: give one",
    ),
    (
        {"retry_failed": True},
        ["--retry-failed"],
        "--retry-failed and --retry-unknown go with --resume",
    ),
    (
        {"retry_unknown": True},
        ["--retry-unknown"],
        "--retry-failed and --retry-unknown go with --resume",
    ),
    (
        {"batch_size": 10},
        ["--batch-size", "10"],
        "--batch-size: lemlist takes one task per request; leave the option out",
    ),
    (
        {"base_url": "localhost"},
        ["--base-url", "localhost"],
        '--base-url "localhost": give a scheme and host, e.g. http://127.0.0.1:8080',
    ),
    (
        {"share": "memcached://host"},
        ["--share", "memcached://host"],
        '--share "memcached://host": give local (the default: the runs on this machine share '
        "each key's rate window), redis://HOST:PORT/DB (every machine using that Redis shares "
        "it) or off (this run keeps its own)",
    ),
    (
        {"share": "redis://host:port/0"},
        ["--share", "redis://host:port/0"],
        '--share "redis://host:port/0": give local (the default: the runs on this machine share '
        "each key's rate window), redis://HOST:PORT/DB (every machine using that Redis shares "
        "it) or off (this run keeps its own)",
    ),
    (
        {"action": "update", "target": "saleshandy", "input": SALESHANDY},
        ["-a", "update"],
        "--action update: saleshandy can only create",
    ),
    (
        {"ledger": "redis://cache:6379/0"},
        ["--ledger", "redis://cache:6379/0"],
        '--ledger "redis://cache:6379/0": Redis keeps rate windows (--share) but is no ledger, '
        "as a ledger must survive a restart; give local, a file path or "
        "postgresql://USER@HOST:PORT/DB",
    ),
    (
        {"row_key": "CRM id", "action": "update"},
        ["--row-key", "CRM id", "-a", "update"],
        "--row-key goes with --action create: an update names its task",
    ),
    (
        {"create_again": True, "ledger": "off"},
        ["--create-again", "--ledger", "off"],
        "--create-again needs the task ledger: leave out --ledger off",
    ),
    (
        {"row_key": "CRM id", "sandbox": True},
        ["--row-key", "CRM id", "--sandbox"],
        "--row-key needs the task ledger, which the built-in sandbox runs without (its tasks "
        "end with the run): try it on a sandbox that lasts (`bulk-tasks sandbox`, then "
        "--base-url URL)",
    ),
]


@pytest.mark.parametrize(("fields", "flags", "message"), IMPOSSIBLE)
def test_the_library_and_the_command_refuse_alike(
    tmp_path: Path, fields: dict[str, Any], flags: list[str], message: str
) -> None:
    given: dict[str, Any] = {"input": LEMLIST, "target": "lemlist"} | fields
    with pytest.raises(OptionError) as refused:
        Settings(**given)
    assert str(refused.value) == message
    ran = bulk_tasks("run", given["input"], "-t", given["target"], *flags, cwd=tmp_path)
    assert (ran.code, ran.stderr) == (2, f"bulk-tasks: {message}\n")


@pytest.mark.parametrize("size", [0, 101])
def test_a_batch_size_the_vendor_cannot_take(size: int) -> None:
    with pytest.raises(OptionError) as refused:
        Settings(input=SALESHANDY, target="saleshandy", batch_size=size)
    assert str(refused.value) == (
        f"--batch-size {size}: saleshandy takes 1 to 100 prospects per request"
    )


def test_an_unknown_vendor_is_named() -> None:
    with pytest.raises(OptionError) as refused:
        Settings(input=LEMLIST, target="hubspot")
    assert str(refused.value) == (
        '--target "hubspot": not a vendor; use one of lemlist, saleshandy, attio'
    )


def test_possible_settings_are_taken() -> None:
    settings = Settings(
        input=SALESHANDY, target="saleshandy", resume=True, retry_failed=True, batch_size=50
    )
    assert (settings.batch_size, settings.url) == (50, "https://open-api.saleshandy.com")


def test_commands_that_share_an_option_share_its_definition() -> None:
    """run, validate and run-folder: one definition of each option they have in common."""
    group = typer.main.get_group(app)
    commands = [group.commands[name] for name in ("run", "validate", "run-folder")]
    shared = set.intersection(*({param.name for param in c.params} for c in commands))
    assert {"target", "action", "sheet", "encoding", "delimiter", "map_file"} <= shared
    assert {"set_values", "timezone", "date_format", "log_format"} <= shared
    for name in shared:
        seen = {
            (tuple(param.opts), getattr(param, "help", None), param.metavar, param.default)
            for command in commands
            for param in command.params
            if param.name == name
        }
        assert len(seen) == 1, f"{name} is declared differently: {seen}"
