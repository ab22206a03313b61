"""Wiring: open the data directory, build the grpc.aio server, serve until SIGTERM.

TLS when a certificate and key are configured (optionally requiring client certificates
signed by a CA); plaintext only on loopback unless the operator passes --insecure.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import grpc
import nacl.signing
import structlog

from lanyard.core import auth, channels, serving
from lanyard.core.errors import Error as CoreError
from lanyard.core.nonces import SqliteNonces
from lanyard.core.supervise import Supervisor
from lanyard.core.workers import Workers
from lanyard.registry.admin_servicer import AdminServicer
from lanyard.registry.blobs import BlobService, BlobStore
from lanyard.registry.datadir import ADMIN_NAME, RegistryConfig, RegistryDir
from lanyard.registry.epoch_keys import EpochKeys
from lanyard.registry.errors import ServeError
from lanyard.registry.registry_servicer import RegistryServicer
from lanyard.registry.retention import utc_today
from lanyard.registry.service import RegistryService
from lanyard.registry.signing import SigningKeys
from lanyard.registry.sqlite_store import SqliteStore
from lanyard.registry.submission_store import SqliteSubmissionStore
from lanyard.registry.submissions import SubmissionService
from lanyard.wire.registry.v1 import admin_pb2_grpc, registry_pb2_grpc, snapshot_pb2

log = structlog.get_logger("lanyard.registry")

SERVICE_NAMES = ("lanyard.registry.v1.Registry", "lanyard.registry.v1.Admin")
EXPIRY_INTERVAL_SECONDS = 3600.0
DISK_CHECK_SECONDS = 30.0
GRACE_SECONDS = 5.0


@dataclass
class RunningRegistry:
    server: grpc.aio.Server
    service: RegistryService
    submissions: SubmissionService
    store: SqliteStore
    port: int
    address: str
    tls: bool = False
    health: serving.HealthReporter | None = None
    tasks: Supervisor | None = None


async def init_registry(data_dir: Path, listen: str | None = None) -> RegistryDir:
    """`lanyard registry init`: keys, config and an empty, padded, signed snapshot."""
    rdir = RegistryDir(data_dir)
    rdir.create(**({"listen": listen} if listen else {}))
    store = await SqliteStore.open(rdir.db_path, create=True)
    try:
        await store.add_admin(ADMIN_NAME, bytes(rdir.admin_key().verify_key))
        service = RegistryService(store, rdir.signing_key(), {1: rdir.oprf_key(1)}, None)
        await service.start()
    finally:
        await store.close()
    for name in os.listdir(data_dir):
        os.chmod(data_dir / name, 0o700 if (data_dir / name).is_dir() else 0o600)
    return rdir


@asynccontextmanager
async def running(
    rdir: RegistryDir,
    listen: str | None = None,
    insecure: bool = False,
    config: RegistryConfig | None = None,
    epoch_keys: EpochKeys | None = None,
    clock: Callable[[], float] = time.time,
    today: Callable[[], date] = utc_today,
) -> AsyncIterator[RunningRegistry]:
    """Start the registry on `listen` (default: the config's) and stop it on exit.
    `epoch_keys` replaces the key files' OPRF keys (another key store); `clock` (Unix
    seconds) is what call-token times are checked against, `today` what record expiries
    are (the retention schedule, new expiries, the sweep)."""
    rdir.check()
    config = config or rdir.load_config()
    address = listen or config.listen
    tls = (
        serving.Tls(config.tls_cert, config.tls_key, config.client_ca)
        if config.tls_cert and config.tls_key
        else None
    )
    if tls is None and not insecure and not channels.is_loopback(address):
        raise ServeError(
            f"refusing to listen without TLS on {address}, which is not loopback; "
            "configure tls_cert and tls_key, or pass --insecure"
        )
    held = ExitStack()  # the data directory's lock, until everything below is closed
    try:
        held.enter_context(serving.exclusive(rdir.path, "lanyard registry serve"))
    except CoreError as exc:
        raise ServeError(str(exc)) from exc
    endpoint = serving.EndpointFile(rdir.endpoint_path)
    try:
        store = await SqliteStore.open(rdir.db_path)
    except BaseException:
        held.close()
        raise
    nonces = SqliteNonces(store.pool)
    # Threads for small batches (checks); worker processes for bulk ones (screening).
    executor = Workers("lanyard-eval")
    server: grpc.aio.Server | None = None
    listening = False
    tasks: Supervisor | None = None
    try:
        signing_key = await _settled_signing_key(rdir, store)
        epoch = await store.current_epoch()
        service = RegistryService(
            store,
            signing_key,
            epoch_keys or {epoch: rdir.oprf_key(epoch)},
            executor,
            max_batch=config.max_batch,
            evaluation_days_after_end=config.evaluation_days_after_end,
            verifier=auth.TokenVerifier(clock, nonces=nonces),
            key_files=rdir,
            today=today,
        )
        await service.start()
        await service.expire()
        submissions = SubmissionService(
            store,
            SqliteSubmissionStore(store.pool),
            signing_key,
            BlobService(BlobStore(store.pool)),
        )
        await submissions.start()
        if submissions.blobs is not None:
            await submissions.blobs.purge_unclaimed()
        signing = SigningKeys(store, signing_key, rdir, [service.rekey, submissions.rekey])
        server = serving.new_server()
        registry_pb2_grpc.add_RegistryServicer_to_server(
            RegistryServicer(service, submissions, signing), server
        )
        admin_pb2_grpc.add_AdminServicer_to_server(
            AdminServicer(service, submissions, signing), server
        )
        health = await serving.add_health(server, SERVICE_NAMES, rdir.health_path)
        tasks = Supervisor(serving.health_hook(health, SERVICE_NAMES))
        try:
            bound = serving.bind(server, address, tls, insecure)
        except CoreError as exc:
            raise ServeError(str(exc)) from exc
        await server.start()
        listening = True
        endpoint.write(bound)
        # Expired records leave the snapshot now and then hourly; supervised (logged,
        # retried with backoff, health NOT_SERVING while failing).
        tasks.every("record-expiry", EXPIRY_INTERVAL_SECONDS, service.expire)
        # No Evaluate waits while the WAL is folded into registry.db (Pool.defer_checkpoints).
        store.pool.defer_checkpoints()
        tasks.every("wal-checkpoint", serving.CHECKPOINT_SECONDS, store.pool.checkpoint_passive)
        # Free space and a writable data directory: NOT_SERVING (part "disk") otherwise.
        tasks.run(
            "disk-watch",
            lambda: serving.watch_data_dir(
                health, rdir.path, config.min_free_mb * 2**20, DISK_CHECK_SECONDS
            ),
        )
        log.info(
            "registry.listening",
            address=bound,
            tls=tls is not None,
            epoch=epoch,
            version=service.version,
        )
        yield RunningRegistry(
            server,
            service,
            submissions,
            store,
            int(bound.rsplit(":", 1)[1]),
            bound,
            tls is not None,
            health,
            tasks,
        )
    finally:
        if tasks is not None:
            await tasks.stop()
        if server is not None:
            await server.stop(GRACE_SECONDS)
        endpoint.remove()
        with suppress(FileNotFoundError):
            rdir.health_path.unlink()
        await store.close()
        executor.shutdown(wait=True, cancel_futures=True)
        held.close()
        if listening:
            log.info("registry.stopped")


async def _settled_signing_key(rdir: RegistryDir, store: SqliteStore) -> nacl.signing.SigningKey:
    """The signing key, after finishing (or undoing) a rotation a crash interrupted; it
    must be the one the stored chain ends at."""
    transitions = await store.key_transitions()
    current: bytes | None = None
    if transitions:
        last = snapshot_pb2.KeyTransition()
        last.ParseFromString(transitions[-1])
        current = bytes(last.new_public_key)
    rdir.settle_signing_key(current)
    key = rdir.signing_key()
    if current is not None and bytes(key.verify_key) != current:
        raise ServeError(
            f"{rdir.signing_key_path} is not the key the stored key chain ends at; "
            "restore the signing key from the backup taken with the database"
        )
    return key


async def serve(
    rdir: RegistryDir,
    listen: str | None = None,
    insecure: bool = False,
    announce: Callable[[str, bool], None] | None = None,
) -> None:
    """`lanyard registry serve`: run until SIGTERM or SIGINT, then stop gracefully.
    `announce(address, tls)` is called once the port is bound (the CLI prints it on a
    terminal)."""
    async with running(rdir, listen, insecure) as registry:
        stop = serving.stop_on_signals()
        if announce is not None:
            announce(registry.address, registry.tls)
        await stop.wait()
        log.info("registry.stopping")
