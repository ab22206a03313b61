"""Shared fixtures: a real registry on 127.0.0.1:0 with a real SQLite file, real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import grpc
import nacl.signing
import pytest

from lanyard.client.admin import AdminClient
from lanyard.client.registry import RegistryClient
from lanyard.core.channels import open_channel
from lanyard.registry import server
from lanyard.registry.datadir import RegistryDir
from tests.registry.days import Calendar


@dataclass
class Enrolled:
    event_id: str
    key: nacl.signing.SigningKey
    registry_key: bytes
    client: RegistryClient


@pytest.fixture
async def registry_dir(tmp_path: Path) -> RegistryDir:
    return await server.init_registry(tmp_path / "registry", listen="127.0.0.1:0")


@pytest.fixture
def calendar() -> Calendar:
    return Calendar.from_today()


@pytest.fixture
async def registry(
    registry_dir: RegistryDir, calendar: Calendar
) -> AsyncIterator[server.RunningRegistry]:
    """The registry on loopback, its day a Calendar the tests can move on."""
    async with server.running(registry_dir, today=calendar) as running:
        yield running


@pytest.fixture
async def channel(registry: server.RunningRegistry) -> AsyncIterator[grpc.aio.Channel]:
    chan = open_channel(registry.address)
    yield chan
    await chan.close()


@pytest.fixture
def admin(registry_dir: RegistryDir, channel: grpc.aio.Channel) -> AdminClient:
    return AdminClient(channel, registry_dir.admin_key())


async def enroll(
    admin: AdminClient,
    channel: grpc.aio.Channel,
    event_id: str = "testconf-2027",
    quota: int = 10_000,
) -> Enrolled:
    key = nacl.signing.SigningKey.generate()
    response = await admin.enroll_event(
        event_id,
        "TestConf 2027",
        date(2027, 5, 1),
        date(2027, 5, 3),
        bytes(key.verify_key),
        quota,
    )
    client = RegistryClient(channel, event_id, key, response.registry_public_key)
    return Enrolled(event_id, key, response.registry_public_key, client)


@pytest.fixture
async def event(admin: AdminClient, channel: grpc.aio.Channel) -> Enrolled:
    return await enroll(admin, channel)
