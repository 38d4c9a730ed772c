import pytest

from ner_app.settings import DEFAULT_MODEL, Settings, SettingsError


def test_defaults_when_environment_is_empty() -> None:
    settings = Settings.from_env({})
    assert settings == Settings(model=DEFAULT_MODEL, max_chars=100_000, max_upload_bytes=1_000_000)


def test_reads_each_variable() -> None:
    env = {
        "NER_MODEL": " en_ner_test ",
        "NER_MAX_CHARS": "5_000",
        "NER_MAX_UPLOAD_BYTES": "42",
        "NER_DRAIN_SECONDS": "15",
    }
    assert Settings.from_env(env) == Settings("en_ner_test", 5000, 42, 15)


@pytest.mark.parametrize("value", ["ten", "1.5", "0", "-3"])
def test_rejects_a_limit_that_is_not_a_positive_whole_number(value: str) -> None:
    with pytest.raises(SettingsError, match="NER_MAX_CHARS"):
        Settings.from_env({"NER_MAX_CHARS": value})


def test_drain_seconds_may_be_zero_but_not_negative() -> None:
    assert Settings.from_env({"NER_DRAIN_SECONDS": "0"}).drain_seconds == 0
    with pytest.raises(SettingsError, match="NER_DRAIN_SECONDS='-1' must be at least 0"):
        Settings.from_env({"NER_DRAIN_SECONDS": "-1"})
