"""`lanyard bench peer`: the same job through OpenMined PSI and through Lanyard.

The job: a server set of `server` identifiers (normalised e-mail addresses), a client set
of `client`, the first `overlap` of which are also the server's. Lanyard runs it as an
organiser and a WG would: the WG imports the server set as one-identifier records
(`AdminClient.add_record_batches`, as `lanyard registry record import` does) into a
registry on loopback, and `lanyard screen` screens a one-column export of the client set
in a child process. OpenMined PSI runs it in psi_driver.py, in a separate process with its
own interpreter: server setup, client request, server response, client intersection.

Why PSI lives in a venv of its own: openmined.psi 2.0.6 pins protobuf==6.30.2 exactly and
Lanyard pins protobuf 7, so the two cannot be installed side by side, and a `peer` extra
of Lanyard's could never be resolved. The first run builds that venv under the user's
cache directory (`python -m venv`, then pip installs PSI_REQUIREMENT: it needs a package
index), later runs reuse it; `--psi-python` names an interpreter that already has PSI.

Figures, each Lanyard / PSI (above 1: Lanyard is slower), best of `rounds`:

* CPU used: every Lanyard process's CPU seconds for the job (the registry and the import
  in this process, `lanyard screen` in its child) against the PSI driver process's;
* crypto, one core: Lanyard's crypto floor for the job (floors.py: per identifier, the
  agent's and the registry's spec operations with their §3a proof shares, for the server
  set's records and the client set's screening alike) against PSI's CPU seconds for its
  four steps (PSI runs them on one thread);
* whole processes: record import plus the `lanyard screen` process (start-up, snapshot
  download and screening included; agent and registry share this machine's cores) against
  PSI's whole driver process, interpreter start-up included;
* building the server side: the record import against PSI's server setup.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lanyard.cli.bench import psi_driver
from lanyard.cli.bench.agent_phases import Bench, quota
from lanyard.cli.bench.child import cpu_seconds, lanyard_argv, process_tree, run_measured
from lanyard.cli.bench.floors import agent_floor_seconds, bytecode_note, proof_floor_seconds
from lanyard.cli.bench.floors import registry_floor_seconds as reg_floor_seconds
from lanyard.cli.output import CliError, console, table
from lanyard.client.admin import AdminClient, Identifier, NewRecord
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind
from lanyard.core.workers import Workers
from lanyard.registry import server

PSI_VERSION = "2.0.6"
PSI_REQUIREMENT = f"openmined.psi=={PSI_VERSION}"
PSI_MODULE = "private_set_intersection.python"
IMPORT_BATCH = 500  # `lanyard registry record import`'s default --batch-size
SCREEN_BATCH = 1000  # points per Evaluate when screening
PROBE_TIMEOUT_S = 120
INSTALL_TIMEOUT_S = 900
RUN_TIMEOUT_S = 1800


def default_venv() -> Path:
    """Where the first run builds PSI's venv: the user's cache directory."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "lanyard" / f"bench-peer-openmined-psi-{PSI_VERSION}"


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def psi_version(python: Path) -> str | None:
    """The PSI version `python` imports, or None if it cannot import PSI at all."""
    try:
        done = subprocess.run(
            [str(python), "-c", f"import {PSI_MODULE} as p; print(p.__version__)"],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _last_line(text: str | bytes | None) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1].rstrip(".") if lines else "no message"


def ensure_psi(python: Path | None, venv: Path) -> Path:
    """An interpreter that imports OpenMined PSI PSI_VERSION: `python` if given (checked,
    never installed into), else `venv`'s, built and installed into on first use.

    Raises CliError (one sentence) if the given interpreter lacks PSI or the venv cannot
    be built (no network, no package index, no venv module)."""
    if python is not None:
        found = psi_version(python)
        if found != PSI_VERSION:
            has = "cannot import" if found is None else f"has version {found} of"
            raise CliError(
                f"{python} {has} OpenMined PSI ({PSI_MODULE}); give --psi-python an "
                f"interpreter with {PSI_REQUIREMENT}, or leave it out to build a venv for it"
            )
        return python
    built = _venv_python(venv)
    if built.exists() and psi_version(built) == PSI_VERSION:
        return built
    steps = (
        [sys.executable, "-m", "venv", str(venv)],
        [str(built), "-m", "pip", "install", "-q", "--disable-pip-version-check", PSI_REQUIREMENT],
    )
    for argv in steps:
        try:
            subprocess.run(argv, capture_output=True, timeout=INSTALL_TIMEOUT_S, check=True)
        except subprocess.CalledProcessError as e:
            reason = _last_line(e.stderr)
        except (OSError, subprocess.TimeoutExpired) as e:
            reason = str(e).rstrip(".")
        else:
            continue
        raise CliError(
            f"cannot build the venv for OpenMined PSI in {venv} ({reason}); installing "
            f"{PSI_REQUIREMENT} needs a package index, or give --psi-python an interpreter "
            "that has it"
        )
    if psi_version(built) != PSI_VERSION:
        raise CliError(f"the venv in {venv} was built but cannot import {PSI_REQUIREMENT}")
    return built


# --- one side of the job each -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PsiRun:
    process_s: float  # the whole driver process, interpreter start-up included
    steps: dict[str, float]  # psi_driver's JSON
    cpu_s: float  # the whole driver process's CPU seconds


async def run_psi(python: Path, server_n: int, client_n: int, overlap: int) -> PsiRun:
    """One psi_driver process; its JSON, and its wall time as seen from here."""
    argv = [str(python), psi_driver.__file__, "--server", str(server_n)]
    argv += ["--client", str(client_n), "--overlap", str(overlap)]
    cpu_started, started = _cpu_seconds(), time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT_S)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise CliError(f"the PSI driver exited with status {proc.returncode}: {_last_line(err)}")
    steps = json.loads(out)
    if steps["intersection"] != overlap:
        raise CliError(f"PSI found {steps['intersection']} in common, not {overlap}")
    return PsiRun(seconds, steps, _cpu_seconds() - cpu_started)


@dataclass(frozen=True, slots=True)
class LanyardRun:
    import_s: float  # the server set as records, blinded round included
    screen_s: float  # the `lanyard screen` process, start-up included
    cpu_s: float  # CPU of every Lanyard process meanwhile: registry, import, screen


def _records(server_n: int) -> list[list[NewRecord]]:
    people = psi_driver.identifiers("peer", server_n)
    records = [
        NewRecord(f"PEER-{i}", "flagged", [Identifier(Kind.EMAIL, email)])
        for i, email in enumerate(people)
    ]
    return [records[i : i + IMPORT_BATCH] for i in range(0, len(records), IMPORT_BATCH)]


def _write_client_set(path: Path, client_n: int, overlap: int) -> None:
    people = psi_driver.identifiers("peer", overlap)
    people += psi_driver.identifiers("peer-guest", client_n - overlap)
    path.write_text("Email\n" + "".join(f"{p}\n" for p in people), encoding="utf-8")


async def run_lanyard(
    workdir: Path, name: str, server_n: int, client_n: int, overlap: int
) -> LanyardRun:
    """A fresh registry: import the server set, then screen the client set."""
    cpu_started, workers_started = _own_cpu_seconds(), _descendants_cpu_seconds()
    rdir = await server.init_registry(workdir / f"registry-{name}", listen="127.0.0.1:0")
    async with server.running(rdir) as reg:
        channel = open_channel(reg.address)
        # The import's crypto in worker processes, as `record import` runs it.
        import_workers = Workers("lanyard-import")
        try:
            admin = AdminClient(channel, rdir.admin_key(), executor=import_workers)
            bench = Bench(workdir, reg, admin)
            started = time.perf_counter()
            async for _ in bench.admin.add_record_batches(_records(server_n)):
                pass
            import_s = time.perf_counter() - started
            path = workdir / f"client-{name}.csv"
            _write_client_set(path, client_n, overlap)
            adir = await bench.enrolled_agent(f"peer-{name}", quota(client_n))
            screen_s, found, screen_cpu = await _screen_process(workdir, path, adir.path)
            # The registry's and the import's worker processes, before they stop.
            workers = _descendants_cpu_seconds() - workers_started
        finally:
            await channel.close()
            import_workers.shutdown(cancel_futures=True)
    if found != overlap:
        raise CliError(f"`lanyard screen` found {found} on the list, not {overlap}")
    return LanyardRun(import_s, screen_s, _own_cpu_seconds() - cpu_started + workers + screen_cpu)


def _own_cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _descendants_cpu_seconds() -> float:
    """The live descendants' own CPU seconds (the registry's worker processes)."""
    me = os.getpid()
    return sum(cpu_seconds(p) or 0.0 for p in process_tree(me) if p != me)


def _cpu_seconds() -> float:
    """This process's CPU seconds and its children's that have exited."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def _screen_process(workdir: Path, path: Path, data_dir: Path) -> tuple[float, int, float]:
    """`lanyard screen` in a child process: its wall seconds, the matches it reported and
    the CPU seconds of it and its worker processes."""
    argv = lanyard_argv("screen", str(path), "--data-dir", str(data_dir), "--json")
    done = await asyncio.wait_for(run_measured(argv, workdir, path.stem), RUN_TIMEOUT_S)
    if done.returncode != 0:
        raise CliError(f"`lanyard screen` exited with status {done.returncode}: {done.stderr_tail}")
    return done.seconds, len(json.loads(done.stdout)["matches"]), done.cpu_seconds


# --- the whole run ----------------------------------------------------------------------


async def measure(
    python: Path,
    workdir: Path,
    server_n: int = 10_000,
    client_n: int = 10_000,
    overlap: int = 1000,
    rounds: int = 3,
    floor_iterations: int = 3000,
) -> dict[str, float]:
    """Every figure of `lanyard bench peer`, from one run; nothing printed."""
    if min(server_n, client_n, rounds, floor_iterations) < 1:
        raise CliError("server, client, rounds and floor iterations must be ≥ 1")
    if not 0 <= overlap <= min(server_n, client_n):
        raise CliError("the overlap must be between 0 and the smaller set's size")
    agent_s = agent_floor_seconds(floor_iterations)
    registry_s = reg_floor_seconds(floor_iterations)
    eval_s = agent_s + registry_s
    # The §3a proof's share per point, at the batch sizes import and screening send.
    with_proof = {
        batch: eval_s
        + proof_floor_seconds(floor_iterations, batch, verifier=True)
        + proof_floor_seconds(floor_iterations, batch, verifier=False)
        for batch in (IMPORT_BATCH, SCREEN_BATCH)
    }
    floor_s = server_n * with_proof[IMPORT_BATCH] + client_n * with_proof[SCREEN_BATCH]
    psi: list[PsiRun] = []
    ours: list[LanyardRun] = []
    for r in range(rounds):  # interleaved, so a noisy second hurts both alike
        psi.append(await run_psi(python, server_n, client_n, overlap))
        ours.append(await run_lanyard(workdir, str(r + 1), server_n, client_n, overlap))

    def psi_cpu(run: PsiRun) -> float:
        return sum(run.steps[f"{s}_cpu_s"] for s in ("setup", "request", "process", "intersect"))

    psi_crypto = min(map(psi_cpu, psi))
    psi_process = min(p.process_s for p in psi)
    psi_setup = min(p.steps["setup_s"] for p in psi)
    best = min(ours, key=lambda o: o.import_s + o.screen_s)
    import_s = min(o.import_s for o in ours)
    sample = psi[0].steps
    return {
        "server": server_n,
        "client": client_n,
        "overlap": overlap,
        "rounds": rounds,
        "cores": os.cpu_count() or 1,
        "lanyard_floor_s": floor_s,
        "lanyard_eval_floor_s": (server_n + client_n) * eval_s,
        "psi_crypto_s": psi_crypto,
        "crypto_ratio": floor_s / psi_crypto,
        "crypto_ratio_eval_floor": (server_n + client_n) * eval_s / psi_crypto,
        "lanyard_cpu_s": min(o.cpu_s for o in ours),
        "psi_cpu_s": min(p.cpu_s for p in psi),
        "cpu_ratio": min(o.cpu_s for o in ours) / min(p.cpu_s for p in psi),
        "lanyard_import_s": best.import_s,
        "lanyard_screen_s": best.screen_s,
        "lanyard_process_s": best.import_s + best.screen_s,
        "psi_process_s": psi_process,
        "process_ratio": (best.import_s + best.screen_s) / psi_process,
        "import_s": import_s,
        "psi_setup_s": psi_setup,
        "setup_ratio": import_s / psi_setup,
        "psi_setup_bytes": sample["setup_bytes"],
        "psi_request_bytes": sample["request_bytes"],
        "psi_response_bytes": sample["response_bytes"],
    }


def print_table(f: dict[str, float]) -> None:
    """The figures of `lanyard bench peer`."""
    job = f"{int(f['server']):,} × {int(f['client']):,}, {int(f['overlap']):,} in common"
    table(
        f"Lanyard / OpenMined PSI {PSI_VERSION}: {job}, best of {int(f['rounds'])} "
        "(above 1: Lanyard is slower)",
        ["figure", "Lanyard", "PSI", "Lanyard / PSI"],
        [
            (
                "crypto, 1 core",
                f"{f['lanyard_floor_s']:.2f} s (floor, with the proof)",
                f"{f['psi_crypto_s']:.2f} s CPU",
                f"{f['crypto_ratio']:.2f}",
            ),
            (
                "  without the evaluation proof",
                f"{f['lanyard_eval_floor_s']:.2f} s",
                "",
                f"{f['crypto_ratio_eval_floor']:.2f}",
            ),
            (
                "CPU used, every process",
                f"{f['lanyard_cpu_s']:.2f} s (registry, import, screen)",
                f"{f['psi_cpu_s']:.2f} s (the process)",
                f"{f['cpu_ratio']:.2f}",
            ),
            (
                f"whole processes ({int(f['cores'])} cores)",
                f"{f['lanyard_process_s']:.2f} s (import + screen)",
                f"{f['psi_process_s']:.2f} s",
                f"{f['process_ratio']:.2f}",
            ),
            (
                "  `lanyard screen` alone",
                f"{f['lanyard_screen_s']:.2f} s",
                "",
                "",
            ),
            (
                "building the server side",
                f"{f['import_s']:.2f} s (record import)",
                f"{f['psi_setup_s']:.2f} s (setup)",
                f"{f['setup_ratio']:.2f}",
            ),
        ],
    )
    if note := bytecode_note():
        console.print(note)
