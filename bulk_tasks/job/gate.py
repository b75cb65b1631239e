"""The line gate: which lines of a run go to the vendor, and what becomes of the others.

A line is not sent when it is invalid, when an earlier run of the same results file already
ended it or the lookups before sending did (``--resume``: the
:class:`~bulk_tasks.job.state.EarlierRun`), when another results file says its task exists
or may (the earlier files of an inbox: ``sent_before``), when its row comes after the first
``--limit`` rows, when the key it needs is not set, or when the task ledger says an earlier
run created its task (:mod:`~bulk_tasks.job.claims`: it may ask for an update instead, or
wait for another run that is creating it). Such a line ends at the gate with its outcome;
every other line passes with what it asks of the vendor.

The gate also holds the run's :class:`~bulk_tasks.job.lookups.Recovery`: the creates that got
no answer, looked up once everything is sent, and the claims taken over from a run that went
without saying how its creates ended.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ..results import DONE, Outcome, SentBefore, Status
from ..results.messages import counted
from ..rows.rules import Line, Rules
from ..settings import Settings
from ..vendors.base import Ask

if TYPE_CHECKING:
    from .claims import Claims
    from .state import Run


class LineGate:
    """Lets through the lines to send; records the outcome of every other one."""

    def __init__(self, run: Run, rules: Rules) -> None:
        self._settings = run.settings
        self._rules = rules
        self._earlier = run.earlier
        #: lines other results files sent, by fingerprint: checked after this file's own word
        self._sent_before = run.sent_before
        self._keys = run.keys
        self._recorder = run.recorder
        self._summary = run.summary
        self._progress = run.progress
        # late, as the sending stack they use: validate, which has no gate, starts faster
        from .claims import Claims
        from .lookups import Recovery

        #: the task ledger's word on the run's creates (None: no ledger)
        self.claims: Claims | None = Claims(run, run.ledger) if run.ledger is not None else None
        #: the run's creates that got no answer, held back to be looked up at the end
        self.recovery = Recovery(run, record=self.record, claims=self.claims)
        self._found: dict[str, str | None] = {}  # variable named by rows -> its key, or None
        self._rows_seen = 0  # non-blank rows, each counted at its first line
        self._last_row = 0

    def _beyond_limit(self, line: Line) -> bool:
        """Whether ``line``'s row comes after the first ``--limit`` rows (lines come in the
        order of their rows, those of a row together; blank rows have none)."""
        if line.row.number != self._last_row:
            self._last_row = line.row.number
            self._rows_seen += 1
        limit = self._settings.limit
        return limit is not None and self._rows_seen > limit

    def ask(self, line: Line) -> Ask | None:
        """What ``line`` asks of the vendor, or None when it is not to be sent."""
        beyond_limit = self._beyond_limit(line)
        if line.ask is None:
            self._recorder.record_invalid(line, self._rules)
            return None
        now = self._earlier.decided(line.fingerprint)
        if now is not None:
            self._recorder.record_line(line, now)
            return None
        earlier = self._earlier.word(line.fingerprint)
        decided = resumed(earlier, self._settings) if earlier else None
        if decided is None and self._sent_before:
            before = self._sent_before.get(line.fingerprint)
            decided = not_sent_again(before, self._settings) if before is not None else None
            if decided is not None:
                self._summary.by_earlier_files[decided.status] += 1
        if decided is not None:
            if self.claims is not None:  # a task an earlier file made: the ledger learns it
                decided = self.claims.ended(line, decided)
            self._recorder.record_line(line, decided)
            return None
        if beyond_limit:
            self._recorder.record_line(line, self._beyond(self._settings.limit or 0))
            return None
        if self.key(line.key_env) is None:
            self._recorder.record_line(line, self._key_missing(line.key_env))
            return None
        if self.claims is None:
            return line.ask
        ask = self.claims.ask(line, hold=self.recovery.take)
        if isinstance(ask, Outcome):
            self.record(line, ask)
            return None
        return ask

    def key(self, key_env: str) -> str | None:
        """The key in the variable a line names ("": the vendor's own); None when unset.

        The first line that finds a variable unset says so, once."""
        if key_env not in self._found:
            found = self._found[key_env] = self._keys.key(key_env)
            if found is None:
                noun = self._summary.line_noun
                trouble = f"{self._keys.missing(key_env)}; its {noun} were not sent"
                self._summary.keys_unused[self._keys.variable(key_env)] = trouble
                self._progress.notice(trouble)
        return self._found[key_env]

    def record(self, line: Line, outcome: Outcome) -> None:
        """What became of a line; a task it made is in the task ledger before it is in the
        results file; a refused key is said once."""
        if self.claims is not None:
            outcome = self.claims.ended(line, outcome)
        outcome = self._rules.worded(outcome)
        if outcome.error_code == "key_rejected":
            variable = self._keys.variable(line.key_env)
            if variable not in self._summary.keys_unused:
                self._summary.keys_unused[variable] = outcome.error_message
                self._progress.notice(outcome.error_message)
        self._recorder.record_line(line, outcome)

    @staticmethod
    def _beyond(limit: int) -> Outcome:
        return Outcome(
            status=Status.NOT_SENT,
            error_code="beyond_limit",
            error_message=f"not sent: it comes after the first {counted(limit, 'rows')} "
            f"(--limit {limit}); to send it, run again without --limit, with --resume",
        )

    def _key_missing(self, key_env: str) -> Outcome:
        return Outcome(
            status=Status.NOT_SENT,
            error_code="key_missing",
            error_message=f"{self._keys.missing(key_env)}; nothing was sent: set it, then run "
            "again with --resume",
        )


def resumed(earlier: Outcome, settings: Settings) -> Outcome | None:
    """What an earlier run's last word on a line means now: an outcome, or None to send it."""
    if earlier.status in DONE:
        return Outcome(
            status=Status.SKIPPED,
            remote_id=earlier.remote_id,
            http_status=earlier.http_status,
            error_message=f"done by an earlier run ({earlier.status.value})"
            if earlier.status is not Status.SKIPPED
            else earlier.error_message,
        )
    if earlier.status is Status.UNKNOWN and not settings.retry_unknown:
        return _left_alone(earlier, "--retry-unknown, which may create it twice")
    retryable = earlier.error_code == "retries_exhausted"
    if earlier.status is Status.FAILED and not (retryable or settings.retry_failed):
        return _left_alone(earlier, "--retry-failed")
    return None  # not_sent, retries exhausted, or asked for: send it


def not_sent_again(before: SentBefore, settings: Settings) -> Outcome | None:
    """What a line that an earlier file sent ends with here: skipped when its task exists,
    unknown when a create may have made it; None to send it (an update sent twice leaves
    the task as one does)."""
    where = f"{before.results} row {before.row}"
    if before.status in DONE:
        done = "done" if before.status is Status.SKIPPED else before.status.value
        task = f" ({before.remote_id})" if before.remote_id else ""
        return Outcome(
            status=Status.SKIPPED,
            remote_id=before.remote_id,
            error_message=f"{done} by an earlier file of the inbox: {where}{task}; not sent again",
        )
    if settings.action != "create":
        return None
    target = settings.target
    return Outcome(
        status=Status.UNKNOWN,
        error_code=before.error_code,
        error_message=f"an earlier file of the inbox sent it and got no answer ({where}): the "
        f"task may exist, so it is not sent again; look it up with `bulk-tasks resolve "
        f"{before.results} --target {target}` (a missing task is sent then), or check in "
        f"{target} and send a missing one with `bulk-tasks run`",
    )


def _left_alone(earlier: Outcome, option: str) -> Outcome:
    left_alone = Outcome(
        status=earlier.status,
        remote_id=earlier.remote_id,
        http_status=earlier.http_status,
        error_code=earlier.error_code,
        attempts=earlier.attempts,
    )
    return left_alone.with_facts(replace(earlier.said, left_alone=option))
