"""Settings, read from the environment (KAIMEN_*) by entry points only, and the workspace
they open: what every service call needs, resolved once per process."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kaimen.domain import profiles
from kaimen.domain.errors import ConfigurationError
from kaimen.engines.choice import EngineChoice, SparkOptions

if TYPE_CHECKING:
    import ibis
    from sqlalchemy import Engine

    from kaimen.sharing.rate_limits import PartnerLimits
    from kaimen.store.audit_head import HeadFile
    from kaimen.store.identity_vault import IdentityVault

# Ibis, SQLAlchemy (with Alembic) and the vault's cryptography are imported where they are
# first used, not here: every command reads its settings, and `kaimen --help` must not pay
# for what only some commands need.


@dataclass(frozen=True)
class Workspace:
    """The open store, the lake and the folders of one kaimen home: the doors hold one and
    pass its parts to the services they call."""

    engine: Engine
    vault: IdentityVault
    lake_root: Path
    models_dir: Path
    model_cards_dir: Path
    pipeline: EngineChoice = field(default_factory=EngineChoice)
    profile_choice: str = profiles.DEFAULT
    # Dispute evidence files, by content hash (KAIMEN_HOME/evidence).
    evidence_dir: Path = Path(".kaimen/evidence")
    # Where the audit chain's signed heads are appended, and the key that checks them.
    audit_heads: HeadFile | None = None
    # The partners' rate limits (KAIMEN_RATE_LIMIT_*); none: no limits (a command's own use).
    limits: PartnerLimits | None = None

    def profile(self) -> profiles.Profile:
        """The jurisdiction profile KAIMEN_PROFILE chose, loaded (and checked) on first use."""
        return profiles.load(self.profile_choice)

    def backend(self) -> ibis.BaseBackend:
        """A fresh engine for pipeline expressions (one per call: not shared between
        threads): embedded DuckDB, or Spark when KAIMEN_ENGINE=spark."""
        return self.pipeline.connect()


class Settings(BaseSettings):
    """Where kaimen keeps its data and the secrets it needs.

    `home` holds the SQLite file, the lake and, when no secret is configured, generated keys
    (readable by the owner only). Production sets `KAIMEN_DATABASE_URL`, `KAIMEN_SECRET_KEY`
    and `KAIMEN_ADMIN_TOKEN` explicitly.
    """

    model_config = SettingsConfigDict(env_prefix="KAIMEN_", extra="ignore")

    home: Path = Path(".kaimen")
    database_url: str | None = None
    secret_key: SecretStr | None = None
    admin_token: SecretStr | None = None
    # None: each entry point's own default (WARNING for commands, INFO for `kaimen serve`).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = None
    # What runs summaries, features and scoring over the lake: embedded DuckDB, or Spark
    # (`pip install 'kaimen[spark]'`) on `local[N]` or a cluster's master URL.
    engine: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str = "local[*]"
    spark_driver_memory: str | None = None
    spark_shuffle_partitions: int | None = None
    # The jurisdiction: `cn`, `us`, `eu`, or the path of a profile file (see domain/profiles).
    profile: str = profiles.DEFAULT
    # The append-only file of the audit chain's signed heads (default KAIMEN_HOME/
    # audit-heads.log): put it where the database's operator cannot rewrite it alone.
    audit_head_file: Path | None = None
    # Partners' rate limits (`limits` rate strings, "10/minute;50/day"; see
    # sharing/rate_limits): per API key on decisions and reports, per partner and person on
    # each, and the stricter one on decisions flagged as probing a person's score. Counted in
    # memory, or in the storage a `limits` URI names (redis://host:6379 for several servers).
    rate_limit_per_key: str = "100/second"
    rate_limit_per_person: str = "10/minute;50/day"
    rate_limit_probing: str = "3/month"
    rate_limit_probing_window_days: int = Field(default=30, ge=1, le=366)
    rate_limit_storage: str = "memory://"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("engine", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'kaimen.sqlite').resolve()}"

    @property
    def lake_root(self) -> Path:
        return (self.home / "lake").resolve()

    @property
    def resolved_audit_head_file(self) -> Path:
        return (self.audit_head_file or self.home / "audit-heads.log").resolve()

    @property
    def step_runs(self) -> Path:
        """Where each batch step's last run is kept, for `/metrics` to show."""
        return (self.home / "step-runs").resolve()

    def _generated(self, name: str, make: str) -> str:
        """The secret kept in `home` under `name`, written from `make` by whoever comes first.

        Processes started together (three ingests, a server and a command) race for it: the
        key is written whole to a private file and linked into place, so the name never shows
        a half-written key and every loser reads the winner's."""
        path = self.home / name
        if path.exists():
            return path.read_text().strip()
        self.home.mkdir(parents=True, exist_ok=True)
        descriptor, draft = tempfile.mkstemp(dir=self.home, prefix=f".{name}.")
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(make + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(draft, path)
            except FileExistsError:
                return path.read_text().strip()
            return make
        finally:
            Path(draft).unlink()

    def vault(self) -> IdentityVault:
        """The identity vault, from KAIMEN_SECRET_KEY or a key generated in `home`."""
        from kaimen.store.identity_vault import IdentityVault, decode_secret, new_secret

        text = (
            self.secret_key.get_secret_value()
            if self.secret_key
            else self._generated("secret.key", new_secret())
        )
        return IdentityVault(decode_secret(text))

    def session_key(self) -> bytes:
        """The key that signs the web app's session cookies: derived from KAIMEN_SECRET_KEY
        (a key for this use only), or generated in `home`."""
        if self.secret_key:
            secret = self.secret_key.get_secret_value().encode()
            return hmac.new(secret, b"kaimen.web.session", hashlib.sha256).digest()
        return self._generated("session.key", secrets.token_urlsafe(32)).encode()

    def secret_values(self) -> list[str]:
        """The configured secrets, for the logs to mask wherever they might appear."""
        return [s.get_secret_value() for s in (self.admin_token, self.secret_key) if s]

    def rate_limits(self) -> PartnerLimits:
        """The partners' rate limits as configured (`ConfigurationError` for a bad one)."""
        from kaimen.sharing.rate_limits import LimitSettings, PartnerLimits

        return PartnerLimits(
            LimitSettings(
                per_key=self.rate_limit_per_key,
                per_person=self.rate_limit_per_person,
                probing=self.rate_limit_probing,
                probing_window_seconds=self.rate_limit_probing_window_days * 24 * 3600,
                storage_uri=self.rate_limit_storage,
            )
        )

    def workspace(self) -> Workspace:
        """Open (and migrate) the store; the lake and model folders of `home`."""
        from kaimen.store import audit_head
        from kaimen.store.database import open_store

        engine = open_store(self.resolved_database_url)
        witness = audit_head.HeadWitness(
            self.resolved_audit_head_file,
            audit_head.HeadSigner(self._generated("audit-head.key", audit_head.new_key())),
        )
        audit_head.attach(engine, witness)
        return Workspace(
            engine=engine,
            vault=self.vault(),
            lake_root=self.lake_root,
            models_dir=self.home / "models",
            model_cards_dir=self.home / "model_cards",
            pipeline=self.pipeline(),
            profile_choice=self.profile,
            evidence_dir=(self.home / "evidence").resolve(),
            audit_heads=witness.file,
        )

    def pipeline(self) -> EngineChoice:
        """The engine the settings chose for pipeline expressions."""
        spark = SparkOptions(
            self.spark_master, self.spark_driver_memory, self.spark_shuffle_partitions
        )
        return EngineChoice(self.engine, spark)

    def admin_token_value(self) -> str:
        """The admin API token, from KAIMEN_ADMIN_TOKEN or generated in `home`."""
        if self.admin_token:
            value = self.admin_token.get_secret_value()
            if len(value) < 16:
                raise ConfigurationError("KAIMEN_ADMIN_TOKEN must be at least 16 characters")
            return value
        return self._generated("admin.token", secrets.token_urlsafe(32))
