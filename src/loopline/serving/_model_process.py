"""The model stage in a process of its own: validation, scores and decisions of each micro-batch.

In the server's process the model thread shares one interpreter lock with the event loop, the
case writer and the log writer: under load three quarters of its time was spent waiting for the
lock, and it is the one serial stage. Here it runs in a child process with its own interpreter,
so it computes while the server parses, answers and writes, each on its own core.

:class:`ModelProcess` is the batcher's ``predict``: its ``submit`` sends a batch's records and
job contexts down a pipe and returns a future, which a receiving thread resolves when the child
sends the results back; the batcher keeps up to two batches in flight. The model is sent once,
when the child starts; signatures and escalation policies are sent the first time a batch
refers to them and then named by a number, so a policy's audit sampler keeps drawing from one
stream in the child.

If the child dies, the batches it held fail (their callers get a 500, as for a model that
raises) and the next batch starts a new child. A child whose server dies sees its pipe close and
exits.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import pickle
import signal
import threading
from collections import deque
from concurrent.futures import Future
from multiprocessing.connection import Connection
from typing import Any

from loopline.review import Escalation, EscalationPolicy
from loopline.serving._answers import _Request, _score_batch
from loopline.serving._batcher import BatchJob
from loopline.training import TrainedModel

__all__ = ["GC_THRESHOLDS", "ModelProcess", "ModelProcessError"]

#: How long a new child may take to load its model before serving gives up on it.
START_TIMEOUT_S = 120.0

#: The garbage collector's thresholds in serving processes (the server and its model processes;
#: Python's are 700, 10, 10). A 500-row request makes thousands of dictionaries and lists that
#: live until it is answered: at 700 allocations per young collection the collector ran a few
#: times per request, walked each request's rows again as they aged, and took 8 % of the
#: server's CPU and 6 % of the model process's under load. Ten thousand lets most of a
#: request's objects die before any pass sees them: 500-row throughput rose from 45-46k to
#: 50-53k rows/s in interleaved runs (docs/benchmarks.md). Nothing here makes many cycles.
GC_THRESHOLDS = (10_000, 10, 10)

try:
    _CONTEXT: Any = multiprocessing.get_context("forkserver")
except ValueError:  # no fork server on this platform (Windows): each child starts afresh
    _CONTEXT = multiprocessing.get_context("spawn")


def _loads(data: bytes) -> Any:
    # only ever bytes this server and its own child wrote, on a pipe no one else holds
    return pickle.loads(data)  # noqa: S301


#: Asks a child to exit (a pickle never is these bytes).
_STOP = b"stop"


class ModelProcessError(RuntimeError):
    """The model process died or did not start."""


class ModelProcess:
    """Scores micro-batches of one model in a child process (the batcher's ``predict``).

    :meth:`submit` sends a batch and returns at once with a future; a thread of this object's
    own receives the child's results, in the order the batches were sent, and resolves the
    futures. So a batcher may send the next batch while the child computes this one: pickling,
    sending and unpickling in the server no longer add to the child's serial time.

    Args:
        model: The model the child serves.
        name: The model's name, for the process title and errors.
    """

    def __init__(self, model: TrainedModel, name: str) -> None:
        self.name = name
        self._model = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        self._lock = threading.Lock()  # one sender at a time, and (re)starts
        self._child: _Child | None = self._start()

    @property
    def pid(self) -> int | None:
        """The child's process id (``None`` once closed)."""
        child = self._child
        return None if child is None else int(child.process.pid)

    def _start(self) -> _Child:
        if _CONTEXT.get_start_method() == "forkserver":
            # a fork server started for us imports the model stage's modules once, and each
            # child is a fork of it (one another library already started keeps its own list)
            _CONTEXT.set_forkserver_preload(["loopline.serving._model_process"])
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
        return _Child(ours, process, self.name)

    def submit(self, parts: list[Any], jobs: list[BatchJob]) -> Future[list[Any]]:
        """Send a micro-batch to the child; the future resolves to ``_score_batch``'s results
        (or raises what it raised, or :class:`ModelProcessError` if the child dies first).

        Batches are scored in the order they are submitted (the audit sampler's order).
        """
        with self._lock:
            child = self._child
            if child is None or child.dead:
                if child is not None:
                    child.close()
                child = self._child = self._start()  # the next batch after a death
            return child.submit(parts, jobs)

    def __call__(self, parts: list[Any], jobs: list[BatchJob]) -> list[Any]:
        """Score a micro-batch in the child and wait for its results."""
        return self.submit(parts, jobs).result()

    def close(self) -> None:
        """Stop the child after the batches it holds."""
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            child.close()


class _Child:
    """One child process: its pipe, the futures of the batches it holds, its receiver."""

    def __init__(self, connection: Connection, process: Any, name: str) -> None:
        self.connection = connection
        self.process = process
        self.name = name
        self.dead = False
        self._pending: deque[Future[list[Any]]] = deque()
        self._guard = threading.Lock()  # _pending and dead, between sender and receiver
        #: id of an object the child holds -> (its number there, the object, kept alive)
        self._sent: dict[int, tuple[int, Any]] = {}
        self._receiver = threading.Thread(
            target=self._receive, name="loopline-model-results", daemon=True
        )
        self._receiver.start()

    def _number(self, value: Any, new: dict[int, Any]) -> int:
        known = self._sent.get(id(value))
        if known is not None and known[1] is value:
            return known[0]
        number = len(self._sent)
        self._sent[id(value)] = (number, value)
        new[number] = value
        return number

    def submit(self, parts: list[Any], jobs: list[BatchJob]) -> Future[list[Any]]:
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
        future: Future[list[Any]] = Future()
        with self._guard:
            if self.dead:
                future.set_exception(self._died())
                return future
            self._pending.append(future)
        try:
            self.connection.send_bytes(message)
        except (OSError, ValueError) as exc:  # the child is gone: this batch fails with it
            self._fail(exc)
        return future

    def _died(self) -> ModelProcessError:
        return ModelProcessError(f"the model process of {self.name} died")

    def _receive(self) -> None:
        while True:
            try:
                status, payload = _loads(self.connection.recv_bytes())
            except (EOFError, OSError) as exc:
                self._fail(exc)
                return
            with self._guard:
                future = self._pending.popleft()
            if status == "error":
                future.set_exception(payload)
            else:
                future.set_result([_as_escalations(result) for result in payload])

    def _fail(self, cause: BaseException) -> None:
        """The child is gone: every batch it held fails."""
        with self._guard:
            self.dead = True
            pending, self._pending = list(self._pending), deque()
        for future in pending:
            if not future.done():
                error = self._died()
                error.__cause__ = cause
                future.set_exception(error)

    def close(self) -> None:
        """Ask the child to stop (it answers what it holds first), then release everything."""
        with contextlib.suppress(OSError, ValueError):
            self.connection.send_bytes(_STOP)
        self._receiver.join(30)  # it ends when the child's end of the pipe closes
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self._receiver.join(5)
        self.connection.close()


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
    gc.set_threshold(*GC_THRESHOLDS)
    connection.send_bytes(pickle.dumps(("ready", None)))
    held: dict[int, Any] = {}
    while True:
        try:
            message = connection.recv_bytes()
        except (EOFError, OSError):
            break
        if message == _STOP:
            break
        try:
            new, parts, contexts = _loads(message)
            for number, value in new.items():
                held[number] = _adopted(value)
            jobs = [
                BatchJob(start, end, _Request(held[sig], None if pol is None else held[pol]))
                for start, end, sig, pol in contexts
            ]
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
