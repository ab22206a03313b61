"""Generate the Python wire code from proto/ (the one command; never edit its output).

Usage: python scripts/gen_proto.py [OUT_DIR]

Writes `*_pb2.py`, `*_pb2.pyi` and `*_pb2_grpc.py` beside each `.proto` file (or under
OUT_DIR, which tests use to prove the checked-in code is not stale).
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"


def generate(out_dir: Path) -> list[Path]:
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    out_dir.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in protos),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    # Every directory on the way to a generated module is a regular package.
    for proto in protos:
        pkg = out_dir / proto.relative_to(PROTO_ROOT).parent
        while pkg != out_dir:
            (pkg / "__init__.py").touch()
            pkg = pkg.parent
    return sorted(p for p in out_dir.rglob("*") if p.suffix in {".py", ".pyi"})


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT
    for path in generate(target):
        print(path.relative_to(target))
