"""The errors a user can cause, and what to do about each.

Every error here is a problem with the user's input, options or environment, never a bug.
The CLI prints ``str(error)`` as one line (it already says what to do) and exits 2.

    BulkTasksError              base: a message that names the problem and the fix
    ├── InputError              the input file cannot be read as a table
    ├── ColumnError             the headers do not give a field the action needs
    ├── OptionError             an option's value is wrong (--rate, --set, --map, ...)
    ├── MissingKey              the API key is missing from the environment, or cannot be one
    ├── ResultsError            the results file cannot be written or read back
    │   └── OtherDestination    it holds lines sent elsewhere (the sandbox, another vendor)
    └── ShareUnavailable        the Redis that --share names cannot be reached

Row-level problems (a bad date in one row, a vendor refusing one task) are not exceptions:
they become lines of the results file with a status and a reason.
"""

from __future__ import annotations


class BulkTasksError(Exception):
    """A problem the user can fix; ``str()`` says what and how."""


class InputError(BulkTasksError):
    """The input file is missing, unreadable or not a table."""


class ColumnError(BulkTasksError):
    """A field the action needs has no column, or two columns claim one field."""


class OptionError(BulkTasksError):
    """A command-line option has a value that cannot be used."""


class MissingKey(BulkTasksError):
    """The vendor's API key is not in the environment, or what is there cannot be a key (a
    space inside, say)."""


class ResultsError(BulkTasksError):
    """The results file cannot be written, or an existing one cannot be read."""


class OtherDestination(ResultsError):
    """The results file to carry on from holds lines sent to another destination than this
    run's: a ``--sandbox`` trial's tasks do not exist at the vendor, and the other way round."""

    def __init__(self, message: str, *, path: str, found: str, wanted: str) -> None:
        super().__init__(message)
        self.path = path
        self.found = found
        self.wanted = wanted


class ShareUnavailable(BulkTasksError):
    """``--share redis://...`` names a Redis that cannot be reached: no run starts."""
