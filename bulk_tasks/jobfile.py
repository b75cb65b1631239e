"""Job files: the options of ``bulk-tasks run`` in a TOML file (``--config job.toml``).

Every option of ``run`` may be a key of the file, spelled with underscores or hyphens
(``base_url``, ``retry-failed``); ``map`` is a path to a map file or an inline table of
``field = "Column header"``; ``set`` is an inline table of ``field = "value"``. Relative paths
are relative to the file's folder. Options given on the command line win over the file.
Keys never live in a job file: they stay in the environment.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from .errors import OptionError

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
}
PATHS = ("input", "results", "map")
_KEY_LIKE = re.compile(r"(^|_)(api_?key|key|token|secret|password)$")


def read_job_file(path: Path) -> dict[str, Any]:
    """The options a job file gives, checked, with its relative paths made whole."""
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
            known = ", ".join(OPTIONS)
            raise OptionError(f'--config {path}: "{written}" is not an option of run; use {known}')
        what, types = OPTIONS[name]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            raise OptionError(f'--config {path}: "{written}" must be {what}, not {value!r}')
        if isinstance(value, dict) and not all(isinstance(v, str) for v in value.values()):
            raise OptionError(f'--config {path}: every value of "{written}" must be in quotes')
        if name in PATHS and isinstance(value, str):
            value = str(path.parent / value)
        options[name] = value
    return options
