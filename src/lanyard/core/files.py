"""Writing a file so that a reader or a crash sees the old content or the new, never half.

Every file Lanyard writes for itself (keys, the enrolment bundle, the endpoint file,
settings, credentials, exported reports) goes through `write_atomically`, mode 0600 unless
the caller says otherwise (a public transparency report may be 0644).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    """Write `data` (str is UTF-8 encoded) to `path` with `mode`, fsynced, then renamed
    into place. The temporary file sits beside `path` as `.<name>.tmp`.

    Raises OSError as the file system reports it (the caller names the file to the user).
    """
    body = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
