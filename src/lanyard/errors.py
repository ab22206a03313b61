"""The root of every error Lanyard raises on purpose.

Each package keeps its precise subclasses in its own `errors.py` (`lanyard.core.errors`,
`lanyard.client.errors`, `lanyard.registry.errors`, `lanyard.agent.errors`); library
exceptions (PyNaCl, protobuf, sqlite, gRPC) are wrapped with `raise … from`, never leaked.
The CLI catches this one class and prints its message as one sentence.
"""

from __future__ import annotations

__all__ = ["Error"]


class Error(Exception):
    """Base of every Lanyard error; its message is one sentence for a person to read."""
