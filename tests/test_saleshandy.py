"""Saleshandy's client side: reading the cells, the requests per prospect, the answers."""

from __future__ import annotations

import json
import logging
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bulk_tasks.results import Status
from bulk_tasks.rows.cells import Reading
from bulk_tasks.vendors.base import Request, Verdict, check
from bulk_tasks.vendors.saleshandy import SALESHANDY, SaleshandyCreate

CODES = ["2", "3", "4", "5", "6", "9", "11", "12", "13", "14", "15", "16", "17", "18"]


def spec(reading: Reading | None = None, **cells: str) -> SaleshandyCreate:
    row = {"prospectIds": "8PvBmrB7P7", "taskType": "13"} | cells
    verdict = check(
        SaleshandyCreate, {k: v for k, v in row.items() if v}, reading=reading or Reading()
    )
    assert isinstance(verdict, SaleshandyCreate), verdict
    return verdict


def problem(**cells: str) -> tuple[str, str]:
    row = {"prospectIds": "8PvBmrB7P7", "taskType": "13"} | cells
    verdict = check(SaleshandyCreate, {k: v for k, v in row.items() if v}, reading=Reading())
    assert isinstance(verdict, list), verdict
    [found] = verdict
    return found.field, found.message


# --- the prospect ids cell ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        "A1, B2, C3",
        "A1;B2;C3",
        "A1 B2 C3",
        "A1\nB2\nC3",
        "A1\r\nB2\tC3",
        " A1 ,; B2\n\n C3 ; ",
    ],
)
def test_prospect_ids_are_split_on_every_separator(cell: str) -> None:
    assert spec(prospectIds=cell).prospectIds == ("A1", "B2", "C3")


def test_an_id_given_twice_is_sent_once_and_its_line_says_so() -> None:
    asks = SALESHANDY.asks(spec(prospectIds="A1, B2, A1; A1"))
    assert [ask.subject for ask in asks] == ["A1", "B2"]
    assert asks[0].notes == ("prospect A1 appears 3 times in this row; it was sent once",)
    assert asks[1].notes == ()


def test_a_blank_prospect_cell_is_invalid() -> None:
    assert problem(prospectIds="") == ("prospectIds", "is empty; every task needs one")
    assert problem(prospectIds=" ;, ") == ("prospectIds", "is empty; every task needs one")


def test_something_that_is_not_an_id_is_named() -> None:
    field, message = problem(prospectIds="A1, jane@acme.com")
    assert field == "prospectIds"
    assert message.startswith(
        'holds "jane@acme.com", which is not a Saleshandy prospect id; ids look like 8PvBmrB7P7'
    )


def test_a_cell_of_one_wrong_id_is_not_named_twice() -> None:
    assert problem(prospectIds="jane@acme.com") == (
        "prospectIds",
        "is not a Saleshandy prospect id; ids look like 8PvBmrB7P7: copy them from Saleshandy, "
        "separated by commas, semicolons, spaces or new lines",
    )


def test_an_invalid_row_names_its_prospects_once_each() -> None:
    assert SALESHANDY.named({"prospectIds": "A1; B2, A1", "taskType": "Email"}) == ("A1", "B2")
    assert SALESHANDY.named({"taskType": "13"}) == ("",)


# --- task type, priority, due date --------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("13", "13"),
        ("Call follow-up", "13"),
        ("call FOLLOW up", "13"),
        ("LinkedIn message", "3"),
        ("linkedin_message", "3"),
        ("whatsapp voice call", "18"),
        ("WhatsApp Voice Message", "17"),
        ("Custom", "9"),
        ("2", "2"),
    ],
)
def test_task_types_by_code_or_label(written: str, code: str) -> None:
    assert spec(taskType=written).taskType == code


@pytest.mark.parametrize("written", ["1", "Email", "general", "LinkedIn", "7", "Call"])
def test_task_types_outside_the_enum_list_what_is_accepted(written: str) -> None:
    field, message = problem(taskType=written)
    assert field == "taskType"
    assert message.startswith("is not a Saleshandy task type")
    assert "2 (LinkedIn connection request)" in message
    assert "18 (WhatsApp voice call)" in message
    assert all(f"{code} (" in message for code in CODES)


def test_the_prose_only_types_are_explained() -> None:
    _, message = problem(taskType="General")
    assert "the docs name Email (1) and General in passing; the API takes neither" in message


@pytest.mark.parametrize(
    ("written", "code"),
    [("1", "1"), ("Urgent", "1"), ("high", "2"), ("MEDIUM", "3"), ("low", "4"), ("4", "4")],
)
def test_priority_by_number_or_word(written: str, code: str) -> None:
    assert spec(priority=written).priority == code


def test_a_wrong_priority_lists_the_accepted_ones() -> None:
    assert problem(priority="5") == (
        "priority",
        "is not a Saleshandy priority; write 1 (Urgent), 2 (High), 3 (Medium), 4 (Low), "
        "or leave it blank",
    )


def body_of(task: SaleshandyCreate) -> dict[str, Any]:
    [ask] = SALESHANDY.asks(task)
    return ask.request.body


def test_blank_optional_fields_are_left_out_of_the_body() -> None:
    assert body_of(spec()) == {"prospectIds": ["8PvBmrB7P7"], "taskType": "13"}


def test_the_full_body_matches_the_seed_example() -> None:
    task = spec(
        priority="Medium",
        dueDate="2026-04-22",
        taskNote="Call to follow up on the proposal sent yesterday.",
    )
    assert body_of(task) == {
        "prospectIds": ["8PvBmrB7P7"],
        "taskType": "13",
        "priority": "3",
        "dueDate": "2026-04-22",
        "taskNote": "Call to follow up on the proposal sent yesterday.",
    }


def test_the_due_date_is_the_day_in_the_given_timezone() -> None:
    late = "2026-12-01T23:30:00Z"
    assert body_of(spec(dueDate=late))["dueDate"] == "2026-12-01"
    paris = Reading(timezone=ZoneInfo("Europe/Paris"))
    assert body_of(spec(paris, dueDate=late))["dueDate"] == "2026-12-02"


def test_a_bad_due_date_is_explained() -> None:
    field, message = problem(dueDate="03/04/2026")
    assert field == "dueDate"
    assert message.startswith("is ambiguous (day/month or month/day?)")


# --- packing -------------------------------------------------------------------------------------


def test_each_prospect_asks_for_its_own_task_and_lines_of_one_task_pack_together() -> None:
    first = SALESHANDY.asks(spec(prospectIds="A1 B2", priority="2"))
    other = SALESHANDY.asks(spec(prospectIds="C3", priority="2"))
    different = SALESHANDY.asks(spec(prospectIds="D4", priority="3"))
    keys = {SALESHANDY.pack_key(ask.request) for ask in (*first, *other)}
    assert len(keys) == 1
    assert SALESHANDY.pack_key(different[0].request) not in keys
    merged = SALESHANDY.merge([ask.request for ask in (*first, *other)])
    assert merged.body == {"prospectIds": ["A1", "B2", "C3"], "taskType": "13", "priority": "2"}
    assert SALESHANDY.subjects(merged) == ("A1", "B2", "C3")


def test_a_request_never_carries_a_prospect_twice_nor_more_than_100() -> None:
    [ask] = SALESHANDY.asks(spec(prospectIds="A1"))
    with pytest.raises(ValueError, match="at most 100 distinct prospects"):
        SALESHANDY.merge([ask.request, ask.request])
    many = [SALESHANDY.asks(spec(prospectIds=f"P{n}"))[0].request for n in range(101)]
    with pytest.raises(ValueError, match="at most 100 distinct prospects"):
        SALESHANDY.merge(many)
    assert len(SALESHANDY.subjects(SALESHANDY.merge(many[:100]))) == 100


# --- reading answers -----------------------------------------------------------------------------

SENT = Request(
    "POST",
    "/v1/tasks/create",
    {"prospectIds": ["P1", "P2", "P3"], "taskType": "13", "dueDate": "2026-12-01"},
)


def answer_to(
    status: int,
    body: object,
    sent: Request = SENT,
    headers: dict[str, str] | None = None,
) -> Any:
    content = json.dumps(body).encode() if not isinstance(body, bytes) else body
    return SALESHANDY.read(status, headers or {}, content, sent=sent)


def results(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"message": "Task created successfully", "payload": {"results": list(entries)}}


@pytest.mark.parametrize("status", [200, 201, 202])
def test_any_2xx_gives_an_outcome_per_prospect(status: int) -> None:
    answer = answer_to(
        status,
        results(
            {"prospectId": "P1", "taskId": "7PWYDWW7zo", "success": True},
            {"prospectId": "P2", "taskId": None, "success": False},
            {"prospectId": "P3", "taskId": "Mw5Mjoo1wb", "success": True},
        ),
    )
    assert answer.verdict is Verdict.DONE
    assert [(line.status, line.remote_id) for line in answer.lines] == [
        (Status.CREATED, "7PWYDWW7zo"),
        (Status.FAILED, ""),
        (Status.CREATED, "Mw5Mjoo1wb"),
    ]
    assert answer.lines[1].error_code == "not_created"
    assert answer.lines[1].error_message == (
        "Saleshandy did not create this task for this prospect (no reason given): "
        "check the prospect id"
    )


def test_a_failed_prospect_keeps_the_vendors_reason() -> None:
    answer = answer_to(
        201,
        results(
            {
                "prospectId": "P1",
                "taskId": None,
                "success": False,
                "message": "Prospect is unsubscribed",
            },
            {"prospectId": "P2", "taskId": "t2", "success": True},
            {"prospectId": "P3", "taskId": "t3", "success": True},
        ),
    )
    assert answer.lines[0].error_message == (
        "Saleshandy did not create this task for this prospect: Prospect is unsubscribed"
    )


def test_a_prospect_missing_from_the_answer_is_unknown_never_created() -> None:
    answer = answer_to(
        200,
        results(
            {"prospectId": "P1", "taskId": "t1", "success": True},
            {"prospectId": "P3", "taskId": "t3", "success": True},
        ),
    )
    assert [line.status for line in answer.lines] == [
        Status.CREATED,
        Status.UNKNOWN,
        Status.CREATED,
    ]
    assert answer.lines[1].error_message.startswith(
        "Saleshandy accepted the request but its answer has no result for this prospect: "
        "it may or may not have the task"
    )


@pytest.mark.parametrize(
    "body", [b"", b"OK", {"message": "Task created successfully"}, {"payload": []}]
)
def test_a_2xx_without_results_leaves_every_prospect_unknown(body: object) -> None:
    answer = answer_to(200, body)
    assert [line.status for line in answer.lines] == [Status.UNKNOWN] * 3


def test_a_result_for_a_prospect_not_sent_is_ignored_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="bulk_tasks"):
        answer = answer_to(
            200,
            results(
                {"prospectId": "P1", "taskId": "t1", "success": True},
                {"prospectId": "ZZ", "taskId": "tz", "success": True},
                {"prospectId": "P2", "taskId": "t2", "success": True},
                {"prospectId": "P3", "taskId": "t3", "success": True},
            ),
        )
    assert [line.remote_id for line in answer.lines] == ["t1", "t2", "t3"]
    assert caplog.messages == [
        "Saleshandy answered for prospect ZZ, which that request did not carry; ignored"
    ]


def test_created_lines_say_when_saleshandy_picks_the_due_date() -> None:
    sent = Request("POST", "/v1/tasks/create", {"prospectIds": ["P1"], "taskType": "9"})
    answer = answer_to(201, results({"prospectId": "P1", "taskId": "t1", "success": True}), sent)
    assert answer.lines[0].error_message == "due today (Saleshandy's default)"
    dated = answer_to(201, results({"prospectId": "P1", "taskId": "t1", "success": True}))
    assert dated.lines[0].error_message == ""


@pytest.mark.parametrize("status", [400, 404, 422])
def test_a_refused_request_fails_every_prospect_with_the_vendors_message(status: int) -> None:
    answer = answer_to(
        status, {"message": "taskType must be one of 2, 3, 4", "error": "Bad Request"}
    )
    assert answer.verdict is Verdict.FAILED
    assert answer.lines is None  # the same outcome for every line of the request
    assert answer.error_code == f"http_{status}"
    assert answer.error_message == (
        "Saleshandy refused the request: taskType must be one of 2, 3, 4; fix the row, "
        "then run again with --resume --retry-failed"
    )


def test_a_plain_text_refusal_is_kept_word_for_word() -> None:
    answer = answer_to(400, b"Bad Request")
    assert answer.error_message.startswith("Saleshandy refused the request: Bad Request;")


@pytest.mark.parametrize("status", [401, 403])
def test_a_rejected_key(status: int) -> None:
    assert answer_to(status, {"message": "Invalid API key"}).verdict is Verdict.REJECTED_KEY


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_retryable_answers_retry_the_whole_request(status: int) -> None:
    answer = answer_to(status, {"message": "slow down"}, headers={"retry-after": "2"})
    assert (answer.verdict, answer.retry_after) == (Verdict.RETRY, 2.0)


def test_the_key_goes_in_x_api_key() -> None:
    assert SALESHANDY.auth_headers("s3cret") == {"x-api-key": "s3cret"}


@pytest.mark.parametrize("header", ["prospectIds", "prospectId", "Prospect ID(s)", "prospect_ids"])
def test_the_prospect_column_may_be_named_several_ways(header: str) -> None:
    from bulk_tasks.rows.columns import map_columns

    columns = map_columns([header, "Task Type"], SaleshandyCreate)
    assert columns.columns == {"prospectIds": 0, "taskType": 1}
