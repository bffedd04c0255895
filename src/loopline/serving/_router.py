"""Routing: which arm of a deployment answers a request.

Assignment hashes ``salt + unit_key`` with SHA-256 and maps it to [0, 1); the arms' weights cut
that interval in order. The salt belongs to the deployment (the experiment), so the same unit
gets the same arm on every replica and after restarts, and a new experiment reshuffles units.
A caller may pin an arm with the ``X-Loopline-Route`` header it got back earlier.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import Any

__all__ = ["ROUTE_HEADER", "choose_arm", "unit_position"]

ROUTE_HEADER = "x-loopline-route"
_random = random.Random().random  # noqa: S311  (traffic splitting, not security)


def unit_position(salt: str, unit_key: str) -> float:
    """A stable position in [0, 1) for a unit under a salt."""
    digest = hashlib.sha256(f"{salt}:{unit_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose_arm(
    arms: Sequence[dict[str, Any]], *, salt: str, unit_key: str | None, pinned: str | None = None
) -> dict[str, Any]:
    """The serving arm for a request (shadows never answer)."""
    serving = [arm for arm in arms if arm["role"] != "shadow" and arm["weight"] > 0]
    if pinned:
        for arm in serving:
            if arm["model"] == pinned or arm["role"] == pinned:
                return arm
    if len(serving) == 1:
        return serving[0]
    # without a unit key any uniform position will do (no hash, no system call for entropy)
    position = unit_position(salt, unit_key) if unit_key is not None else _random()
    total = sum(arm["weight"] for arm in serving)
    cumulative = 0.0
    for arm in serving:
        cumulative += arm["weight"] / total
        if position < cumulative:
            return arm
    return serving[-1]
