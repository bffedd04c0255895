"""The canary watch: promote a canary step by step, or roll it back on a breach.

Each replica counts, per deployment revision, the canary arm's requests, failures and latencies.
Once the canary has answered ``rollout.min_requests`` requests at the current step, the watch
decides: if its error rate is above ``rollout.max_error_rate`` or its p99 latency above
``rollout.max_latency_p99_ms``, the deployment is rolled back to the champion alone; otherwise
the canary moves to the next step (and finally becomes the champion). The decision is written
only if the deployment is still at the revision that was measured, so replicas never double-step.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from loopline._workspace import Workspace
from loopline.serving._deployments import advance_canary, current_deployment, rollback_deployment
from loopline.spec import RolloutSpec

__all__ = ["CanaryStats", "CanaryWatch"]


@dataclass
class CanaryStats:
    """What the canary arm did at one revision."""

    requests: int = 0
    failures: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=5000))

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    @property
    def p99_ms(self) -> float | None:
        return float(np.percentile(list(self.latencies_ms), 99)) if self.latencies_ms else None


class CanaryWatch:
    """Counts canary traffic and makes the step/rollback decision once per revision."""

    def __init__(self) -> None:
        self.stats: dict[tuple[str, int], CanaryStats] = {}
        self.decided: set[tuple[str, int]] = set()

    def record(
        self, use_case: str, revision: int, *, failed: bool, latency_ms: float
    ) -> CanaryStats:
        """Count one canary answer."""
        stats = self.stats.setdefault((use_case, revision), CanaryStats())
        stats.requests += 1
        stats.failures += int(failed)
        if not failed:
            stats.latencies_ms.append(latency_ms)
        return stats

    def due(self, use_case: str, revision: int, rollout: RolloutSpec) -> bool:
        """Whether enough canary requests were seen at this revision to decide."""
        stats = self.stats.get((use_case, revision))
        return (
            stats is not None
            and stats.requests >= rollout.min_requests
            and (use_case, revision) not in self.decided
        )

    def decide(self, ws: Workspace, use_case: str, revision: int, rollout: RolloutSpec) -> str:
        """Step the canary forward or roll it back; returns what was done (or ``stale``)."""
        self.decided.add((use_case, revision))
        stats = self.stats[(use_case, revision)]
        breaches = []
        if stats.error_rate > rollout.max_error_rate:
            breaches.append(f"error rate {stats.error_rate:.3f} > {rollout.max_error_rate}")
        p99 = stats.p99_ms
        if (
            rollout.max_latency_p99_ms is not None
            and p99 is not None
            and p99 > rollout.max_latency_p99_ms
        ):
            breaches.append(f"p99 latency {p99:.1f} ms > {rollout.max_latency_p99_ms} ms")
        with ws.store.transaction() as session:
            current = current_deployment(session, use_case)
            if current is None or current.revision != revision or current.strategy != "canary":
                return "stale"
            if breaches:
                rollback_deployment(
                    session,
                    use_case,
                    actor="system:canary",
                    reason="canary breached: " + "; ".join(breaches),
                )
                return "rolled_back"
            advance_canary(
                session,
                use_case,
                actor="system:canary",
                reason=f"canary healthy after {stats.requests} requests "
                f"(error rate {stats.error_rate:.3f})",
            )
            return "advanced"
