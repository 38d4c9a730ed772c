"""What sessions came to: the summary of a round."""

from __future__ import annotations

from ner_build.browser.results import SessionResult, summarize


def result(index: int, replicas: tuple[str, ...] = (), error: str | None = None) -> SessionResult:
    return SessionResult(index, error is None, (), (), replicas, None, error, 1.0)


def test_summary_counts_sessions_per_replica_spread_and_errors() -> None:
    refused = "Error: AxiosError: Request failed with status code 403"
    results = [
        result(0, ("r1",)),
        result(1, ("r1",)),
        result(2, ("r2",), refused),
        result(3, ("r1", "r2")),
        result(4, (), refused),
        result(5, (), "timed out"),
    ]
    assert summarize(results) == {
        "total": 6,
        "ok": 3,
        "failed": 3,
        "replicas": {"none": 2, "r1": 2, "r2": 1, "spread": 1},
        "errors": {refused: 2, "timed out": 1},
    }


def test_summary_of_nothing_is_zeros() -> None:
    assert summarize([]) == {
        "total": 0,
        "ok": 0,
        "failed": 0,
        "replicas": {},
        "errors": {},
    }
