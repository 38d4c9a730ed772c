"""What concurrent sessions came to: one result per session, and a round's summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ner_build.browser.page import Entities


@dataclass(frozen=True)
class SessionResult:
    """What one session did and saw; `error` says what its user saw when it failed."""

    index: int
    ok: bool
    text_entities: Entities
    upload_entities: Entities
    replicas: tuple[str, ...]  # every replica that answered the page's HTTP requests so far
    cookie: str | None
    error: str | None
    seconds: float


def summarize(results: Sequence[SessionResult]) -> dict[str, Any]:
    """Counts: total, ok, failed, sessions per replica (or "spread" over several, or "none"),
    and each distinct error with how many sessions had it."""
    replicas: Counter[str] = Counter()
    for result in results:
        if len(result.replicas) == 1:
            replicas[result.replicas[0]] += 1
        else:
            replicas["spread" if result.replicas else "none"] += 1
    ok = sum(result.ok for result in results)
    errors = Counter(result.error for result in results if result.error)
    return {
        "total": len(results),
        "ok": ok,
        "failed": len(results) - ok,
        "replicas": dict(sorted(replicas.items())),
        "errors": dict(errors.most_common()),
    }
