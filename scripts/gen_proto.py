"""Generate the Python wire code from proto/ (the one command; never edit its output).

Usage: python scripts/gen_proto.py [OUT_DIR]

The `.proto` packages are `lanyard.<service>.v1`, so every RPC path on the wire is
`/lanyard.<service>.v1.<Service>/<Method>`. Their Python modules live under one
sub-package, `lanyard.wire`: `proto/lanyard/registry/v1/registry.proto` becomes
`src/lanyard/wire/registry/v1/registry_pb2.py` (with `.pyi` and `_pb2_grpc.py`), and the
imports protoc writes between generated modules are pointed there. OUT_DIR (tests use it
to prove the checked-in code is not stale) replaces `src/lanyard/wire`.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
WIRE_ROOT = ROOT / "src" / "lanyard" / "wire"

# protoc names a module after its file's path; the wire code lives one level down.
_IMPORT = re.compile(r"^(from|import) lanyard\.(?!wire\.)", re.M)


def generate(out_dir: Path) -> list[Path]:
    """Write every generated module under `out_dir`; return their paths, sorted."""
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp)
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={raw}",
            f"--pyi_out={raw}",
            f"--grpc_python_out={raw}",
            *(str(p.relative_to(PROTO_ROOT)) for p in protos),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        out_dir.mkdir(parents=True, exist_ok=True)
        for src in sorted(raw.rglob("*")):
            if src.suffix not in {".py", ".pyi"}:
                continue
            # raw/lanyard/registry/v1/x_pb2.py -> out_dir/registry/v1/x_pb2.py
            rel = src.relative_to(raw / "lanyard")
            dest = out_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(_IMPORT.sub(r"\1 lanyard.wire.", src.read_text()))
    # Every directory on the way to a generated module is a regular package.
    for proto in protos:
        pkg = out_dir / proto.relative_to(PROTO_ROOT / "lanyard").parent
        while True:
            (pkg / "__init__.py").touch()
            if pkg == out_dir:
                break
            pkg = pkg.parent
    return sorted(p for p in out_dir.rglob("*") if p.suffix in {".py", ".pyi"})


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else WIRE_ROOT
    for path in generate(target):
        print(path.relative_to(target))
