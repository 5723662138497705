"""fine_tune: the two phases, under float32 and mixed_bfloat16, NaN guard, and resuming after a crash."""

import numpy as np
import pytest
import tensorflow as tf

import kerastl
from kerastl import keras
from kerastl.precision import set_precision
from tests.helpers import weight_names, weight_values

PRECISIONS = ["float32", "mixed_bfloat16"]
COMPUTE_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16"}


def _weights(variables):
    return weight_values(variables)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_head_phase_leaves_backbone_bitwise_unchanged_and_trains_head(make_classifier, corpus, kind, precision):
    set_precision(precision)
    model = make_classifier(kind)
    backbone_before = _weights(model.backbone.weights)
    head_before = _weights(model.head.weights)
    kerastl.fine_tune(model, corpus, head_epochs=2, epochs=0, batch_size=8, verbose=0)
    for name, value in _weights(model.backbone.weights).items():
        np.testing.assert_array_equal(value, backbone_before[name], err_msg=name)
    for name, value in _weights(model.head.weights).items():
        assert not np.array_equal(value, head_before[name]), name


@pytest.mark.parametrize("kind, precision", [
    ("distilbert", "float32"),
    ("bert", "float32"),
    ("distilbert", "mixed_bfloat16"),
    pytest.param("bert", "mixed_bfloat16", marks=pytest.mark.slow),  # test_hf_tf checks its gradients fast
])
def test_fine_tuning_changes_backbone_and_history_has_both_phases(fine_tuned, corpus, kind, precision):
    model, before, history = fine_tuned(kind, precision)  # fine_tune(model, corpus, corpus, head_epochs=1, epochs=2)
    assert model.backbone.compute_dtype == COMPUTE_DTYPE[precision]
    after = _weights(model.backbone.weights)
    changed = {name for name, value in before.items() if not np.array_equal(value, after[name])}
    unused = weight_names(model.encoder.unused_layers[0].weights) if kind == "bert" else set()
    assert changed == set(before) - unused  # every weight but BERT's pooler, which feeds nothing
    assert len(history["head"]["val_accuracy"]) == 1
    assert len(history["fine_tune"]["val_accuracy"]) == 2
    assert model.training_history == history
    assert {tf.as_dtype(w.dtype).name for w in model.weights} == {"float32"}  # the weights stay float32 ...
    batch = next(iter(model.make_dataset(corpus[0][:4], batch_size=4)))
    logits = model(batch, training=False)
    assert logits.dtype == "float32" and np.isfinite(logits).all()  # ... and so do the logits


@pytest.mark.slow  # XLA compiles the update for every weight shape
@pytest.mark.keras2  # tf-keras's optimizers have the switch; Keras 3's have none
def test_xla_optimizer_update_gives_the_plain_update(make_classifier, corpus):
    weights = []
    for xla in (False, True):
        model = make_classifier()
        kerastl.fine_tune(model, corpus, head_epochs=0, epochs=2, batch_size=8, learning_rate=1e-3,
                          xla_optimizer_update=xla, verbose=0)
        assert model.optimizer.jit_compile == xla
        weights.append(_weights(model.weights))
    start = _weights(make_classifier().weights)
    assert max(np.abs(weights[0][k] - start[k]).max() for k in start) > 1e-3  # the weights moved ...
    for name, plain in weights[0].items():  # ... and by the same steps both ways
        np.testing.assert_allclose(weights[1][name], plain, atol=1e-5, err_msg=name)


def test_head_on_cached_features_equals_head_on_frozen_backbone(make_classifier, corpus):
    """Phase 1 on cached [CLS] vectors ends with the same head as phase 1 on the live encoder."""
    heads = []
    for cache in (True, False):
        model = make_classifier(dropout=0.0, seed=7)
        kerastl.fine_tune(model, corpus, corpus, head_epochs=3, epochs=0, batch_size=8,
                          cache_head_features=cache, verbose=0)
        heads.append([w.numpy() for w in model.head.weights])
    for cached, live in zip(*heads):
        np.testing.assert_allclose(cached, live, rtol=1e-4, atol=1e-5)
    assert not np.allclose(heads[0][0], make_classifier(dropout=0.0, seed=7).head.weights[0].numpy())


@pytest.mark.parametrize("phase", ["head", "fine_tune"])
def test_nan_loss_stops_at_once_with_the_likely_causes(make_classifier, corpus, phase):
    model = make_classifier()
    rates = {"head_learning_rate": 1e38} if phase == "head" else {"head_epochs": 0, "learning_rate": 1e38}
    with pytest.raises(kerastl.errors.TrainingError, match="loss became NaN at batch .* learning rate too high"):
        kerastl.fine_tune(model, corpus, epochs=3, batch_size=8, verbose=0, **rates)


# -- resuming in this process; tests/test_resume.py kills `kerastl train` processes ------------


class CrashInPhaseTwo(keras.callbacks.Callback):
    """Raise at the fifth step of phase 2's second epoch, one step after a backup (every 2 steps)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if isinstance(self.model, kerastl.TextClassifier) and self.epoch == 1 and batch == 4:
            raise RuntimeError("crash")


class EpochsBegun(keras.callbacks.Callback):
    """(phase, epoch) of every epoch begun: phase 1 trains a head-only model on cached features."""

    def __init__(self):
        super().__init__()
        self.begun = []

    def on_epoch_begin(self, epoch, logs=None):
        self.begun.append(("fine_tune" if isinstance(self.model, kerastl.TextClassifier) else "head", epoch))


@pytest.mark.parametrize("precision", [
    pytest.param("float32", marks=pytest.mark.slow),  # as test_resume.py's `kerastl train` runs, which are slow
    "mixed_bfloat16",
])
def test_a_crash_in_phase_two_resumes_from_the_last_backup(make_classifier, corpus, tmp_path, precision):
    set_precision(precision)
    settings = dict(head_epochs=1, epochs=2, batch_size=8, checkpoint_dir=tmp_path / "state", checkpoint_every=2,
                    verbose=0)
    with pytest.raises(RuntimeError, match="crash"):
        kerastl.fine_tune(make_classifier(), corpus, callbacks=[CrashInPhaseTwo()], **settings)
    assert (tmp_path / "state" / "head.done.json").is_file()
    model, epochs = make_classifier(), EpochsBegun()
    history = kerastl.fine_tune(model, corpus, callbacks=[epochs], **settings)
    assert epochs.begun == [("fine_tune", 1)]  # phase 1 restored, phase 2 went on from its second epoch
    assert model.backbone.compute_dtype == COMPUTE_DTYPE[precision]
    assert len(history["head"]["loss"]) == 1 and len(history["fine_tune"]["loss"]) == 2
    logits = kerastl.analysis.evaluation.predict(model, ["a good film"]).logits
    assert logits.dtype == np.float32 and np.isfinite(logits).all()


def test_fine_tune_takes_the_users_optimizer_for_phase_two(make_classifier, corpus):
    model = make_classifier()
    sgd = keras.optimizers.SGD(learning_rate=0.05, momentum=0.9)
    before = weight_values(model.backbone.trainable_weights)
    history = kerastl.fine_tune(model, corpus, head_epochs=1, epochs=1, batch_size=16, verbose=0, optimizer=sgd)
    assert model.optimizer is sgd and int(sgd.iterations.numpy()) == 4  # phase 2's 4 steps, with it
    assert len(history["head"]["loss"]) == 1 and len(history["fine_tune"]["loss"]) == 1
    after = weight_values(model.backbone.trainable_weights)
    assert any(not np.array_equal(before[name], after[name]) for name in before)  # it trained the encoder

    # A callable gets phase 2's number of steps, under the model's strategy, to build one.
    steps = []
    def build(total_steps):
        steps.append(total_steps)
        return keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-4, total_steps))

    kerastl.fine_tune(model, corpus, head_epochs=0, epochs=2, batch_size=16, verbose=0, optimizer=build)
    assert steps == [8] and isinstance(model.optimizer, keras.optimizers.Adam)
    with pytest.raises(TypeError, match=r"fine_tune\(optimizer=...\) takes a Keras optimizer"):
        kerastl.fine_tune(model, corpus, epochs=1, verbose=0, optimizer="sgd")
    with pytest.raises(TypeError, match="received int"):
        kerastl.fine_tune(model, corpus, head_epochs=0, epochs=1, verbose=0, optimizer=lambda steps: 3)
