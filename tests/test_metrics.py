"""Metrics for batch jobs: the requests, 429s and retries a run counts, and the Prometheus
textfile that ``--metrics-file`` writes at the end of ``run`` and ``run-folder``."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from helpers import SAMPLES, bulk_tasks, in_virtual_time, read_results
from prometheus_client.parser import text_string_to_metric_families
from test_guarantees import FAST, fast_sandbox, write_creates
from test_history import run_inbox

from bulk_tasks.cli.metrics import MetricsFile
from bulk_tasks.sandbox import Faults, SandboxServer
from bulk_tasks.sending.sender import Delivery, Sender
from bulk_tasks.sending.traffic import Traffic
from bulk_tasks.sending.transport import open_client
from bulk_tasks.sending.window import Rate, RetryPolicy
from bulk_tasks.vendors.base import Request
from bulk_tasks.vendors.lemlist import LEMLIST

RETRY = RetryPolicy(attempts=4, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)
CREATE = Delivery(Request("POST", "/api/tasks", {"recordId": "lea_x"}), creates=True)
LIST = Request("GET", "/api/tasks?offset=0", {})
Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def answering(*steps: int | type[Exception]) -> Handler:
    """Answers with the given statuses (or raises the given errors) in turn, then 200."""
    queue = list(steps)

    async def handle(request: httpx.Request) -> httpx.Response:
        step = queue.pop(0) if queue else 200
        if isinstance(step, type):
            raise step("scripted", request=request)
        body: object = {"_id": "opp_AAAAAAAAAAAAAAAAA"} if request.method == "POST" else []
        return httpx.Response(step, json=body if step == 200 else None)

    return handle


def counting_sender(handler: Handler, traffic: Traffic) -> Sender:
    return Sender(
        client=open_client(connections=2, timeout=5, transport=httpx.MockTransport(handler)),
        vendor=LEMLIST,
        key="k",
        base_url="https://api.test",
        rate=Rate(20, 2.0),
        retry=RETRY,
        traffic=traffic,
    )


# --- the traffic a run counts --------------------------------------------------------------


def test_a_sender_counts_each_request_each_429_and_each_retry() -> None:
    traffic = Traffic()
    send = counting_sender(answering(429, 500, 429), traffic)
    in_virtual_time(send.send(CREATE))  # a 429 pauses the window: time is moved, not slept
    assert traffic == Traffic(requests=4, rate_limited=2, retries=3)


def test_lookups_count_in_the_same_traffic() -> None:
    traffic = Traffic()
    send = counting_sender(answering(200, 429), traffic)
    in_virtual_time(send.send(CREATE))
    in_virtual_time(send.look(LIST))
    assert traffic == Traffic(requests=3, rate_limited=1, retries=1)


def test_a_request_that_could_not_connect_is_a_retry_not_a_request() -> None:
    traffic = Traffic()
    send = counting_sender(answering(httpx.ConnectError, httpx.ConnectError), traffic)
    in_virtual_time(send.send(CREATE))
    assert traffic == Traffic(requests=1, rate_limited=0, retries=2)


def test_traffics_add_up() -> None:
    one, other = Traffic(1, 2, 3), Traffic(requests=10, rate_limited=20, retries=30)
    assert one + other == Traffic(requests=11, rate_limited=22, retries=33)


def faulty_sandbox() -> SandboxServer:
    """A sandbox that answers some requests 500 and some 429, the same ones every time."""
    return SandboxServer(fast_sandbox(Faults(p_error_500=0.15, p_spurious_429=0.15, seed=5)))


def test_the_json_summary_says_the_requests_429s_and_retries(tmp_path: Path) -> None:
    results = tmp_path / "out.csv"
    with faulty_sandbox() as server:
        ran = bulk_tasks(
            *("run", write_creates(tmp_path / "in.csv", range(16)), "-t", "lemlist"),
            *("--base-url", server.url, *FAST, "--results", results),
            *("--log-format", "json"),
        )
    sandbox = server.sandbox
    assert ran.code == 0, ran.stderr
    records = [json.loads(line) for line in ran.stdout.splitlines()]
    [summary] = [record for record in records if record["event"] == "summary"]
    statuses = [arrival.status for arrival in sandbox.arrivals]
    tries = sum(int(line["attempts"]) for line in read_results(results))
    assert statuses.count(429) > 0  # both causes drawn
    assert statuses.count(500) > 0
    assert (summary["requests"], summary["rate_limited"], summary["retries"]) == (
        len(statuses),
        statuses.count(429),
        tries - 16,
    )


# --- the metrics file ------------------------------------------------------------------------

STATUSES = ("created", "updated", "invalid", "failed", "unknown", "not_sent", "skipped")


def read_metrics(path: Path, *, job: str, vendor: str = "lemlist") -> dict[str, float]:
    """The metrics file, parsed by prometheus_client's own parser: each metric without its
    prefix (lines as ``lines:STATUS``) -> its value; every sample labelled ``vendor`` and
    ``job``."""
    figures: dict[str, float] = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        assert family.type == "gauge"
        for sample in family.samples:
            labels = dict(sample.labels)
            status = labels.pop("status", None)
            assert labels == {"vendor": vendor, "job": job}
            name = sample.name.removeprefix("bulk_tasks_")
            figures[name if status is None else f"lines:{status}"] = sample.value
    return figures


def lines_of(figures: dict[str, float]) -> dict[str, float]:
    return {status: figures[f"lines:{status}"] for status in STATUSES}


def test_a_run_writes_its_lines_and_requests_for_the_textfile_collector(tmp_path: Path) -> None:
    metrics = tmp_path / "textfile" / "nightly-lemlist.prom"
    metrics.parent.mkdir()
    ran = bulk_tasks(
        *("run", SAMPLES / "lemlist_create.csv", "-t", "lemlist", "--sandbox"),
        *("--results", tmp_path / "out.csv", "--metrics-file", metrics),
    )
    assert ran.code == 0, ran.stderr
    figures = read_metrics(metrics, job="nightly-lemlist")
    assert lines_of(figures) == {status: 0 for status in STATUSES} | {"created": 12}
    assert {name: figures[name] for name in ("requests", "rate_limited_responses", "retries")} == {
        "requests": 12,
        "rate_limited_responses": 0,
        "retries": 0,
    }
    assert figures["exit_code"] == 0
    assert figures["duration_seconds"] > 0
    assert figures["last_success_timestamp_seconds"] == figures["last_run_timestamp_seconds"]
    assert sorted(path.name for path in metrics.parent.iterdir()) == ["nightly-lemlist.prom"]


def test_the_metrics_count_429s_and_retries(tmp_path: Path) -> None:
    results, metrics = tmp_path / "out.csv", tmp_path / "faulty.prom"
    with faulty_sandbox() as server:
        ran = bulk_tasks(
            *("run", write_creates(tmp_path / "in.csv", range(16)), "-t", "lemlist"),
            *("--base-url", server.url, *FAST, "--results", results),
            *("--metrics-file", metrics),
        )
    assert ran.code == 0, ran.stderr
    statuses = [arrival.status for arrival in server.sandbox.arrivals]
    tries = sum(int(line["attempts"]) for line in read_results(results))
    figures = read_metrics(metrics, job="faulty")
    assert statuses.count(429) > 0
    assert (figures["requests"], figures["rate_limited_responses"], figures["retries"]) == (
        len(statuses),
        statuses.count(429),
        tries - 16,
    )


def test_a_run_that_needs_a_look_keeps_the_time_of_the_last_success(tmp_path: Path) -> None:
    metrics = tmp_path / "job.prom"
    run = ("run", "-t", "lemlist", "--sandbox", "--metrics-file", metrics, "--force")
    bad = bulk_tasks(*run, SAMPLES / "lemlist_bad_rows.csv", "--results", tmp_path / "bad.csv")
    assert bad.code == 1
    never = read_metrics(metrics, job="job")
    assert "last_success_timestamp_seconds" not in never  # no run has succeeded yet
    good = bulk_tasks(*run, SAMPLES / "lemlist_create.csv", "--results", tmp_path / "good.csv")
    assert good.code == 0
    succeeded = read_metrics(metrics, job="job")["last_success_timestamp_seconds"]
    again = bulk_tasks(*run, SAMPLES / "lemlist_bad_rows.csv", "--results", tmp_path / "bad.csv")
    assert again.code == 1
    figures = read_metrics(metrics, job="job")
    assert figures["last_success_timestamp_seconds"] == succeeded
    assert figures["last_run_timestamp_seconds"] >= succeeded
    assert figures["exit_code"] == 1
    assert lines_of(figures) == {status: 0 for status in STATUSES} | {"created": 2, "invalid": 8}


def test_a_run_that_cannot_start_is_written_with_exit_code_2(tmp_path: Path) -> None:
    metrics = tmp_path / "job.prom"
    data = write_creates(tmp_path / "in.csv", range(2))
    ran = bulk_tasks("run", data, "-t", "lemlist", "--metrics-file", metrics, key=None)
    assert ran.code == 2
    figures = read_metrics(metrics, job="job")
    assert figures["exit_code"] == 2
    assert lines_of(figures) == {status: 0 for status in STATUSES}
    assert "last_success_timestamp_seconds" not in figures


def test_run_folder_writes_the_sum_of_its_files(tmp_path: Path) -> None:
    inbox, done, metrics = tmp_path / "inbox", tmp_path / "done", tmp_path / "inbox.prom"
    inbox.mkdir()
    write_creates(inbox / "monday.csv", range(3))
    write_creates(inbox / "tuesday.csv", range(3, 8))
    with SandboxServer(fast_sandbox()) as server:
        run_inbox(inbox, done, server, "--metrics-file", metrics)
    figures = read_metrics(metrics, job="inbox")
    assert lines_of(figures) == {status: 0 for status in STATUSES} | {"created": 8}
    assert (figures["requests"], figures["exit_code"]) == (8, 0)
    assert len(server.sandbox.arrivals) == 8


def test_a_metrics_file_in_a_missing_folder_is_refused_before_sending(
    tmp_path: Path, server: SandboxServer
) -> None:
    metrics = tmp_path / "textfile" / "job.prom"
    data = write_creates(tmp_path / "in.csv", range(2))
    run = ("run", data, "-t", "lemlist", "--base-url", server.url, "--metrics-file", metrics)
    ran = bulk_tasks(*run)
    assert (ran.code, ran.stderr) == (
        2,
        f"bulk-tasks: --metrics-file {metrics}: there is no folder {metrics.parent}; create "
        "it, or give a path in node_exporter's --collector.textfile.directory\n",
    )
    assert server.sandbox.arrivals == []
    assert not (tmp_path / "in.results.csv").exists()
    assert not metrics.parent.exists()


def test_a_folder_given_as_the_metrics_file_is_refused(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(2))
    ran = bulk_tasks("run", data, "-t", "lemlist", "--sandbox", "--metrics-file", tmp_path)
    assert (ran.code, ran.stderr) == (
        2,
        f"bulk-tasks: --metrics-file {tmp_path}: is a folder; give a file in it, named for "
        f"the job, e.g. {tmp_path / 'nightly.prom'}\n",
    )


def test_a_metrics_file_that_cannot_be_written_is_said_and_changes_nothing_else(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "textfile"
    folder.mkdir()
    metrics = MetricsFile(folder / "job.prom", vendor="lemlist")
    folder.rmdir()  # gone while the run ran
    metrics.write(exit_code=1)
    assert capsys.readouterr().err == (
        f"could not write the metrics file {folder / 'job.prom'} (No such file or directory); "
        "give --metrics-file a path in a folder this user may write in. The run's outcome is "
        "unchanged\n"
    )


def test_the_metrics_file_comes_from_a_job_file_or_the_environment(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(2))
    job = tmp_path / "job.toml"
    job.write_text(
        f'input = "{data.name}"\ntarget = "lemlist"\nsandbox = true\n'
        'metrics_file = "from-job-file.prom"\n',
        encoding="utf-8",
    )
    assert bulk_tasks("run", "--config", job).code == 0
    assert read_metrics(tmp_path / "from-job-file.prom", job="from-job-file")["exit_code"] == 0
    from_env = tmp_path / "from-env.prom"
    ran = bulk_tasks(
        *("run", data, "-t", "lemlist", "--sandbox", "--resume"),
        env={"BULK_TASKS_METRICS_FILE": str(from_env)},
    )
    assert ran.code == 0
    assert lines_of(read_metrics(from_env, job="from-env"))["skipped"] == 2
