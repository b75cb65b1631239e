"""A lock file: one process at a time at work on a results file (or an inbox), and no file
left behind once it is done.

What excludes is the operating system's lock on the file (``flock`` on Unix,
``msvcrt.locking`` on Windows), never the file's being there: a lock file that a crash
leaves behind locks nothing, and the next run takes it. The holder removes the file as it
lets go, which is safe because of two rules:

- the holder removes the file while it still holds the lock (on Windows, where a file open
  anywhere cannot be removed, just after), and only if the path still names the file it
  locked;
- whoever takes the lock checks, once it holds it, that the path still names the file it
  locked. A process that opened the file just before its holder removed it has locked a
  file nobody else can find: it sees that, and starts again with the path as it is now.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path
from types import TracebackType

#: starting again after a holder removed the file under us: more than a few in a row means
#: other processes keep taking the lock first
_ATTEMPTS = 5
_CONTENDED = frozenset({errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK})


class Busy(Exception):
    """Another process holds the lock."""


class LockFile:
    """``with LockFile(path):`` holds ``path`` as a lock, or raises :class:`Busy` at once.

    Other failures (the folder is not writable, the file system has no locks) raise
    :class:`OSError`.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        for _ in range(_ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if not _lock(fd):
                    raise Busy(str(self.path))
                if sys.platform == "win32" or _names(self.path, fd):
                    self._fd = fd
                    return
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # its holder removed it as it let go: take the one there now
        raise Busy(str(self.path))

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if sys.platform == "win32":
            _unlock(fd)
            os.close(fd)
            _remove(self.path)  # fails while another process has it open: theirs now
            return
        try:
            if _names(self.path, fd):
                _remove(self.path)  # still holding it
        finally:
            os.close(fd)  # which lets go of the lock

    def __enter__(self) -> LockFile:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()


def _names(path: Path, fd: int) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        there = path.stat()
    except FileNotFoundError:
        return False
    return os.path.samestat(there, os.fstat(fd))


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):  # left behind, it locks nothing
        path.unlink()


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as error:
            if error.errno in _CONTENDED:
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in _CONTENDED:
                return False
            raise
        return True
