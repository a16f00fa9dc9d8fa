"""All runtime settings, read once from the environment (one pydantic-settings class)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mds.domain.audit import RETENTION_FLOOR_YEARS
from mds.security.tokens import ASYMMETRIC_ALGORITHMS as ASYMMETRIC_JWT_ALGORITHMS


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class KeyProviderKind(StrEnum):
    LOCAL = "local"


class OutboxMode(StrEnum):
    """Who publishes the outbox: the built-in relay, or Debezium reading the WAL."""

    RELAY = "relay"
    DEBEZIUM = "debezium"


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("mds", appauthor=False))


# Signals per `mds import` transaction. On the 1M-user benchmark store with two workers, 250
# imported 414-439 signals/s where 500 gave 365-403 in the same hour (alternating runs): half
# the batch holds its advisory and row locks half as long, so the other worker waits less, and
# the CPU per signal stayed the same. The complete-profile quality figures (3k, 10k) are the
# same at both sizes.
DEFAULT_INGEST_BATCH_SIZE = 250


class SettingsError(ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


class Settings(BaseSettings):
    """Environment-driven settings. README.md documents each one with its default."""

    model_config = SettingsConfigDict(env_prefix="MDS_", extra="ignore", frozen=True)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "database_url")
    )
    kafka_brokers: str | None = Field(
        default=None, validation_alias=AliasChoices("KAFKA_BROKERS", "kafka_brokers")
    )
    schema_registry_url: str | None = Field(
        default=None, validation_alias=AliasChoices("SCHEMA_REGISTRY_URL", "schema_registry_url")
    )
    debezium_connect_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DEBEZIUM_CONNECT_URL", "debezium_connect_url"),
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    data_dir: Path = Field(default_factory=_default_data_dir)
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.JSON

    key_provider: KeyProviderKind = KeyProviderKind.LOCAL
    key_file: Path | None = None

    # Bearer tokens (mds.api.auth). No JWKS URL: the local signing key in the data dir.
    jwks_url: str | None = None
    jwt_issuer: str = Field(default="mds-local", min_length=1)
    jwt_audience: str = Field(default="mds", min_length=1)
    jwt_algorithms: str = "RS256,ES256,EdDSA"
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwks_cache_seconds: float = Field(default=300, gt=0)
    jwks_refresh_interval_seconds: float = Field(default=30, ge=0)
    token_ttl_seconds: int = Field(default=3600, ge=60, le=30 * 86400)
    # mTLS (mds serve): a client CA makes a valid client certificate mandatory.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None

    default_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    link_threshold: float = Field(default=0.995, gt=0, lt=1)
    review_threshold: float = Field(default=0.30, gt=0, lt=1)
    # How rare (in bits) a given name must be to link on it and a shared phone or address
    # alone; the default is mds.matching.decision.RARE_GIVEN_NAME_BITS, not imported so that
    # reading the settings does not load the matching engine.
    household_name_bits: float = Field(default=6.0, ge=0, le=64)
    # A signal whose occurred_at is further ahead of the clock than this is rejected.
    max_clock_skew_seconds: int = Field(default=300, ge=0)
    # Identities the store will hold once the load under way is in (0: what it holds now).
    expected_identities: int = Field(default=0, ge=0)
    source_trust: str = "crm,support,signup"
    ingest_batch_size: int = Field(default=DEFAULT_INGEST_BATCH_SIZE, ge=1, le=10_000)
    import_workers: int = Field(default=1, ge=1, le=64)
    api_max_pending_signals: int = Field(default=10_000, ge=1)

    # Propagation (mds.streaming): topics, the relay and the ingestion workers.
    topic_prefix: str = Field(default="mds", pattern=r"^[A-Za-z0-9._-]+$")
    ingest_topics: str = Field(default="mds.signals", min_length=1)
    dead_letter_topic: str = Field(default="mds.signals.dlq", pattern=r"^[A-Za-z0-9._-]+$")
    consumer_group: str = Field(default="mds-ingest", min_length=1)
    consumer_session_timeout_ms: int = Field(default=10_000, ge=1_000, le=300_000)
    relay_batch_size: int = Field(default=2_000, ge=1, le=50_000)
    relay_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    outbox_retention_hours: float = Field(default=72, ge=0)
    # Inside `mds serve` when KAFKA_BROKERS is set (`--no-relay` / `--no-worker` turn them off).
    serve_relay: bool = True
    serve_worker: bool = True
    # Debezium CDC (mds cdc …). In debezium mode the relay is off and Debezium reads the WAL.
    outbox_mode: OutboxMode = OutboxMode.RELAY
    cdc_connector_name: str = Field(default="mds-outbox", pattern=r"^[A-Za-z0-9._-]+$")
    cdc_slot_name: str = Field(default="mds_outbox", pattern=r"^[a-z0-9_]{1,63}$")
    cdc_publication: str = Field(default="mds_outbox_pub", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    # What the connector config says for the database password: a Kafka Connect config
    # provider reference, so the secret never sits in the connector's stored config.
    cdc_password_ref: str = Field(default="${file:/secrets/mds.properties:password}", min_length=1)

    # The audit trail's retention (mds retention run); at least the legal floor.
    audit_retention_years: int = Field(default=RETENTION_FLOOR_YEARS, le=100)

    auto_migrate: bool = True
    db_pool_size: int = Field(default=10, ge=1, le=500)
    db_pool_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)
    migration_lock_timeout_ms: int = Field(default=5_000, ge=0)
    migration_statement_timeout_ms: int = Field(default=600_000, ge=0)

    @field_validator("database_url", "kafka_brokers", "schema_registry_url", "debezium_connect_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql", "postgres:")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("audit_retention_years")
    @classmethod
    def _not_below_floor(cls, value: int) -> int:
        if value < RETENTION_FLOOR_YEARS:
            raise ValueError(
                f"{value} years is below the audit trail's floor of {RETENTION_FLOOR_YEARS} years"
            )
        return value

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if self.review_threshold > self.link_threshold:
            raise ValueError(
                "MDS_REVIEW_THRESHOLD must not exceed MDS_LINK_THRESHOLD"
                f" ({self.review_threshold} > {self.link_threshold})"
            )
        return self

    @field_validator("jwks_url")
    @classmethod
    def _jwks_over_http(cls, value: str | None) -> str | None:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an https:// (or http://) URL")
        return value or None

    @field_validator("jwt_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: str) -> str:
        names = [a.strip() for a in value.split(",") if a.strip()]
        # Shared-secret (HS*) and "none" would let anyone holding the public key mint tokens.
        unknown = [a for a in names if a not in ASYMMETRIC_JWT_ALGORITHMS]
        if not names or unknown:
            raise ValueError(
                f"unsupported algorithm(s) {', '.join(unknown) or '(none given)'}; "
                f"choose from {', '.join(sorted(ASYMMETRIC_JWT_ALGORITHMS))}"
            )
        return ",".join(names)

    @model_validator(mode="after")
    def _tls_files_together(self) -> Settings:
        if (self.tls_key or self.tls_client_ca) and not self.tls_cert:
            raise ValueError("MDS_TLS_KEY and MDS_TLS_CLIENT_CA need MDS_TLS_CERT")
        return self

    @property
    def jwt_algorithm_list(self) -> tuple[str, ...]:
        return tuple(self.jwt_algorithms.split(","))

    @property
    def token_signing_key_path(self) -> Path:
        return self.data_dir / "keys" / "token-signing.pem"

    @property
    def user_topic(self) -> str:
        return f"{self.topic_prefix}.user"

    @property
    def ingest_topic_list(self) -> tuple[str, ...]:
        return tuple(t.strip() for t in self.ingest_topics.split(",") if t.strip())

    @property
    def source_trust_order(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.source_trust.split(",") if s.strip())

    @model_validator(mode="after")
    def _resolve_key_file(self) -> Settings:
        if self.key_file is None:
            object.__setattr__(self, "key_file", self.data_dir / "keys" / "kek.json")
        return self

    @property
    def key_file_path(self) -> Path:
        assert self.key_file is not None  # set by _resolve_key_file
        return self.key_file

    @property
    def embedded_pgdata(self) -> Path:
        return self.data_dir / "postgres"


_ENV_NAMES = {
    "database_url": "DATABASE_URL",
    "kafka_brokers": "KAFKA_BROKERS",
    "schema_registry_url": "SCHEMA_REGISTRY_URL",
    "debezium_connect_url": "DEBEZIUM_CONNECT_URL",
}


def env_name(field: str) -> str:
    """The environment variable that sets a Settings field."""
    return _ENV_NAMES.get(field, f"MDS_{field.upper()}")


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise SettingsError naming each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["loc"]:
                message = f"{env_name(str(error['loc'][0]))}: {message}"
            problems.append(message)
        raise SettingsError("invalid setting " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
