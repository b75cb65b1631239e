"""Everything a run or a validation needs, in one frozen object that refuses what cannot be.

The command line builds a :class:`Settings` from its options (and a job file's); Python
code builds one directly. Either way an impossible combination (``resume`` with ``force``,
a batch size the vendor cannot take) is refused here, with the message the command prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .errors import OptionError
from .results import destination_of
from .rows.cells import Reading
from .sending.sharing import LOCAL, OFF, REDIS_SCHEMES
from .sending.window import Rate, RetryPolicy
from .vendors import VENDORS
from .vendors.base import Spec, Vendor

#: what --ledger takes for a PostgreSQL database (besides local, off and a path)
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a run or a validation needs: the fields are the options of ``bulk-tasks
    run``, spelled with underscores. Only ``input`` and ``target`` are needed; the rest
    have the command's defaults.

    Attributes:
        input: the CSV or XLSX file of tasks.
        target: the vendor: ``"lemlist"``, ``"saleshandy"`` or ``"attio"``.
        action: ``"create"`` or ``"update"``.
        results: where the results file goes (a ``.csv``, ``.jsonl`` or ``.xlsx`` path);
            None: ``NAME.results.csv`` beside the input.
        sheet: the XLSX sheet to read (None: the first).
        encoding: the CSV file's encoding (None: UTF-8, else Windows-1252, with a note).
        delimiter: the CSV file's delimiter (None: guessed from the header line).
        mapping: a field -> the column header that holds it, for headers of your own.
        constants: a field -> the value every row gets (``--set``).
        reading: how dates are read: their time zone and order (``--timezone``,
            ``--date-format``), a ``bulk_tasks.rows.cells.Reading``
            (``Reading(timezone=ZoneInfo("Europe/Paris"), date_order=DateOrder.DMY)``).
        base_url: where requests go instead of the vendor (a sandbox you started).
        rate: the rate limit to keep to, when your plan's is lower than the vendor's: a
            ``bulk_tasks.sending.window.Rate`` (``Rate(20, 2)``: 20 requests every 2 s).
        timeout: the seconds one request may take.
        retry: how often and how long a request is tried again.
        resume: carry on from the results file of an earlier run of the same input.
        force: start over, moving the earlier results file aside.
        retry_failed: with ``resume``: send the ``failed`` lines again.
        retry_unknown: with ``resume``: send the ``unknown`` lines again without looking
            them up first.
        resolve: look up the lines left ``unknown`` at the vendor (at the end of a run, and
            before ``resume`` sends), so that they end created, or are sent again.
        batch_size: the most lines one request carries (None: the vendor's most, 100 for
            Saleshandy).
        pack: gather lines of different rows into one request when they ask for the same
            task.
        sandbox: send to the built-in sandbox, started for the call (when ``base_url`` is
            None): nothing reaches the vendor, no key is needed, and its lines never count
            as done for the real vendor.
        share: who shares each key's rate window: ``"local"`` (the processes of this
            machine), a ``redis://`` URL (every machine using that Redis), or ``"off"``
            (this process alone).
        limit: only the first this many data rows (blank rows aside): ``run`` sends them
            and ends the others ``not_sent``; ``validate`` checks them only (None: every
            row).
        ledger: where the task ledger is, which remembers every task created or found, so
            that no later run creates it again: ``"local"`` (a file in the user's data
            folder, or in ``BULK_TASKS_DATA_DIR``), a file path, a ``postgresql://`` URL, or
            ``"off"``; None: local, but off for the built-in sandbox (its tasks end with
            the run).
        row_key: the input column holding each row's own key (the task's id in a CRM), by
            which the ledger knows a row across runs: a row edited since its task was made
            updates it.
        create_again: create the lines the ledger says an earlier run created, on purpose.

    Raises:
        OptionError: a value, or a combination, that cannot be (``resume`` with ``force``,
            a batch size the vendor cannot take); its message is the one the command
            prints.
    """

    input: Path
    target: str
    action: str = "create"
    results: Path | None = None
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    mapping: Mapping[str, str] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)
    reading: Reading = field(default_factory=Reading)
    base_url: str | None = None
    rate: Rate | None = None
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    resume: bool = False
    force: bool = False
    retry_failed: bool = False
    retry_unknown: bool = False
    resolve: bool = True
    batch_size: int | None = None
    pack: bool = True
    sandbox: bool = False
    share: str = "local"
    limit: int | None = None
    ledger: str | None = None
    row_key: str | None = None
    create_again: bool = False

    def __post_init__(self) -> None:
        spec_of(vendor_named(self.target), self.action)
        if self.resume and self.force:
            raise OptionError(
                "--resume carries on from the results file, --force starts over: give one"
            )
        if (self.retry_failed or self.retry_unknown) and not self.resume:
            raise OptionError("--retry-failed and --retry-unknown go with --resume")
        if self.timeout <= 0:
            raise OptionError(f"--timeout {self.timeout:g}: give a number of seconds above 0")
        if self.base_url is not None:
            check_base_url(self.base_url)
        check_share(self.share)
        if self.limit is not None and self.limit < 1:
            raise OptionError(f"--limit {self.limit}: give a number of rows, 1 or more")
        self._check_batch_size()
        self._check_ledger()

    def _check_ledger(self) -> None:
        if self.ledger is not None:
            check_ledger(self.ledger)
        if self.row_key is not None and not self.row_key.strip():
            raise OptionError('--row-key "": give the header of the column holding each row\'s key')
        if self.action != "create" and (self.row_key is not None or self.create_again):
            option = "--row-key" if self.row_key is not None else "--create-again"
            raise OptionError(f"{option} goes with --action create: an update names its task")
        if self.ledger_where == "off" and (self.row_key is not None or self.create_again):
            option = "--row-key" if self.row_key is not None else "--create-again"
            if self.ledger is None:  # the built-in sandbox's default
                raise OptionError(
                    f"{option} needs the task ledger, which the built-in sandbox runs without "
                    "(its tasks end with the run): try it on a sandbox that lasts (`bulk-tasks "
                    "sandbox`, then --base-url URL)"
                )
            raise OptionError(f"{option} needs the task ledger: leave out --ledger off")

    def _check_batch_size(self) -> None:
        if self.batch_size is None:
            return
        most = self.vendor.most_per_request
        if most == 1:
            raise OptionError(
                f"--batch-size: {self.target} takes one task per request; leave the option out"
            )
        if not 1 <= self.batch_size <= most:
            raise OptionError(
                f"--batch-size {self.batch_size}: {self.target} takes 1 to {most} "
                f"{self.vendor.line_noun} per request"
            )

    @property
    def vendor(self) -> Vendor:
        return VENDORS[self.target]

    @property
    def destination(self) -> str:
        """Where the lines go, as the results file's ``destination`` column says it."""
        return destination_of(self.target, sandbox=self.sandbox)

    @property
    def url(self) -> str:
        """Where requests go: the vendor's scheme and host, or ``base_url``'s."""
        return (self.base_url or self.vendor.base_url).rstrip("/")

    @property
    def ledger_where(self) -> str:
        """Where the ledger is: ``ledger``, else local (off for the built-in sandbox)."""
        if self.ledger is not None:
            return self.ledger
        return "off" if self.sandbox else "local"

    @property
    def grace(self) -> float:
        """After a stop, how long requests on their way may take before they are given up."""
        return self.timeout + 5.0


def vendor_named(target: str) -> Vendor:
    """The vendor ``--target`` names."""
    vendor = VENDORS.get(target)
    if vendor is None:
        raise OptionError(f'--target "{target}": not a vendor; use one of {", ".join(VENDORS)}')
    return vendor


def spec_of(vendor: Vendor, action: str) -> type[Spec]:
    """The spec of the vendor's action ``--action`` names."""
    spec = vendor.spec(action)
    if spec is None:
        actions = " or ".join(vendor.actions)
        raise OptionError(f"--action {action}: {vendor.name} can only {actions}")
    return spec


def check_share(share: str) -> None:
    if share in (LOCAL, OFF) or (share.startswith(REDIS_SCHEMES) and _port_fits(share)):
        return
    raise OptionError(
        f'--share "{share}": give local (the default: the runs on this machine share each '
        "key's rate window), redis://HOST:PORT/DB (every machine using that Redis shares it) "
        "or off (this run keeps its own)"
    )


def _port_fits(url: str) -> bool:
    """Whether ``url``'s port, if it has one, is a number."""
    try:
        urlsplit(url).port  # noqa: B018 - a port that is no number raises
    except ValueError:
        return False
    return True


def check_ledger(where: str) -> None:
    """Raise :class:`~bulk_tasks.errors.OptionError`, saying what to give, when ``where``
    can name no ledger."""
    if where.startswith(POSTGRES_SCHEMES):
        if _port_fits(where):
            return
    elif where.startswith(REDIS_SCHEMES):
        raise OptionError(
            f'--ledger "{shown(where)}": Redis keeps rate windows (--share) but is no ledger, as '
            "a ledger must survive a restart; give local, a file path or "
            "postgresql://USER@HOST:PORT/DB"
        )
    elif where.strip() and "://" not in where:
        return  # local, off or a path
    raise OptionError(
        f'--ledger "{shown(where)}": give local (the default: a file in the user\'s data '
        "folder), a file path (a volume the runs and containers of one machine share), "
        "postgresql://USER@HOST:PORT/DB (every machine using that database) or off (no "
        "ledger: rows created by earlier runs may be created again)"
    )


def shown(url: str) -> str:
    """``url`` without its password, to be printed."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}@" if parts.username else ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}{host}"))


def check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptionError(f'--base-url "{url}": give a scheme and host, e.g. http://127.0.0.1:8080')
    return url.rstrip("/")
