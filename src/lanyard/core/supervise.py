"""Supervised background tasks: none of them can die silently.

Each long-lived task of a service (snapshot follower, key-rotation catch-up, retention
sweep, outbox drain, record expiry) runs under a Supervisor. When one raises, the error
is logged at error level with its cause, the task is marked failing, the service's gRPC
health turns NOT_SERVING, and the task starts again after a pause that doubles from
`first_retry` up to `max_retry` seconds. It is healthy again once it reports progress
(`healthy(name)`) or, for a periodic job, completes a round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger("lanyard.tasks")

HealthHook = Callable[[bool], Awaitable[None]]
ChangeHook = Callable[[dict[str, dict[str, object]]], None]


@dataclass
class TaskState:
    """What `agent status` and health show of one task."""

    name: str
    state: str = "starting"  # "starting" | "ok" | "failing" | "stopped"
    failures: int = 0  # consecutive
    last_error: str = ""
    retry_in: float = 0.0  # seconds, while failing
    since: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "failures": self.failures,
            "last_error": self.last_error,
            "retry_in_seconds": round(self.retry_in, 1),
        }


def stop_if_cancelled(exc: BaseException | None = None) -> None:
    """Raise CancelledError if the running task is being cancelled, its cause `exc` when
    that is what the cancellation became on its way up: grpc.aio can turn a cancelled
    call into an AioRpcError with status CANCELLED (RpcFailed once translated), which the
    work may even have handled as a refusal. A loop that goes on until it is cancelled
    would otherwise go on after stop() cancelled it, and stop() would wait for ever: each
    such loop calls this after catching Exception and after each round."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


class Supervisor:
    def __init__(
        self,
        on_health: HealthHook | None = None,
        first_retry: float = 1.0,
        max_retry: float = 60.0,
        on_change: ChangeHook | None = None,
    ) -> None:
        self._on_health = on_health
        self._on_change = on_change
        self._first = first_retry
        self._max = max_retry
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.states: dict[str, TaskState] = {}
        self._serving: bool | None = None
        self.changed = asyncio.Event()  # set on every state change (tests wait on it)

    @property
    def serving(self) -> bool:
        return not any(s.state == "failing" for s in self.states.values())

    def snapshot(self) -> dict[str, dict[str, object]]:
        """Every task's state, by name, as plain data."""
        return {name: state.as_dict() for name, state in self.states.items()}

    async def _publish(self) -> None:
        self.changed.set()
        if self._on_change is not None:
            try:
                self._on_change(self.snapshot())
            except OSError as exc:
                log.warning("task.state_not_written", error=str(exc))
        now = self.serving
        if now != self._serving:
            self._serving = now
            if self._on_health is not None:
                await self._on_health(now)

    async def healthy(self, name: str) -> None:
        """The task `name` made progress: it is no longer failing."""
        state = self.states[name]
        if state.state != "ok":
            if state.state == "failing":
                log.info("task.recovered", task=name, after_failures=state.failures)
            state.state, state.failures, state.retry_in = "ok", 0, 0.0
            state.since = time.monotonic()
            await self._publish()

    async def _failed(self, name: str, exc: BaseException) -> float:
        state = self.states[name]
        state.failures += 1
        pause = float(min(self._first * 2 ** (state.failures - 1), self._max))
        state.state, state.retry_in = "failing", pause
        state.last_error = str(exc) or type(exc).__name__
        state.since = time.monotonic()
        log.error(
            "task.failed",
            task=name,
            cause=type(exc).__name__,
            error=state.last_error,
            failures=state.failures,
            retry_in_seconds=pause,
            exc_info=exc,
        )
        await self._publish()
        return pause

    def run(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        """Keep `body` running: it is meant never to return; if it does, or raises, it
        is started again after the backoff pause."""
        self.states[name] = TaskState(name)

        async def loop() -> None:
            while True:
                try:
                    await body()
                    raise RuntimeError(f"{name} stopped by itself")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    stop_if_cancelled(exc)
                    pause = await self._failed(name, exc)
                await asyncio.sleep(pause)

        self._tasks[name] = asyncio.create_task(loop(), name=name)

    def every(self, name: str, interval: float, job: Callable[[], Awaitable[object]]) -> None:
        """Run `job` now and then every `interval` seconds; a failed round is retried
        after the backoff pause instead of the interval."""
        self.states[name] = TaskState(name)

        async def loop() -> None:
            while True:
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    stop_if_cancelled(exc)
                    await asyncio.sleep(await self._failed(name, exc))
                    continue
                stop_if_cancelled()
                await self.healthy(name)
                await asyncio.sleep(interval)

        self._tasks[name] = asyncio.create_task(loop(), name=name)

    async def _cancel(self, names: list[str]) -> None:
        """Cancel the tasks `names` and wait for them to end; they show as stopped. A
        cancellation of the caller itself goes on (gather raises it)."""
        tasks = [self._tasks.pop(name) for name in names if name in self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for name in names:
            self.states[name].state = "stopped"

    async def stop_task(self, name: str) -> None:
        """Stop the task `name` alone (a part of the service closing before the rest)."""
        if name in self._tasks:
            await self._cancel([name])
            await self._publish()

    async def stop(self) -> None:
        await self._cancel(list(self.states))
        if self._on_change is not None:
            with suppress(OSError):
                self._on_change(self.snapshot())
