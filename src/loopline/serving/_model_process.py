"""The model stage in a process of its own: validation, scores and decisions of each micro-batch.

In the server's process the model thread shares one interpreter lock with the event loop, the
case writer and the log writer: under load three quarters of its time was spent waiting for the
lock, and it is the one serial stage. Here it runs in a child process with its own interpreter,
so it computes while the server parses, answers and writes, each on its own core.

:class:`ModelProcess` is the batcher's ``predict``: called in the batcher's thread, it sends the
batch's records and job contexts down a pipe and blocks (without the lock) until the child sends
the results back. The model is sent once, when the child starts; signatures and escalation
policies are sent the first time a batch refers to them and then named by a number, so a policy's
audit sampler keeps drawing from one stream in the child.

If the child dies, the batch it held fails (its callers get a 500, as for a model that raises)
and the next batch starts a new child. A child whose server dies sees its pipe close and exits.
"""

from __future__ import annotations

import gc
import multiprocessing
import pickle
import signal
import threading
from multiprocessing.connection import Connection
from typing import Any

from loopline.review import Escalation, EscalationPolicy
from loopline.serving._answers import _Request, _score_batch
from loopline.serving._batcher import BatchJob
from loopline.training import TrainedModel

__all__ = ["ModelProcess", "ModelProcessError"]

#: How long a new child may take to load its model before serving gives up on it.
START_TIMEOUT_S = 120.0

_CONTEXT = multiprocessing.get_context("forkserver")
# the fork server imports the model stage's modules once; each child is a fork of it
_CONTEXT.set_forkserver_preload(["loopline.serving._model_process"])


def _loads(data: bytes) -> Any:
    # only ever bytes this server and its own child wrote, on a pipe no one else holds
    return pickle.loads(data)  # noqa: S301


class ModelProcessError(RuntimeError):
    """The model process died or did not start."""


class ModelProcess:
    """Scores micro-batches of one model in a child process (the batcher's ``predict``).

    Call it from one thread at a time (the batcher's model thread).

    Args:
        model: The model the child serves.
        name: The model's name, for the process title and errors.
    """

    def __init__(self, model: TrainedModel, name: str) -> None:
        self.name = name
        self._model = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._process: Any = None
        #: id of an object the child holds -> (its number there, the object, kept alive)
        self._sent: dict[int, tuple[int, Any]] = {}
        self._start()

    @property
    def pid(self) -> int | None:
        """The child's process id (``None`` once closed)."""
        return None if self._process is None else int(self._process.pid)

    def _start(self) -> None:
        ours, theirs = _CONTEXT.Pipe()
        process = _CONTEXT.Process(
            target=_child, args=(theirs, self._model), name=f"loopline-model {self.name}"
        )
        process.daemon = True  # never outlives the server
        process.start()
        theirs.close()
        if not ours.poll(START_TIMEOUT_S):
            process.kill()
            raise ModelProcessError(f"the model process of {self.name} did not start")
        try:
            status, payload = _loads(ours.recv_bytes())
        except (EOFError, OSError) as exc:
            raise ModelProcessError(f"the model process of {self.name} exited at start") from exc
        if status != "ready":
            process.join(5)
            raise ModelProcessError(f"the model process of {self.name} failed: {payload}")
        self._connection, self._process, self._sent = ours, process, {}

    def _number(self, value: Any, new: dict[int, Any]) -> int:
        known = self._sent.get(id(value))
        if known is not None and known[1] is value:
            return known[0]
        number = len(self._sent)
        self._sent[id(value)] = (number, value)
        new[number] = value
        return number

    def __call__(self, parts: list[Any], jobs: list[BatchJob]) -> list[Any]:
        """Score a micro-batch in the child (see ``_score_batch``)."""
        with self._lock:
            if self._connection is None:
                self._start()
            assert self._connection is not None
            new: dict[int, Any] = {}
            contexts = []
            for job in jobs:
                request: _Request = job.context
                policy = request.policy
                contexts.append(
                    (
                        job.start,
                        job.end,
                        self._number(request.signature, new),
                        None if policy is None else self._number(policy, new),
                    )
                )
            message = pickle.dumps((new, parts, contexts), protocol=pickle.HIGHEST_PROTOCOL)
            try:
                self._connection.send_bytes(message)
                status, payload = _loads(self._connection.recv_bytes())
            except (EOFError, OSError) as exc:
                self._discard()  # the next batch starts a new child
                raise ModelProcessError(f"the model process of {self.name} died") from exc
        if status == "error":
            raise payload
        return [_as_escalations(result) for result in payload]

    def _discard(self) -> None:
        connection, process = self._connection, self._process
        self._connection, self._process, self._sent = None, None, {}
        if connection is not None:
            connection.close()
        if process is not None:
            process.join(1)
            if process.is_alive():
                process.kill()
                process.join(1)

    def close(self) -> None:
        """Stop the child: it finishes the batch it holds and exits when its pipe closes."""
        with self._lock:
            connection, process = self._connection, self._process
            self._connection, self._process, self._sent = None, None, {}
        if connection is not None:
            connection.close()
        if process is not None:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join(5)


def _child(connection: Connection, model: bytes) -> None:
    """The child: load the model, then score what arrives until the pipe closes."""
    from threadpoolctl import threadpool_limits

    from loopline.serving._scoring import Scorer

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops us
    try:
        limits = threadpool_limits(limits=1)  # one core: native pools cost more than they save
        scorer = Scorer(_loads(model))
    except Exception as exc:
        connection.send_bytes(pickle.dumps(("failed", repr(exc))))
        return
    # the model lives as long as the child: the collector's full passes need not walk it
    gc.collect()
    gc.freeze()
    connection.send_bytes(pickle.dumps(("ready", None)))
    held: dict[int, Any] = {}
    while True:
        try:
            message = connection.recv_bytes()
        except (EOFError, OSError):
            break
        new, parts, contexts = _loads(message)
        for number, value in new.items():
            held[number] = _adopted(value)
        jobs = [
            BatchJob(
                start, end, _Request(held[signature], None if policy is None else held[policy])
            )
            for start, end, signature, policy in contexts
        ]
        try:
            results = [_as_tuples(result) for result in _score_batch(scorer, parts, jobs)]
            reply = pickle.dumps(("ok", results), protocol=5)
        except Exception as exc:
            reply = _error_reply(exc)
        connection.send_bytes(reply)
    del limits


# A named tuple pickles through a Python call per object (``__getnewargs__``): escalations cross
# the pipe as plain tuples, a seventh of the cost, and become named tuples again here.


def _as_tuples(result: Any) -> Any:
    if isinstance(result, tuple) and result[1] is not None:
        return (result[0], list(map(tuple, result[1])), *result[2:])
    return result


def _as_escalations(result: Any) -> Any:
    if isinstance(result, tuple) and result[1] is not None:
        make = tuple.__new__
        return (result[0], [make(Escalation, item) for item in result[1]], *result[2:])
    return result


def _adopted(value: Any) -> Any:
    """An object sent to the child, made ready for it: an unseeded escalation policy draws its
    audit samples from a stream of its own (a copy of the server's would repeat its draws in
    every arm)."""
    if isinstance(value, EscalationPolicy) and value.seed is None:
        value.random.seed()
    return value


def _error_reply(exc: Exception) -> bytes:
    """The batch's error, pickled; one that cannot be pickled becomes a plain error naming it."""
    try:
        return pickle.dumps(("error", exc), protocol=5)
    except Exception:
        return pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")), protocol=5)
