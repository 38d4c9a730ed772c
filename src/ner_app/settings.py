"""Typed settings, read once from the environment, with defaults safe for production."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_MODEL = "en_core_web_sm"


class SettingsError(ValueError):
    """An environment variable holds a value the app cannot use."""


@dataclass(frozen=True)
class Settings:
    """What the app reads from the environment (variables prefixed ``NER_``)."""

    model: str = DEFAULT_MODEL
    max_chars: int = 100_000
    max_upload_bytes: int = 1_000_000
    drain_seconds: int = 0
    max_batch_docs: int = 100
    max_batch_bytes: int = 5_000_000
    api_token: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read ``NER_MODEL``, ``NER_MAX_CHARS``, ``NER_MAX_UPLOAD_BYTES``,
        ``NER_DRAIN_SECONDS``, ``NER_MAX_BATCH_DOCS``, ``NER_MAX_BATCH_BYTES`` and
        ``NER_API_TOKEN``."""
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            model=env.get("NER_MODEL", "").strip() or defaults.model,
            max_chars=_positive_int(env, "NER_MAX_CHARS", defaults.max_chars),
            max_upload_bytes=_positive_int(env, "NER_MAX_UPLOAD_BYTES", defaults.max_upload_bytes),
            drain_seconds=_positive_int(env, "NER_DRAIN_SECONDS", defaults.drain_seconds, least=0),
            max_batch_docs=_positive_int(env, "NER_MAX_BATCH_DOCS", defaults.max_batch_docs),
            max_batch_bytes=_positive_int(env, "NER_MAX_BATCH_BYTES", defaults.max_batch_bytes),
            api_token=env.get("NER_API_TOKEN", "").strip(),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int, least: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not a whole number; unset it or give e.g. {default}."
        ) from None
    if value < least:
        raise SettingsError(
            f"{name}={raw!r} must be at least {least}; unset it or give e.g. {default}."
        )
    return value
