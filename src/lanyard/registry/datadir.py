"""The registry's data directory: one SQLite file, key files (mode 0600), a TOML config.

registry.toml      listen address, TLS files, limits
registry.db        events, records as Y points, snapshot entries (never identifiers)
nonces.db          call-token nonces seen in the last 120 s (core/nonces.py; never backed up)
signing.key        Ed25519 seed: signs snapshots; events pin its public half
signing.next.key   only during a signing key rotation: the key being handed over to
admin.key          Ed25519 seed of the operator's admin key, used by the CLI
oprf/epoch-N.key   the OPRF scalar k for epoch N (never in the database)
oprf/epoch-N.destroyed  left when a rotation destroys epoch N's key
endpoint           written by `serve`: the address it actually listens on
health.json        written by `serve`: SERVING or NOT_SERVING, and why (`registry status`)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nacl.signing

from lanyard.core import files, keys, limits, screen
from lanyard.core.errors import Error as CoreError
from lanyard.registry.errors import DataDirError

DEFAULT_LISTEN = "127.0.0.1:4750"
# What marks a directory as an event agent's: a registry is never created over one.
AGENT_FILES = ("agent.toml", "agent.db", "event.key")
DEFAULT_MAX_BATCH = limits.MAX_BATCH
# Below this much free space for the data directory, `serve` reports NOT_SERVING.
DEFAULT_MIN_FREE_MB = 64
DEFAULT_EVALUATION_DAYS_AFTER_END = 30  # the agents' default attendee retention
ADMIN_NAME = "operator"

_CONFIG_TEMPLATE = """\
# Lanyard registry configuration. Environment variables LANYARD_REGISTRY_<KEY> override.
listen = "{listen}"
# Largest batch of blinded points one Evaluate call may carry.
max_batch = {max_batch}
# An event may evaluate from its enrolment until this many days after it ends.
# evaluation_days_after_end = 30
# TLS: required to listen on anything but loopback (unless serve --insecure).
# tls_cert = "/etc/lanyard/registry.crt"
# tls_key = "/etc/lanyard/registry.key"
# client_ca = "/etc/lanyard/events-ca.crt"
# Below this much free space (MiB) for this directory, `serve` reports NOT_SERVING.
# min_free_mb = 64
"""


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    listen: str = DEFAULT_LISTEN
    max_batch: int = DEFAULT_MAX_BATCH
    evaluation_days_after_end: int = DEFAULT_EVALUATION_DAYS_AFTER_END
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    min_free_mb: int = DEFAULT_MIN_FREE_MB


@dataclass(frozen=True, slots=True)
class RegistryDir:
    path: Path

    @property
    def db_path(self) -> Path:
        return self.path / "registry.db"

    @property
    def config_path(self) -> Path:
        return self.path / "registry.toml"

    @property
    def signing_key_path(self) -> Path:
        return self.path / "signing.key"

    @property
    def signing_next_path(self) -> Path:
        return self.path / "signing.next.key"

    @property
    def admin_key_path(self) -> Path:
        return self.path / "admin.key"

    @property
    def endpoint_path(self) -> Path:
        return self.path / "endpoint"

    @property
    def health_path(self) -> Path:
        return self.path / "health.json"

    def oprf_key_path(self, epoch: int) -> Path:
        return self.path / "oprf" / f"epoch-{epoch}.key"

    def create(self, listen: str = DEFAULT_LISTEN) -> None:
        """Lay out a new directory: keys for epoch 1, signing and admin keys, config.
        The database is created by the store. Refuses to touch an existing registry."""
        if self.config_path.exists() or self.db_path.exists():
            raise DataDirError(f"{self.path} already holds a registry; refusing to overwrite it")
        if any((self.path / name).exists() for name in AGENT_FILES):
            raise DataDirError(
                f"{self.path} holds an event agent's data; a registry needs a directory of its "
                "own (choose another --data-dir)"
            )
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        (self.path / "oprf").mkdir(mode=0o700, exist_ok=True)
        files.write_atomically(self.oprf_key_path(1), screen.random_scalar())
        keys.generate_signing_key(self.signing_key_path)
        keys.generate_signing_key(self.admin_key_path)
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_CONFIG_TEMPLATE.format(listen=listen, max_batch=DEFAULT_MAX_BATCH))

    def check(self) -> None:
        """One clear sentence if this is not a usable registry directory."""
        if not self.path.is_dir():
            raise DataDirError(
                f"registry data directory {self.path} does not exist; "
                "run `lanyard registry init` first"
            )
        for needed in (self.config_path, self.db_path, self.signing_key_path):
            if not needed.is_file():
                raise DataDirError(
                    f"registry data directory {self.path} is incomplete: {needed.name} is missing"
                )

    def load_config(self) -> RegistryConfig:
        try:
            data = tomllib.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DataDirError(f"{self.config_path} cannot be read: {exc}") from exc
        for key in (
            "listen",
            "max_batch",
            "evaluation_days_after_end",
            "tls_cert",
            "tls_key",
            "client_ca",
            "min_free_mb",
        ):
            env = os.environ.get(f"LANYARD_REGISTRY_{key.upper()}")
            if env:
                data[key] = env
        try:
            max_batch = int(data.get("max_batch", DEFAULT_MAX_BATCH))
        except (TypeError, ValueError) as exc:
            raise DataDirError(f"{self.config_path}: max_batch must be a whole number") from exc
        if not 1 <= max_batch <= limits.MAX_BATCH:
            raise DataDirError(
                f"{self.config_path}: max_batch must be between 1 and {limits.MAX_BATCH}"
            )
        try:
            days_after = int(
                data.get("evaluation_days_after_end", DEFAULT_EVALUATION_DAYS_AFTER_END)
            )
            if days_after < 0:
                raise ValueError(days_after)
        except (TypeError, ValueError) as exc:
            raise DataDirError(
                f"{self.config_path}: evaluation_days_after_end must be a whole number ≥ 0"
            ) from exc

        try:
            min_free_mb = int(data.get("min_free_mb", DEFAULT_MIN_FREE_MB))
        except (TypeError, ValueError) as exc:
            raise DataDirError(f"{self.config_path}: min_free_mb must be a whole number") from exc

        def path(key: str) -> Path | None:
            value = data.get(key)
            return Path(str(value)) if value else None

        return RegistryConfig(
            listen=str(data.get("listen", DEFAULT_LISTEN)),
            max_batch=max_batch,
            evaluation_days_after_end=days_after,
            tls_cert=path("tls_cert"),
            tls_key=path("tls_key"),
            client_ca=path("client_ca"),
            min_free_mb=max(0, min_free_mb),
        )

    def signing_key(self) -> nacl.signing.SigningKey:
        try:
            return keys.load_signing_key(self.signing_key_path)
        except CoreError as exc:
            raise DataDirError(str(exc)) from exc

    def admin_key(self) -> nacl.signing.SigningKey:
        try:
            return keys.load_signing_key(self.admin_key_path)
        except CoreError as exc:
            raise DataDirError(str(exc)) from exc

    def oprf_key(self, epoch: int) -> bytes:
        try:
            return keys.read_secret(self.oprf_key_path(epoch), screen.SCALAR_BYTES)
        except CoreError as exc:
            raise DataDirError(str(exc)) from exc

    def save_oprf_key(self, epoch: int, k: bytes) -> None:
        files.write_atomically(self.oprf_key_path(epoch), k)

    def destroy_oprf_key(self, epoch: int) -> None:
        """Overwrite, then unlink: the old key must not outlive the rotation (spec §6)."""
        path = self.oprf_key_path(epoch)
        try:
            _overwrite(path)
            path.unlink()
        except FileNotFoundError:
            pass
        # A marker that the key is gone for good: a restore of an older backup refuses to
        # bring it back (registry/backup.py).
        files.write_atomically(path.with_name(f"epoch-{epoch}.destroyed"), b"")

    # -- signing key rotation (registry/signing.py) ---------------------------------------
    def stage_signing_key(self) -> nacl.signing.SigningKey:
        """A new signing key, written beside the current one until the hand-over is stored."""
        return keys.generate_signing_key(self.signing_next_path)

    def commit_signing_key(self) -> None:
        """Make the staged key the signing key; the old seed is overwritten first."""
        _overwrite(self.signing_key_path)
        os.replace(self.signing_next_path, self.signing_key_path)

    def settle_signing_key(self, current: bytes | None) -> None:
        """After a crash mid-rotation: keep the staged key if the database already names
        it as current (`current`, 32 bytes; None before any rotation), else drop it."""
        if not self.signing_next_path.exists():
            return
        staged = keys.load_signing_key(self.signing_next_path)
        if current is not None and bytes(staged.verify_key) == current:
            self.commit_signing_key()
        else:
            _overwrite(self.signing_next_path)
            self.signing_next_path.unlink()

    def endpoint(self) -> str:
        """Where a running `serve` listens, else the configured address."""
        try:
            return self.endpoint_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return self.load_config().listen


def _overwrite(path: Path) -> None:
    """Fill a key file with random bytes, on disk, before it is replaced or unlinked."""
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.write(os.urandom(size))
        fh.flush()
        os.fsync(fh.fileno())
