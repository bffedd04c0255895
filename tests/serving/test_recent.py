"""The recent answers' ids that feedback may name before the prediction log is flushed."""

from __future__ import annotations

import pytest

from loopline.serving._recent import RecentPredictions


def test_remembers_requests_and_their_predictions() -> None:
    recent = RecentPredictions(10)
    recent.add("r1", ["a", "b"])
    recent.add("r2", ["c"])
    known = recent.mapping()
    assert "a" in known
    assert "c" in known
    assert "z" not in known
    assert [p for p, r in known.items() if r == "r1"] == ["a", "b"]
    assert [p for p, r in known.items() if r == "r2"] == ["c"]
    assert [p for p, r in known.items() if r == "r3"] == []
    assert len(recent) == 3


def test_forgets_the_oldest_requests_beyond_the_limit_keeping_at_least_the_limit() -> None:
    recent = RecentPredictions(4)
    for number in range(6):
        recent.add(f"r{number}", [f"p{number}a", f"p{number}b"])
        assert len(recent) >= min(4, 2 * (number + 1))  # never below the limit
        assert len(recent) < 4 + 2  # less than one request beyond it
    known = recent.mapping()
    assert [p for p, r in known.items() if r == "r5"] == ["p5a", "p5b"]
    assert [p for p, r in known.items() if r == "r4"] == ["p4a", "p4b"]
    assert "p3a" not in known
    assert [p for p, r in known.items() if r == "r0"] == []


def test_a_request_larger_than_the_limit_is_kept_whole() -> None:
    recent = RecentPredictions(3)
    recent.add("small", ["s"])
    recent.add("big", ["b1", "b2", "b3", "b4", "b5"])
    known = recent.mapping()
    assert [p for p, r in known.items() if r == "big"] == ["b1", "b2", "b3", "b4", "b5"]
    assert "s" not in known
    assert len(recent) == 5


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RecentPredictions(0)
