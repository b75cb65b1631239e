"""An inbox folder for unattended runs: each new CSV or XLSX in it is run once, then moved.

``run_folder`` takes every spreadsheet in INBOX, oldest first, runs it, and moves it into
DONE with its results file (``NAME.HASH8.results.csv``, HASH8 from the file's content). The
rules that make cron every few minutes safe:

- a ledger in DONE (``.bulk-tasks-ledger.jsonl``, one JSON line per file, fsynced) records
  each file run by the SHA-256 of its bytes: the same content dropped again, under any
  name, is moved to DONE as a duplicate and never sent;
- a file changed less than ``settle`` seconds ago may still be being written: it is left
  for the next pass;
- a file that cannot be run (unreadable, a missing column, …) is moved to ``DONE/failed``
  with ``NAME.why.txt`` saying why, and the others are still run;
- a run that is stopped (Ctrl-C, SIGTERM, a refused key, the disk full) ends the pass: its
  file stays in the inbox and the next pass resumes it from its results file;
- a second instance exits at once: the first holds ``INBOX/.bulk-tasks.lock``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from . import job
from .errors import BulkTasksError, MissingKey, OptionError, ResultsError, ShareUnavailable
from .inputs import CSV_EXTENSIONS, SHEET_EXTENSIONS
from .keys import Keys
from .lockfile import Busy, LockFile

LEDGER = ".bulk-tasks-ledger.jsonl"
LOCK = ".bulk-tasks.lock"


@dataclass(frozen=True)
class FileResult:
    """What became of one inbox file: its exit code (0, 1, 2) and a sentence."""

    name: str
    code: int
    said: str


@dataclass
class FolderSummary:
    files: list[FileResult] = field(default_factory=list)
    stopped: str | None = None

    @property
    def exit_code(self) -> int:
        """2 if a file could not be run or a run stopped; else 1 if lines were not done."""
        if self.stopped:
            return 2
        return max((result.code for result in self.files), default=0)


def _candidates(inbox: Path) -> Iterator[Path]:
    for path in inbox.iterdir():
        if (
            path.is_file()
            and not path.name.startswith(".")
            and path.suffix.lower() in (CSV_EXTENSIONS + SHEET_EXTENSIONS)
        ):
            yield path


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def _ledger(done: Path) -> dict[str, dict[str, object]]:
    ledger = done / LEDGER
    if not ledger.exists():
        return {}
    entries: dict[str, dict[str, object]] = {}
    for text in ledger.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(text)
        except ValueError:
            continue  # a line torn by a crash
        entries[str(entry["sha256"])] = entry
    return entries


def _remember(done: Path, entry: dict[str, object]) -> None:
    with (done / LEDGER).open("a", encoding="utf-8") as ledger:
        ledger.write(json.dumps(entry, ensure_ascii=False) + "\n")
        ledger.flush()
        os.fsync(ledger.fileno())


def _move(path: Path, folder: Path) -> Path:
    """Into ``folder``, never over another file."""
    folder.mkdir(parents=True, exist_ok=True)
    target, copy = folder / path.name, 1
    while target.exists():
        copy += 1
        target = folder / f"{path.stem} ({copy}){path.suffix}"
    return Path(shutil.move(path, target))


def run_folder(
    inbox: Path,
    done: Path,
    settings: job.Settings,
    *,
    key: str | Keys,
    settle: float = 5.0,
    watcher: Callable[[], job.Progress] | None = None,
) -> FolderSummary:
    """Run every settled spreadsheet in ``inbox`` once; see the module's docstring."""
    if not inbox.is_dir():
        raise ResultsError(f"{inbox}: no such folder; give the inbox folder to watch")
    lock = LockFile(inbox / LOCK)
    try:
        lock.acquire()
    except Busy:
        raise ResultsError(
            f"another bulk-tasks run-folder is working on {inbox} (it holds {inbox / LOCK}); "
            "this one stops"
        ) from None
    except OSError as error:
        raise ResultsError(
            f"cannot write {inbox / LOCK} ({error.strerror}); run-folder needs to write in "
            "the inbox folder"
        ) from None
    try:
        _make_folder(done)
        return _pass(inbox, done, settings, key=key, settle=settle, watcher=watcher)
    finally:
        lock.release()


def _make_folder(done: Path) -> None:
    try:
        done.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = "is a file" if done.is_file() else f"cannot be made ({error.strerror})"
        raise ResultsError(
            f"--done {done} {problem}; give the folder where run files and their results go"
        ) from None


def _pass(
    inbox: Path,
    done: Path,
    settings: job.Settings,
    *,
    key: str | Keys,
    settle: float,
    watcher: Callable[[], job.Progress] | None,
) -> FolderSummary:
    summary = FolderSummary()
    ledger = _ledger(done)
    for path in sorted(_candidates(inbox), key=lambda p: p.stat().st_mtime):
        if time.time() - path.stat().st_mtime < settle:
            summary.files.append(
                FileResult(path.name, 0, "changed just now: left for the next pass")
            )
            continue
        digest = _digest(path)
        if digest in ledger:
            moved = _move(path, done)
            earlier = ledger[digest]["name"]
            said = f"the same content as {earlier}, already run: not sent; moved to {moved}"
            summary.files.append(FileResult(path.name, 0, said))
            continue
        results = done / f"{path.stem}.{digest[:8]}.results.csv"
        one = dataclasses.replace(settings, input=path, results=results, resume=True, force=False)
        try:
            ran = job.run(one, key=key, progress=watcher() if watcher else None)
        except (ResultsError, OptionError, MissingKey, ShareUnavailable):
            raise  # the disk, the results file, an option, the key, Redis: no file goes better
        except BulkTasksError as error:  # this file: unreadable, a column missing, ...
            moved = _move(path, done / "failed")
            moved.with_name(moved.name + ".why.txt").write_text(f"{error}\n", encoding="utf-8")
            summary.files.append(FileResult(path.name, 2, f"not run: {error}; moved to {moved}"))
            continue
        if ran.stopped:
            summary.stopped = f"{path.name}: {ran.stopped}"
            said = f"stopped ({ran.stopped}); left in the inbox: the next pass resumes it"
            summary.files.append(FileResult(path.name, 2, said))
            break
        moved = _move(path, done)
        counts = ", ".join(f"{status.value} {n}" for status, n in sorted(ran.counts.items()))
        code = ran.exit_code
        _remember(
            done,
            {
                "sha256": digest,
                "name": path.name,
                "moved_to": str(moved),
                "results": str(results),
                "exit_code": code,
                "time": datetime.now().isoformat(timespec="seconds"),
            },
        )
        ledger[digest] = {"name": path.name}
        summary.files.append(FileResult(path.name, code, f"{counts}; results {results}"))
    return summary
