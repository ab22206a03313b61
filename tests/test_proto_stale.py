"""The checked-in wire code is exactly what `python scripts/gen_proto.py` makes now."""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIRE = ROOT / "src" / "lanyard" / "wire"


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    gen = runpy.run_path(str(ROOT / "scripts" / "gen_proto.py"))
    fresh = gen["generate"](tmp_path)
    assert fresh, "the generator produced nothing"
    checked_in = sorted(
        p.relative_to(WIRE)
        for p in WIRE.rglob("*")
        if p.suffix in {".py", ".pyi"} and "__pycache__" not in p.parts
    )
    assert [p.relative_to(tmp_path) for p in fresh] == checked_in
    for path in fresh:
        committed = WIRE / path.relative_to(tmp_path)
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed.relative_to(ROOT)} is stale: run python scripts/gen_proto.py"
        )


def test_wire_paths_keep_the_proto_packages() -> None:
    """Moving the Python modules must not move an RPC path on the wire."""
    from lanyard.wire.agent.v1 import screening_pb2
    from lanyard.wire.registry.v1 import registry_pb2

    assert registry_pb2.DESCRIPTOR.package == "lanyard.registry.v1"
    assert screening_pb2.DESCRIPTOR.package == "lanyard.agent.v1"
    assert registry_pb2.DESCRIPTOR.services_by_name["Registry"].full_name == (
        "lanyard.registry.v1.Registry"
    )
