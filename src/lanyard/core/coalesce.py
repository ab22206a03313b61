"""Concurrent small requests of the same kind share one call.

A unit of work that costs a fixed price per call (a durable transaction, an
authenticated round trip to the registry, a proof's constant part) and little per item
pays that price once per caller when callers go one call each. Coalesced, the callers
that arrive while one call is in flight wait for it to return and then go together in
the next: a lone caller is sent at once, exactly as before, and under load the calls
shrink by the number of callers waiting. Nothing waits on a timer.

Each caller gets the results of its own items, in its order. A failure of the shared call
is every caller's in it (each gets the same exception), except one that `alone` accepts:
the callers of that call are then sent one call each, so that one caller's trouble (say,
a quota the whole group would exceed) is not everyone's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class _Waiting(Generic[K, T, R]):
    key: K
    items: list[T]
    future: asyncio.Future[list[R]]


def _never(_exc: Exception) -> bool:
    return False


class Coalescer(Generic[K, T, R]):
    """`submit(key, items)` through `send(key, items) -> one result per item`; callers
    waiting at once with equal keys share a call of up to `max_items` items. With
    `distinct`, equal items (hashable then) go once per call and each caller gets the
    result of its own copy. A caller cancelled while waiting is left out of its call."""

    def __init__(
        self,
        send: Callable[[K, list[T]], Awaitable[list[R]]],
        max_items: int,
        distinct: bool = False,
        alone: Callable[[Exception], bool] = _never,
    ) -> None:
        self._send = send
        self._max = max(1, max_items)
        self._distinct = distinct
        self._alone = alone
        self._waiting: list[_Waiting[K, T, R]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, key: K, items: Sequence[T]) -> list[R]:
        future: asyncio.Future[list[R]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(key, list(items), future))
        if self._drainer is None:
            self._drainer = asyncio.create_task(self._drain())
        return await future

    def _size(self, items: list[T], seen: set[object]) -> int:
        return len(seen.union(items)) if self._distinct else len(seen) + len(items)

    def _take(self) -> list[_Waiting[K, T, R]]:
        """The next call's callers: the oldest live caller's key, up to `max_items`."""
        live = [w for w in self._waiting if not w.future.done()]
        group: list[_Waiting[K, T, R]] = []
        count = 0
        seen: set[object] = set()
        for w in live:
            if group and (w.key != group[0].key or count + len(w.items) > self._max):
                continue
            if self._distinct:
                seen.update(w.items)
                count = len(seen)
            else:
                count += len(w.items)
            group.append(w)
        taken = {id(w) for w in group}
        self._waiting = [w for w in live if id(w) not in taken]
        return group

    async def _drain(self) -> None:
        group: list[_Waiting[K, T, R]] = []
        try:
            while group := self._take():
                await self._answer(group)
        except BaseException:
            for w in group + self._waiting:
                w.future.cancel()
            self._waiting = []
            raise
        finally:
            self._drainer = None

    async def _answer(self, group: list[_Waiting[K, T, R]]) -> None:
        items = [i for w in group for i in w.items]
        if self._distinct:
            items = list(dict.fromkeys(items))
        try:
            results = await self._send(group[0].key, items)
            if len(results) != len(items):
                raise ValueError(f"{len(results)} results for {len(items)} items")
            if self._distinct:
                by_item = dict(zip(items, results, strict=True))
                answers = [[by_item[i] for i in w.items] for w in group]
            else:
                answers, at = [], 0
                for w in group:
                    answers.append(results[at : at + len(w.items)])
                    at += len(w.items)
        except Exception as exc:
            if len(group) > 1 and self._alone(exc):
                for w in group:
                    await self._answer([w])
                return
            for w in group:
                if not w.future.done():
                    w.future.set_exception(exc)
            return
        for w, answer in zip(group, answers, strict=True):
            if not w.future.done():
                w.future.set_result(answer)
