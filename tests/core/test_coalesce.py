"""Concurrent small requests share one call: a lone caller goes at once, callers that
arrive while a call is in flight go together in the next, each gets its own results."""

from __future__ import annotations

import asyncio

import pytest

from lanyard.core.coalesce import Coalescer


class Sender:
    """A send() that records its calls; while `hold` is clear, every call waits on it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.started = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self, key: str, items: list[int]) -> list[int]:
        self.calls.append((key, list(items)))
        self.started.set()
        await self.hold.wait()
        if self.fail is not None and len(items) > 1:
            raise self.fail
        return [i * 10 for i in items]


async def test_a_lone_caller_is_sent_at_once() -> None:
    send = Sender()
    c: Coalescer[str, int, int] = Coalescer(send, 100)

    assert await c.submit("e", [1, 2]) == [10, 20]
    assert send.calls == [("e", [1, 2])]


async def _first_in_flight(send: Sender, c: Coalescer[str, int, int]) -> asyncio.Task[list[int]]:
    send.hold.clear()
    first = asyncio.create_task(c.submit("e", [1]))
    await send.started.wait()
    return first


async def test_callers_waiting_for_a_call_share_the_next_one() -> None:
    send = Sender()
    c: Coalescer[str, int, int] = Coalescer(send, 100, distinct=True)
    first = await _first_in_flight(send, c)

    waiting = [asyncio.create_task(c.submit("e", items)) for items in ([2, 3], [3], [4, 2])]
    other_key = asyncio.create_task(c.submit("f", [5]))
    await asyncio.sleep(0)  # one turn of the loop: each task runs to its wait
    send.hold.set()

    assert await first == [10]
    assert [await t for t in waiting] == [[20, 30], [30], [40, 20]]
    assert await other_key == [50]
    # One call for the first, one for the three waiting with key e (3 and 2 once), one for f.
    assert send.calls == [("e", [1]), ("e", [2, 3, 4]), ("f", [5])]


async def test_a_call_holds_at_most_max_items() -> None:
    send = Sender()
    c: Coalescer[str, int, int] = Coalescer(send, 3)
    first = await _first_in_flight(send, c)

    waiting = [asyncio.create_task(c.submit("e", [i, i])) for i in (2, 3, 4)]
    await asyncio.sleep(0)
    send.hold.set()

    await first
    assert [await t for t in waiting] == [[20, 20], [30, 30], [40, 40]]
    assert [len(items) for _, items in send.calls] == [1, 2, 2, 2]


async def test_a_failed_call_fails_every_caller_in_it() -> None:
    send = Sender()
    c: Coalescer[str, int, int] = Coalescer(send, 100)
    first = await _first_in_flight(send, c)
    send.fail = RuntimeError("registry unreachable")

    waiting = [asyncio.create_task(c.submit("e", [i])) for i in (2, 3)]
    await asyncio.sleep(0)
    send.hold.set()

    assert await first == [10]  # its call carried one item: it did not fail
    for task in waiting:
        with pytest.raises(RuntimeError, match="registry unreachable"):
            await task


async def test_a_failure_it_is_told_to_split_goes_one_call_each() -> None:
    send = Sender()
    c: Coalescer[str, int, int] = Coalescer(
        send, 100, alone=lambda exc: isinstance(exc, LookupError)
    )
    first = await _first_in_flight(send, c)
    send.fail = LookupError("quota")

    waiting = [asyncio.create_task(c.submit("e", [i])) for i in (2, 3)]
    await asyncio.sleep(0)
    send.hold.set()

    await first
    assert [await t for t in waiting] == [[20], [30]]
    assert send.calls == [("e", [1]), ("e", [2, 3]), ("e", [2]), ("e", [3])]


async def test_a_caller_cancelled_while_waiting_is_left_out() -> None:
    send = Sender()
    c: Coalescer[str, int, int] = Coalescer(send, 100)
    first = await _first_in_flight(send, c)

    gone = asyncio.create_task(c.submit("e", [2]))
    kept = asyncio.create_task(c.submit("e", [3]))
    await asyncio.sleep(0)
    gone.cancel()
    send.hold.set()

    await first
    assert await kept == [30]
    assert gone.cancelled()
    assert send.calls == [("e", [1]), ("e", [3])]
