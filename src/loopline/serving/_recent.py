"""The latest answers' ids, kept in memory so feedback on a prediction is accepted before the
prediction log's next flush has written it."""

from __future__ import annotations

from collections import deque

__all__ = ["RecentPredictions"]


class RecentPredictions:
    """The prediction ids of the latest requests (at least ``limit`` predictions' worth).

    A request is remembered as one entry, its ids as the list the answers carry, so the serving
    path pays one append per request instead of one dictionary entry per row. Feedback, rare
    next to predictions, asks for :meth:`mapping` once per call; it is built from a snapshot, so
    it may be built in another thread while the event loop adds requests.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1; got {limit}")
        self.limit = limit
        self._requests: deque[tuple[str, list[str]]] = deque()
        self._rows = 0

    def add(self, request_id: str, prediction_ids: list[str]) -> None:
        """Remember a request's predictions, forgetting the oldest requests beyond ``limit``."""
        requests = self._requests
        requests.append((request_id, prediction_ids))
        self._rows += len(prediction_ids)
        while self._rows - len(requests[0][1]) >= self.limit:
            self._rows -= len(requests.popleft()[1])

    def __len__(self) -> int:
        """The predictions remembered."""
        return self._rows

    def mapping(self) -> dict[str, str]:
        """Each remembered prediction id to the id of the request it answered."""
        return {
            prediction_id: request_id
            for request_id, ids in tuple(self._requests)
            for prediction_id in ids
        }
