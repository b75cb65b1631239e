"""Packing lines into requests: batch boundaries, mixed tasks, per row, waiting, memory."""

from __future__ import annotations

import pytest

from bulk_tasks.rows.cells import Reading
from bulk_tasks.sending.packing import Batch, Packer
from bulk_tasks.vendors.base import Ask, Request, check
from bulk_tasks.vendors.lemlist import LEMLIST
from bulk_tasks.vendors.saleshandy import SALESHANDY, SaleshandyCreate

# A line here is (row, prospect); the packer only needs to know its row.
Line = tuple[int, str]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ask(prospect: str, task: str = "13") -> Ask:
    verdict = check(
        SaleshandyCreate, {"prospectIds": prospect, "taskType": task}, reading=Reading()
    )
    assert isinstance(verdict, SaleshandyCreate)
    [one] = SALESHANDY.asks(verdict)
    return one


def packer(size: int = 100, **options: object) -> Packer[Line]:
    return Packer(SALESHANDY, row_of=lambda line: line[0], size=size, **options)  # type: ignore[arg-type]


def prospects(packed: Batch[Line]) -> list[str]:
    return list(packed.request.body["prospectIds"])


def test_a_batch_goes_out_when_it_holds_100_prospects() -> None:
    pack = packer()
    ready: list[Batch[Line]] = []
    for n in range(250):
        ready += pack.add((2 + n // 10, f"P{n}"), ask(f"P{n}"))
    assert [len(p.lines) for p in ready] == [100, 100]
    assert pack.waiting == 50
    [rest] = pack.drain()
    assert len(rest.lines) == 50
    assert prospects(ready[0]) == [f"P{n}" for n in range(100)]
    assert [line[1] for line in ready[0].lines] == prospects(ready[0])  # lines follow subjects


def test_batch_size_is_honoured() -> None:
    pack = packer(size=3)
    ready = [p for n in range(7) for p in pack.add((2, f"P{n}"), ask(f"P{n}"))]
    assert [len(p.lines) for p in [*ready, *pack.drain()]] == [3, 3, 1]


def test_lines_of_different_tasks_never_share_a_request() -> None:
    pack = packer()
    for n in range(6):
        pack.add((2 + n, f"P{n}"), ask(f"P{n}", task="13" if n % 2 else "3"))
    batches = pack.drain()
    assert sorted(prospects(p) for p in batches) == [["P0", "P2", "P4"], ["P1", "P3", "P5"]]
    assert {p.request.body["taskType"] for p in batches} == {"13", "3"}


def test_a_repeated_prospect_goes_into_another_request() -> None:
    pack = packer()
    for row in (2, 3):  # an identical row, repeated
        for prospect in ("A1", "B2"):
            assert pack.add((row, prospect), ask(prospect)) == []
    batches = pack.drain()
    assert [prospects(p) for p in batches] == [["A1", "B2"], ["A1", "B2"]]
    assert [[line[0] for line in p.lines] for p in batches] == [[2, 2], [3, 3]]


def test_no_pack_sends_one_request_per_row() -> None:
    pack = packer(per_row=True)
    ready: list[Batch[Line]] = []
    for row, names in ((2, ["A1", "B2"]), (3, ["C3"]), (4, ["D4", "E5", "F6"])):
        for name in names:
            ready += pack.add((row, name), ask(name))
    ready += pack.drain()
    assert [prospects(p) for p in ready] == [["A1", "B2"], ["C3"], ["D4", "E5", "F6"]]


def test_no_pack_still_caps_a_long_row_at_the_batch_size() -> None:
    pack = packer(size=100, per_row=True)
    ready = [p for n in range(150) for p in pack.add((2, f"P{n}"), ask(f"P{n}"))]
    assert [len(p.lines) for p in [*ready, *pack.drain()]] == [100, 50]


def test_a_batch_that_waited_goes_out_so_a_slow_stream_is_not_held_back() -> None:
    clock = Clock()
    pack = packer(max_wait=1.0, clock=clock)
    pack.add((2, "A1"), ask("A1"))
    clock.now = 0.6
    pack.add((3, "B2"), ask("B2", task="3"))
    assert pack.due() == []
    clock.now = 1.2
    [first] = pack.due()
    assert prospects(first) == ["A1"]
    clock.now = 1.7
    [second] = pack.due()
    assert prospects(second) == ["B2"]
    assert pack.waiting == 0


def test_memory_is_bounded_the_oldest_batch_goes_first() -> None:
    pack = packer(most_waiting=5)
    ready: list[Batch[Line]] = []
    for n in range(12):  # every line its own task: nothing ever fills up
        ready += pack.add((2 + n, f"P{n}"), ask(f"P{n}", task=str([2, 3, 4, 5, 6, 9][n % 6])))
        assert pack.waiting <= 5
    assert [prospects(p) for p in ready][:2] == [["P0"], ["P1"]]


def test_a_vendor_that_takes_one_line_sends_each_at_once() -> None:
    pack: Packer[Line] = Packer(LEMLIST, row_of=lambda line: line[0], size=1)
    request = Request("POST", "/api/tasks", {"recordId": "lea_x", "type": "phone"})
    [packed] = pack.add((2, ""), Ask(request))
    assert packed.request is request
    assert pack.drain() == []


def test_a_batch_size_beyond_the_vendors_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="saleshandy takes 1 to 100 lines a request"):
        packer(size=101)
