"""The contract every encoder family and every task passes (`tests/harness.py`), on tiny random
encoders: build, fit a step on raw strings, predict, save and load (.keras in this process and, in
the slow tier, in a fresh one; save_pretrained / from_pretrained), export and serve with TensorFlow
alone, in float32 and mixed_bfloat16. Each (family, task) trains once per module; the tasks that
take sentence pairs run the same checks again as pair models on `(texts_a, texts_b)`
(`harness.PAIR_FIXTURES`)."""

import numpy as np
import pytest

from kerastl._keras import KERAS_VERSION
from kerastl.encoders.registry import FAMILIES, available_families
from tests import harness

FIXTURES = {False: harness.TASK_FIXTURES, True: harness.PAIR_FIXTURES}  # pairs? -> the fixtures
CASES = [(family.name, task, pairs) for pairs, fixtures in FIXTURES.items()
         for family in available_families() for task in fixtures]
IDS = [f"{family}-{task}" + ("-pairs" if pairs else "") for family, task, pairs in CASES]


class Trained:
    """A (family, task) model, of single texts or of sentence pairs, before and after one fit step
    on raw strings; `inputs` are what the checks predict on."""

    def __init__(self, family, task, pairs):
        self.fixture = FIXTURES[pairs][task]
        self.inputs = harness.PAIR_TEXTS if pairs else harness.TEXTS
        self.texts, self.targets = self.fixture.data()
        self.model = harness.build_task(family, task, pairs=pairs)
        assert self.model.text_pair is pairs
        self.untrained = harness.check_predict(self.model, self.inputs, self.fixture.num_outputs)
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
    for name, fixture in {**harness.TASK_FIXTURES, **harness.PAIR_FIXTURES}.items():
        assert fixture.task_class().__name__ == name
    assert set(harness.PAIR_FIXTURES) <= set(harness.TASK_FIXTURES)


def test_build_and_fit_a_step_on_raw_strings(trained):
    # The fixture built the model, predicted before training and ran one step (harness.check_fit_step).
    assert trained.model.encoder is not None
    assert trained.model.optimizer is not None


def test_predict_on_raw_strings(trained):
    outputs = harness.check_predict(trained.model, trained.inputs, trained.fixture.num_outputs)
    assert not np.allclose(outputs, trained.untrained), "predict gives the untrained model's outputs"


def test_keras_file_round_trip(trained, tmp_path):
    harness.check_keras_file_round_trip(trained.model, trained.inputs, tmp_path / "model.keras")


def test_save_pretrained_from_pretrained_round_trip_is_compiled(trained, tmp_path):
    harness.check_pretrained_round_trip(trained.model, trained.texts, trained.targets, tmp_path / "model")


def test_export_serves_predict_in_float32(trained, tmp_path):
    harness.check_export(trained.model, trained.inputs, tmp_path / "serving", atol=1e-5)


def test_export_serves_predict_in_mixed_bfloat16(trained, tmp_path):
    model = trained.model.with_precision("mixed_bfloat16")
    atol = trained.fixture.bf16_atol
    served = harness.check_export(model, trained.inputs, tmp_path / "serving", atol=atol)
    # and within bf16's tolerance of the float32 model's answers
    float32 = harness.served(trained.model, trained.model.predict(trained.inputs, verbose=0))
    np.testing.assert_allclose(served, float32, atol=atol)


FRESH = [pytest.param(family, task, pairs, imports, id=f"{case_id}-{name}")
         for (family, task, pairs), case_id in zip(CASES, IDS)
         for name, imports in harness.FRESH_IMPORTS[KERAS_VERSION].items()]


@pytest.mark.slow
@pytest.mark.parametrize("family, task, pairs, imports", FRESH)
def test_keras_file_loads_in_a_fresh_process(family, task, pairs, imports, tmp_path):
    fixture = FIXTURES[pairs][task]
    inputs = harness.PAIR_TEXTS if pairs else harness.TEXTS
    model = harness.build_task(family, task, pairs=pairs)
    harness.run_fit_step(model, *fixture.data())
    path = tmp_path / "model.keras"
    model.save(str(path))
    expected = np.asarray(model.predict(harness.as_input(inputs), verbose=0))
    harness.check_fresh_process_load(path, inputs, expected, imports)
