"""Where the normative spec lives: ../shared/spec/ beside the project's root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = ROOT.parent / "shared" / "spec"
VECTORS_PATH = SPEC_DIR / "screen-v1r2-vectors.json"
EXPORTS_DIR = ROOT.parent / "shared" / "exports"


def load_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    return data
