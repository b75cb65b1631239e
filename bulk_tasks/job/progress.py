"""What a run tells whoever watches it: the :class:`Progress` it calls, and :class:`Silent`
when nobody does. The command line's progress bar and log lines
(:mod:`bulk_tasks.cli.progress`) are one kind; an orchestrator's logger can be another."""

from __future__ import annotations

from typing import Protocol

from ..results import Status


class Progress(Protocol):
    """What the job tells whoever is watching."""

    def start(self, total: int | None, notes: list[str], *, lines: str = "rows") -> None:
        """``total`` rows are coming (None: unknown); ``lines`` says what a line is."""

    def advance(self, status: Status | None, *, row_done: bool = True) -> None:
        """One more line ended with ``status`` (None: a blank row); ``row_done`` when it
        was its row's last."""

    def notice(self, message: str) -> None:
        """Something the user should know now (a stop has begun, say)."""

    def wait(self, what: str, *, seconds: float) -> None:
        """The run waits ``seconds`` before more lines end, ``what`` for ("for late
        answers before looking up 2 unknown rows at lemlist"): said in place of a time left,
        and left out of the pace."""

    def finish(self) -> None: ...


class Silent:
    """Progress that nobody watches."""

    def start(self, total: int | None, notes: list[str], *, lines: str = "rows") -> None:
        pass

    def advance(self, status: Status | None, *, row_done: bool = True) -> None:
        pass

    def notice(self, message: str) -> None:
        pass

    def wait(self, what: str, *, seconds: float) -> None:
        pass

    def finish(self) -> None:
        pass
