"""The case page's explanation: typical values from the training data, one-at-a-time effects."""

from __future__ import annotations

import itertools

import numpy as np
from sqlalchemy import select

from loopline import _api
from loopline.registry import get_version, load_model
from loopline.store import Case
from loopline.ui._explain import drivers, model_facts
from tests.ui.conftest import UIServer

MODEL = "credit-default@1"


def test_typical_values_are_the_training_data_medians_and_modes(ui: UIServer) -> None:
    with ui.ws.store.transaction() as session:
        facts = model_facts(session, MODEL)
    data = _api.load("credit", project=ui.ws.settings.project_dir)
    assert facts.references["AGE"] == round(float(np.median(data["AGE"].to_numpy())))
    assert facts.references["EDUCATION"] == data["EDUCATION"].mode().sort()[0]
    assert facts.descriptions["SEX"] == "1 = male, 2 = female."


def test_an_effect_is_the_probability_change_when_the_value_becomes_typical(
    ui: UIServer,
) -> None:
    with ui.ws.store.transaction() as session:
        facts = model_facts(session, MODEL)
        inputs = session.scalars(select(Case.inputs).where(Case.model_version == MODEL)).first()
        version = get_version(session, MODEL)
        model = load_model(ui.ws.objects, version.artifact_prefix, version.manifest_sha256)
    assert inputs is not None
    found = drivers(model, inputs, facts.references, top=30)
    assert found
    strongest = found[0]
    typical = {**inputs, strongest.name: strongest.reference}
    expected = model.positive_proba([inputs])[0] - model.positive_proba([typical])[0]
    assert abs(strongest.effect - expected) < 1e-9
    assert all(abs(a.effect) >= abs(b.effect) for a, b in itertools.pairwise(found))
    assert len(drivers(model, inputs, facts.references)) <= 8
