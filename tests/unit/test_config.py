from pathlib import Path

import pytest

from mds.config import LogFormat, SettingsError, load_settings
from mds.matching.decision import RARE_GIVEN_NAME_BITS
from mds.services.resolution.config import ResolutionConfig


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "KAFKA_BROKERS", "SCHEMA_REGISTRY_URL", "DEBEZIUM_CONNECT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("MDS_"):
            monkeypatch.delenv(name, raising=False)


def test_defaults_use_the_embedded_database_and_loopback() -> None:
    settings = load_settings()
    assert settings.database_url is None
    assert settings.kafka_brokers is None
    assert settings.host == "127.0.0.1"
    assert settings.port == 8080
    assert settings.log_format is LogFormat.JSON
    assert settings.key_file_path == settings.data_dir / "keys" / "kek.json"
    assert settings.embedded_pgdata == settings.data_dir / "postgres"


def test_unprefixed_infrastructure_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://mds@db.internal/mds")
    monkeypatch.setenv("KAFKA_BROKERS", "k1:9092,k2:9092")
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", "http://sr:8081")
    monkeypatch.setenv("DEBEZIUM_CONNECT_URL", "http://connect:8083")
    settings = load_settings()
    assert settings.database_url == "postgresql://mds@db.internal/mds"
    assert settings.kafka_brokers == "k1:9092,k2:9092"
    assert settings.schema_registry_url == "http://sr:8081"
    assert settings.debezium_connect_url == "http://connect:8083"


def test_prefixed_settings_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MDS_PORT", "9000")
    monkeypatch.setenv("MDS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MDS_LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.port == 9000
    assert settings.data_dir == tmp_path
    assert settings.log_level == "DEBUG"
    assert settings.key_file_path == tmp_path / "keys" / "kek.json"


def test_the_expected_store_size_reaches_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ResolutionConfig.from_settings(load_settings()).expected_identities == 0
    monkeypatch.setenv("MDS_EXPECTED_IDENTITIES", "2000000")
    assert ResolutionConfig.from_settings(load_settings()).expected_identities == 2_000_000


def test_the_household_name_bound_reaches_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    default = ResolutionConfig.from_settings(load_settings()).thresholds
    assert default.household_name_bits == RARE_GIVEN_NAME_BITS
    monkeypatch.setenv("MDS_HOUSEHOLD_NAME_BITS", "0")
    assert ResolutionConfig.from_settings(load_settings()).thresholds.household_name_bits == 0
    monkeypatch.setenv("MDS_HOUSEHOLD_NAME_BITS", "-1")
    with pytest.raises(SettingsError, match="MDS_HOUSEHOLD_NAME_BITS"):
        load_settings()


def test_empty_database_url_means_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    assert load_settings().database_url is None


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("MDS_PORT", "eighty", "MDS_PORT"),
        ("MDS_PORT", "70000", "MDS_PORT"),
        ("MDS_LOG_LEVEL", "loud", "MDS_LOG_LEVEL"),
        ("MDS_LOG_FORMAT", "xml", "MDS_LOG_FORMAT"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL"),
        ("MDS_DB_POOL_SIZE", "0", "MDS_DB_POOL_SIZE"),
        ("MDS_AUTO_MIGRATE", "perhaps", "MDS_AUTO_MIGRATE"),
        ("MDS_EXPECTED_IDENTITIES", "-5", "MDS_EXPECTED_IDENTITIES"),
    ],
)
def test_invalid_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert named in str(excinfo.value)


def test_every_bad_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MDS_PORT", "x")
    monkeypatch.setenv("MDS_LOG_LEVEL", "y")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert "MDS_PORT" in str(excinfo.value)
    assert "MDS_LOG_LEVEL" in str(excinfo.value)
