from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bulk_tasks.rows.cells import DateOrder, Reading, read_when
from bulk_tasks.vendors.base import Problem, Spec, check
from bulk_tasks.vendors.lemlist import LemlistCreate, LemlistUpdate

LEAD = "lea_zUwSUPSxozD9fLVGw"
CONTACT = "ctc_xW8Ou6C03Csv8vatp"
USER = "usr_7YzNqVRMCfdeHEzMn"
TASK = "opp_LyXDV8KHzctQdLFpG"
UTC_READING = Reading()


def create(**cells: str | datetime) -> Spec | list[Problem]:
    row: dict[str, str | datetime] = {
        "recordId": LEAD,
        "type": "phone",
        "assignedTo": USER,
        "dueDate": "2026-04-03",
    }
    row.update(cells)
    return check(LemlistCreate, {k: v for k, v in row.items() if v != ""}, reading=UTC_READING)


def problems(verdict: Spec | list[Problem]) -> list[tuple[str, str]]:
    assert isinstance(verdict, list), f"expected problems, got {verdict!r}"
    return [(problem.field, problem.message) for problem in verdict]


def test_a_complete_create_row_is_valid() -> None:
    spec = create(title="Call", message="Ask about Q3", priority="high")
    assert isinstance(spec, LemlistCreate)
    assert (spec.recordId, spec.type, spec.assignedTo) == (LEAD, "phone", USER)
    assert spec.dueDate == datetime(2026, 4, 3, tzinfo=UTC)
    assert (spec.title, spec.message, spec.priority) == ("Call", "Ask about Q3", "2")


@pytest.mark.parametrize("written", ["email", "Manual", " PHONE ", "LinkedIn"])
def test_type_ignores_case_and_spaces(written: str) -> None:
    spec = create(type=written)
    assert isinstance(spec, LemlistCreate)
    assert spec.type == written.strip().lower()


def test_unknown_type_says_which_types_exist() -> None:
    assert problems(create(type="call")) == [
        ("type", "is not a task type; write one of email, manual, phone, linkedin")
    ]


@pytest.mark.parametrize("field", ["recordId", "type", "assignedTo", "dueDate"])
def test_required_fields_when_blank(field: str) -> None:
    assert problems(create(**{field: ""})) == [(field, "is empty; every task needs one")]


def test_record_id_takes_leads_and_contacts_but_not_emails() -> None:
    assert isinstance(create(recordId=CONTACT), LemlistCreate)
    [(field, message)] = problems(create(recordId="jane@acme.com"))
    assert field == "recordId"
    assert message.startswith("is not a lemlist lead or contact id; lemlist ids look like lea_")


def test_assigned_to_must_be_a_user_id() -> None:
    [(field, message)] = problems(create(assignedTo=LEAD))
    assert field == "assignedTo"
    assert "usr_7YzNqVRMCfdeHEzMn" in message


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("", None),
        ("0", "0"),
        ("1", "1"),
        ("2", "2"),
        ("none", ""),
        ("Low", "0"),
        ("medium", "1"),
        ("HIGH", "2"),
    ],
)
def test_priority_words_and_numbers(written: str, sent: str | None) -> None:
    spec = create(priority=written)
    assert isinstance(spec, LemlistCreate)
    assert spec.priority == sent


def test_priority_out_of_range() -> None:
    assert problems(create(priority="3")) == [
        ("priority", "is not a priority; write low, medium, high or none (or 0, 1, 2)")
    ]


# --- dates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("2026-04-03", datetime(2026, 4, 3, tzinfo=UTC)),
        ("2026-04-03T14:30", datetime(2026, 4, 3, 14, 30, tzinfo=UTC)),
        ("2026-04-03 14:30", datetime(2026, 4, 3, 14, 30, tzinfo=UTC)),
        ("2026-04-03T14:30:00Z", datetime(2026, 4, 3, 14, 30, tzinfo=UTC)),
        ("2026-04-03T14:30:00.250+02:00", datetime(2026, 4, 3, 12, 30, 0, 250000, tzinfo=UTC)),
        ("2026/04/03", datetime(2026, 4, 3, tzinfo=UTC)),
    ],
)
def test_iso_dates(written: str, expected: datetime) -> None:
    assert read_when(written, UTC_READING) == expected


def test_a_date_without_zone_is_read_in_the_given_timezone() -> None:
    paris = Reading(timezone=ZoneInfo("Europe/Paris"))
    assert read_when("2026-07-01", paris) == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)
    assert read_when("2026-01-15 09:00", paris) == datetime(2026, 1, 15, 8, 0, tzinfo=UTC)
    # a written zone wins over --timezone
    assert read_when("2026-01-15T09:00Z", paris) == datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def test_excel_date_cells_are_read_in_the_timezone() -> None:
    new_york = Reading(timezone=ZoneInfo("America/New_York"))
    assert read_when(datetime(2026, 4, 3, 9, 0), new_york) == datetime(
        2026, 4, 3, 13, 0, tzinfo=UTC
    )


def test_slashed_dates_are_ambiguous_without_a_date_format() -> None:
    assert problems(create(dueDate="03/04/2026")) == [
        (
            "dueDate",
            "is ambiguous (day/month or month/day?); write 2026-04-03, or pass "
            "--date-format DMY (day first) or --date-format MDY (month first)",
        )
    ]


@pytest.mark.parametrize(
    ("order", "written", "expected"),
    [
        (DateOrder.DMY, "03/04/2026", datetime(2026, 4, 3, tzinfo=UTC)),
        (DateOrder.MDY, "03/04/2026", datetime(2026, 3, 4, tzinfo=UTC)),
        (DateOrder.DMY, "3.4.26 14:05", datetime(2026, 4, 3, 14, 5, tzinfo=UTC)),
        (DateOrder.MDY, "4/3/2026 2:30 PM", datetime(2026, 4, 3, 14, 30, tzinfo=UTC)),
        (DateOrder.MDY, "4/3/2026 12:10 am", datetime(2026, 4, 3, 0, 10, tzinfo=UTC)),
    ],
)
def test_date_format_names_the_order(order: DateOrder, written: str, expected: datetime) -> None:
    assert read_when(written, Reading(date_order=order)) == expected


def test_impossible_dates_and_typo_years() -> None:
    [(_, message)] = problems(create(dueDate="2026-02-30"))
    assert message.startswith("is not a date; write it as 2026-04-03")
    dmy = check(
        LemlistCreate,
        {"recordId": LEAD, "type": "phone", "assignedTo": USER, "dueDate": "31/02/2026"},
        reading=Reading(date_order=DateOrder.DMY),
    )
    assert problems(dmy) == [
        ("dueDate", "is not a real date (day is out of range for month) when read as DMY")
    ]
    assert problems(create(dueDate="0226-04-03")) == [
        ("dueDate", "is in the year 226, which looks like a typo")
    ]


def test_dates_are_sent_as_utc_with_milliseconds() -> None:
    from bulk_tasks.vendors.base import utc_iso

    when = read_when("2026-04-03T14:30:05.123456+02:00", UTC_READING)
    assert utc_iso(when) == "2026-04-03T12:30:05.123Z"


# --- media ---------------------------------------------------------------------------------

PNG = "https://cdn.example.com/a.png"


def test_media_lists_split_on_commas_semicolons_and_newlines() -> None:
    spec = create(
        type="linkedin",
        images=f"{PNG}, https://cdn.example.com/b.JPG;\nhttps://cdn.example.com/c",
        videos="https://cdn.example.com/v.mov",
    )
    assert isinstance(spec, LemlistCreate)
    assert spec.images == (PNG, "https://cdn.example.com/b.JPG", "https://cdn.example.com/c")
    assert spec.videos == ("https://cdn.example.com/v.mov",)


def test_media_only_on_linkedin_tasks() -> None:
    assert problems(create(type="phone", images=PNG)) == [
        (
            "images",
            "can only be attached to linkedin tasks, and this task's type is phone: "
            "remove them or make it a linkedin task",
        )
    ]


def test_media_must_be_https() -> None:
    assert problems(create(type="linkedin", images="http://cdn.example.com/a.png")) == [
        ("images", "is not a public https:// address")
    ]
    two = "https://cdn.example.com/b.png, http://cdn.example.com/a.png"
    assert problems(create(type="linkedin", images=two)) == [
        ("images", 'holds "http://cdn.example.com/a.png", which is not a public https:// address')
    ]


def test_media_extensions_are_checked_when_present() -> None:
    assert problems(create(type="linkedin", videos="https://cdn.example.com/v.avi")) == [
        ("videos", "is a .avi file; videos must be mov, mp4")
    ]
    two = "https://cdn.example.com/a.webp; https://cdn.example.com/b.png"
    assert problems(create(type="linkedin", images=two)) == [
        (
            "images",
            'holds "https://cdn.example.com/a.webp", which is a .webp file; images must be '
            "gif, jpeg, jpg, png",
        )
    ]


def test_at_most_six_media_in_all() -> None:
    four = ",".join(f"https://cdn.example.com/{n}.png" for n in range(4))
    three = ",".join(f"https://cdn.example.com/{n}.mp4" for n in range(3))
    assert problems(create(type="linkedin", images=four, videos=three)) == [
        (
            "images",
            "4 images and 3 videos: lemlist takes at most 6 files per task in all; "
            "keep the 6 that matter",
        )
    ]
    two = ",".join(f"https://cdn.example.com/{n}.mp4" for n in range(2))
    assert isinstance(create(type="linkedin", images=four, videos=two), LemlistCreate)


def test_every_problem_in_a_row_is_reported() -> None:
    fields = [field for field, _ in problems(create(type="call", dueDate="soon", assignedTo=""))]
    assert fields == ["type", "assignedTo", "dueDate"]


# --- update --------------------------------------------------------------------------------


def update(**cells: str) -> Spec | list[Problem]:
    return check(LemlistUpdate, {"id": TASK, **cells}, reading=UTC_READING)


def test_update_sends_only_what_is_filled_in() -> None:
    spec = update(title="New title")
    assert isinstance(spec, LemlistUpdate)
    assert spec.model_fields_set == {"id", "title"}


@pytest.mark.parametrize(
    ("written", "done"),
    [
        ("true", True),
        ("Yes", True),
        ("1", True),
        ("x", True),
        ("X", True),
        ("false", False),
        ("no", False),
        ("0", False),
    ],
)
def test_done_words(written: str, done: bool) -> None:
    spec = update(done=written)
    assert isinstance(spec, LemlistUpdate)
    assert spec.done is done


def test_done_rejects_other_words() -> None:
    assert problems(update(done="maybe")) == [
        ("done", "is not yes or no; write true/false, yes/no, 1/0, or x for done")
    ]


def test_an_update_with_nothing_to_change_is_invalid() -> None:
    assert problems(update()) == [
        (
            "nothing_to_change",
            "nothing to change: every field besides id is blank (a blank cell means "
            "'leave unchanged'); fill in what should change",
        )
    ]


def test_update_id_must_be_a_task_id() -> None:
    [(field, message)] = problems(update(id=LEAD, title="x"))
    assert field == "id"
    assert message.startswith("is not a lemlist task id (a lead's lea_ or a contact's ctc_ id")


def test_update_media_count_is_checked_too() -> None:
    seven = ",".join(f"https://cdn.example.com/{n}.png" for n in range(7))
    assert [field for field, _ in problems(update(images=seven))] == ["images"]
