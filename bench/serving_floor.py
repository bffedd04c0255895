"""The floor of the serving benchmark: the least a server can do to answer a prediction.

A Starlette app on uvicorn (one worker) that parses a JSON body ``{"records": [...]}`` with
orjson, builds a pandas frame with the model's input columns, calls the scikit-learn pipeline's
``predict_proba`` and returns the positive-class probabilities. No validation, no calibration,
no decisions, no logging, no metrics. The pipeline is the one ``bench.serving`` pickles from the
registered model, so the floor scores exactly what loopline and MLflow score.

For fairness it gets the same thread control as loopline: native thread pools (OpenMP, BLAS)
limited to one thread with threadpoolctl, set in the event-loop thread, where ``predict_proba``
runs (the endpoint is ``async`` and calls the model inline: with one worker and a CPU-bound
model, handing the call to a thread pool only adds hand-offs).

    python -m bench.serving_floor --model MODEL.pkl --port 8101
"""

from __future__ import annotations

import argparse
import pickle
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

_LIMITS: list[Any] = []


def create_app(model_path: Path) -> Starlette:
    """The floor app for a pickled ``{"pipeline": ..., "columns": [...]}``."""
    with model_path.open("rb") as handle:
        bundle = pickle.load(handle)  # a file this benchmark wrote itself
    pipeline = bundle["pipeline"]
    columns: list[str] = list(bundle["columns"])

    async def predict(request: Request) -> Response:
        records = orjson.loads(await request.body())["records"]
        proba = pipeline.predict_proba(pd.DataFrame(records, columns=columns))
        return Response(
            orjson.dumps({"probabilities": proba[:, 1].tolist()}),
            media_type="application/json",
        )

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/predict", predict, methods=["POST"]), Route("/health", health)]
    )


def main(argv: list[str] | None = None) -> int:
    """Serve the floor on 127.0.0.1 with one worker and single-threaded native pools."""
    import uvicorn
    from threadpoolctl import threadpool_limits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="the pickled pipeline bundle")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = create_app(args.model)
    # after loading the model: threadpoolctl limits only the native libraries already loaded
    # (scikit-learn's OpenMP comes with the unpickled pipeline); uvicorn runs the event loop in
    # this (main) thread, so the limit covers every predict call
    _LIMITS.append(threadpool_limits(limits=1))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        workers=1,
        log_level="warning",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
