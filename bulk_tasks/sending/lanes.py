"""The lane factory: what sending with one API key needs, opened when its first line comes.

A lane is one key's share of a run: an HTTP client of its own (a pool of connections), a
:class:`~bulk_tasks.sending.sender.Sender` keeping the key's rate window, and a
:class:`~bulk_tasks.sending.packing.Packer` gathering its lines into requests. Keys never share a
lane, so each is sent at its own rate and one refused key stops only its own lines. A key's
window is shared with the other processes using it, as ``settings.share`` says
(:mod:`~bulk_tasks.sending.sharing`). Every lane's sender counts its requests in the run's one
:class:`~bulk_tasks.sending.traffic.Traffic`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Hashable
from types import TracebackType

from ..keys import Keys
from ..rows.rules import Line
from ..settings import Settings
from ..vendors.base import Vendor
from .packing import Packer
from .scheduler import Lane
from .sender import Sender
from .sharing import ProcessWindows, Windows, open_windows, window_id
from .traffic import Traffic
from .transport import open_client
from .window import ArrivalWindow, Rate

#: requests on their way at once per key, at most. Enough for a vendor's rate at the
#: latencies seen (lemlist's 10/s with answers taking up to 0.8 s); more only costs.
WORKERS_PER_KEY = 8


class Lanes:
    """A run's lanes, one per key: opens each when its first line comes, and closes every
    lane's client when the run ends."""

    def __init__(
        self,
        settings: Settings,
        *,
        keys: Keys,
        key_of: Callable[[str], str | None],
        stop: asyncio.Event,
        traffic: Traffic | None = None,
    ) -> None:
        vendor = settings.vendor
        self._settings = settings
        self._keys = keys
        self._key_of = key_of
        self._stop = stop
        #: what every lane's requests met, counted by their senders
        self.traffic = traffic if traffic is not None else Traffic()
        self.rate = settings.rate or Rate(vendor.limit, vendor.period)
        #: each lane's workers, and the connections of its client
        self.workers = min(self.rate.limit, WORKERS_PER_KEY)
        self._clients = contextlib.AsyncExitStack()
        self._windows: Windows = ProcessWindows()
        self._senders: dict[str, Sender] = {}

    async def __aenter__(self) -> Lanes:
        self._windows = await open_windows(self._settings.share)
        self._clients.push_async_callback(self._windows.aclose)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._clients.aclose()

    @property
    def vendor(self) -> Vendor:
        return self._settings.vendor

    def open(self, name: Hashable) -> Lane[Line]:
        """The lane of the key in the variable ``name`` ("": the vendor's own)."""
        settings, vendor = self._settings, self._settings.vendor
        packer: Packer[Line] = Packer(
            vendor,
            row_of=_row_number,
            size=settings.batch_size or vendor.most_per_request,
            per_row=not settings.pack,
        )
        return Lane(self.sender(str(name)), packer)

    def sender(self, key_env: str) -> Sender:
        """The sender of the key in ``key_env``: one per key for the whole run (its window
        counts every request made with the key, lookups included)."""
        sender = self._senders.get(key_env)
        if sender is None:
            settings, vendor = self._settings, self._settings.vendor
            client = open_client(connections=self.workers, timeout=settings.timeout)
            self._clients.push_async_callback(client.aclose)
            key = self._key_of(key_env) or ""
            read_window = None
            if vendor.read_limit is not None:  # the vendor counts reads in a window apart
                read_window = self._window(f"{vendor.name} reads", key, Rate(*vendor.read_limit))
            sender = self._senders[key_env] = Sender(
                client=client,
                vendor=vendor,
                key=key,
                key_env=self._keys.variable(key_env),
                base_url=settings.url,
                rate=self.rate,
                retry=settings.retry,
                stop=self._stop,
                window=self._window(vendor.name, key, self.rate, probes=vendor.says_rate_used),
                read_window=read_window,
                traffic=self.traffic,
            )
        return sender

    def _window(self, name: str, key: str, rate: Rate, *, probes: bool = False) -> ArrivalWindow:
        """The window ``name`` of ``key``, shared as ``settings.share`` says."""
        settings = self._settings
        store = self._windows.store(window_id(name, settings.url, key))
        return ArrivalWindow(rate, store=store, answer_timeout=settings.timeout, probes=probes)


def _row_number(line: Line) -> int:
    return line.row.number
