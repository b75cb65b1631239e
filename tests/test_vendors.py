from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from bulk_tasks.rows.cells import Reading
from bulk_tasks.vendors.attio import ATTIO
from bulk_tasks.vendors.base import Request, Verdict, check, retry_after_seconds
from bulk_tasks.vendors.lemlist import LEMLIST, LemlistCreate, LemlistUpdate

LEAD = "lea_zUwSUPSxozD9fLVGw"
USER = "usr_7YzNqVRMCfdeHEzMn"


def build(model: type[LemlistCreate] | type[LemlistUpdate], **cells: str) -> Request:
    spec = check(model, cells, reading=Reading())
    assert not isinstance(spec, list), spec
    return LEMLIST.build(spec)


def test_basic_auth_has_an_empty_user_and_the_key_as_password() -> None:
    header = LEMLIST.auth_headers("s3cret")["Authorization"]
    assert header.startswith("Basic ")
    assert base64.b64decode(header.removeprefix("Basic ")) == b":s3cret"


def test_create_sends_record_id_and_lead_id_for_a_lead() -> None:
    request = build(
        LemlistCreate,
        recordId=LEAD,
        type="Phone",
        assignedTo=USER,
        dueDate="2026-04-03 09:30",
        title="Call",
        priority="medium",
    )
    assert (request.method, request.path) == ("POST", "/api/tasks")
    assert request.body == {
        "recordId": LEAD,
        "leadId": LEAD,
        "type": "phone",
        "assignedTo": USER,
        "dueDate": "2026-04-03T09:30:00.000Z",
        "title": "Call",
        "priority": "1",
    }


def test_create_for_a_contact_sends_record_id_only() -> None:
    request = build(
        LemlistCreate,
        recordId="ctc_xW8Ou6C03Csv8vatp",
        type="email",
        assignedTo=USER,
        dueDate="2026-04-03",
    )
    assert "leadId" not in request.body
    assert request.body["recordId"] == "ctc_xW8Ou6C03Csv8vatp"


def test_create_sends_media_as_lists_only_when_given() -> None:
    request = build(
        LemlistCreate,
        recordId=LEAD,
        type="linkedin",
        assignedTo=USER,
        dueDate="2026-04-03",
        images="https://a.example/x.png",
    )
    assert request.body["images"] == ["https://a.example/x.png"]
    assert "videos" not in request.body


def test_update_sends_id_and_only_the_filled_fields() -> None:
    request = build(
        LemlistUpdate,
        id="opp_LyXDV8KHzctQdLFpG",
        done="x",
        priority="none",
        dueDate="2026-05-01T10:00:00+02:00",
    )
    assert (request.method, request.path) == ("PATCH", "/api/tasks")
    assert request.body == {
        "id": "opp_LyXDV8KHzctQdLFpG",
        "done": True,
        "dueDate": "2026-05-01T08:00:00.000Z",
        "priority": "",
    }


def test_success_gives_the_task_id() -> None:
    answer = LEMLIST.read(200, {}, b'{"_id": "opp_LyXDV8KHzctQdLFpG", "type": "manual"}')
    assert (answer.verdict, answer.remote_id) == (Verdict.DONE, "opp_LyXDV8KHzctQdLFpG")


def test_plain_text_errors_are_kept_word_for_word() -> None:
    answer = LEMLIST.read(400, {}, b"Bad params")
    assert answer.verdict is Verdict.FAILED
    assert (answer.error_code, answer.error_message) == (
        "http_400",
        "lemlist refused it: Bad params; fix the row, then run again with --resume --retry-failed",
    )


def test_json_errors_give_their_code_and_a_hint() -> None:
    answer = LEMLIST.read(400, {}, b'{"error": "LINKEDIN_MEDIA_INVALID_TYPE"}')
    assert answer.error_code == "LINKEDIN_MEDIA_INVALID_TYPE"
    assert "images and videos can only be set on a linkedin task" in answer.error_message


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_keys(status: int) -> None:
    answer = LEMLIST.read(status, {}, b"The authentication you supplied is incorrect")
    assert answer.verdict is Verdict.REJECTED_KEY


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_answers(status: int) -> None:
    answer = LEMLIST.read(status, {"retry-after": "3"}, b"")
    assert (answer.verdict, answer.retry_after) == (Verdict.RETRY, 3.0)


def test_retry_after_as_seconds_or_http_date() -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("2", now=now) == 2.0
    assert retry_after_seconds("Sun, 22 Nov 2026 12:00:05 GMT", now=now) == 5.0
    assert retry_after_seconds("Sun, 22 Nov 2026 11:59:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None) is None


@pytest.mark.parametrize(
    ("headers", "used"),
    [
        ({"x-ratelimit-limit": "20", "x-ratelimit-remaining": "7"}, 13),
        ({"x-ratelimit-limit": "20", "x-ratelimit-remaining": "0"}, 20),
        ({"x-ratelimit-limit": "20"}, None),
        ({"x-ratelimit-limit": "20", "x-ratelimit-remaining": "soon"}, None),
        ({}, None),
    ],
)
def test_lemlist_says_how_much_of_the_window_is_used(
    headers: dict[str, str], used: int | None
) -> None:
    assert LEMLIST.rate_used(headers) == used


def test_a_vendor_that_does_not_say_is_not_listened_to() -> None:
    assert ATTIO.rate_used({"x-ratelimit-limit": "100", "x-ratelimit-remaining": "1"}) is None
