"""Turning model outputs into answers: prediction, probability, confidence, set or interval.

Decisions (``auto`` or ``review``) are added by the escalation policy (``loopline.review``).

A :class:`Scorer` runs in the model thread, once per micro-batch, and keeps the batch in columns
(:class:`Scores`). When the model has a novelty detector, the inputs are preprocessed once: the
estimator and the isolation forest both read the same features, and the forest is evaluated by
:class:`FlatForest` with scikit-learn's compiled trees and exactly scikit-learn's scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from loopline.serving._batcher import _column_length
from loopline.training import TrainedModel

__all__ = ["FlatForest", "Scorer", "Scores", "score_frame"]

Floats = npt.NDArray[np.float64]
_EULER_GAMMA = 0.5772156649015329


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass
class Scores:
    """A batch's model outputs, one entry per row, in columns.

    Attributes:
        predictions: The answer's ``prediction`` (label or value), as plain Python values.
        probability: ``probability`` (classification) or ``score`` (regression).
        confidence: Calibrated confidence in the prediction (``None`` for regression).
        sets: Conformal prediction sets as label lists (classification), else ``None``.
        lower: Lower ends of the conformal intervals (regression), else ``None``.
        upper: Upper ends of the conformal intervals (regression), else ``None``.
        novel: Novelty flags (all ``False`` without a detector).
    """

    task: str
    predictions: list[Any]
    probability: list[float]
    confidence: list[float] | None
    sets: list[list[Any]] | None
    lower: list[float] | None
    upper: list[float] | None
    novel: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.predictions)

    def answers(self, start: int = 0, end: int | None = None) -> list[dict[str, Any]]:
        """Rows ``start:end`` as the answer mappings of the API (without decisions)."""
        end = len(self) if end is None else end
        predictions = self.predictions[start:end]
        probability = self.probability[start:end]
        if self.task == "regression":
            assert self.lower is not None
            assert self.upper is not None
            return [
                {"prediction": p, "score": s, "confidence": None, "interval": [lo, hi]}
                for p, s, lo, hi in zip(
                    predictions,
                    probability,
                    self.lower[start:end],
                    self.upper[start:end],
                    strict=True,
                )
            ]
        assert self.confidence is not None
        assert self.sets is not None
        return [
            {"prediction": p, "probability": q, "confidence": c, "prediction_set": s}
            for p, q, c, s in zip(
                predictions,
                probability,
                self.confidence[start:end],
                self.sets[start:end],
                strict=True,
            )
        ]


class FlatForest:
    """An isolation forest scored with exactly scikit-learn's scores, at a request's speed.

    scikit-learn's ``score_samples`` validates the input and dispatches through joblib for every
    call, and adds each tree's path lengths by looking up two arrays: for a request-sized batch
    that overhead is most of the time. Here the input is converted once, each tree's leaves come
    from the compiled ``Tree.apply`` (which runs without holding the GIL, so the event loop and
    the case writer run meanwhile), and each leaf's path length (depth + c(samples) - 1) is
    precomputed; they are added up in tree order, as scikit-learn adds them, so the scores are
    identical.

    Args:
        forest: A fitted ``sklearn.ensemble.IsolationForest`` using all features per tree.
    """

    def __init__(self, forest: Any) -> None:
        subsets = getattr(forest, "estimators_features_", None)
        self.n_features = int(forest.n_features_in_)
        if subsets is not None and any(len(s) != self.n_features for s in subsets):
            raise ValueError("FlatForest needs trees that use all features (max_features=1.0)")
        self.trees = [estimator.tree_ for estimator in forest.estimators_]
        # what scikit-learn adds per tree: depth of the leaf + c(samples in the leaf) - 1
        self.leaf_values = [
            np.asarray(tree.compute_node_depths(), dtype=np.float64)
            + _average_path_length(tree.n_node_samples)
            - 1.0
            for tree in self.trees
        ]
        max_samples = int(forest.max_samples_) if hasattr(forest, "max_samples_") else 256
        self.denominator = len(self.trees) * float(_average_path_length([max_samples])[0])

    def score_samples(self, features: Any) -> Floats:
        """``IsolationForest.score_samples``: the lower, the more abnormal."""
        if hasattr(features, "toarray"):
            features = features.toarray()
        # scikit-learn's trees read float32 rows (and compare them with float64 thresholds)
        values = np.ascontiguousarray(features, dtype=np.float32)
        if values.ndim != 2 or values.shape[1] != self.n_features:
            raise ValueError(
                f"expected {self.n_features} features per row; got shape {values.shape}"
            )
        depths = np.zeros(values.shape[0], dtype=np.float64)
        for tree, leaf_value in zip(self.trees, self.leaf_values, strict=True):
            depths += leaf_value[tree.apply(values)]
        if self.denominator == 0:  # a single training sample: scikit-learn's score is -1
            return -np.ones(values.shape[0], dtype=np.float64)
        scores: Floats = -(2 ** (-(depths / self.denominator)))
        return scores


def _average_path_length(n_samples: Any) -> Floats:
    """scikit-learn's average path length of an unsuccessful search in a tree of n samples."""
    n = np.asarray(n_samples, dtype=np.float64).reshape(-1)
    out = np.zeros_like(n)
    small = n <= 1
    two = n == 2
    rest = ~(small | two)
    out[small] = 0.0
    out[two] = 1.0
    out[rest] = 2.0 * (np.log(n[rest] - 1.0) + _EULER_GAMMA) - 2.0 * (n[rest] - 1.0) / n[rest]
    return out


class FastPreprocess:
    """A fitted preprocessing pipeline replayed in NumPy, for the transformers it knows.

    scikit-learn's ``ColumnTransformer`` spends milliseconds per call validating and indexing,
    whatever the number of rows: for one row that is most of the model's time. The fitted
    state of the common steps (``ColumnTransformer`` with ``remainder="drop"``, ``SimpleImputer``
    on numbers, dense ``OneHotEncoder`` ignoring unknown categories, ``Pipeline``,
    ``FunctionTransformer(np.ascontiguousarray)``) is replayed directly. Anything else raises
    ``ValueError`` at construction, and :class:`Scorer` checks the first batch against
    scikit-learn's own output before using it, so a model is never scored differently.

    Args:
        steps: The preprocessing steps (``pipeline[:-1]``).
    """

    def __init__(self, steps: Any) -> None:
        self.apply = _compile(steps)

    def __call__(self, data: pd.DataFrame | Mapping[str, Any]) -> Floats:
        """The features of a frame, or of the rows as columns (names to arrays, in the model's
        input order: a step on the whole input reads them in that order)."""
        features: Floats = self.apply(data)
        return features


def _compile(step: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    if getattr(step, "_sklearn_output_config", None):
        raise ValueError("set_output is configured")
    if isinstance(step, Pipeline):
        parts = [_compile(inner) for _, inner in step.steps if inner not in (None, "passthrough")]

        def pipeline(data: Any) -> Any:
            for part in parts:
                data = part(data)
            return data

        return pipeline
    if isinstance(step, ColumnTransformer):
        if step.remainder != "drop" or step.sparse_output_:
            raise ValueError("only dense ColumnTransformers that drop the remainder")
        blocks = []
        for _, inner, columns in step.transformers_:
            if inner == "drop" or (hasattr(columns, "__len__") and len(columns) == 0):
                continue
            if inner == "passthrough" or not all(isinstance(c, str) for c in columns):
                raise ValueError("only named columns through fitted transformers")
            blocks.append((list(columns), _compile(inner)))

        def columns(data: Any) -> Any:
            return np.hstack([apply(_block(data, names)) for names, apply in blocks])

        return columns
    if isinstance(step, SimpleImputer):
        statistics = np.asarray(step.statistics_, dtype=np.float64)
        missing = step.missing_values
        if not (isinstance(missing, float) and np.isnan(missing)) or np.isnan(statistics).any():
            raise ValueError("only NaN as the missing value, and every statistic known")
        if getattr(step, "add_indicator", False):
            raise ValueError("no missing indicators")

        def impute(data: Any) -> Any:
            values = _numeric(data)
            holes = np.isnan(values)
            if holes.any():
                values = np.where(holes, statistics, values)
            return values

        return impute
    if isinstance(step, OneHotEncoder):
        if (
            step.handle_unknown != "ignore"
            or step.drop is not None
            or step.sparse_output
            or getattr(step, "_infrequent_enabled", False)
        ):
            raise ValueError("only dense one-hot encoding that ignores unknown categories")
        categories = [np.asarray(c) for c in step.categories_]
        if any(
            c.dtype.kind not in "iuf" or np.isnan(c.astype(np.float64)).any() for c in categories
        ):
            raise ValueError("only numeric categories")
        dtype = step.dtype

        def encode(data: Any) -> Any:
            values = _numeric(data)
            return np.hstack(
                [
                    (values[:, [i]] == cats[None, :]).astype(dtype)
                    for i, cats in enumerate(categories)
                ]
            )

        return encode
    if isinstance(step, FunctionTransformer):
        if step.func is not np.ascontiguousarray or step.validate or step.kw_args:
            raise ValueError("only FunctionTransformer(np.ascontiguousarray)")
        return np.ascontiguousarray
    raise ValueError(f"{type(step).__name__} is not replayed")


def _block(data: Any, names: list[str]) -> Any:
    """The named columns of a frame, or of columns given as arrays (names to arrays): stacked
    into one array as pandas would stack them (numbers promote as NumPy promotes them, booleans
    stay booleans), or as a frame when they are anything else (pandas' ``frame[names]`` cost
    ~1 ms per block whatever the rows: more than the one-hot encoding of 500)."""
    if isinstance(data, pd.DataFrame):
        return data[names]
    arrays = [data[name] for name in names]
    kinds = {array.dtype.kind for array in arrays}
    if kinds <= _NUMERIC_KINDS or kinds == {"b"}:
        return np.column_stack(arrays)
    return pd.DataFrame(dict(zip(names, arrays, strict=True)))


_NUMERIC_KINDS = frozenset("iuf")


def _numeric(data: Any) -> Floats:
    if isinstance(data, Mapping):
        data = _block(data, list(data))
    values = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
    if values.dtype.kind not in "iufb":
        raise ValueError("only numeric inputs are replayed")
    return np.asarray(values, dtype=np.float64)


class Scorer:
    """Scores micro-batches for one model version (built once per loaded model).

    Args:
        model: The trained model.
    """

    def __init__(self, model: TrainedModel) -> None:
        self.model = model
        detector = getattr(model, "novelty", None)  # absent in models pickled before it existed
        self.forest: FlatForest | None = None
        self.novelty_threshold = 0.0
        self.preprocess: Any = None
        self.estimator: Any = None
        #: the replayed preprocessing, once checked against scikit-learn on a first batch
        self.fast: FastPreprocess | None = None
        self._checked = False
        if detector is not None:
            self.novelty_threshold = float(detector["threshold"])
            self.preprocess = model.pipeline[:-1]
            self.estimator = model.pipeline[-1]
            try:
                self.fast = FastPreprocess(self.preprocess)
            except (AttributeError, ValueError, TypeError):
                self.fast = None
            try:
                self.forest = FlatForest(detector["forest"])
            except (AttributeError, ValueError):
                self.forest = None  # an unusual detector: scored by scikit-learn itself
        self.labels = [_plain(c) for c in model.classes]

    def _features(self, data: pd.DataFrame | Mapping[str, Any], frame: _Frame) -> Any:
        """The preprocessed features: replayed when the replay matched scikit-learn (from the
        columns themselves when given columns)."""
        if self.fast is not None:
            if self._checked:
                try:
                    if isinstance(data, pd.DataFrame):
                        return self.fast(self.model.inputs(data))
                    return self.fast({name: data[name] for name in self.model.signature.names})
                except (ValueError, TypeError, KeyError, IndexError):
                    pass  # inputs the replay does not take (e.g. strings): scikit-learn does
            elif _features_check(self.fast, self.preprocess, self.model.inputs(frame())):
                self._checked = True
            else:
                self.fast = None  # it differed once: never used for this model
        return self.preprocess.transform(self.model.inputs(frame()))

    def __call__(self, data: pd.DataFrame | Mapping[str, Any]) -> Scores:
        """The batch's scores and novelty flags, for a frame or for the rows as columns (names
        to arrays, as validation builds them: no frame is built when the replay takes them)."""
        model = self.model
        frame = _Frame(data)
        novel = np.zeros(frame.rows, dtype=bool)
        features = None
        if self.preprocess is not None:
            features = self._features(data, frame)
            if self.forest is not None:
                novel = -self.forest.score_samples(features) > self.novelty_threshold
            else:
                forest = model.novelty["forest"]
                novel = -forest.score_samples(features) > self.novelty_threshold
        if model.task == "regression":
            if features is not None:
                predicted = np.asarray(self.estimator.predict(features), dtype=np.float64)
            else:
                predicted = model.predict(frame())
            lower, upper = model.intervals(predicted)
            values = predicted.tolist()
            return Scores(
                model.task, values, values, None, None, lower.tolist(), upper.tolist(), novel
            )
        if features is not None:
            raw = np.asarray(self.estimator.predict_proba(features), dtype=np.float64)
            proba = _calibrated(model, raw)
        else:
            proba = model.predict_proba(frame())
        in_set = model.prediction_sets(proba)
        labels = self.labels
        sets = _label_sets(in_set, labels)
        if model.task == "binary_classification":
            positive = proba[:, model.positive_index]
            decided = positive >= model.threshold
            chosen = np.where(decided, model.positive_index, 1 - model.positive_index)
            confidence = np.where(decided, positive, 1.0 - positive)
            return Scores(
                model.task,
                [labels[i] for i in chosen.tolist()],
                positive.tolist(),
                confidence.tolist(),
                sets,
                None,
                None,
                novel,
            )
        best = np.argmax(proba, axis=1)
        top = proba[np.arange(len(best)), best].tolist()
        return Scores(
            model.task, [labels[i] for i in best.tolist()], top, top, sets, None, None, novel
        )


def _label_sets(in_set: npt.NDArray[np.bool_], labels: list[Any]) -> list[list[Any]]:
    """Each row's prediction set as a list of labels, in class order.

    With up to 12 classes a row's set is read from a table of every possible set, indexed by
    the row's membership bits (one NumPy product instead of a NumPy call per row).
    """
    classes = len(labels)
    if classes > 12 or in_set.ndim != 2 or in_set.shape[1] != classes:
        return [[labels[i] for i in np.flatnonzero(row)] for row in in_set]
    table = [[labels[i] for i in range(classes) if code >> i & 1] for code in range(1 << classes)]
    codes = in_set.astype(np.int64) @ (1 << np.arange(classes, dtype=np.int64))
    return [table[code].copy() for code in codes.tolist()]


class _Frame:
    """A batch as a pandas frame, built from its columns the first time it is asked for."""

    def __init__(self, data: pd.DataFrame | Mapping[str, Any]) -> None:
        self.data = data
        self.built: pd.DataFrame | None = data if isinstance(data, pd.DataFrame) else None
        self.rows = len(data) if isinstance(data, pd.DataFrame) else _column_length(data)

    def __call__(self) -> pd.DataFrame:
        if self.built is None:
            self.built = pd.DataFrame(self.data)
        return self.built


def _features_check(fast: Any, reference: Any, frame: pd.DataFrame) -> bool:
    try:
        replayed = fast(frame)
    except (ValueError, TypeError, KeyError, IndexError):
        return False
    expected = reference.transform(frame)
    return (
        isinstance(expected, np.ndarray)
        and replayed.dtype == expected.dtype
        and replayed.shape == expected.shape
        and bool(np.array_equal(replayed, expected, equal_nan=True))
    )


def _calibrated(model: TrainedModel, raw: Floats) -> Floats:
    """``TrainedModel.predict_proba`` from the estimator's raw probabilities."""
    if model.calibrator is None or model.task != "binary_classification":
        return raw
    index = model.positive_index
    positive = np.clip(model.calibrator.transform(raw[:, index]), 0.0, 1.0)
    out = np.empty_like(raw)
    out[:, index] = positive
    out[:, 1 - index] = 1.0 - positive
    return out


def score_frame(model: TrainedModel, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Vectorised answers for every row of ``frame`` (decisions are added by the caller).

    Each answer also carries ``_novel``, the novelty flag, for the escalation policy (removed
    before the response). Serving builds a :class:`Scorer` once per model instead.
    """
    scores = Scorer(model)(frame)
    answers = scores.answers()
    for answer, novel in zip(answers, scores.novel.tolist(), strict=True):
        answer["_novel"] = novel
    return answers
