"""The agent's data directory: its SQLite file, the event's key, the pinned enrolment.

agent.toml        listen address for `agent serve`, retention
agent.db          attendees' normalised identifiers and results, snapshot, alerts
nonces.db         call-token nonces seen in the last 120 s (core/nonces.py; never backed up)
event.key         the event's Ed25519 seed: signs every call to the registry
event.pub         its public half, hex, to send to the WG
enrolment.json    the bundle from the WG, pinned: registry address and signing key
endpoint          written by `serve`: the address it actually listens on
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nacl.signing

from lanyard.agent.errors import DataDirError, NotEnrolled
from lanyard.core import files, keys
from lanyard.core.enrolment import Enrolment
from lanyard.core.errors import Error as CoreError

DEFAULT_LISTEN = "127.0.0.1:4760"
# What marks a directory as a WG registry's: an agent is never created over one.
REGISTRY_FILES = ("registry.toml", "registry.db", "signing.key", "admin.key")
DEFAULT_RETENTION_DAYS = 30
DEFAULT_MAX_SNAPSHOT_AGE_SECONDS = 600

_CONFIG_TEMPLATE = """\
# Lanyard event agent configuration. Environment variables LANYARD_AGENT_<KEY> override.
listen = "{listen}"
# Retention (attendee data, warning-only incidents) is data in agent.db: see
# `lanyard agent retention show|set`. An attendee_retention_days here overrides it.
# Past this many seconds without the registry confirming the WG's list held here, a person
# not screened before gets UNAVAILABLE from a check instead of a decision.
# max_snapshot_age_seconds = 600
# TLS for `agent serve` off loopback, and the CA that signed the registry's certificate.
# tls_cert = "/etc/lanyard/agent.crt"
# tls_key = "/etc/lanyard/agent.key"
# registry_ca = "/etc/lanyard/registry-ca.crt"
# Without registry_ca, a registry off loopback is reached over TLS verified against the
# system's trust store; plaintext to it needs registry_insecure = true, said explicitly.
# registry_insecure = false
"""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    listen: str = DEFAULT_LISTEN
    # None unless agent.toml or the environment sets it (then it overrides the policy).
    attendee_retention_days: int | None = None
    max_snapshot_age_seconds: int = DEFAULT_MAX_SNAPSHOT_AGE_SECONDS
    tls_cert: Path | None = None
    tls_key: Path | None = None
    registry_ca: Path | None = None
    registry_insecure: bool = False


@dataclass(frozen=True, slots=True)
class AgentDir:
    path: Path

    @property
    def db_path(self) -> Path:
        return self.path / "agent.db"

    @property
    def tasks_path(self) -> Path:
        """The background tasks' states, written by `agent serve` on every change."""
        return self.path / "tasks.json"

    @property
    def config_path(self) -> Path:
        return self.path / "agent.toml"

    @property
    def key_path(self) -> Path:
        return self.path / "event.key"

    @property
    def public_key_path(self) -> Path:
        return self.path / "event.pub"

    @property
    def enrolment_path(self) -> Path:
        return self.path / "enrolment.json"

    @property
    def master_path(self) -> Path:
        """The incident records' master key, wrapped (incidents/crypto.py)."""
        return self.path / "incidents-master.json"

    @property
    def keyring_path(self) -> Path:
        """Per-incident keys, apart from the records so that destroying one is final."""
        return self.path / "keyring.db"

    @property
    def endpoint_path(self) -> Path:
        return self.path / "endpoint"

    def create(self, listen: str = DEFAULT_LISTEN) -> bytes:
        """Lay out a new directory with a fresh event key; returns the public key."""
        if self.config_path.exists() or self.key_path.exists():
            raise DataDirError(f"{self.path} already holds an agent; refusing to overwrite it")
        if any((self.path / name).exists() for name in REGISTRY_FILES):
            raise DataDirError(
                f"{self.path} holds a WG registry's data; an agent needs a directory of its "
                "own (choose another --data-dir)"
            )
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        key = keys.generate_signing_key(self.key_path)
        public = bytes(key.verify_key)
        files.write_atomically(self.public_key_path, public.hex() + "\n")
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(_CONFIG_TEMPLATE.format(listen=listen))
        return public

    def check(self) -> None:
        if not self.path.is_dir():
            raise DataDirError(
                f"agent data directory {self.path} does not exist; run `lanyard agent init` first"
            )
        for needed in (self.config_path, self.key_path):
            if not needed.is_file():
                raise DataDirError(
                    f"agent data directory {self.path} is incomplete: {needed.name} is missing"
                )

    def load_config(self) -> AgentConfig:
        try:
            data = tomllib.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise DataDirError(f"{self.config_path} cannot be read: {exc}") from exc
        for key in (
            "listen",
            "attendee_retention_days",
            "max_snapshot_age_seconds",
            "tls_cert",
            "tls_key",
            "registry_ca",
            "registry_insecure",
        ):
            env = os.environ.get(f"LANYARD_AGENT_{key.upper()}")
            if env:
                data[key] = env
        try:
            days = data.get("attendee_retention_days")
            retention = None if days is None else int(days)
        except (TypeError, ValueError) as exc:
            raise DataDirError(
                f"{self.config_path}: attendee_retention_days must be a whole number"
            ) from exc
        try:
            max_age = int(data.get("max_snapshot_age_seconds", DEFAULT_MAX_SNAPSHOT_AGE_SECONDS))
            if max_age < 1:
                raise ValueError(max_age)
        except (TypeError, ValueError) as exc:
            raise DataDirError(
                f"{self.config_path}: max_snapshot_age_seconds must be a positive whole number"
            ) from exc

        def path(key: str) -> Path | None:
            value = data.get(key)
            return Path(str(value)) if value else None

        return AgentConfig(
            listen=str(data.get("listen", DEFAULT_LISTEN)),
            attendee_retention_days=retention,
            max_snapshot_age_seconds=max_age,
            tls_cert=path("tls_cert"),
            tls_key=path("tls_key"),
            registry_ca=path("registry_ca"),
            registry_insecure=str(data.get("registry_insecure", "false")).lower()
            in ("true", "1", "yes"),
        )

    def event_key(self) -> nacl.signing.SigningKey:
        try:
            return keys.load_signing_key(self.key_path)
        except CoreError as exc:
            raise DataDirError(str(exc)) from exc

    def pin(self, bundle_path: Path) -> Enrolment:
        """Validate a bundle and pin it; the event key must be the one the WG enrolled."""
        try:
            data = json.loads(bundle_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DataDirError(f"cannot read {bundle_path}: {exc.strerror}") from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataDirError(f"{bundle_path} is not JSON: {exc}") from exc
        try:
            enrolment = Enrolment.from_json(data, str(bundle_path))
        except CoreError as exc:
            raise DataDirError(str(exc)) from exc
        files.write_atomically(
            self.enrolment_path, json.dumps(enrolment.to_json(), indent=2) + "\n"
        )
        return enrolment

    def enrolment(self) -> Enrolment:
        try:
            data = json.loads(self.enrolment_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise NotEnrolled(
                "this agent is not enrolled yet: run `lanyard agent enroll BUNDLE` with the "
                "bundle the WG sent"
            ) from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataDirError(f"{self.enrolment_path} cannot be read: {exc}") from exc
        try:
            return Enrolment.from_json(data, str(self.enrolment_path))
        except CoreError as exc:
            raise DataDirError(str(exc)) from exc

    def endpoint(self) -> str:
        try:
            return self.endpoint_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return self.load_config().listen
