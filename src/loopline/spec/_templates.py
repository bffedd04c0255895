"""Starter projects written by ``loopline init``: commented, and valid as written."""

from __future__ import annotations

from loopline._vocabulary import TEMPLATES

__all__ = ["TEMPLATES", "render_template"]

_BINARY = """\
# loopline project file: one use case. Reference: docs/project-file.md
name: {name}
description: Decide which cases are positive; people review the uncertain ones.

objective:                      # declared before any model is trained
  task: binary_classification   # binary_classification | multiclass_classification | regression
  target: label                 # the column to predict
  positive_class: 1
  costs:                        # what each outcome costs, in one currency
    false_positive: 10          # acting on a case that was negative
    false_negative: 100         # missing a positive case
    review: 5                   # one person looking at one case
    currency: USD
  success:                      # reported by every evaluation, experiment and monitor
    - automation_rate >= 0.70   # share decided without a person
    - precision_auto >= 0.90    # precision of what the model decides alone
    - review_sla_hours <= 24

data:
  contract: contracts/{name}.yaml   # Open Data Contract Standard v3.1
  dataset: {name}

training:
  estimator: sklearn.ensemble.HistGradientBoostingClassifier
  params: {{max_iter: 200, learning_rate: 0.1}}
  split: {{method: stratified, test_fraction: 0.2}}
  seed: 42

gates:                          # a model version must pass all of these to serve
  - roc_auc >= 0.70
  - ece <= 0.05

serving:
  escalation:
    confidence_below: 0.80
    audit_sample_rate: 0.02

monitoring:
  every: 1h
  window: 24h
"""

_REGRESSION = """\
# loopline project file: one use case. Reference: docs/project-file.md
name: {name}
description: Estimate a quantity; people review the estimates the model is unsure of.

objective:
  task: regression
  target: label
  costs:
    per_unit_error: 1           # cost of each unit of absolute error
    review: 5                   # one person looking at one case
    currency: USD
  success:
    - automation_rate >= 0.70
    - mae_auto <= 10

data:
  contract: contracts/{name}.yaml
  dataset: {name}

training:
  estimator: sklearn.ensemble.HistGradientBoostingRegressor
  params: {{max_iter: 200}}
  split: {{method: random, test_fraction: 0.2}}
  seed: 42

gates:
  - r2 >= 0.5

serving:
  escalation:
    conformal: {{alpha: 0.1}}

monitoring:
  every: 1h
  window: 24h
"""

_CONTRACT = """\
# Data contract in the Open Data Contract Standard v3.1 shape. Reference: docs/contracts.md
apiVersion: v3.1.0
kind: DataContract
id: {name}
name: {name}
version: 1.0.0
status: draft
schema:
  - name: {name}
    properties:
      - name: id
        logicalType: integer
        required: true
        unique: true
      - name: amount
        logicalType: number
        required: true
        logicalTypeOptions: {{minimum: 0}}
      - name: segment
        logicalType: string
        quality:
          - metric: invalidValues
            arguments: {{validValues: [a, b, c]}}
            mustBe: 0
      - name: label
        logicalType: {label_type}
        required: true
"""


def render_template(template: str, name: str) -> dict[str, str]:
    """The files of a starter project, as relative path → text.

    Raises:
        ValueError: ``template`` is not one of :data:`TEMPLATES`.
    """
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}")
    project = (_BINARY if template == "binary-classification" else _REGRESSION).format(name=name)
    label_type = "integer" if template == "binary-classification" else "number"
    return {
        "loopline.yaml": project,
        f"contracts/{name}.yaml": _CONTRACT.format(name=name, label_type=label_type),
    }
