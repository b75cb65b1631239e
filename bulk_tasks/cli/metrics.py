"""``--metrics-file PATH``: when a run ends (``run-folder``: its whole pass), its figures in the
Prometheus text format that node_exporter's textfile collector reads, so that batch runs can
be charted and alerted on.

Every metric is a gauge of the job's last run, labelled ``vendor`` and ``job``; ``job`` is the
file's name without its suffix (``nightly-lemlist.prom`` -> ``nightly-lemlist``), as the
collector's convention is one file per job. The file is written whole to a temporary file in
its folder, then renamed over PATH (``prometheus_client.write_to_textfile``), so the collector
never reads half of it. The time of the last run that ended with exit code 0 is read back from
the file a run replaces, and kept when this run did not end so.

A path whose folder is missing is refused before the run starts; a file that cannot be written
when the run ends is said on stderr, and the run's exit code stays.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import BulkTasksError, OptionError
from ..results import Status
from ..sending.traffic import Traffic
from .output import err, say

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

PREFIX = "bulk_tasks_"
#: the statuses a line ends with (``sending`` is the results file's mark of a line on its way)
ENDED = tuple(status.value for status in Status if status is not Status.SENDING)
LABELS = ("vendor", "job")
#: metric (without PREFIX) -> its help, every one a gauge of the last run
HELP = {
    "lines": "Lines of the last run, by the status they ended with (created, updated and "
    "skipped are done).",
    "requests": "HTTP requests the last run sent to the vendor, lookups and retries included.",
    "rate_limited_responses": "Answers with HTTP 429 (rate limited) the last run got.",
    "retries": "Requests the last run sent again (after a 429, a 5xx or no answer).",
    "duration_seconds": "How long the last run took, in seconds.",
    "exit_code": "The exit code of the last run: 0 every line done, 1 some not done, 2 "
    "stopped or could not start.",
    "last_run_timestamp_seconds": "When the last run ended, in seconds since the epoch.",
    "last_success_timestamp_seconds": "When the last run that ended with exit code 0 ended, "
    "in seconds since the epoch.",
}
LAST_SUCCESS = f"{PREFIX}last_success_timestamp_seconds"


class MetricsFile:
    """Where a job's metrics go: checked as the command starts, written once as its run ends.
    With no path, nothing is written."""

    def __init__(self, path: Path | None, *, vendor: str) -> None:
        self.path = None if path is None else checked(path)
        self.vendor = vendor
        self.job = "" if path is None else path.stem
        self._started = time.monotonic()

    def write(
        self,
        *,
        exit_code: int,
        counts: Mapping[str, int] | None = None,
        traffic: Traffic | None = None,
    ) -> None:
        """The run ended with ``exit_code``, its lines by status ``counts`` (status -> lines)
        and its ``traffic``: the file says so. A file that cannot be written is said on
        stderr; it never raises."""
        if self.path is None:
            return
        from prometheus_client import write_to_textfile  # only when --metrics-file is given

        registry = self._registry(exit_code, counts or {}, traffic or Traffic())
        try:
            write_to_textfile(str(self.path), registry)
        except OSError as error:
            said = (
                f"could not write the metrics file {self.path} ({error.strerror}); give "
                "--metrics-file a path in a folder this user may write in. The run's outcome "
                "is unchanged"
            )
            say("metrics", said, level="warning", to=err, path=str(self.path))

    def _registry(
        self, exit_code: int, counts: Mapping[str, int], traffic: Traffic
    ) -> CollectorRegistry:
        from prometheus_client import CollectorRegistry, Gauge

        registry = CollectorRegistry()
        labels = {"vendor": self.vendor, "job": self.job}

        def gauge(name: str, *more_labels: str) -> Gauge:
            return Gauge(PREFIX + name, HELP[name], (*LABELS, *more_labels), registry=registry)

        lines = gauge("lines", "status")
        for status in ENDED:
            lines.labels(**labels, status=status).set(counts.get(status, 0))
        ended = time.time()
        figures = {
            "requests": traffic.requests,
            "rate_limited_responses": traffic.rate_limited,
            "retries": traffic.retries,
            "duration_seconds": round(time.monotonic() - self._started, 3),
            "exit_code": exit_code,
            "last_run_timestamp_seconds": ended,
            "last_success_timestamp_seconds": ended if exit_code == 0 else self._last_success(),
        }
        for name, value in figures.items():
            if value is not None:  # no run has succeeded yet: no last success
                gauge(name).labels(**labels).set(value)
        return registry

    def _last_success(self) -> float | None:
        """When the last run that ended with exit code 0 ended, as the file says (None: the
        file is not there, or says no such run)."""
        from prometheus_client.parser import text_string_to_metric_families

        assert self.path is not None
        try:
            text = self.path.read_text(encoding="utf-8")
            families = list(text_string_to_metric_families(text))
        except (OSError, UnicodeDecodeError, ValueError):
            return None  # no file yet, or not one this command wrote
        times = [
            sample.value
            for family in families
            for sample in family.samples
            if sample.name == LAST_SUCCESS
        ]
        return max(times, default=None)


def checked(path: Path) -> Path:
    """``path``, when a metrics file can be written there; OptionError otherwise, before the
    run sends anything."""
    folder = path.parent
    if path.is_dir():
        fix = f"give a file in it, named for the job, e.g. {path / 'nightly.prom'}"
        raise OptionError(f"--metrics-file {path}: is a folder; {fix}")
    if not folder.is_dir():
        raise OptionError(
            f"--metrics-file {path}: there is no folder {folder}; create it, or give a path "
            "in node_exporter's --collector.textfile.directory"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OptionError(
            f"--metrics-file {path}: this user may not write in {folder}; give a folder it "
            "may write in, or let it write there"
        )
    return path


@contextlib.contextmanager
def metrics_written(path: Path | None, *, vendor: str) -> Iterator[MetricsFile]:
    """The metrics file of the run within (``path`` checked now): the run writes it as it ends;
    a run that could not start, or was stopped by an error, is written with exit code 2."""
    metrics = MetricsFile(path, vendor=vendor)
    try:
        yield metrics
    except BulkTasksError:
        metrics.write(exit_code=2)
        raise
