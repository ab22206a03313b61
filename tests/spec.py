"""Where the normative spec lives: ../shared/spec/ beside the project's root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = ROOT.parent / "shared" / "spec"
VECTORS_PATH = SPEC_DIR / "screen-v1-vectors.json"


def load_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    return data


# Revision 2 of the vectors: everything above, plus `proof` (spec §3a).
R2_VECTORS_PATH = SPEC_DIR / "screen-v1r2-vectors.json"


def load_r2_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(R2_VECTORS_PATH.read_text(encoding="utf-8"))
    return data
