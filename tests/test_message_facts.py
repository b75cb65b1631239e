"""A line's message is worded from its facts in one place, and read back into them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulk_tasks.job.gate import resumed
from bulk_tasks.results import Facts, Looked, Lookup, NamedCells, Outcome, Status
from bulk_tasks.results.messages import read_message, render_message
from bulk_tasks.rows.columns import ColumnMap
from bulk_tasks.settings import Settings
from bulk_tasks.vendors.attio import AttioCreate
from bulk_tasks.vendors.lemlist import LEMLIST

NO_ANSWER = "no answer within 30 s; it may have been applied: check in the vendor's app"
NOTE = "prospect 17 appears 2 times in this row; it was sent once"
RETRY_UNKNOWN = "--retry-unknown, which may create it twice"

#: every kind of message, as its facts and its words, byte for byte as results files hold them
KINDS = [
    (Facts(said=NO_ANSWER), NO_ANSWER),
    (
        Facts(lookup=Lookup(Looked.FOUND, vendor="lemlist")),
        "no answer came when it was sent; found at lemlist afterwards",
    ),
    (
        Facts(lookup=Lookup(Looked.FOUND, resends=2, vendor="attio")),
        "no answer came when it was sent; looked up 3 times: no task the first time, so sent "
        "again, no answer; no task the second time, so sent again, no answer; found at attio "
        "the third time",
    ),
    (
        Facts(said=NO_ANSWER, lookup=Lookup(Looked.STILL_UNKNOWN, said="2 tasks [a; b] match")),
        f"{NO_ANSWER} [looked up: 2 tasks [a; b] match]",
    ),
    (
        Facts(
            said=NO_ANSWER,
            lookup=Lookup(Looked.STILL_UNKNOWN, resends=1, said="looking it up failed: 503"),
        ),
        f"{NO_ANSWER} [looked up 2 times: no task the first time, so sent again, no answer; the "
        "second time, looking it up failed: 503]",
    ),
    (
        Facts(lookup=Lookup(Looked.SENT_AGAIN, vendor="lemlist")),
        "sent again: lemlist had no such task after no answer came",
    ),
    (
        Facts(
            said="lemlist refused it: Bad params",
            lookup=Lookup(Looked.SENT_AGAIN, resends=1, vendor="lemlist"),
        ),
        "lemlist refused it: Bad params; sent again: lemlist had no such task after no answer "
        "came (looked up 2 times: no task the first time, so sent again, no answer; no task the "
        "second time, so sent again)",
    ),
    (
        Facts(said=NO_ANSWER, lookup=Lookup(Looked.NEVER_ANSWERED, resends=2, vendor="attio")),
        f"{NO_ANSWER} [looked up 2 times: no task the first time, so sent again, no answer; no "
        "task the second time, so sent again, no answer: its last send may have landed, so "
        "look for it in attio, and if it is missing, run again with --resume --retry-unknown]",
    ),
    (
        Facts(said=NO_ANSWER, lookup=Lookup(Looked.STILL_UNKNOWN, said="check"), notes=(NOTE,)),
        f"{NO_ANSWER} [looked up: check]; {NOTE}",
    ),
    (
        Facts(said="Saleshandy refused the request: Bad Request", left_alone="--retry-failed"),
        "Saleshandy refused the request: Bad Request [left alone by --resume; to send it again "
        "add --retry-failed]",
    ),
    (
        Facts(
            said=NO_ANSWER,
            lookup=Lookup(Looked.STILL_UNKNOWN, said="not found"),
            notes=(NOTE,),
            left_alone=RETRY_UNKNOWN,
        ),
        f"{NO_ANSWER} [looked up: not found]; {NOTE} [left alone by --resume; to send it again "
        f"add {RETRY_UNKNOWN}]",
    ),
]


@pytest.mark.parametrize(("facts", "words"), KINDS)
def test_each_kind_of_message_is_worded_from_its_facts_and_read_back(
    facts: Facts, words: str
) -> None:
    assert render_message(facts) == words
    assert read_message(words) == facts


def test_a_message_an_earlier_version_left_alone_then_looked_up_reads_back_as_it_reads() -> None:
    words = (
        f"{NO_ANSWER} [left alone by --resume; to send it again add {RETRY_UNKNOWN}] "
        "[looked up: not found]"
    )
    facts = read_message(words)
    assert facts.lookup == Lookup(Looked.STILL_UNKNOWN, said="not found")
    assert render_message(facts) == words


def test_leaving_a_looked_up_line_alone_adds_to_its_facts_not_to_its_text() -> None:
    looked_up = Facts(said=NO_ANSWER, lookup=Lookup(Looked.STILL_UNKNOWN, said="not found"))
    earlier = Outcome(status=Status.UNKNOWN, error_code="no_answer").with_facts(looked_up)
    settings = Settings(input=Path("tasks.csv"), target="lemlist")
    left = resumed(earlier, settings)
    assert left is not None
    assert left.facts is not None
    assert (left.facts.lookup, left.facts.left_alone) == (looked_up.lookup, RETRY_UNKNOWN)
    again = resumed(left, settings)  # left alone twice: said once
    assert again is not None
    assert again.error_message == (
        f"{NO_ANSWER} [looked up: not found] [left alone by --resume; to send it again add "
        f"{RETRY_UNKNOWN}]"
    )


def test_a_vendor_message_names_the_mapped_column_of_its_field() -> None:
    from bulk_tasks.rows.cells import Reading
    from bulk_tasks.rows.rules import Rules

    # --map linked_records=Records --map assignees=Owner
    headers = ("Subject", "Records", "Owner")
    columns = ColumnMap({"content": 0, "linked_records": 1, "assignees": 2}, {}, headers)
    rules = Rules("attio", "create", AttioCreate, columns, Reading())
    cells = NamedCells(("linked_records", "assignees"), then=", then run again")
    refused = Outcome(status=Status.FAILED).with_facts(
        Facts(said="Attio refused it: not found; check ", cells=cells)
    )
    assert rules.worded(refused).error_message == (
        'Attio refused it: not found; check the "Records" and "Owner" cells, then run again'
    )
    assert LEMLIST.read(404, {}, b"Not found").cells == NamedCells(
        ("id",), then="; fix the row, then run again with --resume --retry-failed"
    )
