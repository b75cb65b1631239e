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
    ├── ShareUnavailable        the Redis that --share names cannot be reached
    └── LedgerUnavailable       the task ledger --ledger names cannot be opened, reached or
                                written

Row-level problems (a bad date in one row, a vendor refusing one task) are not exceptions:
they become lines of the results file with a status and a reason.

Inside a run, a few exceptions carry control flow. None reaches the user as such: each is
caught in the module named, and becomes a line's outcome, a notice, or one of the errors
above. They live beside the code that raises them::

    Exception
    ├── ExchangeFailed          sending.transport: no whole answer came back
    │   ├── NothingSent         the request never reached the vendor: safe to send again
    │   └── MaybeApplied        it left and no answer came: a create may exist
    ├── WindowUnavailable       sending.window: a shared window's store is gone; nothing
    │                           more may be sent safely, so it becomes StopRun
    ├── StopRun                 sending.sender: no later request of this key can succeed
    │                           (the key was refused, the vendor cannot be reached)
    ├── LookupFailed            sending.sender: a vendor's task list could not be read; the
    │                           line stays unknown, saying why
    ├── _Retry, _LookupRetry    sending.sender: this attempt may be made again (stamina's
    │                           retry loop catches them)
    ├── _NoAnswer               sending.sender: a create got no answer; never sent again
    ├── _Stopped                sending.sender: the run is stopping, no new request goes out
    ├── Busy                    job.lock: another run holds the results file's lock
    │                           (becomes ResultsError)
    └── ValueError
        └── CellProblem         rows.cells: one cell's value is wrong; becomes the line's
                                invalid reason, naming the row, column, value and fix
    InputError
    └── _Undecodable            rows.inputs.csv_file: a record the chosen encoding cannot
                                decode (its message names the row and the --encoding to try)
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


class LedgerUnavailable(BulkTasksError):
    """The task ledger ``--ledger`` names cannot be opened, reached or written; the message
    names it (never a password) and the fix."""
