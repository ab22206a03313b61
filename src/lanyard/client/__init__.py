"""Every gRPC client of Lanyard, and the one place a transport error becomes a Lanyard error.

Third parties import from here: a ticketing system screens people with `ScreeningClient`;
every failure is a `lanyard.errors.Error`, a refused or failed call an `RpcFailed`.

- `ScreeningClient` / `CheckResult` — the agent's Screening.Check, for ticketing systems;
- `RegistryClient` — the event's calls to the WG's registry (evaluate, snapshots, reports);
- `AdminClient` — the WG operator's and readers' calls (events, records, submissions);
- `IncidentClient` — a team member's calls to the agent's incident records.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lanyard.client.admin import AdminClient
    from lanyard.client.errors import ClientError, RpcFailed
    from lanyard.client.incidents import IncidentClient
    from lanyard.client.registry import RegistryClient
    from lanyard.client.screening import CheckResult, ScreeningClient

__all__ = [
    "AdminClient",
    "CheckResult",
    "ClientError",
    "IncidentClient",
    "RegistryClient",
    "RpcFailed",
    "ScreeningClient",
]

# Each imported on first use: an agent that needs its registry client alone does not pay
# for the admin and incident clients (tens of milliseconds of a one-shot command).
_HOMES = {
    "AdminClient": "admin",
    "CheckResult": "screening",
    "ClientError": "errors",
    "IncidentClient": "incidents",
    "RegistryClient": "registry",
    "RpcFailed": "errors",
    "ScreeningClient": "screening",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
