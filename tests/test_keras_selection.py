"""KERASTL_KERAS: which Keras kerastl runs on, what that does to the rest of the program, and the
one clear error for an object (or a saved model) of the other Keras."""

import json
import os
import subprocess
import sys

import pytest

from kerastl import keras
from kerastl._keras import KERAS_VERSION
from kerastl.errors import ModelFileError
from tests.helpers import synthetic_corpus


def _other_keras():
    """The Keras kerastl did not select in this process: tf-keras under Keras 3, Keras 3 under Keras 2."""
    if KERAS_VERSION == 3:
        import tf_keras

        return tf_keras
    import keras as keras3

    return keras3


def _python(code, selected, **env):
    environment = {**os.environ, "KERASTL_KERAS": selected, **env}
    environment.pop("TF_USE_LEGACY_KERAS", None)  # which a Keras 2 test run has set for its children
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def test_a_kerastl_model_is_a_model_of_the_selected_keras(make_classifier):
    model = make_classifier()
    assert isinstance(model, keras.Model)
    if KERAS_VERSION == 3:
        import keras as user_keras  # what a user's `import keras` gives

        assert isinstance(model, user_keras.Model)


@pytest.mark.parametrize("where", ["optimizer", "loss", "metric", "callback"])
def test_an_object_of_the_other_keras_gets_one_message_naming_both(make_classifier, where):
    other = _other_keras()
    model = make_classifier()
    texts, labels = synthetic_corpus(16)
    with pytest.raises(TypeError) as info:
        if where == "optimizer":
            model.compile(optimizer=other.optimizers.Adam(1e-3))
        elif where == "loss":
            model.compile(loss=other.losses.SparseCategoricalCrossentropy(from_logits=True))
        elif where == "metric":
            model.compile(metrics=[other.metrics.SparseCategoricalAccuracy()])
        else:
            model.compile()
            model.fit(texts, labels, epochs=1, verbose=0, callbacks=[other.callbacks.EarlyStopping()])
    message = str(info.value)
    assert "Keras 3" in message and ("tf-keras" in message or "Keras 2" in message)
    assert "from kerastl import keras" in message and f"KERASTL_KERAS={5 - KERAS_VERSION}" in message
    model.compile(optimizer=keras.optimizers.Adam(1e-3))  # nothing was lost: the model still trains
    model.fit(texts, labels, epochs=1, verbose=0, callbacks=[keras.callbacks.EarlyStopping(monitor="loss")])


@pytest.mark.slow
def test_only_the_keras_2_selection_changes_what_tf_keras_means():
    code = ("import os, kerastl\nfrom kerastl import keras\nimport tensorflow as tf\n"
            "print(os.environ.get('TF_USE_LEGACY_KERAS'), tf.keras.__name__)")
    keras3 = _python(code, "3")
    assert keras3.stdout.split() == ["None", "keras._tf_keras.keras"]  # TensorFlow's own Keras 3 alias
    keras2 = _python(code, "2")
    assert keras2.stdout.split()[0] == "1" and keras2.stdout.split()[1].startswith("tf_keras")
    assert "TF_USE_LEGACY_KERAS=1 is now set" in keras2.stderr  # and the first log line says so


@pytest.mark.slow
def test_a_model_saved_under_the_other_keras_is_refused_with_the_fix(tmp_path):
    other = 5 - KERAS_VERSION
    code = ("import sys; sys.path.insert(0, '.'); from tests.helpers import tiny_classifier\n"
            f"tiny_classifier().save_pretrained({str(tmp_path / 'model')!r})")
    _python(code, str(other))
    assert json.loads((tmp_path / "model" / "kerastl.json").read_text())["keras"] == other
    import kerastl

    with pytest.raises(ModelFileError, match=f"saved under Keras {other}.*KERASTL_KERAS={other}"):
        kerastl.TextClassifier.from_pretrained(tmp_path / "model")


@pytest.mark.parametrize("build", [
    lambda tmp: dict(optimizer=keras.optimizers.SGD(1e-2, momentum=0.9)),
    lambda tmp: dict(optimizer=keras.optimizers.RMSprop(1e-3)),
    lambda tmp: dict(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0)),
    lambda tmp: dict(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                     metrics=[keras.metrics.SparseTopKCategoricalAccuracy(k=1, name="top1")]),
    lambda tmp: dict(callbacks=[keras.callbacks.ModelCheckpoint(str(tmp / "best.keras"), monitor="loss")]),
    lambda tmp: dict(callbacks=[keras.callbacks.ModelCheckpoint(str(tmp / "w.weights.h5"), save_weights_only=True)]),
    lambda tmp: dict(callbacks=[keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=0),
                                keras.callbacks.CSVLogger(str(tmp / "log.csv")),
                                keras.callbacks.TerminateOnNaN()]),
    lambda tmp: dict(callbacks=[keras.callbacks.TensorBoard(str(tmp / "board"))]),
], ids=["sgd", "rmsprop", "adam-clipnorm", "loss-and-metric", "checkpoint-keras", "checkpoint-weights",
        "plateau-csv-nan", "tensorboard"])
def test_the_selected_keras_objects_work_in_compile_and_fit(make_classifier, tmp_path, build):
    model = make_classifier()
    arguments = build(tmp_path)
    callbacks = arguments.pop("callbacks", [])
    model.compile(**arguments)
    texts, labels = synthetic_corpus(16)
    history = model.fit(texts, labels, epochs=2, batch_size=8, verbose=0, callbacks=callbacks)
    assert len(history.history["loss"]) == 2
    if (tmp_path / "best.keras").exists():
        restored = keras.models.load_model(tmp_path / "best.keras")
        assert restored.label_names == model.label_names
