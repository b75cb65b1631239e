"""What a user reads when an option is wrong, a key cannot be one, or a run waits or ends:
one line that names the value and says what to do, counts that read right for one line.

In-process, through typer's runner and the threaded sandbox over real HTTP.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import SAMPLES
from typer.testing import CliRunner, Result

from bulk_tasks.cli import app

LEMLIST_CREATE = str(SAMPLES / "lemlist_create.csv")


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    """``bulk-tasks ARGS``, as a user types it, with no API key but those in ``env``."""
    unset = dict.fromkeys(("LEMLIST_API_KEY", "SALESHANDY_API_KEY", "ATTIO_API_KEY"))
    return CliRunner().invoke(app, [str(arg) for arg in args], env=unset | (env or {}))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            ["--target", "hubspot"],
            'bulk-tasks: --target "hubspot": not a vendor; use one of lemlist, saleshandy, attio\n',
        ),
        (
            ["--target", "lemlist", "--action", "delete"],
            "bulk-tasks: --action delete: lemlist can only create or update\n",
        ),
        (
            ["--target", "lemlist", "--date-format", "YMD"],
            'bulk-tasks: --date-format "YMD": not a date order; use DMY (03/04/2026 is 3 April) '
            "or MDY (03/04/2026 is 4 March)\n",
        ),
    ],
)
def test_a_wrong_choice_is_named_with_the_choices(option: list[str], message: str) -> None:
    ran = invoke("validate", LEMLIST_CREATE, *option)
    assert (ran.exit_code, ran.stdout, ran.stderr) == (2, "", message)
