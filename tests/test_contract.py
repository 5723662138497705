"""The contract every encoder family and every task passes (`tests/harness.py`), on tiny random
encoders: build, fit a step on raw strings, predict, save and load (.keras in this process and, in
the slow tier, in a fresh one; save_pretrained / from_pretrained), export and serve with TensorFlow
alone, in float32 and mixed_bfloat16. Each (family, task) trains once per module."""

import numpy as np
import pytest

from kerastl._keras import KERAS_VERSION
from kerastl.encoders.registry import FAMILIES, available_families
from tests import harness

CASES = [(family.name, task) for family in available_families() for task in harness.TASK_FIXTURES]
IDS = [f"{family}-{task}" for family, task in CASES]


class Trained:
    """A (family, task) model before and after one fit step on raw strings."""

    def __init__(self, family, task):
        self.fixture = harness.TASK_FIXTURES[task]
        self.texts, self.targets = self.fixture.data()
        self.model = harness.build_task(family, task)
        self.untrained = harness.check_predict(self.model, harness.TEXTS, self.fixture.num_outputs)
        before = harness.weights_of(self.model)
        harness.check_fit_step(self.model, self.texts, self.targets, before)


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def trained(request):
    return Trained(*request.param)


def test_every_registered_family_and_task_has_a_harness_entry():
    assert set(FAMILIES) <= set(harness.FAMILY_FIXTURES), "a registered family has no FAMILY_FIXTURES entry"
    assert [family.name for family in available_families()], "no family runs under this Keras"
    import kerastl.tasks

    tasks = {name for name in kerastl.tasks.__all__
             if isinstance(getattr(kerastl.tasks, name), type)
             and issubclass(getattr(kerastl.tasks, name), kerastl.keras.Model)}
    assert tasks == set(harness.TASK_FIXTURES), "every task class of kerastl.tasks needs a TASK_FIXTURES entry"
    for name, fixture in harness.TASK_FIXTURES.items():
        assert fixture.task_class().__name__ == name


def test_build_and_fit_a_step_on_raw_strings(trained):
    # The fixture built the model, predicted before training and ran one step (harness.check_fit_step).
    assert trained.model.encoder is not None
    assert trained.model.optimizer is not None


def test_predict_on_raw_strings(trained):
    outputs = harness.check_predict(trained.model, harness.TEXTS, trained.fixture.num_outputs)
    assert not np.allclose(outputs, trained.untrained), "predict gives the untrained model's outputs"


def test_keras_file_round_trip(trained, tmp_path):
    harness.check_keras_file_round_trip(trained.model, harness.TEXTS, tmp_path / "model.keras")


def test_save_pretrained_from_pretrained_round_trip_is_compiled(trained, tmp_path):
    harness.check_pretrained_round_trip(trained.model, trained.texts, trained.targets, tmp_path / "model")


def test_export_serves_predict_in_float32(trained, tmp_path):
    harness.check_export(trained.model, harness.TEXTS, tmp_path / "serving", atol=1e-5)


def test_export_serves_predict_in_mixed_bfloat16(trained, tmp_path):
    model = trained.model.with_precision("mixed_bfloat16")
    atol = trained.fixture.bf16_atol
    served = harness.check_export(model, harness.TEXTS, tmp_path / "serving", atol=atol)
    # and within bf16's tolerance of the float32 model's answers
    float32 = harness.served(trained.model, trained.model.predict(harness.TEXTS, verbose=0))
    np.testing.assert_allclose(served, float32, atol=atol)


FRESH = [pytest.param(family, task, imports, id=f"{family}-{task}-{name}")
         for family, task in CASES for name, imports in harness.FRESH_IMPORTS[KERAS_VERSION].items()]


@pytest.mark.slow
@pytest.mark.parametrize("family, task, imports", FRESH)
def test_keras_file_loads_in_a_fresh_process(family, task, imports, tmp_path):
    fixture = harness.TASK_FIXTURES[task]
    model = harness.build_task(family, task)
    harness.run_fit_step(model, *fixture.data())
    path = tmp_path / "model.keras"
    model.save(str(path))
    expected = np.asarray(model.predict(harness.TEXTS, verbose=0))
    harness.check_fresh_process_load(path, harness.TEXTS, expected, imports)
