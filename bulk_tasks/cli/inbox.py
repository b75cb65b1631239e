"""An inbox folder for unattended runs: each new CSV or XLSX in it is run once, then moved.

``run_folder`` takes every spreadsheet in INBOX, oldest first, runs it, and moves it into
DONE with its results file (``NAME.HASH8.results.csv``, HASH8 from the file's content). The
rules that make cron every few minutes safe:

- the processed-files record in DONE (``.bulk-tasks-processed.jsonl``, one JSON line per
  file, fsynced) keys each file run by the SHA-256 of its bytes: the same content dropped
  again, under any name, is moved to DONE as a duplicate and never sent. A record under its
  former name, ``.bulk-tasks-ledger.jsonl``, is renamed on first use;
- a line that an earlier file created is not created again (a fixed file dropped again, a
  row carried over to the next export): before a pass runs its first file, the results
  files in DONE are read once for the lines of the files it runs; such a line ends
  ``skipped``, naming the file and row that created it, and a line an earlier file sent
  with no answer stays ``unknown`` (it may exist), saying where to check;
- a file with a header and no rows is said as a warning (an empty export is usually a
  broken one): moved to DONE, never written in the processed-files record;
- a file changed less than ``settle`` seconds ago may still be being written: it is left
  for the next pass;
- a file that cannot be run (unreadable, a missing column, …) is moved to ``DONE/failed``
  with ``NAME.why.txt`` saying why, and the others are still run;
- a run that is stopped (Ctrl-C, SIGTERM, a refused key, the disk full) ends the pass: its
  file stays in the inbox and the next pass resumes it from its results file;
- a second instance exits at once: the first holds ``INBOX/.bulk-tasks.lock``;
- each file a pass ran or set aside adds a line to the done folder's run log, which
  ``bulk-tasks history`` reads (:mod:`~bulk_tasks.cli.history`).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Set
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from .. import job
from ..errors import BulkTasksError, MissingKey, OptionError, ResultsError, ShareUnavailable
from ..job.lock import Busy, LockFile
from ..job.progress import Silent
from ..keys import Keys
from ..results import SentBefore, Status
from ..results.formats import CsvFormat, delimiter_of
from ..rows.inputs import CSV_EXTENSIONS, SHEET_EXTENSIONS
from ..rows.safe_cells import restore
from ..sending.traffic import Traffic
from .history import FileRun, log_file_run, remember_done_folder

PROCESSED_FILES = ".bulk-tasks-processed.jsonl"
#: the processed-files record's name in earlier versions: renamed to PROCESSED_FILES on first use
FORMER_PROCESSED_FILES = ".bulk-tasks-ledger.jsonl"
LOCK = ".bulk-tasks.lock"
RESULTS = "*.results.csv"


class FileStatus(StrEnum):
    """What a pass did with one file of the inbox."""

    RAN = "ran"
    EMPTY = "empty"  # a header and no rows: moved, with a warning
    SAME_CONTENT = "same_content"  # run before under some name: moved, not sent
    CHANGED_JUST_NOW = "changed_just_now"  # left for the next pass
    NOT_RUN = "not_run"  # unreadable, a column missing, ...: moved to failed/
    STOPPED = "stopped"  # left in the inbox: the next pass resumes it


@dataclass(frozen=True)
class FileResult:
    """What became of one inbox file: its exit code (0, 1, 2), a sentence, and the figures."""

    name: str
    code: int
    said: str
    status: FileStatus
    input: Path
    #: lines by status (a file that ran)
    counts: dict[str, int] = field(default_factory=dict)
    #: lines not sent because an earlier file had sent them, by the status they end with
    by_earlier_files: dict[str, int] = field(default_factory=dict)
    #: the requests its run sent, the 429s and the retries
    traffic: Traffic = field(default_factory=Traffic)
    results: Path | None = None
    moved_to: Path | None = None
    #: why its run stopped
    stopped: str | None = None

    @property
    def level(self) -> str:
        """How a log should rank it: error (exit 2), warning (exit 1), else info."""
        return {2: "error", 1: "warning"}.get(self.code, "info")


@dataclass
class FolderSummary:
    files: list[FileResult] = field(default_factory=list)
    stopped: str | None = None

    @property
    def exit_code(self) -> int:
        """2 if a file could not be run or a run stopped; else 1 if lines were not done, or
        a file had no rows."""
        if self.stopped:
            return 2
        return max((result.code for result in self.files), default=0)

    @property
    def counts(self) -> Counter[str]:
        """Lines by status, over every file the pass ran."""
        return sum((Counter(result.counts) for result in self.files), Counter())

    @property
    def traffic(self) -> Traffic:
        """The requests, 429s and retries of every file the pass ran."""
        return sum((result.traffic for result in self.files), Traffic())


class EarlierFiles:
    """What the results files in DONE say of the lines a pass is about to send: each line
    whose task exists or may, and where (a :class:`~bulk_tasks.results.SentBefore`).

    Only the fingerprints in ``wanted`` are kept (the lines of the files the pass runs): a
    done folder may hold millions of lines, and one pass a few thousand.
    """

    def __init__(self, wanted: Set[str]) -> None:
        self.wanted = wanted
        #: fingerprint -> where it was sent, and what became of it
        self.lines: dict[str, SentBefore] = {}

    def read(self, results: Path, *, done: Path) -> None:
        """Add what ``results`` says. Within a file, its last word on a line counts; across
        files, a task that exists wins over one that may, then the file read first."""
        for fingerprint, said in _wanted_lines(results, self.wanted, done=done):
            known = self.lines.get(fingerprint)
            own = known is not None and known.results == results
            if said is None:  # this file's last word: not done, nor unknown
                if own:
                    del self.lines[fingerprint]
            elif known is None or own or _STANDING[said.status] > _STANDING[known.status]:
                self.lines[fingerprint] = said


#: which word on a line wins across files: a task that exists, then one that may
_STANDING = {Status.CREATED: 2, Status.UPDATED: 2, Status.SKIPPED: 1, Status.UNKNOWN: 0}
_MAY_EXIST = frozenset({*_STANDING, Status.SENDING})


def _wanted_lines(
    results: Path, wanted: Set[str], *, done: Path
) -> Iterator[tuple[str, SentBefore | None]]:
    """The lines of ``results`` whose fingerprint is wanted, in order: where each was sent
    when its task exists or may, else None. Read cell by cell with the csv module alone: a
    results file may hold a million lines, and only four of their cells matter here."""
    try:
        kind = CsvFormat(delimiter_of(results) or ",")
        with results.open(encoding=kind.encoding, newline="") as file:
            reader = kind.reader(file)
            headers = kind.header(file, reader)
            row, status, remote_id, error_code, fingerprint = map(
                headers.index, ("row", "status", "remote_id", "error_code", "fingerprint")
            )
            for cells in reader:
                if len(cells) != len(headers) or cells[fingerprint] not in wanted:
                    continue  # a line torn by a kill, or one this pass does not have
                said = cells[status]
                if said not in _MAY_EXIST or not cells[row].isdigit():
                    yield cells[fingerprint], None
                    continue
                sending = said == Status.SENDING  # the request may have arrived
                yield (
                    cells[fingerprint],
                    SentBefore(
                        status=Status.UNKNOWN if sending else Status(said),
                        remote_id=restore(cells[remote_id]),
                        error_code="interrupted" if sending else cells[error_code],
                        results=results,
                        row=int(cells[row]),
                    ),
                )
    except (OSError, UnicodeDecodeError, csv.Error, ResultsError) as error:
        why = error.strerror if isinstance(error, OSError) else str(error)
        raise ResultsError(
            f"cannot read the earlier results {results} ({why}); run-folder reads every "
            f"results file in --done {done} to send no line twice: restore it, or move it "
            "out of that folder"
        ) from None


def _fingerprints(paths: Iterable[Path], settings: job.Settings) -> set[str]:
    """The fingerprints of the lines of the files ``paths``, as a run of each would make
    them; a file that cannot be read has none (its run says why)."""
    wanted: set[str] = set()
    for path in paths:
        try:
            plan = job.Plan(dataclasses.replace(settings, input=path))
            wanted.update(line.fingerprint for line in plan.lines(plan.summary(path), Silent()))
        except BulkTasksError:
            continue
    return wanted


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


def _processed_files(done: Path) -> dict[str, dict[str, object]]:
    """The processed-files record of ``done``: each file run before, by the SHA-256 of its
    content. A record under the former name is read too: an earlier version may have written
    it again after this one renamed it."""
    entries: dict[str, dict[str, object]] = {}
    for record in (done / FORMER_PROCESSED_FILES, done / PROCESSED_FILES):
        if record.exists():
            entries.update(_record_entries(record))
    return entries


def _record_entries(record: Path) -> Iterator[tuple[str, dict[str, object]]]:
    for text in record.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(text)
        except ValueError:
            continue  # a line torn by a crash
        yield str(entry["sha256"]), entry


def _remember(done: Path, entry: dict[str, object]) -> None:
    with (done / PROCESSED_FILES).open("a", encoding="utf-8") as record:
        record.write(json.dumps(entry, ensure_ascii=False) + "\n")
        record.flush()
        os.fsync(record.fileno())


def _rename_former_record(done: Path) -> None:
    """The processed-files record under its former name takes the new one, in one atomic
    rename; when a record under the new name is there already, both stay and both are read."""
    former, record = done / FORMER_PROCESSED_FILES, done / PROCESSED_FILES
    if former.exists() and not record.exists():
        former.rename(record)


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
    watcher: Callable[[Path], job.Progress] | None = None,
) -> FolderSummary:
    """Run every settled spreadsheet in ``inbox`` once; see the module's docstring.

    ``watcher`` gives what watches the run of each file, from the file's path."""
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
        remember_done_folder(inbox, done)
        folder_pass = _Pass(inbox, done, settings, key=key, watcher=watcher)
        return folder_pass.run(settle=settle)
    finally:
        lock.release()


def _make_folder(done: Path) -> None:
    """DONE made if need be, and written in once (its processed-files record), before any file
    is run."""
    try:
        done.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = "is a file" if done.is_file() else f"cannot be made ({error.strerror})"
        raise ResultsError(
            f"--done {done} {problem}; give the folder where run files and their results go"
        ) from None
    try:
        _rename_former_record(done)
        with (done / PROCESSED_FILES).open("a", encoding="utf-8"):
            pass
    except OSError as error:
        raise ResultsError(
            f"cannot write in --done {done} ({error.strerror}); run-folder moves each file it "
            "runs there, with its results: give a folder it may write in"
        ) from None


class _Pass:
    """One pass over the inbox: each settled file run once, in the order they came."""

    def __init__(
        self,
        inbox: Path,
        done: Path,
        settings: job.Settings,
        *,
        key: str | Keys,
        watcher: Callable[[Path], job.Progress] | None,
    ) -> None:
        self.inbox = inbox
        self.done = done
        self.settings = settings
        self.key = key
        self.watcher = watcher
        self.processed = _processed_files(done)
        #: read once, when the first file is about to run
        self.earlier: EarlierFiles | None = None

    def run(self, *, settle: float) -> FolderSummary:
        summary = FolderSummary()
        arrived = sorted(_candidates(self.inbox), key=lambda p: p.stat().st_mtime)
        # decided once: a file that settles while others run waits for the next pass, whose
        # reading of the earlier files includes its lines
        ready = [path for path in arrived if time.time() - path.stat().st_mtime >= settle]
        for path in arrived:
            if path not in ready:
                said = "changed just now: left for the next pass"
                summary.files.append(
                    FileResult(path.name, 0, said, FileStatus.CHANGED_JUST_NOW, path)
                )
                continue
            result = self._file(path, ready)
            summary.files.append(result)
            log_file_run(self.done, self._logged(result))
            if result.status is FileStatus.STOPPED:
                summary.stopped = f"{path.name}: {result.stopped}"
                break
        return summary

    def _logged(self, result: FileResult) -> FileRun:
        """A file's line in the done folder's run log."""
        return FileRun(
            when=datetime.now().astimezone(),
            file=result.name,
            vendor=self.settings.target,
            outcome=result.status.value,
            counts=result.counts,
            exit_code=result.code,
            results=None if result.results is None else str(result.results),
            said=result.said,
        )

    def _earlier_files(self, ready: list[Path]) -> EarlierFiles:
        if self.earlier is None:
            self.earlier = EarlierFiles(_fingerprints(ready, self.settings))
            if self.earlier.wanted:
                done = sorted(self.done.glob(RESULTS), key=lambda p: (p.stat().st_mtime, p.name))
                for results in done:
                    self.earlier.read(results, done=self.done)
        return self.earlier

    def _file(self, path: Path, ready: list[Path]) -> FileResult:
        digest = _digest(path)
        if digest in self.processed:
            moved = _move(path, self.done)
            first = self.processed[digest]["name"]
            said = f"the same content as {first}, already run: not sent; moved to {moved}"
            return FileResult(path.name, 0, said, FileStatus.SAME_CONTENT, path, moved_to=moved)
        earlier_files = self._earlier_files(ready)
        results = self.done / f"{path.stem}.{digest[:8]}.results.csv"
        one = dataclasses.replace(
            self.settings, input=path, results=results, resume=True, force=False
        )
        try:
            ran = job.run(
                one,
                key=self.key,
                progress=self.watcher(path) if self.watcher else None,
                sent_before=earlier_files.lines,
            )
        except (ResultsError, OptionError, MissingKey, ShareUnavailable):
            raise  # the disk, the results file, an option, the key, Redis: no file goes better
        except BulkTasksError as error:  # this file: unreadable, a column missing, ...
            moved = _move(path, self.done / "failed")
            moved.with_name(moved.name + ".why.txt").write_text(f"{error}\n", encoding="utf-8")
            said = f"not run: {error}; moved to {moved}"
            return FileResult(path.name, 2, said, FileStatus.NOT_RUN, path, moved_to=moved)
        ran_result = FileResult(
            path.name,
            ran.exit_code,
            "",
            FileStatus.RAN,
            path,
            counts={status.value: n for status, n in sorted(ran.counts.items())},
            by_earlier_files={status.value: n for status, n in ran.by_earlier_files.items()},
            traffic=ran.traffic,
            results=results,
        )
        if ran.stopped:
            said = f"stopped ({ran.stopped}); left in the inbox: the next pass resumes it"
            return dataclasses.replace(
                ran_result, code=2, said=said, status=FileStatus.STOPPED, stopped=ran.stopped
            )
        moved = _move(path, self.done)
        if not ran.lines:
            said = f"no rows under its header (an empty export?): nothing sent; moved to {moved}"
            return dataclasses.replace(
                ran_result, code=1, said=said, status=FileStatus.EMPTY, moved_to=moved
            )
        _remember(
            self.done,
            {
                "sha256": digest,
                "name": path.name,
                "moved_to": str(moved),
                "results": str(results),
                "exit_code": ran.exit_code,
                "time": datetime.now().isoformat(timespec="seconds"),
            },
        )
        self.processed[digest] = {"name": path.name}
        earlier_files.read(results, done=self.done)
        said = f"{_counted(ran)}; results {results}"
        return dataclasses.replace(ran_result, said=said, moved_to=moved)


def _counted(ran: job.Summary) -> str:
    """A file's counts, and how many of its lines an earlier file had sent."""
    counts = ", ".join(f"{status.value} {n}" for status, n in sorted(ran.counts.items()))
    earlier = ran.by_earlier_files
    notes = []
    if earlier[Status.SKIPPED]:
        notes.append(f"{earlier[Status.SKIPPED]} done by an earlier file, not sent again")
    if earlier[Status.UNKNOWN]:
        notes.append(
            f"{earlier[Status.UNKNOWN]} unknown in an earlier file, not sent: see their lines"
        )
    return f"{counts} ({'; '.join(notes)})" if notes else counts
