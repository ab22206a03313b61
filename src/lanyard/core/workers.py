"""Where the per-identity crypto runs: worker processes for bulk slices, threads for the rest.

PyNaCl releases the GIL inside libsodium, so threads do use every core; but each call is
short (17-82 µs on the machines measured) and the GIL changes hands around every one of
them. Measured on 2 cores, blinding on two threads cost 1.22 times the CPU per identity of one
thread, and the thread that parses the file or serves gRPC meanwhile waits its turn for
the GIL. Worker processes have a GIL each: two of them blinded at the single-thread cost.

A hop to a process (pickling a slice, a pipe each way) costs a fraction of a millisecond,
so only bulk work goes there: slices of batches of at least `PROCESS_MIN_ITEMS` points
(a screening batch, an Evaluate of one). A registration check's one or two points, and
the small batches that checks share, stay on threads, as does any work that cannot be
pickled (`run_chunked` asks for processes explicitly).

Workers are started by the `forkserver` method, never `fork`: the parent runs gRPC and
SQLite threads whose locks a forked child could inherit held. The forkserver imports the
crypto modules once, so each worker starts warm. Every worker is started as the pool is
made, with the program's main module hidden from multiprocessing: it would otherwise run
that module again in the forkserver or each worker (for `lanyard`, the CLI with typer,
rich and gRPC: ~0.25 s of CPU per screen), and the work sent here is only module-level
functions of lanyard.core, never the main module's. Workers ignore SIGINT: Ctrl-C on a
terminal reaches the whole process group, and only the parent decides what it means
(stop after the last committed batch, shut the pool down); a parent killed outright
takes its workers with it (each watches it). A pool whose worker died (killed, out of
memory) fails the work it held and is replaced on next use.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["PRELOAD", "PROCESS_MIN_ITEMS", "Workers", "processes_available"]

P = ParamSpec("P")
T = TypeVar("T")

# Above the largest batch registration checks share (the agent coalesces up to 256
# points per call): a check never waits on a process hop. Screening sends 1,000 points.
PROCESS_MIN_ITEMS = 300
# What the forkserver imports once, so that a worker it forks starts with them loaded.
PRELOAD = ["lanyard.core.screen", "lanyard.core.proof"]
_START_METHOD = "forkserver"
PARENT_POLL_SECONDS = 1.0  # where the parent cannot be watched by a pidfd


def processes_available() -> bool:
    """Whether this platform can start workers the safe way (forkserver: Unix)."""
    return _START_METHOD in multiprocessing.get_all_start_methods()


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """Show multiprocessing a bare __main__ while workers start (see the module doc)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


def _serve_for(parent: int) -> None:
    """A worker's set-up: ignore Ctrl-C (the parent decides what it means), and exit when
    the process that made the pool is gone. A parent killed outright (SIGTERM's default,
    SIGKILL, out of memory) runs no shutdown, and its workers, which keep the pool's pipes
    open, would otherwise wait for work for ever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(parent,), name="parent-watch", daemon=True).start()


def _exit_with(parent: int) -> None:
    try:
        # Linux: a descriptor that becomes readable when the process ends, no polling.
        fd = os.pidfd_open(parent)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
    else:
        while _alive(parent):
            time.sleep(PARENT_POLL_SECONDS)
    os._exit(0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ready() -> int:
    return os.getpid()


class Workers(Executor):
    """A thread pool, and a process pool started on first bulk use.

    As an Executor it runs everything on its threads; `for_items(n, picklable=True)`
    says where n items of picklable work should go. `processes=0` (or a platform without
    forkserver) keeps everything on threads."""

    def __init__(self, name: str, threads: int | None = None, processes: int | None = None):
        cores = os.cpu_count() or 1
        self.threads = ThreadPoolExecutor(max_workers=threads or cores, thread_name_prefix=name)
        wanted = cores if processes is None else processes
        self._process_count = wanted if processes_available() else 0
        self._processes: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def process_count(self) -> int:
        """How many worker processes bulk work may use (0: threads only)."""
        return self._process_count

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        return self.threads.submit(fn, *args, **kwargs)

    def for_items(self, count: int, picklable: bool) -> Executor:
        """The executor for `count` items of work: the process pool for bulk picklable
        work (a module-level function, or a partial of one, over picklable data), else
        the threads."""
        if not picklable or count < PROCESS_MIN_ITEMS or self._process_count == 0:
            return self.threads
        return self._pool()

    def warm(self) -> None:
        """Start the worker processes now (they start on first bulk use otherwise), so
        that their start-up overlaps other work, e.g. reading a file before its first
        batch. Returns at once; a platform without processes does nothing."""
        if self._process_count:
            self._pool()

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            if self._processes is None:
                context = multiprocessing.get_context(_START_METHOD)
                context.set_forkserver_preload(PRELOAD)
                pool = ProcessPoolExecutor(
                    self._process_count,
                    mp_context=context,
                    initializer=_serve_for,
                    initargs=(os.getpid(),),
                )
                with _main_hidden():
                    # One task per worker: each finds no idle worker, so all start now.
                    for _ in range(self._process_count):
                        pool.submit(_ready)
                self._processes = pool
            return self._processes

    def replace_broken(self, pool: Executor) -> None:
        """Drop `pool` if it is the process pool in use (a worker of it died): the next
        bulk work starts a fresh one."""
        with self._lock:
            if pool is not self._processes:
                return
            self._processes = None
        pool.shutdown(wait=False, cancel_futures=True)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop both pools; work not started is dropped when `cancel_futures`."""
        with self._lock:
            self._closed = True
            processes, self._processes = self._processes, None
        if processes is not None:
            processes.shutdown(wait=wait, cancel_futures=cancel_futures)
        self.threads.shutdown(wait=wait, cancel_futures=cancel_futures)
