"""Mutation testing of Lanyard's security-critical modules (run it with scripts/mutation).

For each module named in scripts/mutation.toml, Cosmic Ray's operators make every small
change they can to the module (a comparison flipped, a number changed, a check negated…)
and the module's own focused tests run against each changed copy. A test failure kills the
mutant; a mutant that survives is a change no test notices. The kill ratio per module is
killed / (killed + survivors not accepted as equivalent); each accepted survivor is listed
in the TOML file with why.

Mutants are applied to a private copy of the checkout (tracked and untracked files, no
.venv, no caches), never to the checkout itself. Results are kept in .mutation/ so an
interrupted run resumes where it stopped; a changed module starts afresh.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cosmic_ray.commands import init as cr_init
from cosmic_ray.mutating import mutate_and_test
from cosmic_ray.testing import run_tests
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkItem, WorkResult

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "scripts" / "mutation.toml"
STATE = ROOT / ".mutation"
PRAGMA = re.compile(r"#.*pragma:.*no mutate")


@dataclass
class Module:
    name: str
    path: str
    tests: list[str]
    pytest_args: list[str]
    accepted: list[dict[str, str]]

    def is_accepted(self, operator: str, line: str) -> dict[str, str] | None:
        for a in self.accepted:
            if re.fullmatch(a["operator"], operator) and a["line"].strip() == line.strip():
                return a
        return None


@dataclass
class Tally:
    total: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    run: int = 0
    killed: int = 0
    timed_out: int = 0
    accepted: list[tuple[WorkItem, dict[str, str]]] = field(default_factory=list)
    survived: list[tuple[WorkItem, WorkResult]] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        judged = self.killed + len(self.survived)
        return self.killed / judged if judged else None


def load_config() -> tuple[dict[str, Any], dict[str, Module]]:
    data = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    defaults = data.get("defaults", {})
    modules = {
        name: Module(
            name,
            spec["path"],
            list(spec["tests"]),
            list(spec.get("pytest-args", defaults.get("pytest-args", []))),
            list(spec.get("accepted", [])),
        )
        for name, spec in data["modules"].items()
    }
    return defaults, modules


def copy_checkout(dest: Path) -> None:
    """Tracked and untracked files (not ignored ones), as they are now."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        rel = Path(os.fsdecode(raw))
        src = ROOT / rel
        if not src.is_file():
            continue  # deleted in the work tree, not yet committed
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)


def pytest_command(module: Module) -> str:
    parts = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    return " ".join(_quote(p) for p in [*parts, *module.pytest_args, *module.tests])


def _quote(text: str) -> str:
    return text if re.fullmatch(r"[\w./:=+-]+", text) else "'" + text.replace("'", "") + "'"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _session(module: Module, work: Path, operators: dict[str, Any], fresh: bool) -> Path:
    STATE.mkdir(exist_ok=True)
    session = STATE / f"{module.name}.sqlite"
    stamp = STATE / f"{module.name}.sha256"
    # Results hold while the module and its tests are what they were when they were made.
    inputs = [work / module.path]
    for t in module.tests:
        target = work / t.split("::", 1)[0]
        inputs += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    want = " ".join(_digest(p) for p in inputs)
    if fresh or not session.exists() or not stamp.exists() or stamp.read_text() != want:
        session.unlink(missing_ok=True)
        with use_db(str(session)) as db:
            cr_init([Path(module.path)], db, operators)
        stamp.write_text(want)
    return session


def _line(work: Path, item: WorkItem) -> str:
    mutation = item.mutations[0]
    lines = (work / mutation.module_path).read_text(encoding="utf-8").splitlines()
    return str(lines[mutation.start_pos[0] - 1])


Span = tuple[tuple[int, int], tuple[int, int]]


def _annotation_spans(path: Path) -> list[Span]:
    """Where the module's type annotations are, if it never evaluates them (`from
    __future__ import annotations`): a mutant there changes nothing that runs."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy = any(
        isinstance(n, ast.ImportFrom)
        and n.module == "__future__"
        and any(a.name == "annotations" for a in n.names)
        for n in tree.body
    )
    if not lazy:
        return []
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            found.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            found.append(node.returns)
    return [
        ((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or 0)) for a in found
    ]


def _skip_reason(
    item: WorkItem, work: Path, exclude: list[re.Pattern[str]], annotations: list[Span]
) -> str:
    mutation = item.mutations[0]
    if any(p.search(mutation.operator_name) for p in exclude):
        return "operator left out"
    if PRAGMA.search(_line(work, item)):
        return "pragma: no mutate"
    start = tuple(mutation.start_pos)
    if any(a <= start < b for a, b in annotations):
        return "in a type annotation"
    return ""


def run_module(
    module: Module,
    work: Path,
    exclude: list[re.Pattern[str]],
    budget: float,
    fresh: bool,
) -> Tally | str:
    command = pytest_command(module)
    session = _session(module, work, {}, fresh)
    with use_db(str(session), WorkDB.Mode.open) as db:
        pending = db.pending_work_items
        if not pending:
            return _tally(module, work, db)
        started = time.monotonic()
        outcome, output = run_tests(command, timeout=600)
        baseline = time.monotonic() - started
        if outcome != TestOutcome.SURVIVED:  # the unchanged code must pass its own tests
            return f"its tests fail without any mutation:\n{output[-2000:]}"
        timeout = max(30.0, 4 * baseline)
        deadline = time.monotonic() + budget
        annotations = _annotation_spans(work / module.path)
        print(
            f"  {module.name}: baseline {baseline:.1f} s, {len(pending)} mutants to run, "
            f"per-mutant timeout {timeout:.0f} s, budget {budget:.0f} s",
            flush=True,
        )
        for done, item in enumerate(pending, 1):
            if time.monotonic() > deadline:
                print(f"  {module.name}: budget spent after {done - 1} mutants", flush=True)
                break
            skip = _skip_reason(item, work, exclude, annotations)
            if skip:
                db.set_result(
                    item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED, output=skip)
                )
                continue
            db.set_result(item.job_id, mutate_and_test(item.mutations, command, timeout))
            if done % 25 == 0:
                print(f"  {module.name}: {done}/{len(pending)}", flush=True)
        return _tally(module, work, db)


def _tally(module: Module, work: Path, db: WorkDB) -> Tally:
    tally = Tally(total=db.num_work_items)
    for item, result in db.completed_work_items:
        if result.worker_outcome in (WorkerOutcome.SKIPPED, WorkerOutcome.NO_TEST):
            why = result.output or "no mutation possible"
            tally.excluded[why] = tally.excluded.get(why, 0) + 1
            continue
        tally.run += 1
        if result.is_killed:
            tally.killed += 1
            tally.timed_out += result.output == "timeout"
            continue
        why = module.is_accepted(item.mutations[0].operator_name, _line(work, item))
        if why is not None:
            tally.accepted.append((item, why))
        else:
            tally.survived.append((item, result))
    return tally


def report(name: str, tally: Tally | str, show_accepted: bool) -> None:
    if isinstance(tally, str):
        print(f"{name}: not run: {tally}")
        return
    ratio = "n/a" if tally.ratio is None else f"{100 * tally.ratio:.1f}%"
    excluded = sum(tally.excluded.values())
    left = tally.total - tally.run - excluded
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(tally.excluded.items()))
    print(
        f"{name}: kill ratio {ratio} — {tally.killed} killed ({tally.timed_out} by timeout), "
        f"{len(tally.survived)} survived, {len(tally.accepted)} accepted as equivalent; "
        f"{tally.run} of {tally.total} mutants run, {excluded} not run ({why or 'none'})"
        + (f", {left} still to run (budget spent)" if left else "")
    )
    for item, result in tally.survived:
        m = item.mutations[0]
        print(f"  SURVIVED {m.operator_name} at {m.module_path}:{m.start_pos[0]}")
        for diff_line in (result.diff or "").splitlines():
            if diff_line.startswith(("+", "-")) and not diff_line.startswith(("+++", "---")):
                print(f"    {diff_line}")
    if show_accepted:
        for item, accepted in tally.accepted:
            m = item.mutations[0]
            print(f"  accepted {m.operator_name} at {m.start_pos[0]}: {accepted['why']}")


def main() -> int:
    defaults, modules = load_config()
    parser = argparse.ArgumentParser(
        prog="scripts/mutation",
        description="Mutation testing of the security-critical modules; prints a kill "
        "ratio per module. Takes long: not part of scripts/test.",
    )
    parser.add_argument("modules", nargs="*", help=f"some of: {', '.join(modules)} (default all)")
    parser.add_argument(
        "--budget",
        type=float,
        default=float(defaults.get("budget-seconds", 1800)),
        help="seconds to spend on each module; an unfinished one resumes next time",
    )
    parser.add_argument("--fresh", action="store_true", help="forget earlier results")
    parser.add_argument("--list", action="store_true", help="list the modules and their tests")
    parser.add_argument("--show-accepted", action="store_true", help="list accepted survivors")
    parser.add_argument(
        "--fail-under", type=float, default=None, help="exit 1 if a module's ratio is lower (%%)"
    )
    args = parser.parse_args()
    # Stopped from outside: unwind, so the copy is removed and the results so far kept.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    unknown = [m for m in args.modules if m not in modules]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(modules)}")
    chosen = [modules[m] for m in (args.modules or modules)]
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.path} <- {pytest_command(m).split(' -m pytest ', 1)[1]}")
        return 0
    exclude = [re.compile(p) for p in defaults.get("exclude-operators", [])]
    results: dict[str, Tally | str] = {}
    with tempfile.TemporaryDirectory(prefix="lanyard-mutation-") as tmp:
        work = Path(tmp)
        copy_checkout(work)
        os.chdir(work)  # the tests run in the copy...
        # ...and import the copy's package, not the one installed from the checkout.
        os.environ["PYTHONPATH"] = str(work / "src")
        for m in chosen:
            print(f"mutating {m.path}", flush=True)
            results[m.name] = run_module(m, work, exclude, args.budget, args.fresh)
            report(m.name, results[m.name], args.show_accepted)
    print("\nkill ratio per module (killed / non-equivalent mutants run):")
    failed = False
    for name, tally in results.items():
        if isinstance(tally, str) or tally.ratio is None:
            print(f"  {name:<22} n/a")
            failed = failed or isinstance(tally, str)
            continue
        judged = tally.killed + len(tally.survived)
        print(f"  {name:<22} {100 * tally.ratio:5.1f}%  ({tally.killed}/{judged})")
        if args.fail_under is not None and 100 * tally.ratio < args.fail_under:
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
