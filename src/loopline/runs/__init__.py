"""Training runs: the orchestration from a dataset version to a registered, gated model version.

Sits above ``training`` (pure modelling: pipeline, calibration, evaluation) and ``registry``
(versions, gates, artifacts), and composes them with the store, lineage and audit trail.
"""

from __future__ import annotations

from loopline.runs._train import TrainResult, train

__all__ = ["TrainResult", "train"]
