"""The lock file: one holder at a time, across processes, and nothing left behind."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from bulk_tasks.job.lock import Busy, LockFile


def test_the_lock_file_is_gone_once_let_go(tmp_path: Path) -> None:
    path = tmp_path / "out.csv.lock"
    with LockFile(path):
        assert path.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_held_lock_is_busy_for_anyone_else_until_let_go(tmp_path: Path) -> None:
    path = tmp_path / "out.csv.lock"
    with LockFile(path):
        with pytest.raises(Busy):
            LockFile(path).acquire()
        assert path.exists()
    with LockFile(path):
        pass


def test_a_lock_file_left_behind_by_a_crash_locks_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.csv.lock"
    path.write_text("")
    with LockFile(path):
        pass
    assert not path.exists()


def test_letting_go_never_removes_another_holders_file(tmp_path: Path) -> None:
    path = tmp_path / "out.csv.lock"
    first = LockFile(path)
    first.acquire()
    path.unlink()  # by hand, while the first holds it: a second run may now start
    second = LockFile(path)
    second.acquire()
    first.release()
    assert path.exists()
    with pytest.raises(Busy):
        LockFile(path).acquire()  # the second still holds it
    second.release()
    assert not path.exists()


def take_turns(lock_path: str, inside: str, turns: int) -> int:
    """Take the lock ``turns`` times, each time marking that a holder is inside; the count
    of times another holder was found inside (0 when the lock excludes)."""
    lock = LockFile(Path(lock_path))
    together = taken = 0
    while taken < turns:
        try:
            lock.acquire()
        except Busy:
            continue
        try:
            marker = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            together += 1
        else:
            os.close(marker)
            os.unlink(inside)
        finally:
            lock.release()
        taken += 1
    return together


def test_processes_taking_turns_never_hold_it_together(tmp_path: Path) -> None:
    """Each holder removes the file as it lets go, while the others keep opening it: one that
    opened the file just before it was removed must not take that file for the lock."""
    lock_path, inside = str(tmp_path / "out.csv.lock"), str(tmp_path / "inside")
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        found = pool.starmap(take_turns, [(lock_path, inside, 1500)] * 3)
    assert found == [0, 0, 0]
    assert list(tmp_path.iterdir()) == []
