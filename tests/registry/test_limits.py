"""Every size limit and date window of the registry, at its edge: the largest thing it
takes is taken, one more is refused with a message naming the limit, and a refusal changes
nothing (quota counts, records, events)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta

import grpc
import nacl.signing
import pytest

from lanyard.client.admin import AdminClient, Identifier
from lanyard.client.errors import RpcFailed
from lanyard.core import limits, screen
from lanyard.core.channels import open_channel
from lanyard.core.identity import Kind
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from lanyard.registry.errors import DataDirError
from lanyard.registry.record_ops import MAX_POINTS_PER_RECORD
from tests.conftest import enroll


@dataclass(frozen=True)
class Refusal:
    """A refused call, whether made on a raw stub or through a Lanyard client."""

    status: grpc.StatusCode
    text: str

    def code(self) -> grpc.StatusCode:
        return self.status

    def details(self) -> str:
        return self.text


async def _refused(coro: object) -> Refusal:
    with pytest.raises((grpc.aio.AioRpcError, RpcFailed)) as info:
        await coro  # type: ignore[misc]
    err = info.value
    if isinstance(err, RpcFailed):
        return Refusal(err.code, err.details)
    return Refusal(err.code(), err.details() or "")


def _blinded(n: int) -> list[bytes]:
    return [screen.blind(f"lanyard:v1:name:person {i}".encode()).blinded for i in range(n)]


@pytest.fixture
async def small_batches(
    registry_dir: RegistryDir,
) -> AsyncIterator[tuple[AdminClient, grpc.aio.Channel]]:
    config = dataclasses.replace(registry_dir.load_config(), max_batch=4)
    async with server.running(registry_dir, config=config) as running:
        assert running.service.max_batch == 4
        channel = open_channel(running.address)
        try:
            yield AdminClient(channel, registry_dir.admin_key()), channel
        finally:
            await channel.close()


async def test_a_batch_of_exactly_max_batch_is_evaluated_and_one_more_is_not(
    small_batches: tuple[AdminClient, grpc.aio.Channel],
) -> None:
    admin, channel = small_batches
    event = await enroll(admin, channel, quota=100)
    err = await _refused(event.client.evaluate(1, _blinded(5)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "batch of 5 points is over the limit of 4" in (err.details() or "")
    assert len(await event.client.evaluate(1, _blinded(4))) == 4
    (info,) = await admin.list_events()
    assert info.evaluations_used == 4


@pytest.mark.parametrize(
    ("value", "ok"),
    [("0", False), ("1", True), (str(limits.MAX_BATCH), True), (str(limits.MAX_BATCH + 1), False)],
)
def test_max_batch_setting_bounds(
    registry_dir: RegistryDir, monkeypatch: pytest.MonkeyPatch, value: str, ok: bool
) -> None:
    monkeypatch.setenv("LANYARD_REGISTRY_MAX_BATCH", value)
    if ok:
        assert registry_dir.load_config().max_batch == int(value)
    else:
        with pytest.raises(DataDirError, match=f"between 1 and {limits.MAX_BATCH}"):
            registry_dir.load_config()


def _people(n: int) -> list[Identifier]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [Identifier(Kind.NAME, f"Person {letters[i]}{letters[i]}") for i in range(n)]


def _addresses(n: int) -> list[Identifier]:
    # E-mail addresses have no name variants (spec §5a): one point each.
    return [Identifier(Kind.EMAIL, f"person.{i}@example.org") for i in range(n)]


async def test_a_record_takes_the_most_points_and_not_one_more(admin: AdminClient) -> None:
    most = MAX_POINTS_PER_RECORD
    err = await _refused(admin.add_record("WG-OVER", "flagged", _addresses(most + 1)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"1 to {most} points, got {most + 1}" in (err.details() or "")
    assert (await admin.list_records()).records == []
    await admin.add_record("WG-MOST", "flagged", _addresses(most))
    assert [r.record_ref for r in (await admin.list_records()).records] == ["WG-MOST"]


async def test_a_record_ref_of_64_characters_is_taken_and_65_is_not(admin: AdminClient) -> None:
    err = await _refused(admin.add_record("R" * 65, "flagged", _people(1)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1 to 64 printable" in (err.details() or "")
    await admin.add_record("R" * 64, "flagged", _people(1))
    assert [r.record_ref for r in (await admin.list_records()).records] == ["R" * 64]


async def test_event_id_and_name_lengths(admin: AdminClient) -> None:
    key = bytes(nacl.signing.SigningKey.generate().verify_key)
    d = date(2027, 1, 1)
    for event_id, name, text in [
        ("e" * 65, "x", "event_id must be 1 to 64"),
        ("ok-id", "n" * 201, "name must be 1 to 200"),
        ("ok-id", "   ", "name must be 1 to 200"),
    ]:
        err = await _refused(admin.enroll_event(event_id, name, d, d, key, 10))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert text in (err.details() or "")
    assert await admin.list_events() == []
    await admin.enroll_event("e" * 64, "n" * 200, d, d, key, 10)
    assert [(e.event_id, e.name) for e in await admin.list_events()] == [("e" * 64, "n" * 200)]


async def test_a_record_expires_the_day_after_its_last_day(
    registry: server.RunningRegistry, admin: AdminClient
) -> None:
    last_day = date.today() + timedelta(days=10)
    await admin.add_record("WG-EXP", "flagged", _people(1), expires_on=last_day)
    assert await registry.service.expire(last_day) == 0
    assert [r.record_ref for r in (await admin.list_records()).records] == ["WG-EXP"]
    assert await registry.service.expire(last_day + timedelta(days=1)) == 1
    assert (await admin.list_records()).records == []
