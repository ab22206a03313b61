"""The OpenMined PSI side of `lanyard bench peer`, run as a script by another interpreter.

This file ships inside the lanyard package as data: `lanyard bench peer` runs it with the
Python of a separate venv that holds OpenMined PSI (see peer.py for why it is separate),
so it imports nothing of Lanyard's and nothing outside the standard library but PSI.

    python psi_driver.py --server N --client M --overlap K [--fpr F]

runs one whole PSI job with revealed intersection (the server's set of N identifiers
against the client's M, of which the first K are also the server's) and prints one JSON
object on stdout: per step (`setup`, `request`, `process`, `intersect`) its wall seconds
(`*_s`) and this process's CPU seconds (`*_cpu_s`), the import of PSI itself
(`import_s`), the message sizes in bytes, and the intersection size found. Exit status 2
with one line on stderr if PSI cannot be imported.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any


def identifiers(prefix: str, count: int) -> list[str]:
    """Normalised e-mail addresses, as Lanyard's side screens them."""
    return [f"{prefix}-{i}@example.org" for i in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One OpenMined PSI job, timed, as JSON.")
    parser.add_argument("--server", type=int, required=True)
    parser.add_argument("--client", type=int, required=True)
    parser.add_argument("--overlap", type=int, required=True)
    parser.add_argument("--fpr", type=float, default=1e-9)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        import private_set_intersection.python as psi  # type: ignore[import-not-found]
    except ImportError as e:
        print(f"cannot import private_set_intersection.python: {e}", file=sys.stderr)
        return 2
    out: dict[str, Any] = {
        "version": psi.__version__,
        "import_s": time.perf_counter() - started,
    }

    server_items = identifiers("peer", args.server)
    client_items = server_items[: args.overlap] + identifiers(
        "peer-guest", args.client - args.overlap
    )
    server = psi.server.CreateWithNewKey(True)
    client = psi.client.CreateWithNewKey(True)

    def timed(step: str, call: Callable[[], Any]) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        result = call()
        out[f"{step}_s"] = time.perf_counter() - wall
        out[f"{step}_cpu_s"] = time.process_time() - cpu
        return result

    setup = timed(
        "setup",
        lambda: server.CreateSetupMessage(
            args.fpr, len(client_items), server_items, psi.DataStructure.GCS
        ),
    )
    request = timed("request", lambda: client.CreateRequest(client_items))
    response = timed("process", lambda: server.ProcessRequest(request))
    found = timed("intersect", lambda: client.GetIntersection(setup, response))
    out |= {
        "setup_bytes": setup.ByteSize(),
        "request_bytes": request.ByteSize(),
        "response_bytes": response.ByteSize(),
        "intersection": len(found),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
