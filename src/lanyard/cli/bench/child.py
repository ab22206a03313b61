"""Child processes a benchmark measures as a whole: wall time from exec to exit, and the
peak resident memory of the child's own address space.

Used where a figure must be a process's own (the registry's memory apart from its
clients'; a one-shot command's start-up included) rather than the benchmark's. A
process's figures include its descendants': the crypto worker processes `lanyard screen`
and `registry serve` start (core/workers.py) do part of their work.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lanyard.cli.output import CliError

MB = 1_000_000
POLL_SECONDS = 0.05
START_TIMEOUT_S = 120.0


def high_water_bytes(pid: int) -> int | None:
    """VmHWM of a live process: the peak RSS of its own address space, never shrinking.

    Not wait4's ru_maxrss: Linux carries the parent's high-water mark into a child across
    vfork and exec, so every child would report at least this process's peak."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # exited (and perhaps already reaped) between polls
        return None
    return None  # a zombie's status has no Vm lines


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children(pid: int) -> list[int]:
    """Direct children of a live process (Linux's /proc/PID/task/*/children)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                found.extend(int(p) for p in fh.read().split())
        except (OSError, ValueError):
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """`pid` and every live descendant of it (Linux; just [pid] elsewhere)."""
    tree, queue = [], [pid]
    while queue:
        current = queue.pop()
        tree.append(current)
        queue.extend(_children(current))
    return tree


def cpu_seconds(pid: int) -> float | None:
    """User and system CPU seconds of a live process itself (/proc/PID/stat), else None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid` and its live descendants, each its own (not its reaped
    children's: a worker that exited is counted by whoever last saw it, see TreeWatch)."""
    return sum(cpu_seconds(p) or 0.0 for p in process_tree(pid))


class TreeWatch:
    """The last CPU time and memory high-water mark seen of every process in a tree,
    polled: figures of a process and the workers it starts and stops (up to one poll's
    worth of a process's last CPU is missed)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._cpu: dict[int, float] = {}
        self._peak: dict[int, int] = {}

    def poll(self) -> None:
        for p in process_tree(self.pid):
            cpu, peak = cpu_seconds(p), high_water_bytes(p)
            if cpu is not None:
                self._cpu[p] = cpu
            if peak is not None:
                self._peak[p] = peak

    @property
    def cpu_seconds(self) -> float:
        return sum(self._cpu.values())

    @property
    def root_cpu_seconds(self) -> float:
        """The watched process's own CPU seconds, without its workers'."""
        return self._cpu.get(self.pid, 0.0)

    @property
    def peak_bytes(self) -> int:
        """The sum of every process's own peak RSS: an upper bound of the tree's peak
        (pages a worker shares with its forkserver count twice)."""
        return sum(self._peak.values())


def require_proc() -> None:
    """Raise CliError where peak memory cannot be read (not Linux)."""
    if high_water_bytes(os.getpid()) is None:
        raise CliError("peak memory is read from /proc/PID/status (Linux); use a Linux machine")


def _tail(path: Path, lines: int = 3) -> str:
    return " / ".join(path.read_text("utf-8", errors="replace").strip().splitlines()[-lines:])


def _endpoint(path: Path) -> str:
    """The address in a complete (newline-terminated) endpoint file, else ""."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    return text.strip() if text.endswith("\n") else ""


def lanyard_argv(*args: str) -> list[str]:
    """The command line of `lanyard ARGS…` run by this interpreter."""
    return [sys.executable, "-m", "lanyard.cli.main", *args]


@dataclass(frozen=True, slots=True)
class Finished:
    returncode: int
    seconds: float  # exec to exit, start-up included
    peak_mb: float  # the child's and its worker processes' (TreeWatch.peak_bytes)
    stdout: str
    stderr_tail: str
    cpu_seconds: float = 0.0  # the child's and its worker processes'
    root_cpu_seconds: float = 0.0  # the child's own


async def run_measured(argv: Sequence[str], workdir: Path, label: str) -> Finished:
    """Run `argv` to its end, polling its process tree's CPU time and VmHWM; stdout and
    stderr go to files in `workdir` named after `label`."""
    out, err = workdir / f"{label}.out", workdir / f"{label}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )
        watch = TreeWatch(proc.pid)
        exited = asyncio.ensure_future(proc.wait())
        try:
            while not exited.done():
                watch.poll()
                await asyncio.wait({exited}, timeout=POLL_SECONDS)
        finally:
            if not exited.done():
                proc.kill()
                await exited
        seconds = time.perf_counter() - started
    text = await asyncio.to_thread(out.read_bytes)
    return Finished(
        proc.returncode or 0,
        seconds,
        watch.peak_bytes / MB,
        text.decode("utf-8", "replace"),
        _tail(err),
        watch.cpu_seconds,
        watch.root_cpu_seconds,
    )


@dataclass
class Served:
    """A `serve` child process: its address, and its peak memory so far."""

    pid: int
    address: str

    def peak_mb(self) -> float:
        """Its own peak RSS and its live worker processes' (an upper bound)."""
        return sum(high_water_bytes(p) or 0 for p in process_tree(self.pid)) / MB


@contextlib.asynccontextmanager
async def serving(argv: Sequence[str], endpoint_file: Path, log: Path) -> AsyncIterator[Served]:
    """Start a `serve` child, wait until it has written `endpoint_file` (its bound
    address, newline-terminated), yield it, then stop it with SIGTERM."""
    await asyncio.to_thread(endpoint_file.unlink, missing_ok=True)
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=sink
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            address = ""
            while not address:
                if proc.returncode is not None or time.monotonic() > deadline:
                    raise CliError(f"`{' '.join(argv[3:5])}` did not start: {_tail(log)}")
                address = _endpoint(endpoint_file)
                if not address:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(proc.wait(), POLL_SECONDS)
            yield Served(proc.pid, address)
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
