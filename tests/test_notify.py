"""``--notify URL``: the document a run POSTs when it ends, to a receiver on 127.0.0.1, and what
a receiver that is down or failing changes (nothing but a warning)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from helpers import KEY, bulk_tasks, bulk_tasks_in_child
from test_guarantees import FAST, fast_sandbox, lead, write_creates
from test_ledger_runs import lemlist

from bulk_tasks.sandbox import SandboxServer


class Receiver:
    """A webhook on 127.0.0.1 that keeps what it is sent and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[dict[str, Any]] = []
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts += 1
                if receiver.status == 200:
                    receiver.received.append(json.loads(body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/s3cret-path"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.close()


def with_a_bad_row(data: Path) -> Path:
    data.write_text(
        data.read_text(encoding="utf-8") + ",phone,usr_x,2026-12-01 09:00,Secret title\n",
        encoding="utf-8",
    )
    return data


def test_a_run_that_needs_a_look_posts_what_happened_and_nothing_secret(
    tmp_path: Path, receiver: Receiver
) -> None:
    data = with_a_bad_row(write_creates(tmp_path / "in.csv", range(2)))
    with SandboxServer(fast_sandbox()) as server:
        # in a child process: the command that carries it on is read from its own argv
        command = lemlist(data, server, "--notify", receiver.url, "--notify", receiver.url)
        ran = bulk_tasks_in_child(*command)
    assert ran.code == 1
    assert len(receiver.received) == 2  # each URL once
    document = receiver.received[0]
    assert document == {
        "command": "run",
        "vendor": "lemlist",
        "input": str(data),
        "results": str(tmp_path / "in.results.csv"),
        "counts": {"created": 2, "invalid": 1},
        "exit_code": 1,
        "seconds": document["seconds"],
        "resume": document["resume"],
        "error": None,
        "text": document["text"],
    }
    # without --notify: a webhook's URL is a secret too
    assert document["resume"] == (
        f"bulk-tasks run {data} -t lemlist --base-url {server.url} {' '.join(FAST)} --resume"
    )
    assert document["text"] == (
        f"bulk-tasks run of {data} to lemlist needs a look (exit code 1): created 2, invalid 1. "
        f"Results: {tmp_path / 'in.results.csv'}. To carry on: {document['resume']}."
    )
    sent = json.dumps(receiver.received)
    assert KEY not in sent
    assert "Secret title" not in sent  # no cell of the input
    assert lead(0) not in sent


def test_by_default_only_failures_are_told_and_always_tells_every_run(
    tmp_path: Path, receiver: Receiver
) -> None:
    data = write_creates(tmp_path / "in.csv", range(2))
    with SandboxServer(fast_sandbox()) as server:
        run = ("run", data, "-t", "lemlist", "--base-url", server.url, *FAST)
        assert bulk_tasks(*run, "--notify", receiver.url).code == 0
        assert receiver.received == []
        again = bulk_tasks(
            *run, "--resume", "--notify-on", "always", env={"BULK_TASKS_NOTIFY": receiver.url}
        )
        assert again.code == 0
    [document] = receiver.received
    assert (document["exit_code"], document["counts"], document["resume"]) == (
        0,
        {"skipped": 2},
        None,
    )
    assert document["text"].startswith(f"bulk-tasks run of {data} to lemlist ended (exit code 0)")


@pytest.mark.parametrize("down", [False, True])
def test_a_receiver_down_or_failing_changes_nothing_but_a_warning(
    tmp_path: Path, down: bool
) -> None:
    failing = Receiver(status=500)
    if down:
        failing.close()
    url = f"http://127.0.0.1:{free_port()}/hook" if down else failing.url
    data = with_a_bad_row(write_creates(tmp_path / "in.csv", range(1)))
    try:
        with SandboxServer(fast_sandbox()) as server:
            ran = bulk_tasks(
                "run", data, "-t", "lemlist", "--base-url", server.url, *FAST, "--notify", url
            )
    finally:
        if not down:
            failing.close()
    assert ran.code == 1  # as without --notify
    port = url.split(":")[2].split("/")[0]
    why = "ConnectError" if down else "it answered 500"
    assert (
        f"could not notify http://127.0.0.1:{port}/… ({why}); the run's outcome is unchanged"
        in ran.stderr
    )
    assert "s3cret-path" not in ran.stderr
    if not down:
        assert failing.posts == 3  # tried again, a bounded number of times


def test_a_run_that_cannot_start_is_told_with_its_error(tmp_path: Path, receiver: Receiver) -> None:
    data = tmp_path / "in.csv"
    data.write_text("title\nCall\n", encoding="utf-8")
    ran = bulk_tasks("run", data, "-t", "lemlist", "--sandbox", "--notify", receiver.url)
    assert ran.code == 2
    [document] = receiver.received
    assert document["exit_code"] == 2
    assert document["error"] == ran.stderr.removeprefix("bulk-tasks: ").strip()


def test_run_folder_tells_each_file_and_reads_the_job_file(
    tmp_path: Path, receiver: Receiver
) -> None:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    inbox.mkdir()
    write_creates(inbox / "good.csv", range(2))
    with_a_bad_row(write_creates(inbox / "bad.csv", range(2, 3)))
    job = tmp_path / "inbox.toml"
    job.write_text(
        f'inbox = "{inbox}"\ndone = "{done}"\ntarget = "lemlist"\nsettle = 0\n'
        f'notify = ["{receiver.url}"]\nnotify_on = "always"\n',
        encoding="utf-8",
    )
    with SandboxServer(fast_sandbox()) as server:
        ran = bulk_tasks("run-folder", "--config", job, "--base-url", server.url, *FAST)
    assert ran.code == 1
    told = {Path(document["input"]).name: document for document in receiver.received}
    assert sorted(told) == ["bad.csv", "good.csv"]
    assert (told["good.csv"]["exit_code"], told["good.csv"]["counts"]) == (0, {"created": 2})
    assert (told["bad.csv"]["exit_code"], told["bad.csv"]["counts"]) == (
        1,
        {"created": 1, "invalid": 1},
    )
    assert told["bad.csv"]["command"] == "run-folder"


def test_a_notify_url_that_is_no_url_is_refused(tmp_path: Path) -> None:
    data = write_creates(tmp_path / "in.csv", range(1))
    ran = bulk_tasks("run", data, "-t", "lemlist", "--sandbox", "--notify", "slack")
    assert (ran.code, ran.stderr) == (
        2,
        'bulk-tasks: --notify "slack": give an http:// or https:// URL, such as a Slack '
        "incoming webhook's\n",
    )
