"""Job kinds for the tests; imported by the test modules and, in subprocesses, by the worker
through ``--modules tests.jobs.kinds``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from loopline._workspace import Workspace
from loopline.jobs import JobContext, register
from loopline.store import Job, record_audit


def write(name: str, job: Job) -> Any:
    """A step that writes one audit row naming itself and returns its name."""

    def step(session: Session) -> dict[str, Any]:
        record_audit(session, actor="test-kind", action="test.step", target_type="job", target=name)
        return {"step": name, "attempt": job.attempts}

    return step


@register("three_steps")
def three_steps(ws: Workspace, job: Job, context: JobContext) -> dict[str, Any]:
    """Steps a, b, c; ``payload.fail_in`` raises in that step on attempts ≤ ``fail_times``."""
    done = {}
    for name in ("a", "b", "c"):
        if job.payload.get("fail_in") == name and job.attempts <= job.payload.get("fail_times", 1):
            raise RuntimeError(f"step {name} failed on attempt {job.attempts}")
        done[name] = context.step(name, write(name, job))["attempt"]
    return {"attempts_of_steps": done}


@register("wait_for_stop")
def wait_for_stop(ws: Workspace, job: Job, context: JobContext) -> dict[str, Any]:
    """Runs until the worker stops or loses the job, then gives it back."""
    while not context.stopping:
        time.sleep(0.02)
    context.check_stop()
    return {}


@register("crash")
def crash(ws: Workspace, job: Job, context: JobContext) -> dict[str, Any]:
    """Three steps; on its first attempt the second step writes, then hangs before committing
    (touching ``payload.marker`` so the test knows when to kill the worker)."""
    context.step("first", write("first", job))

    def second(session: Session) -> dict[str, Any]:
        result: dict[str, Any] = write("second", job)(session)
        if job.attempts == 1:
            Path(job.payload["marker"]).touch()
            time.sleep(300)  # killed here, inside the step's transaction
        return result

    context.step("second", second)
    context.step("third", write("third", job))
    return {"finished_on_attempt": job.attempts}
