"""A team member replaces their own key: the old key signs the call, the new key signs a
proof (core/keychain.member_rekey_message), and the team's audit trail records it."""

from __future__ import annotations

import structlog

from lanyard.agent.errors import InvalidRequest, NotFound
from lanyard.agent.incidents.store import IncidentStore, MemberRow
from lanyard.core import keychain, keys
from lanyard.core.errors import Error as CoreError

log = structlog.get_logger("lanyard.incidents")


async def rekey_member(
    store: IncidentStore, name: str, new_key: bytes, proof: bytes, stamp: str, trail: int
) -> MemberRow:
    """`name` (authenticated by their current key) moves to `new_key`, which signed
    `proof`. Raises InvalidRequest for a bad key or proof or the same key, NotFound if
    `name` left the team meanwhile. Audited under incident id `trail`."""
    try:
        keys.parse_public_key(new_key, "new_public_key")
        keys.verify(
            new_key,
            keychain.member_rekey_message(name, new_key),
            proof,
            what="proof signed by the new key",
        )
    except CoreError as exc:
        raise InvalidRequest(str(exc)) from exc
    current = await store.member(name)
    if current is not None and current.public_key == new_key:
        raise InvalidRequest("new_public_key is the key already in use")
    if not await store.rekey_member(name, new_key):
        raise NotFound(f"{name} is not on the team")
    await store.audit(trail, stamp, name, "rekey")
    log.info("incidents.member_rekeyed", member=name)
    member = await store.member(name)
    assert member is not None
    return member
