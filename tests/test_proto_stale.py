"""The checked-in wire code is exactly what `python scripts/gen_proto.py` makes now."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    gen = runpy.run_path(str(ROOT / "scripts" / "gen_proto.py"))
    fresh = gen["generate"](tmp_path)
    assert fresh, "the generator produced nothing"
    checked_in = sorted(
        p.relative_to(ROOT / "proto")
        for p in (ROOT / "proto").rglob("*")
        if p.suffix in {".py", ".pyi"} and "__pycache__" not in p.parts
    )
    assert [p.relative_to(tmp_path) for p in fresh] == checked_in
    for path in fresh:
        committed = ROOT / "proto" / path.relative_to(tmp_path)
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed.relative_to(ROOT)} is stale: run python scripts/gen_proto.py"
        )
