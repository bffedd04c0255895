"""The estimator named in the project file, wrapped in preprocessing derived from the contract."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from loopline.errors import TrainingError, UserCodeError
from loopline.training._signature import Signature

__all__ = ["build_pipeline", "import_estimator"]


def import_estimator(path: str) -> type[Any]:
    """Import a class by dotted path, e.g. ``sklearn.ensemble.HistGradientBoostingClassifier``.

    Raises:
        TrainingError: The module or class cannot be imported, with the reason.
    """
    module_name, _, class_name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainingError(
            f"Cannot import the estimator {path!r}: {exc}.",
            hint=f"Check training.estimator in loopline.yaml and that the package providing "
            f"{module_name.split('.')[0]!r} is installed in this environment.",
        ) from exc
    except Exception as exc:  # importing user code runs it
        raise UserCodeError(module_name, "import", exc) from exc
    estimator = getattr(module, class_name, None)
    if not isinstance(estimator, type):
        raise TrainingError(
            f"{module_name} has no class {class_name!r}.",
            hint="training.estimator must name a class with fit and predict "
            "(and predict_proba for classification).",
        )
    return estimator


def _accepts(estimator_class: type[Any], name: str) -> bool:
    try:
        return name in inspect.signature(estimator_class).parameters
    except (TypeError, ValueError):
        return False


def build_pipeline(
    signature: Signature, estimator_path: str, params: dict[str, Any], *, seed: int | None = None
) -> Pipeline:
    """Impute numbers (median) and categories (most frequent), one-hot encode categories, fit.

    Raises:
        TrainingError: The class lacks the methods the task needs.
        UserCodeError: Constructing the estimator with ``params`` raised.
    """
    estimator_class = import_estimator(estimator_path)
    needed = ["fit", "predict"] + (["predict_proba"] if signature.task != "regression" else [])
    missing = [name for name in needed if not callable(getattr(estimator_class, name, None))]
    if missing:
        raise TrainingError(
            f"{estimator_path} has no {', '.join(missing)} method.",
            hint=f"A {signature.task} estimator needs {', '.join(needed)}.",
        )
    params = dict(params)
    if (
        seed is not None
        and "random_state" not in params
        and _accepts(estimator_class, "random_state")
    ):
        params["random_state"] = seed  # the project's seed makes the fit reproducible
    try:
        estimator = estimator_class(**params)
    except Exception as exc:
        raise UserCodeError(estimator_path, "construction with training.params", exc) from exc
    transformers: list[tuple[str, Any, list[str]]] = []
    if signature.numeric:
        transformers.append(("numeric", SimpleImputer(strategy="median"), signature.numeric))
    if signature.categorical:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        transformers.append(("categorical", categorical, signature.categorical))
    preprocess = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=False)
    # ColumnTransformer returns a column-major array; tree ensembles such as
    # HistGradientBoosting fit 15x slower on it (3.2 s vs 0.22 s on the credit data).
    contiguous = FunctionTransformer(np.ascontiguousarray)
    return Pipeline([("preprocess", preprocess), ("contiguous", contiguous), ("model", estimator)])
