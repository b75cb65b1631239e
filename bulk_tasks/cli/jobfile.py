"""Job files: the options of ``bulk-tasks run`` or ``run-folder`` in a TOML file
(``--config job.toml``).

Every option of the command may be a key of the file, spelled with underscores or hyphens
(``base_url``, ``retry-failed``); ``map`` is a path to a map file or an inline table of
``field = "Column header"``; ``set`` is an inline table of ``field = "value"``. Relative paths
are relative to the file's folder. Options given on the command line win over the file.
An option of the other command is refused (``retry_unknown`` in a job of ``run-folder``,
``done`` in one of ``run``). Keys never live in a job file: they stay in the environment.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from ..errors import OptionError

#: option -> (what its value must be, the types that are that)
OPTIONS: dict[str, tuple[str, tuple[type, ...]]] = {
    "input": ("a path", (str,)),
    "target": ("a vendor name", (str,)),
    "action": ("create or update", (str,)),
    "results": ("a path", (str,)),
    "sheet": ("a sheet name", (str,)),
    "encoding": ("an encoding name", (str,)),
    "delimiter": ("one character", (str,)),
    "map": ('a path, or a table of field = "Column header"', (str, dict)),
    "set": ('a table of field = "value"', (dict,)),
    "timezone": ("a time zone name", (str,)),
    "date_format": ("DMY or MDY", (str,)),
    "base_url": ("a URL", (str,)),
    "rate": ('requests/seconds, e.g. "20/2"', (str,)),
    "timeout": ("a number of seconds", (int, float)),
    "resume": ("true or false", (bool,)),
    "force": ("true or false", (bool,)),
    "retry_failed": ("true or false", (bool,)),
    "retry_unknown": ("true or false", (bool,)),
    "resolve": ("true or false", (bool,)),
    "batch_size": ("a whole number", (int,)),
    "no_pack": ("true or false", (bool,)),
    "sandbox": ("true or false", (bool,)),
    "share": ("local, off or a redis:// URL", (str,)),
    "limit": ("a whole number of rows", (int,)),
    "ledger": ("local, off, a path or a postgresql:// URL", (str,)),
    "row_key": ("a column header", (str,)),
    "create_again": ("true or false", (bool,)),
    "notify": ("a URL, or a list of URLs", (str, list)),
    "notify_on": ("failure or always", (str,)),
    "metrics_file": ("a path", (str,)),
    "inbox": ("a path", (str,)),
    "done": ("a path", (str,)),
    "settle": ("a number of seconds", (int, float)),
}
PATHS = ("input", "results", "map", "inbox", "done", "metrics_file")
#: the options only one command takes: run sends one file, run-folder a folder of them
ONLY: dict[str, frozenset[str]] = {
    "run": frozenset(
        {"input", "results", "resume", "force", "retry_failed", "retry_unknown", "limit"}
    ),
    "run-folder": frozenset({"inbox", "done", "settle"}),
}
_KEY_LIKE = re.compile(r"(^|_)(api_?key|key|token|secret|password)$")


def options_of(command: str) -> list[str]:
    """The entries a job file of ``command`` (run or run-folder) may have."""
    others = frozenset().union(*(names for name, names in ONLY.items() if name != command))
    return [name for name in OPTIONS if name not in others]


def read_job_file(path: Path, *, command: str = "run") -> dict[str, Any]:
    """The options a job file of ``command`` gives, checked, with its relative paths made
    whole."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise OptionError(f"--config {path}: cannot read it ({error.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise OptionError(f"--config {path}: not a TOML file ({error})") from None
    options: dict[str, Any] = {}
    for written, value in data.items():
        name = written.strip().replace("-", "_").lower()
        if _KEY_LIKE.search(name):
            raise OptionError(
                f'--config {path}: "{written}" looks like an API key; keys never go in a job '
                "file: export LEMLIST_API_KEY, SALESHANDY_API_KEY or ATTIO_API_KEY instead"
            )
        if name not in OPTIONS:
            known = ", ".join(options_of(command))
            raise OptionError(
                f'--config {path}: "{written}" is not an option of {command}; use {known}'
            )
        if name not in options_of(command):
            owner = next(other for other, names in ONLY.items() if name in names)
            raise OptionError(
                f'--config {path}: "{written}" is an option of {owner}, not of {command}; '
                "remove it from the file"
            )
        what, types = OPTIONS[name]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise OptionError(f'--config {path}: "{written}" must be {what}, not {value!r}')
        if isinstance(value, dict) and not all(isinstance(v, str) for v in value.values()):
            raise OptionError(f'--config {path}: every value of "{written}" must be in quotes')
        if name in PATHS and isinstance(value, str):
            value = str(path.parent / value)
        options[name] = value
    return options
