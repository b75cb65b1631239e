"""A key's rate window shared by every process that uses the key (``--share``).

    local (the default)      the processes of this machine, through a SQLite file in the
                             user's cache folder (``BULK_TASKS_CACHE_DIR`` moves it)
    redis://host:port/db     every machine, through Redis (:mod:`.redis_store`)
    off                      this process only

A window is named by :func:`window_id`, a hash of the key with its vendor and destination:
no store ever holds a key. When the cache folder cannot hold the file, the run goes on with
a window of its own and a warning; when Redis cannot be reached, the run does not start
(:func:`ensure_reachable`), because other machines would not see what it sends.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

from ...errors import ShareUnavailable
from ..window import MemoryStore, WindowStore, WindowUnavailable

CACHE_ENV = "BULK_TASKS_CACHE_DIR"
#: the file of the machine's windows, in the cache folder
WINDOWS_FILE = "rate-windows.sqlite3"
#: what --share takes (besides a Redis URL); settings checks it against these
LOCAL, OFF = "local", "off"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

log = logging.getLogger(__name__)


def window_id(vendor: str, url: str, key: str) -> str:
    """The name of a key's window: SHA-256 of a fixed prefix, the vendor, the scheme+host
    requests go to, and the key. The same key sent elsewhere (a sandbox) is another window."""
    import hashlib  # here, as the stores: settings imports this module for its names

    text = f"bulk-tasks rate window 1\0{vendor}\0{url}\0{key}"
    return hashlib.sha256(text.encode()).hexdigest()


def cache_folder() -> Path:
    """Where the machine's windows file lives: ``$BULK_TASKS_CACHE_DIR``, else the user's
    cache folder (``~/.cache/bulk-tasks`` on Linux, or under ``$XDG_CACHE_HOME``)."""
    import platformdirs

    given = os.environ.get(CACHE_ENV, "").strip()
    return Path(given) if given else platformdirs.user_cache_path("bulk-tasks")


class Windows(Protocol):
    """Where the windows of a run's keys are kept."""

    def store(self, window: str) -> WindowStore: ...

    async def aclose(self) -> None: ...


class ProcessWindows:
    """Each key's window in this process only."""

    def store(self, window: str) -> WindowStore:
        return MemoryStore()

    async def aclose(self) -> None:
        pass


class _LocalWindows:
    def __init__(self, folder: Path) -> None:
        from .sqlite_store import SQLiteWindows

        self.windows = SQLiteWindows(folder / WINDOWS_FILE)

    def store(self, window: str) -> WindowStore:
        return self.windows.store(window)

    async def aclose(self) -> None:
        self.windows.close()


async def open_windows(share: str) -> Windows:
    """The windows ``share`` names (see the module's docstring)."""
    if share == OFF:
        return ProcessWindows()
    if share.startswith(REDIS_SCHEMES):
        from .redis_store import RedisWindows

        remote = RedisWindows(share)
        try:
            await remote.check()
        except WindowUnavailable as error:
            await remote.aclose()
            raise ShareUnavailable(str(error)) from None
        return remote
    import sqlite3  # the local file's errors; imported with the stores, not with settings

    folder = cache_folder()
    try:
        return _LocalWindows(folder)
    except (OSError, sqlite3.Error, WindowUnavailable) as error:
        log.warning(
            "cannot keep the rate window in %s (%s): this run keeps its own, so runs on this "
            "machine that use the same key at the same time may draw 429s; set %s to a "
            "folder you can write, or give --share redis://...",
            folder / WINDOWS_FILE,
            error,
            CACHE_ENV,
        )
        return ProcessWindows()


async def ensure_reachable(share: str) -> None:
    """Before a run starts: raise :class:`ShareUnavailable` if its Redis cannot be reached."""
    if share.startswith(REDIS_SCHEMES):
        windows = await open_windows(share)
        await windows.aclose()
