"""The inbox's history: one line per file a ``run-folder`` pass ran or set aside, kept with
its done folder, and ``bulk-tasks history`` to read it.

The run log (``DONE/.bulk-tasks-history.jsonl``, one JSON line per file, fsynced) says when,
which file, the vendor, what the pass did with it, its lines by status, its exit code and
its results file. The inbox keeps the path of its done folder (``INBOX/.bulk-tasks-done``),
so that the history of either folder can be asked for.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import ResultsError

HISTORY = ".bulk-tasks-history.jsonl"
#: in the inbox: the path of its done folder
DONE_FOLDER = ".bulk-tasks-done"
#: the statuses of the lines someone still has to act on
TO_ACT_ON = ("failed", "unknown", "not_sent")


@dataclass(frozen=True)
class FileRun:
    """One line of the run log: what a pass did with one file."""

    when: datetime
    file: str
    vendor: str
    #: what the pass did with it: ran, empty, same_content, not_run, stopped
    outcome: str
    counts: dict[str, int]
    exit_code: int
    results: str | None
    said: str

    @property
    def to_act_on(self) -> int:
        """Its lines that ended failed, unknown or not_sent."""
        return sum(self.counts.get(status, 0) for status in TO_ACT_ON)

    def fields(self) -> dict[str, Any]:
        return {
            "when": self.when.isoformat(timespec="seconds"),
            "file": self.file,
            "vendor": self.vendor,
            "outcome": self.outcome,
            "counts": self.counts,
            "to_act_on": self.to_act_on,
            "exit_code": self.exit_code,
            "results": self.results,
            "said": self.said,
        }


def remember_done_folder(inbox: Path, done: Path) -> None:
    """The inbox says where its done folder is, for ``bulk-tasks history INBOX``."""
    pointer = inbox / DONE_FOLDER
    written = pointer.with_name(pointer.name + ".new")
    written.write_text(f"{done.absolute()}\n", encoding="utf-8")
    os.replace(written, pointer)


def log_file_run(done: Path, run: FileRun) -> None:
    """``run`` added to the done folder's run log, on disk when this returns."""
    with (done / HISTORY).open("a", encoding="utf-8") as log:
        fields = run.fields()
        del fields["to_act_on"]  # worked out when read
        log.write(json.dumps(fields, ensure_ascii=False) + "\n")
        log.flush()
        os.fsync(log.fileno())


def history_of(folder: Path) -> Path:
    """The run log of ``folder``: a done folder's own, or that of the inbox's done folder."""
    if (folder / HISTORY).exists():
        return folder / HISTORY
    pointer = folder / DONE_FOLDER
    if pointer.exists():
        done = Path(pointer.read_text(encoding="utf-8").strip())
        if (done / HISTORY).exists():
            return done / HISTORY
        raise ResultsError(
            f"{folder} is an inbox whose done folder {done} has no history yet: run-folder "
            "writes it as it runs files"
        )
    raise ResultsError(
        f"{folder} has no run-folder history: give the inbox that `bulk-tasks run-folder` "
        "watches, or its --done folder"
    )


def read_history(log: Path, *, since: datetime | None = None) -> list[FileRun]:
    """The runs of ``log``, newest first; with ``since``, those from then on."""
    runs = []
    with log.open(encoding="utf-8") as lines:
        for text in lines:
            if not text.strip():
                continue
            fields = json.loads(text)
            run = FileRun(
                when=datetime.fromisoformat(fields["when"]),
                file=fields["file"],
                vendor=fields["vendor"],
                outcome=fields["outcome"],
                counts=dict(fields.get("counts") or {}),
                exit_code=int(fields["exit_code"]),
                results=fields.get("results"),
                said=fields.get("said", ""),
            )
            if since is None or run.when >= since:
                runs.append(run)
    runs.reverse()  # the log is in the order the files ran: the last first, in one second too
    return sorted(runs, key=lambda run: run.when, reverse=True)
