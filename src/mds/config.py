"""All runtime settings, read once from the environment (one pydantic-settings class)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class KeyProviderKind(StrEnum):
    LOCAL = "local"


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("mds", appauthor=False))


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

    default_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    link_threshold: float = Field(default=0.995, gt=0, lt=1)
    review_threshold: float = Field(default=0.30, gt=0, lt=1)
    source_trust: str = "crm,support,signup"
    ingest_batch_size: int = Field(default=500, ge=1, le=10_000)

    auto_migrate: bool = True
    db_pool_size: int = Field(default=10, ge=1, le=500)
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

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> Settings:
        if self.review_threshold > self.link_threshold:
            raise ValueError(
                "MDS_REVIEW_THRESHOLD must not exceed MDS_LINK_THRESHOLD"
                f" ({self.review_threshold} > {self.link_threshold})"
            )
        return self

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
