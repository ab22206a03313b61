"""The registry's data directory: one SQLite file, key files (mode 0600), a TOML config.

registry.toml      listen address, TLS files, limits
registry.db        events, records as Y points, snapshot entries (never identifiers)
signing.key        Ed25519 seed: signs snapshots; events pin its public half
admin.key          Ed25519 seed of the operator's admin key, used by the CLI
oprf/epoch-N.key   the OPRF scalar k for epoch N (never in the database)
endpoint           written by `serve`: the address it actually listens on
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nacl.signing

from lanyard.core import files, keys, screen
from lanyard.core.errors import Error as CoreError
from lanyard.registry.errors import DataDirError

DEFAULT_LISTEN = "127.0.0.1:4750"
DEFAULT_MAX_BATCH = 10_000
ADMIN_NAME = "operator"

_CONFIG_TEMPLATE = """\
# Lanyard registry configuration. Environment variables LANYARD_REGISTRY_<KEY> override.
listen = "{listen}"
# Largest batch of blinded points one Evaluate call may carry.
max_batch = {max_batch}
# TLS: required to listen on anything but loopback (unless serve --insecure).
# tls_cert = "/etc/lanyard/registry.crt"
# tls_key = "/etc/lanyard/registry.key"
# client_ca = "/etc/lanyard/events-ca.crt"
"""


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    listen: str = DEFAULT_LISTEN
    max_batch: int = DEFAULT_MAX_BATCH
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None


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
    def admin_key_path(self) -> Path:
        return self.path / "admin.key"

    @property
    def endpoint_path(self) -> Path:
        return self.path / "endpoint"

    def oprf_key_path(self, epoch: int) -> Path:
        return self.path / "oprf" / f"epoch-{epoch}.key"

    def create(self, listen: str = DEFAULT_LISTEN) -> None:
        """Lay out a new directory: keys for epoch 1, signing and admin keys, config.
        The database is created by the store. Refuses to touch an existing registry."""
        if self.config_path.exists() or self.db_path.exists():
            raise DataDirError(f"{self.path} already holds a registry; refusing to overwrite it")
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
        for key in ("listen", "max_batch", "tls_cert", "tls_key", "client_ca"):
            env = os.environ.get(f"LANYARD_REGISTRY_{key.upper()}")
            if env:
                data[key] = env
        try:
            max_batch = int(data.get("max_batch", DEFAULT_MAX_BATCH))
        except (TypeError, ValueError) as exc:
            raise DataDirError(f"{self.config_path}: max_batch must be a whole number") from exc
        # One proof covers one batch, whose points it numbers with 16 bits (spec §3a).
        if not 1 <= max_batch <= 65_535:
            raise DataDirError(f"{self.config_path}: max_batch must be between 1 and 65535")

        def path(key: str) -> Path | None:
            value = data.get(key)
            return Path(str(value)) if value else None

        return RegistryConfig(
            listen=str(data.get("listen", DEFAULT_LISTEN)),
            max_batch=max_batch,
            tls_cert=path("tls_cert"),
            tls_key=path("tls_key"),
            client_ca=path("client_ca"),
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
            size = path.stat().st_size
            with path.open("r+b") as fh:
                fh.write(os.urandom(size))
                fh.flush()
                os.fsync(fh.fileno())
            path.unlink()
        except FileNotFoundError:
            pass

    def endpoint(self) -> str:
        """Where a running `serve` listens, else the configured address."""
        try:
            return self.endpoint_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return self.load_config().listen
