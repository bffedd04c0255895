"""Optional hyper-parameter search with Optuna, when ``training.tuning`` asks for it.

The search space is declared in the project file::

    training:
      tuning:
        trials: 20
        metric: roc_auc            # maximised; log_loss, brier, rmse and mae are minimised
        space:
          learning_rate: {low: 0.01, high: 0.3, log: true}
          max_leaf_nodes: {low: 15, high: 63}      # integers when both bounds are
          l2_regularization: [0.0, 0.1, 1.0]       # a list is a categorical choice

Each trial fits on the training rows and is scored on the calibration rows; the test rows stay
untouched until the final evaluation. The sampler is seeded with ``training.seed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from loopline.errors import TrainingError
from loopline.spec import TuningSpec

__all__ = ["MINIMISED", "tune_params"]

#: Metrics where lower is better.
MINIMISED = frozenset({"log_loss", "brier", "rmse", "mae", "ece", "cost_per_1000"})


def _suggest(trial: Any, name: str, spec: Any) -> Any:
    if isinstance(spec, list):
        return trial.suggest_categorical(name, spec)
    if isinstance(spec, dict) and {"low", "high"} <= set(spec):
        low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
        if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
            return trial.suggest_int(name, low, high, log=log)
        return trial.suggest_float(name, float(low), float(high), log=log)
    raise TrainingError(
        f"training.tuning.space.{name} must be a list of choices or {{low, high[, log]}}, "
        f"got {spec!r}."
    )


def tune_params(
    spec: TuningSpec,
    base: dict[str, Any],
    score: Callable[[dict[str, Any]], float],
    *,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Search ``spec.space`` around ``base``; returns the best params and a summary of trials.

    Args:
        spec: The tuning section of the project file.
        base: The fixed params (``training.params``); tuned ones override them.
        score: Fits with the given params and returns ``spec.metric`` on the calibration rows.
        seed: Seeds the sampler.
        progress: Called after each trial.

    Raises:
        TrainingError: Optuna is missing or the space is malformed.
    """
    try:
        import optuna
    except ImportError as exc:
        raise TrainingError(
            "training.tuning needs Optuna, which is not installed.",
            hint="pip install 'loopline[tune]', or remove training.tuning.",
        ) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction: Literal["minimize", "maximize"] = (
        "minimize" if spec.metric in MINIMISED else "maximize"
    )
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial: Any) -> float:
        params = {**base, **{name: _suggest(trial, name, s) for name, s in spec.space.items()}}
        value = score(params)
        if progress is not None:
            progress(f"tuning: trial {trial.number + 1}/{spec.trials} {spec.metric}={value:.4f}")
        return value

    study.optimize(objective, n_trials=spec.trials)
    best = {**base, **study.best_params}
    summary = {
        "metric": spec.metric,
        "direction": direction,
        "trials": len(study.trials),
        "best_value": float(study.best_value),
        "best_params": dict(study.best_params),
    }
    return best, summary
