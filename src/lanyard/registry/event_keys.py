"""An enrolled event replaces its Ed25519 key without enrolling again.

Both keys sign one statement (core/keychain.event_rekey_message), so the registry knows
the new key is held by whoever held the old one. The enrolment keeps its quota, its use,
its submissions and the retired key (Admin.ListEvents lists it, so reports the old key
signed still verify); calls signed by the old key are refused from then on.
"""

from __future__ import annotations

import structlog

from lanyard.core import keychain, keys
from lanyard.core.errors import Error as CoreError
from lanyard.registry.errors import InvalidRequest
from lanyard.registry.store import Event, Store

log = structlog.get_logger("lanyard.registry")


async def rekey_event(
    store: Store, event: Event, new_key: bytes, old_signature: bytes, new_signature: bytes
) -> Event:
    """`event` is the caller's enrolment as authentication read it (its current key).
    Raises InvalidRequest for a bad key or signature, or a key the event used before."""
    try:
        keys.parse_public_key(new_key, "new_public_key")
        statement = keychain.event_rekey_message(event.event_id, event.public_key, new_key)
        keys.verify(event.public_key, statement, old_signature, what="the old key's signature")
        keys.verify(new_key, statement, new_signature, what="the new key's signature")
    except CoreError as exc:
        raise InvalidRequest(str(exc)) from exc
    known = [e for e in await store.list_events() if e.event_id == event.event_id]
    if new_key == event.public_key or (known and new_key in known[0].retired_keys):
        raise InvalidRequest("new_public_key must be a key this event has not used")
    stored = await store.rekey_event(event.event_id, event.public_key, new_key)
    log.info("registry.event_rekeyed", event_id=event.event_id, retired=len(stored.retired_keys))
    return stored
