"""Decision webhooks: signed with HMAC-SHA256, retried on failure, delivered off the request."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from loopline.review._webhooks import SIGNATURE_HEADER, decision_event, deliver, notify_decision


class _Receiver(BaseHTTPRequestHandler):
    fail_first = 0
    received: ClassVar[list[tuple[bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(503)
        else:
            _Receiver.received.append((body, self.headers.get(SIGNATURE_HEADER, "")))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


CASE = {
    "id": "c1",
    "use_case": "credit-default",
    "prediction_id": "p1",
    "request_id": "r1",
    "status": "decided",
    "decision": {"action": "override", "label": 0, "by": "ana", "at": "t"},
}


def test_signature_verifies_with_the_shared_secret(receiver: str) -> None:
    assert deliver(receiver, decision_event(CASE), secret="s3cret")
    [(body, signature)] = _Receiver.received
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    assert json.loads(body)["decision"]["label"] == 0


def test_server_errors_are_retried_until_accepted(receiver: str) -> None:
    _Receiver.fail_first = 2
    assert deliver(receiver, decision_event(CASE), secret=None, attempts=4, backoff=0.01)
    assert len(_Receiver.received) == 1


def test_unreachable_url_gives_up_without_raising() -> None:
    assert not deliver(
        "http://127.0.0.1:1/hook",
        decision_event(CASE),
        secret=None,
        attempts=2,
        backoff=0.01,
        timeout=0.5,
    )


def test_only_final_decisions_are_sent(receiver: str) -> None:
    assert notify_decision(receiver, {**CASE, "status": "second_review"}, secret=None) is None
    thread = notify_decision(receiver, CASE, secret=None)
    assert thread is not None
    thread.join(timeout=10)
    assert len(_Receiver.received) == 1
