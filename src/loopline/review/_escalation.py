"""The escalation policy: which predictions a person decides, and every reason why.

Reasons, each recorded on the answer and on the case:

- ``low_confidence``: calibrated confidence below ``serving.escalation.confidence_below``.
- ``cost_band``: with ``cost_band: true``, a binary probability between ``c_review / c_FN`` and
  ``1 - c_review / c_FP``: there, a review costs less in expectation than either automatic
  decision (only when that band is not empty).
- ``ambiguous_set``: with ``conformal`` configured, a prediction set that is not a single class.
- ``out_of_range:<fields>``: with ``out_of_distribution: true``, values outside the contract's
  ranges or allowed sets.
- ``novelty``: with ``out_of_distribution: true``, a novelty score above the threshold that
  flags ``novelty_rate`` of the training rows (calibrated at training time).
- ``rule:<expression>``: a business rule over the inputs is true.

Independently of these, ``audit_sample_rate`` of the *automatic* decisions are sampled at random
for a person to label; the caller still gets the automatic decision, and the sampling
probability is stored so the quality of automatic decisions can be estimated without bias.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl

from loopline.data._check_rules import compile_rule
from loopline.errors import ExpressionError
from loopline.expressions import evaluate, names, parse
from loopline.review._array_rules import array_rule_hits
from loopline.spec import Costs, EscalationSpec

__all__ = ["Escalation", "EscalationPolicy"]

_SCALAR_ROWS = 128


class Escalation(NamedTuple):
    """The decision for one answer (a named tuple: the serving path makes one per row, and a
    tuple is made in a third of a frozen dataclass's time)."""

    decision: str  # auto | review
    reasons: list[str]
    audit_sample: bool
    sampling_probability: float
    expected_cost_auto: float | None


#: A batch's inputs: a pandas frame, or columns (names to NumPy arrays) as serving validates them.
Inputs = pd.DataFrame | Mapping[str, Any]


def _polars_columns(
    inputs: Inputs, used: list[Any], arrays: dict[str, Any] | None = None
) -> pl.DataFrame:
    """The named columns as a polars frame: NumPy-backed columns handed over directly (a
    tenth of ``pl.from_pandas``' cost), anything else through ``pl.from_pandas``. ``arrays``:
    the columns as NumPy arrays, when the caller has them already."""
    if arrays is None:
        arrays = {str(c): np.asarray(inputs[c]) for c in used}
    if all(a.dtype.kind in "iufb" for a in arrays.values()):
        return pl.DataFrame(arrays, nan_to_null=True)  # a missing value is null, as before
    if isinstance(inputs, pd.DataFrame):
        return pl.from_pandas(inputs[used].reset_index(drop=True))
    return pl.from_pandas(pd.DataFrame({c: inputs[c] for c in used}))


class EscalationPolicy:
    """Evaluates the project's escalation rules on a batch of answers.

    Args:
        escalation: ``serving.escalation`` of the project file.
        costs: ``objective.costs``, for the cost band and case priorities.
        seed: Seed of the audit sampler (``None``: unpredictable).
        confidence_below: A tuned threshold that overrides the project file's.
        audit_sample_rate: An audit rate that overrides the project file's (raised by alerts).
    """

    def __init__(
        self,
        escalation: EscalationSpec,
        costs: Costs,
        *,
        seed: int | None = None,
        confidence_below: float | None = None,
        audit_sample_rate: float | None = None,
    ) -> None:
        self.escalation = escalation
        self.costs = costs
        self.threshold = (
            confidence_below if confidence_below is not None else escalation.confidence_below
        )
        self.audit_sample_rate = (
            audit_sample_rate if audit_sample_rate is not None else escalation.audit_sample_rate
        )
        self.rules = [(text, parse(text), compile_rule(parse(text))) for text in escalation.rules]
        #: every name the rules refer to: only those columns are read from the inputs
        self._rule_names = {name for _, node, _ in self.rules for name in names(node)}
        #: The audit sampler's seed (``None``: unpredictable).
        self.seed = seed
        self.random = random.Random(seed)  # noqa: S311  (statistical sampling, not security)
        fp, fn, review = costs.false_positive, costs.false_negative, costs.review
        self.band: tuple[float, float] | None = None
        if escalation.cost_band and fp and fn:
            low, high = review / fn, 1.0 - review / fp
            self.band = (low, high) if low < high else None

    def _rules_hit(self, inputs: Inputs, rows: int | None = None) -> list[list[str]]:
        """Per row, the rules it meets; ``rows`` is the row count (needed for columns)."""
        if rows is None:
            rows = len(inputs)
        hits: list[list[str]] = [[] for _ in range(rows)]
        if not self.rules:
            return hits
        wanted = self._rule_names
        # only the columns the rules name (a dotted name reads into its column)
        used = [
            column
            for column in (inputs.columns if isinstance(inputs, pd.DataFrame) else inputs)
            if column in wanted or any(name.startswith(f"{column}.") for name in wanted)
        ]
        if rows <= _SCALAR_ROWS:
            # a polars query costs ~1 ms of fixed overhead; ~100 rows are faster one by one
            columns = {str(c): inputs[c].tolist() for c in used}
            for index in range(rows):
                values = {
                    k: (None if v[index] != v[index] else v[index]) for k, v in columns.items()
                }
                for text, node, _ in self.rules:
                    try:
                        if evaluate(node, values):
                            hits[index].append(f"rule:{text}")
                    except (ExpressionError, TypeError):
                        continue  # a rule naming a column this model does not take cannot fire
            return hits
        arrays = {str(c): np.asarray(inputs[c]) for c in used}
        frame: pl.DataFrame | None = None
        for text, node, expression in self.rules:
            hit = f"rule:{text}"
            # the common rules in NumPy, with polars' nulls; the rest through a polars query
            found = array_rule_hits(node, arrays, rows)
            if found is not None:
                for index in np.flatnonzero(found).tolist():
                    hits[index].append(hit)
                continue
            if frame is None:
                frame = _polars_columns(inputs, used, arrays)
            try:
                flags = frame.select(expression.fill_null(False).alias("hit"))["hit"].to_list()
            except pl.exceptions.PolarsError:
                continue  # a rule naming a column this model does not take cannot fire
            for index, flag in enumerate(flags):
                if flag:
                    hits[index].append(hit)
        return hits

    def decide(
        self,
        answers: list[dict[str, Any]],
        inputs: pd.DataFrame,
        out_of_range: list[list[str]],
        novelty: list[bool] | None = None,
    ) -> list[Escalation]:
        """One escalation per answer (answers from ``score_frame``, inputs as validated)."""
        rules = self._rules_hit(inputs)
        out = []
        for index, answer in enumerate(answers):
            reasons: list[str] = []
            confidence = answer.get("confidence")
            if (
                self.threshold is not None
                and confidence is not None
                and confidence < self.threshold
            ):
                reasons.append("low_confidence")
            probability = answer.get("probability")
            in_band = (
                self.band is not None
                and probability is not None
                and "prediction_set" in answer
                and self.band[0] <= probability <= self.band[1]
            )
            if in_band:
                reasons.append("cost_band")
            prediction_set = answer.get("prediction_set")
            if (
                self.escalation.conformal is not None
                and prediction_set is not None
                and len(prediction_set) != 1
            ):
                reasons.append("ambiguous_set")
            if self.escalation.out_of_distribution:
                if out_of_range[index]:
                    reasons.append("out_of_range:" + ",".join(out_of_range[index]))
                if novelty is not None and novelty[index]:
                    reasons.append("novelty")
            reasons += rules[index]
            expected = self._expected_cost(answer)
            if reasons:
                out.append(Escalation("review", reasons, False, 1.0, expected))
                continue
            rate = self.audit_sample_rate
            sampled = rate > 0 and self.random.random() < rate
            out.append(Escalation("auto", [], sampled, rate, expected))
        return out

    def decide_batch(
        self,
        probability: list[float] | None,
        confidence: Sequence[float | None] | None,
        set_sizes: list[int] | None,
        inputs: Inputs,
        out_of_range: list[list[str]],
        novelty: npt.NDArray[np.bool_] | None = None,
    ) -> list[Escalation]:
        """:meth:`decide` for a whole micro-batch given in columns (the serving path).

        Args:
            probability: Each answer's ``probability`` (``None``: the answers have none, as in
                regression).
            confidence: Each answer's ``confidence`` (``None``: none has one).
            set_sizes: Each answer's prediction-set size (``None``: the answers have no sets).
            inputs: The rows as validated (a frame, or columns: names to arrays).
            out_of_range: Per row, the fields outside the contract's ranges.
            novelty: Per row, the novelty flag.

        Returns:
            The same escalations, and the same audit draws in the same order, as :meth:`decide`
            on the equivalent answer mappings.
        """
        rows = len(out_of_range)
        flags: list[tuple[str, list[bool]]] = []
        if self.threshold is not None and confidence is not None:
            threshold = self.threshold
            flags.append(("low_confidence", [c is not None and c < threshold for c in confidence]))
        if self.band is not None and probability is not None and set_sizes is not None:
            low, high = self.band
            flags.append(("cost_band", [low <= p <= high for p in probability]))
        if self.escalation.conformal is not None and set_sizes is not None:
            flags.append(("ambiguous_set", [size != 1 for size in set_sizes]))
        rules = self._rules_hit(inputs, rows)
        ood = self.escalation.out_of_distribution
        novel = novelty.tolist() if ood and novelty is not None else None
        expected: list[float | None]
        if probability is None or set_sizes is None:
            expected = [None] * rows
        else:
            fp, fn = self.costs.false_positive or 0.0, self.costs.false_negative or 0.0
            p = np.asarray(probability, dtype=np.float64)
            expected = np.minimum((1 - p) * fp, p * fn).tolist()
        rate = self.audit_sample_rate
        draw = self.random.random
        out = []
        for index in range(rows):
            reasons = [name for name, hit in flags if hit[index]]
            if ood:
                if out_of_range[index]:
                    reasons.append("out_of_range:" + ",".join(out_of_range[index]))
                if novel is not None and novel[index]:
                    reasons.append("novelty")
            if rules[index]:
                reasons += rules[index]
            if reasons:
                out.append(Escalation("review", reasons, False, 1.0, expected[index]))
                continue
            sampled = rate > 0 and draw() < rate
            out.append(Escalation("auto", [], sampled, rate, expected[index]))
        return out

    def _expected_cost(self, answer: dict[str, Any]) -> float | None:
        """Expected cost of the automatic decision: the priority of a case."""
        p = answer.get("probability")
        if p is None or "prediction_set" not in answer:
            return None
        fp, fn = self.costs.false_positive or 0.0, self.costs.false_negative or 0.0
        decided_positive = answer.get("decided_positive")
        if decided_positive is None:
            return float(min((1 - p) * fp, p * fn))
        return float((1 - p) * fp if decided_positive else p * fn)
