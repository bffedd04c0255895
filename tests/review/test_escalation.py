"""The escalation policy: every reason fires when it should, and audit sampling is unbiased."""

from __future__ import annotations

import pandas as pd
from scipy.stats import binomtest

from loopline.review import EscalationPolicy
from loopline.spec import Costs, EscalationSpec

COSTS = Costs(false_positive=50, false_negative=500, review=8)


def _answer(p: float, prediction_set: list[int] | None = None) -> dict[str, object]:
    return {
        "prediction": int(p >= 0.5),
        "probability": p,
        "confidence": max(p, 1 - p),
        "prediction_set": prediction_set if prediction_set is not None else [int(p >= 0.5)],
        "decided_positive": p >= 0.5,
    }


def test_low_confidence_and_ambiguous_set() -> None:
    policy = EscalationPolicy(EscalationSpec(confidence_below=0.8, conformal={"alpha": 0.1}), COSTS)
    answers = [_answer(0.95), _answer(0.7), _answer(0.9, [0, 1])]
    decided = policy.decide(answers, pd.DataFrame({"x": [1, 2, 3]}), [[], [], []])
    assert [d.reasons for d in decided] == [[], ["low_confidence"], ["ambiguous_set"]]


def test_cost_band_follows_the_declared_costs() -> None:
    policy = EscalationPolicy(EscalationSpec(cost_band=True), COSTS)
    assert policy.band == (8 / 500, 1 - 8 / 50)
    decided = policy.decide(
        [_answer(0.01), _answer(0.5), _answer(0.9)], pd.DataFrame({"x": [1, 2, 3]}), [[], [], []]
    )
    assert [d.decision for d in decided] == ["auto", "review", "auto"]
    assert decided[1].expected_cost_auto == (1 - 0.5) * 50


def test_no_band_when_a_review_costs_more_than_either_mistake() -> None:
    policy = EscalationPolicy(
        EscalationSpec(cost_band=True), Costs(false_positive=5, false_negative=5, review=8)
    )
    assert policy.band is None


def test_out_of_range_and_business_rules() -> None:
    spec = EscalationSpec(out_of_distribution=True, rules=("LIMIT_BAL > 500000",))
    policy = EscalationPolicy(spec, COSTS)
    inputs = pd.DataFrame({"LIMIT_BAL": [10_000, 900_000]})
    decided = policy.decide([_answer(0.99), _answer(0.99)], inputs, [["AGE"], []])
    assert decided[0].reasons == ["out_of_range:AGE"]
    assert decided[1].reasons == ["rule:LIMIT_BAL > 500000"]


def test_audit_sample_rate_is_respected() -> None:
    policy = EscalationPolicy(EscalationSpec(audit_sample_rate=0.05), COSTS, seed=3)
    n = 20_000
    decided = policy.decide([_answer(0.99)] * n, pd.DataFrame({"x": range(n)}), [[]] * n)
    sampled = sum(d.audit_sample for d in decided)
    assert all(d.decision == "auto" and d.sampling_probability == 0.05 for d in decided)
    assert binomtest(sampled, n, 0.05).pvalue > 0.001


def test_rules_agree_row_by_row_and_in_bulk_with_missing_values() -> None:
    # up to 128 rows are evaluated one by one, more through polars: same hits, and a missing
    # value (NaN in a float column, None in an object one) never fires a rule
    import numpy as np

    spec = EscalationSpec(rules=("LIMIT_BAL > 500000", "AGE < 25 and LIMIT_BAL > 1000"))
    policy = EscalationPolicy(spec, COSTS)
    rng = np.random.default_rng(7)
    rows = 400
    limit = rng.choice([np.nan, 5_000.0, 600_000.0], size=rows)
    age = rng.integers(18, 60, size=rows)
    inputs = pd.DataFrame({"LIMIT_BAL": limit, "AGE": age, "NAME": ["x"] * rows})
    bulk = policy._rules_hit(inputs)
    single = [policy._rules_hit(inputs.iloc[[i]].reset_index(drop=True))[0] for i in range(rows)]
    assert bulk == single
    for i in range(rows):
        expected = []
        if limit[i] > 500_000:
            expected.append("rule:LIMIT_BAL > 500000")
        if age[i] < 25 and limit[i] > 1000:
            expected.append("rule:AGE < 25 and LIMIT_BAL > 1000")
        assert bulk[i] == expected  # NaN > 500000 is False here, as in Python
    assert any(bulk)
    assert not all(bulk)
    with_text = pd.DataFrame({"LIMIT_BAL": pd.array([None, 900_000] * 100, dtype=object)})
    assert policy._rules_hit(with_text)[:2] == [[], ["rule:LIMIT_BAL > 500000"]]
