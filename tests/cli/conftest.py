"""What every CLI test needs: a clean environment and structlog as it was.

`cli.main.main` configures structlog for the whole process, and LANYARD_* variables in the
developer's shell would change which directory, key or agent a command uses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No LANYARD_* from the developer's shell; structlog restored after `main`."""
    for var in [v for v in os.environ if v.startswith("LANYARD_")]:
        monkeypatch.delenv(var)
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)
