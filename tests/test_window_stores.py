"""The window's stores: in this process, in the machine's SQLite file, in Redis.

The in-process and SQLite stores run on a clock the tests move; Redis keeps its own time
(``TIME``), so its tests use real time with short holds and wide margins.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bulk_tasks.sandbox import max_in_window
from bulk_tasks.sending.sharing import ShareUnavailable, open_windows, window_id
from bulk_tasks.sending.sharing.redis_store import RedisWindows, shown
from bulk_tasks.sending.sharing.sqlite_store import SQLiteWindows
from bulk_tasks.sending.window import ArrivalWindow, MemoryStore, Rate, WindowStore, foreign_ends

IN_FLIGHT = 10.0  # how long a slot with no answer is held (answer timeout + period)
ANSWERED = 2.0  # how long after its answer a slot is held (the period)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "sqlite"])
def stores(
    request: pytest.FixtureRequest, tmp_path: Path, clock: Clock
) -> Iterator[list[WindowStore]]:
    """Two holders of one window: the same store twice in memory; two processes' opens of
    the windows file for SQLite."""
    if request.param == "memory":
        store = MemoryStore(clock=clock)
        yield [store, store]
        return
    files = [SQLiteWindows(tmp_path / "windows.sqlite3", clock=clock) for _ in range(2)]
    yield [file.store("w") for file in files]
    for file in files:
        file.close()


async def take(store: WindowStore, name: str, limit: int = 2) -> float:
    wait, _ = await store.take(name, limit=limit, hold=IN_FLIGHT)
    return wait


async def test_a_full_window_waits_for_its_first_slot_to_end(
    stores: list[WindowStore], clock: Clock
) -> None:
    store = stores[0]
    assert await take(store, "a") == 0.0
    clock.now += 1
    assert await take(store, "b") == 0.0
    clock.now += 1
    assert await take(store, "c") == pytest.approx(IN_FLIGHT - 2)  # "a" ends first
    await store.release("a", hold=ANSWERED, foreign=0)
    assert await take(store, "c") == pytest.approx(ANSWERED)  # now "a" ends 2 s from now
    clock.now += ANSWERED
    assert await take(store, "c") == 0.0


async def test_the_slots_of_a_holder_that_died_end_on_their_own(
    stores: list[WindowStore], clock: Clock
) -> None:
    dead, alive = stores
    assert await take(dead, "a") == 0.0
    assert await take(dead, "b") == 0.0  # and it never answers
    clock.now += 4
    assert await take(alive, "c") == pytest.approx(IN_FLIGHT - 4)
    clock.now += IN_FLIGHT - 4
    assert await take(alive, "c") == 0.0


async def test_a_pause_holds_every_holder(stores: list[WindowStore], clock: Clock) -> None:
    await stores[0].pause(3.0)
    await stores[0].pause(1.0)  # a shorter pause does not cut a longer one short
    clock.now += 1
    assert await take(stores[1], "a", limit=100) == pytest.approx(2.0)
    clock.now += 2
    assert await take(stores[1], "a", limit=100) == 0.0


async def test_another_tools_requests_count_until_two_periods_after_they_were_seen(
    stores: list[WindowStore], clock: Clock
) -> None:
    store = stores[0]
    assert await take(store, "a", limit=20) == 0.0
    await store.release("a", hold=ANSWERED, foreign=6)  # its answer showed 6 of another's
    await asyncio.sleep(0.05)  # other processes see what a release says within 20 ms
    taken = [await take(stores[1], f"b{n}", limit=20) for n in range(14)]
    assert taken == [0.0] * 13 + [pytest.approx(ANSWERED)]  # when "a" ends
    clock.now += ANSWERED
    assert await take(stores[1], "c", limit=20) == 0.0
    assert await take(stores[1], "d", limit=20) == pytest.approx(ANSWERED)  # the 6 go on
    # seen again: 8 now, kept two periods from now
    await stores[1].release("c", hold=ANSWERED, foreign=8)
    await asyncio.sleep(0.05)
    clock.now += 2 * ANSWERED - 0.1
    # 13 "b"s in flight, and the other tool's 8 until 2 periods after they were seen
    assert await take(store, "d", limit=14) == pytest.approx(0.1)
    clock.now += 0.1
    assert await take(store, "d", limit=14) == 0.0


async def test_a_take_says_how_many_slots_were_counted(
    stores: list[WindowStore], clock: Clock
) -> None:
    assert await stores[0].take("a", limit=5, hold=IN_FLIGHT) == (0.0, 1)
    await stores[0].release("a", hold=ANSWERED, foreign=3)
    await asyncio.sleep(0.05)
    assert await stores[1].take("b", limit=5, hold=IN_FLIGHT) == (0.0, 2)  # not the other's
    assert await stores[1].take("c", limit=5, hold=IN_FLIGHT) == (pytest.approx(ANSWERED), 2)


async def test_the_window_tells_another_tools_requests_from_its_own(clock: Clock) -> None:
    store = MemoryStore(clock=clock)
    window = ArrivalWindow(Rate(9, 60.0), store=store, clock=clock)
    async with window.slot() as first:
        async with window.slot() as second:
            # sent together, the second arrived first and was answered first: the server
            # counted it and 6 of another tool's; when the first arrived, both and the 6
            second.server_used = 7
        clock.now += 0.01
        first.server_used = 8
    assert await store.take("x", limit=9, hold=1.0) == (0.0, 3)  # 2, 6 of the other, and x
    assert (await store.take("y", limit=9, hold=1.0))[0] > 0


async def test_our_request_the_server_no_longer_counts_is_not_taken_for_ours(
    clock: Clock,
) -> None:
    # A slot is held a period (and a margin) after its answer, the server counts a request
    # a period after it arrived: right after the window frees, the slots still held are no
    # guide to what the server counts, and another tool's requests must not read as ours
    store = MemoryStore(clock=clock)
    window = ArrivalWindow(Rate(4, 2.0), store=store, clock=clock)
    async with window.slot() as early:
        early.server_used = 1
    clock.now += 2.005  # its slot is held until 2.01 s after its answer; the server is done
    async with window.slot() as late:
        late.server_used = 3  # the late one, and 2 of another tool's that came meanwhile
    # the early and late slots, and the other tool's 2: the window of 4 is full
    wait, counted = await store.take("x", limit=4, hold=IN_FLIGHT)
    assert (wait, counted) == (pytest.approx(0.005), 2)  # until the early slot ends


async def test_ours_that_arrived_while_the_server_answered_are_not_taken_for_another_tools(
    clock: Clock,
) -> None:
    # A server that counts as it answers counts ours that arrived while it was busy
    store = MemoryStore(clock=clock)
    window = ArrivalWindow(Rate(4, 2.0), store=store, clock=clock)
    slow = window.slot()
    first = await slow.__aenter__()
    clock.now += 0.05
    async with window.slot() as second:  # sent after the first, answered before it
        clock.now += 0.05
        second.server_used = 2  # both, at its answer
    clock.now += 0.05
    first.server_used = 2  # both, at its answer
    await slow.__aexit__(None, None, None)
    # the 2 slots, and none of another tool's: the window of 4 has room for 2 more
    assert await store.take("x", limit=4, hold=IN_FLIGHT) == (0.0, 3)
    assert await store.take("y", limit=4, hold=IN_FLIGHT) == (0.0, 4)


async def test_ours_answered_a_period_before_the_answer_may_still_be_counted(
    clock: Clock,
) -> None:
    # A server that counts as requests arrive counts ours of a period before the arrival,
    # which may be more than a period before the answer
    store = MemoryStore(clock=clock)
    window = ArrivalWindow(Rate(3, 2.0), store=store, clock=clock)
    async with window.slot() as early:
        clock.now += 0.1
        early.server_used = 1
    clock.now += 1.95  # the late one is sent 1.95 s after the early one's answer
    async with window.slot() as late:
        clock.now += 0.1  # it arrived early on, within 2 s of the early one's arrival
        late.server_used = 2
    clock.now += 0.01  # the early slot has ended: only the late one is held
    assert await store.take("x", limit=3, hold=IN_FLIGHT) == (0.0, 2)
    assert await store.take("y", limit=3, hold=IN_FLIGHT) == (0.0, 3)


async def test_the_windows_of_one_process_never_share_a_slot_name(clock: Clock) -> None:
    # a process runs several runs one after another (run-folder, the tests), each with its
    # windows, while the slots of the runs before are still held in the machine's store
    store = MemoryStore(clock=clock)
    for _ in range(20):
        window = ArrivalWindow(Rate(100, 2.0), store=store, clock=clock)
        async with window.slot():
            pass
        del window
        gc.collect()  # the next window may be made where this one was
    assert await store.take("another", limit=1000, hold=1.0) == (0.0, 21)


def test_another_tools_count_is_kept_whole_until_it_is_not_seen() -> None:
    ends = foreign_ends([], now=0, seen=3, until=4)
    assert ends == [4, 4, 4]
    assert foreign_ends(ends, now=1, seen=2, until=5) == [4, 5, 5]
    assert foreign_ends(ends, now=1, seen=5, until=5) == [5, 5, 5, 5, 5]
    assert foreign_ends([2, 3, 9], now=2.5, seen=1, until=5) == [3, 9]  # 9 is later already


async def test_holders_of_one_window_count_each_others_slots(tmp_path: Path, clock: Clock) -> None:
    first, second = (SQLiteWindows(tmp_path / "w.sqlite3", clock=clock) for _ in range(2))
    one, other, elsewhere = first.store("w"), second.store("w"), second.store("another key")
    assert await take(one, "a") == 0.0
    assert await take(other, "b") == 0.0
    assert await take(one, "c") > 0  # full, across the two processes
    assert await take(elsewhere, "d") == 0.0  # another key's window is another count
    await one.release("a", hold=ANSWERED, foreign=0)
    first.close()  # publishes that "a" now ends 2 s from now
    assert await take(other, "c") == pytest.approx(ANSWERED)
    second.close()


async def test_a_holder_written_before_the_machine_restarted_is_not_obeyed(
    tmp_path: Path,
) -> None:
    ahead, now = Clock(), Clock()
    ahead.now += 3600  # an hour after the last boot; the machine restarted, its clock too
    before = SQLiteWindows(tmp_path / "w.sqlite3", clock=ahead)
    after = SQLiteWindows(tmp_path / "w.sqlite3", clock=now)
    assert await take(before.store("w"), "a") == 0.0
    assert await take(before.store("w"), "b") == 0.0
    await before.store("w").pause(60)
    assert await take(after.store("w"), "c") == 0.0
    before.close()
    after.close()


async def test_a_window_far_from_full_takes_only_the_slots_its_requests_need(
    tmp_path: Path, clock: Clock
) -> None:
    files = [SQLiteWindows(tmp_path / "w.sqlite3", clock=clock) for _ in range(2)]
    one, other = (file.store("w") for file in files)
    assert await one.take("a", limit=100, hold=IN_FLIGHT) == (0.0, 1)
    # the other process counts the one slot taken, and nothing more
    assert await other.take("x", limit=100, hold=IN_FLIGHT) == (0.0, 2)
    assert [await one.take(f"b{n}", limit=100, hold=IN_FLIGHT) for n in range(8)] == [
        (0.0, n + 3) for n in range(8)
    ]  # each take reads the file again: the other process's slot counted every time
    assert await other.take("y", limit=11, hold=IN_FLIGHT) == (0.0, 11)
    assert (await other.take("z", limit=11, hold=IN_FLIGHT))[0] > 0  # 9 there, 2 here
    for file in files:
        file.close()


def test_a_window_is_named_by_a_hash_never_the_key() -> None:
    name = window_id("lemlist", "https://api.lemlist.com", "secret-key-123")
    assert len(name) == 64
    assert "secret" not in name
    assert name != window_id("lemlist", "http://127.0.0.1:8080", "secret-key-123")
    assert name != window_id("lemlist", "https://api.lemlist.com", "secret-key-124")


# --- the window over a shared store, in real time ----------------------------------------------


async def arrivals_through(windows: list[ArrivalWindow], *, rows: int) -> list[float]:
    """Requests through several windows of one key (as several processes would), to a
    'server' whose requests take 0-60 ms to arrive and are answered 0-40 ms later."""
    loop = asyncio.get_running_loop()
    chance = random.Random(7)
    arrivals: list[float] = []

    async def one(window: ArrivalWindow) -> None:
        async with window.slot():
            await asyncio.sleep(chance.uniform(0, 0.06))
            arrivals.append(loop.time())
            await asyncio.sleep(chance.uniform(0, 0.04))

    await asyncio.gather(*(one(windows[n % len(windows)]) for n in range(rows)))
    return arrivals


async def test_windows_sharing_a_file_keep_arrivals_under_the_limit(tmp_path: Path) -> None:
    rate = Rate(5, 0.3)
    files = [SQLiteWindows(tmp_path / "w.sqlite3") for _ in range(3)]
    windows = [ArrivalWindow(rate, store=file.store("w"), answer_timeout=5.0) for file in files]
    arrivals = await arrivals_through(windows, rows=30)
    for file in files:
        file.close()
    assert len(arrivals) == 30
    assert max_in_window(arrivals, rate.period) <= rate.limit
    # and the shared window is used: 30 requests, 5 per 0.3 s after answers, in well under 6 s
    assert max(arrivals) - min(arrivals) < 4.0


# --- Redis ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def redis_windows(url: str, count: int) -> AsyncIterator[list[RedisWindows]]:
    opened = [RedisWindows(url) for _ in range(count)]
    try:
        yield opened
    finally:
        for windows in opened:
            await windows.aclose()


async def test_redis_windows_keep_arrivals_under_the_limit(redis_url: str) -> None:
    rate = Rate(5, 0.3)
    async with redis_windows(redis_url, 3) as opened:
        windows = [
            ArrivalWindow(rate, store=each.store("w"), answer_timeout=5.0) for each in opened
        ]
        arrivals = await arrivals_through(windows, rows=30)
    assert len(arrivals) == 30
    assert max_in_window(arrivals, rate.period) <= rate.limit
    assert max(arrivals) - min(arrivals) < 4.0


async def test_redis_slots_end_pauses_and_another_tools_requests(redis_url: str) -> None:
    async with redis_windows(redis_url, 2) as (first, second):
        one, other = first.store("w"), second.store("w")
        assert await one.take("a", limit=2, hold=0.6) == (0.0, 1)
        assert await other.take("b", limit=2, hold=0.6) == (0.0, 2)
        wait, counted = await other.take("c", limit=2, hold=0.6)
        assert 0.4 < wait <= 0.6  # "a" ends first: its holder died, or has not answered
        assert counted == 2
        await one.release("a", hold=0.2, foreign=0)
        assert 0.0 < (await other.take("c", limit=2, hold=0.6))[0] <= 0.2
        await asyncio.sleep(0.65)  # "b" was never answered: it ends on its own
        assert (await other.take("c", limit=2, hold=0.6))[0] == 0.0
        await other.release("c", hold=0.3, foreign=4)  # 4 of another tool's, for 0.6 s
        assert await one.take("d", limit=6, hold=0.6) == (0.0, 2)
        wait, counted = await one.take("e", limit=6, hold=0.6)
        assert 0.2 < wait <= 0.3  # "c" ends first
        assert counted == 2
        await one.pause(0.5)
        wait, _ = await other.take("e", limit=100, hold=0.6)
        assert 0.3 < wait <= 0.5
        # nothing is left behind: the keys expire
        for name in ("slots", "foreign", "pause"):
            assert 0 < await first.client.pttl(f"bulk-tasks:{{w}}:{name}") <= 2000


async def test_an_unreachable_redis_is_said_before_anything_is_sent() -> None:
    from conftest import free_port

    url = f"redis://user:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(ShareUnavailable) as raised:
        await open_windows(url)
    said = str(raised.value)
    assert said.startswith(f"--share {shown(url)}: cannot reach Redis")
    assert "hunter2" not in said
    assert "redis://user:***@127.0.0.1" in said
    assert "leave --share out" in said


async def test_an_unwritable_cache_folder_keeps_the_window_in_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("BULK_TASKS_CACHE_DIR", str(blocked / "cache"))
    windows = await open_windows("local")
    assert isinstance(windows.store("w"), MemoryStore)
    assert "cannot keep the rate window in" in caplog.text
    await windows.aclose()


async def test_off_keeps_each_window_in_the_process(own_cache_folder: Path) -> None:
    windows = await open_windows("off")
    assert isinstance(windows.store("w"), MemoryStore)
    await windows.aclose()
    assert list(own_cache_folder.iterdir()) == []  # no file written


async def test_local_keeps_the_windows_in_the_cache_folder(own_cache_folder: Path) -> None:
    windows = await open_windows("local")
    await windows.store("w").take("a", limit=1, hold=1.0)
    await windows.aclose()
    assert [file.name for file in own_cache_folder.iterdir()] == ["rate-windows.sqlite3"]


async def test_a_probing_window_sends_one_alone_until_the_servers_count_is_learned(
    clock: Clock,
) -> None:
    window = ArrivalWindow(Rate(20, 2.0), probes=True, clock=clock)
    first, second, third = window.slot(), window.slot(), window.slot()
    answered = await first.__aenter__()
    waiting = asyncio.ensure_future(second.__aenter__())
    await asyncio.sleep(0.01)
    assert not waiting.done()  # the first answer is not back yet
    answered.server_used = 1
    await first.__aexit__(None, None, None)
    await asyncio.wait_for(waiting, 1.0)  # then it goes
    await asyncio.wait_for(third.__aenter__(), 1.0)  # the rest with it: no other tool seen
    for slot in (second, third):
        await slot.__aexit__(None, None, None)


async def test_a_probing_window_learns_again_once_another_tool_was_seen(clock: Clock) -> None:
    window = ArrivalWindow(Rate(20, 2.0), probes=True, clock=clock)
    async with window.slot() as first:
        first.server_used = 3  # 2 of another tool's
    clock.now += 2.0
    alone, second = window.slot(), window.slot()
    await alone.__aenter__()  # nothing of ours on its way: it goes alone
    waiting = asyncio.ensure_future(second.__aenter__())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await alone.__aexit__(None, None, None)
    await asyncio.wait_for(waiting, 1.0)
    await second.__aexit__(None, None, None)


async def test_a_429_with_room_left_is_no_reason_to_probe(clock: Clock) -> None:
    # a server that refuses with room left (an incident, a fault) says nothing of another tool
    window = ArrivalWindow(Rate(20, 2.0), probes=True, clock=clock)
    async with window.slot() as first:
        first.server_used, first.refused = 1, True
    clock.now += 2.0
    alone, second = window.slot(), window.slot()
    await alone.__aenter__()
    await asyncio.wait_for(second.__aenter__(), 1.0)  # both at once
    for slot in (alone, second):
        await slot.__aexit__(None, None, None)


async def test_a_probing_window_learns_again_after_a_429_with_the_window_full(
    clock: Clock,
) -> None:
    window = ArrivalWindow(Rate(3, 2.0), store=MemoryStore(clock=clock), probes=True, clock=clock)
    async with window.slot() as first:
        first.server_used = 1
    async with contextlib.AsyncExitStack() as both:
        second = await asyncio.wait_for(both.enter_async_context(window.slot()), 1.0)
        third = await asyncio.wait_for(both.enter_async_context(window.slot()), 1.0)
        second.server_used = 2
        third.server_used, third.refused = 3, True  # all three ours, and refused
    clock.now += 2.1  # every slot has ended
    alone, next_one = window.slot(), window.slot()
    await alone.__aenter__()
    waiting = asyncio.ensure_future(next_one.__aenter__())
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await alone.__aexit__(None, None, None)
    await asyncio.wait_for(waiting, 1.0)
    await next_one.__aexit__(None, None, None)


async def test_a_probe_with_no_answer_holds_the_others_a_period_at_most() -> None:
    window = ArrivalWindow(Rate(20, 0.2), probes=True)
    hung, second = window.slot(), window.slot()
    await hung.__aenter__()  # its answer never comes (until the timeout)
    waiting = asyncio.ensure_future(second.__aenter__())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await asyncio.wait_for(waiting, 1.0)  # 0.21 s after it was taken, it goes anyway
    for slot in (second, hung):
        await slot.__aexit__(None, None, None)


#: opens the windows files sys.argv[3:], the n-th at sys.argv[1] + n * sys.argv[2] (monotonic)
OPEN_AT_MOMENTS = """
import sys, time
from pathlib import Path
from bulk_tasks.sending.sharing.sqlite_store import SQLiteWindows
start, step = float(sys.argv[1]), float(sys.argv[2])
for n, path in enumerate(sys.argv[3:]):
    while time.monotonic() < start + n * step:
        pass
    SQLiteWindows(Path(path)).close()  # raises (the process exits 1) if it cannot
"""


def test_runs_that_start_together_on_a_new_windows_file_all_share_it(tmp_path: Path) -> None:
    # Making a file turns WAL on, which asks for the file alone: of several runs starting at
    # the same moment on a new machine, one was refused at once and kept its own window.
    paths = [str(tmp_path / f"{n}" / "rate-windows.sqlite3") for n in range(30)]
    for path in paths:
        Path(path).parent.mkdir()
    start = repr(time.monotonic() + 1.0)  # once every process has started
    command = [sys.executable, "-c", OPEN_AT_MOMENTS, start, "0.05", *paths]
    runs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    said = [run.communicate(timeout=60)[1] for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, said
