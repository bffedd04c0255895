"""Retraining: triggers, training data from the base dataset and feedback, and the job that
trains, gates and deploys a challenger (the experiment then promotes it or rolls it back)."""

from __future__ import annotations

from loopline.retraining._assemble import assemble_training_data, training_dataset_name
from loopline.retraining._pipeline import run_experiment_job, run_retrain_job
from loopline.retraining._triggers import check_label_trigger, label_threshold, request_retraining

__all__ = [
    "assemble_training_data",
    "check_label_trigger",
    "label_threshold",
    "request_retraining",
    "run_experiment_job",
    "run_retrain_job",
    "training_dataset_name",
]
