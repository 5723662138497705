"""The contract every encoder family and every task passes, as KerasHub's `TestCase.run_backbone_test`,
`run_task_test` and `run_model_saving_test`: reusable checks, and one registry entry per family
(`FAMILY_FIXTURES`: how to build a tiny random encoder of it) and per task (`TASK_FIXTURES`: how to
build the task on an encoder and what it is trained on). A new family or task joins
`tests/test_contract.py` by one entry here.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

import kerastl
from tests.helpers import tiny_bert_config, tiny_distilbert_config, tiny_tokenizer

ROOT = Path(__file__).resolve().parents[1]

TEXTS = ["a good film", "awful", "the plot was dull and the film was very very long", "love it", ""]
# Sentence pairs, as (texts_a, texts_b): an empty side, a side past max_length, single words.
PAIR_TEXTS = (["a good film", "awful", "the plot was dull and the film was very very long", "love", ""],
              ["great fun", "", "and the film was dull and long and very very dull", "film", "dull"])
BF16_ATOL = 2e-2  # bf16 keeps 8 bits of mantissa: probabilities agree to about 1e-2


class FamilyFixture(NamedTuple):
    """How the harness builds a tiny random encoder of one family: `source()` is what
    `TextClassifier.from_backbone` (and the other tasks' `from_backbone`) takes, with `tokenizer()`."""

    source: Callable
    tokenizer: Callable


class TaskFixture(NamedTuple):
    """How the harness builds one task on a family's tiny encoder, and its training data.

    `build(source, tokenizer)` returns the task; `data()` returns `(texts, targets)`;
    `num_outputs` is the width of `predict`'s output; the export's `serving_default` returns
    `served(predict's outputs)` under the key `serving_output`.
    """

    task_class: Callable
    build: Callable
    data: Callable
    num_outputs: int
    serving_output: str = "probabilities"
    served: Callable = None  # predict's outputs -> what the export serves; None: softmax
    bf16_atol: float = 2e-2  # bf16 against float32, in the served output's units


# family name (kerastl.encoders.registry.FAMILIES) -> its tiny encoder. The transformers configs
# are those of the transformers testers; each family converts them (KerasHub under Keras 3, the
# transformers TF classes under Keras 2).
FAMILY_FIXTURES = {
    "kerashub": FamilyFixture(source=tiny_distilbert_config, tokenizer=lambda: tiny_tokenizer("distilbert")),
    "hf_tf": FamilyFixture(source=tiny_bert_config, tokenizer=lambda: tiny_tokenizer("bert")),
}


def _classifier_data():
    texts = ["a good film", "an awful plot", "i love it", "dull and bad", "great fun", "i hate it"]
    return texts, ["pos", "neg", "pos", "neg", "pos", "neg"]


def _regressor_data():
    texts = ["a good film", "an awful plot", "i love it", "dull and bad", "great fun", "i hate it"]
    return texts, [4.5, 1.0, 5.0, 0.5, 4.0, 0.0]


def _pair_classifier_data():
    texts_a = ["a good film", "an awful plot", "i love it", "dull and bad", "great fun", "i hate it"]
    texts_b = ["great fun", "i hate it", "a good film", "an awful plot", "love", "bad"]
    return (texts_a, texts_b), ["pos", "neg", "pos", "neg", "pos", "neg"]


def _pair_regressor_data():
    return _pair_classifier_data()[0], [4.5, 1.0, 5.0, 0.5, 4.0, 0.0]


def _multi_label_data():
    texts = ["a good film", "an awful plot", "i love it", "dull and bad", "great fun", "i hate it"]
    return texts, [["pos"], ["neg"], ["pos", "fun"], ["neg"], ["pos", "fun"], ["neg"]]


# task name -> how to build and train it.
TASK_FIXTURES = {
    "TextClassifier": TaskFixture(
        task_class=lambda: kerastl.TextClassifier,
        build=lambda source, tokenizer: kerastl.TextClassifier.from_backbone(
            source, ("neg", "pos"), tokenizer=tokenizer, max_length=16),
        data=_classifier_data,
        num_outputs=2,
    ),
    "TextRegressor": TaskFixture(
        task_class=lambda: kerastl.TextRegressor,
        build=lambda source, tokenizer: kerastl.TextRegressor.from_backbone(source, tokenizer=tokenizer, max_length=16),
        data=_regressor_data,
        num_outputs=1,
        serving_output="score",
        served=lambda outputs: np.asarray(outputs, dtype="float32").reshape(-1),
        bf16_atol=5e-2,  # scores in the targets' units: bf16's 2e-2 times their spread (std 2.1)
    ),
    "TextMultiLabelClassifier": TaskFixture(
        task_class=lambda: kerastl.TextMultiLabelClassifier,
        build=lambda source, tokenizer: kerastl.TextMultiLabelClassifier.from_backbone(
            source, ("fun", "neg", "pos"), tokenizer=tokenizer, max_length=16),
        data=_multi_label_data,
        num_outputs=3,
        served=lambda outputs: np.asarray(outputs, dtype="float32"),  # sigmoid probabilities, as predict gives
    ),
}


# Sentence pairs: task name -> how to build the task as a pair model (text_pair=True) and train it
# on `(texts_a, texts_b)`. On a tiny BERT whatever the family's own fixture, as BERT embeds the
# segment ids a pair feeds it; the contract's checks run on `PAIR_TEXTS`.
PAIR_FIXTURES = {
    "TextClassifier": TASK_FIXTURES["TextClassifier"]._replace(
        build=lambda source, tokenizer: kerastl.TextClassifier.from_backbone(
            tiny_bert_config(), ("neg", "pos"), tokenizer=tiny_tokenizer("bert"), max_length=16, text_pair=True),
        data=_pair_classifier_data,
    ),
    "TextRegressor": TASK_FIXTURES["TextRegressor"]._replace(
        build=lambda source, tokenizer: kerastl.TextRegressor.from_backbone(
            tiny_bert_config(), tokenizer=tiny_tokenizer("bert"), max_length=16, text_pair=True),
        data=_pair_regressor_data,
    ),
}


# ------------------------------------------------------------------------------------- building


def build_task(family: str, task: str, seed: int = 0, pairs: bool = False):
    """A tiny random `task` on an encoder of `family` (a pair model with `pairs`), the same for the
    same seed."""
    kerastl.keras.utils.set_random_seed(seed)
    fixture = FAMILY_FIXTURES[family]
    return (PAIR_FIXTURES if pairs else TASK_FIXTURES)[task].build(fixture.source(), fixture.tokenizer())


def as_input(texts):
    """Texts as a list, or sentence pairs `(texts_a, texts_b)` as a tuple of two lists."""
    return tuple(list(part) for part in texts) if isinstance(texts, tuple) else list(texts)


def count(texts) -> int:
    """How many examples: texts, or pairs `(texts_a, texts_b)`."""
    return len(texts[0]) if isinstance(texts, tuple) else len(texts)


def softmax(logits) -> np.ndarray:
    logits = np.asarray(logits, dtype="float64")
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------- checks


def run_fit_step(model, texts: Sequence[str], targets) -> dict:
    """One `fit` step on raw strings, with the task's default compile; the history."""
    model.compile()
    return model.fit(as_input(texts), list(targets), batch_size=count(texts), epochs=1, steps_per_epoch=1,
                     verbose=0).history


def check_fit_step(model, texts, targets, before: dict) -> None:
    """After one step on raw strings the loss is finite and trainable weights moved."""
    history = run_fit_step(model, texts, targets)
    assert np.isfinite(history["loss"]).all(), history
    after = {_name(v): v.numpy() for v in model.trainable_weights}
    moved = [name for name, value in before.items() if not np.array_equal(value, after[name])]
    assert moved, "no trainable weight changed in one fit step"


def check_predict(model, texts: Sequence[str], num_outputs: int) -> np.ndarray:
    """`predict` on raw strings: one row of `num_outputs` finite float values per text."""
    outputs = np.asarray(model.predict(as_input(texts), verbose=0))
    assert outputs.shape == (count(texts), num_outputs), outputs.shape
    assert np.isfinite(outputs).all(), outputs
    return outputs


def check_keras_file_round_trip(model, texts, path: Path, atol: float = 1e-5):
    """`model.save(".keras")` then `keras.models.load_model` in this process: same class, same outputs."""
    expected = np.asarray(model.predict(as_input(texts), verbose=0))
    model.save(str(path))
    loaded = kerastl.keras.models.load_model(str(path))
    assert type(loaded) is type(model)
    np.testing.assert_allclose(np.asarray(loaded.predict(as_input(texts), verbose=0)), expected, atol=atol)
    return loaded


def check_pretrained_round_trip(model, texts, targets, path: Path, atol: float = 1e-5):
    """`save_pretrained` / `from_pretrained`: same outputs, and the loaded model is compiled,
    ready to `evaluate` with no `compile` call."""
    expected = np.asarray(model.predict(as_input(texts), verbose=0))
    model.save_pretrained(path)
    loaded = type(model).from_pretrained(path)
    np.testing.assert_allclose(np.asarray(loaded.predict(as_input(texts), verbose=0)), expected, atol=atol)
    assert getattr(loaded, "optimizer", None) is not None, "from_pretrained returned a model with no optimizer"
    results = loaded.evaluate(as_input(texts), list(targets), verbose=0, return_dict=True)
    assert "loss" in results and np.isfinite(results["loss"]), results
    return loaded


def served(model, outputs) -> np.ndarray:
    """What the export of `model`'s task serves for `predict`'s `outputs` (softmax for a classifier)."""
    fixture = TASK_FIXTURES[type(model).__name__]
    return (fixture.served or softmax)(outputs)


def check_export(model, texts, base: Path, *, precision=None, atol: float = 1e-5, expected=None):
    """`export_saved_model`, loaded with `tf.saved_model.load` alone: `serving_default` on raw
    strings gives the task's own output (`TaskFixture.serving_output`: a classifier's
    `softmax(predict)` as `probabilities`, a regressor's scores as `score`) within `atol` (of the
    model itself, or `expected`)."""
    import tensorflow as tf

    key = TASK_FIXTURES[type(model).__name__].serving_output
    if expected is None:
        expected = served(model, model.predict(as_input(texts), verbose=0))
    path = kerastl.export_saved_model(model, base, precision=precision)
    serving = tf.saved_model.load(str(path)).signatures["serving_default"]
    if isinstance(texts, tuple):  # a pair model serves text and text_pair
        out = serving(text=tf.constant(texts[0]), text_pair=tf.constant(texts[1]))
    else:
        out = serving(text=tf.constant(list(texts)))
    values = out[key].numpy()
    assert out[key].dtype == tf.float32 and values.shape == expected.shape, (out[key], expected.shape)
    np.testing.assert_allclose(values, expected, atol=atol)
    return values


# The programs a user writes to load a .keras file with nothing but kerastl and Keras, by Keras.
# Under Keras 2 the README's `import kerastl; from kerastl import keras` and plain `import tf_keras`.
FRESH_IMPORTS = {
    3: {"keras, kerastl": "import keras, kerastl", "kerastl, keras": "import kerastl, keras"},
    2: {"kerastl; from kerastl import keras": "import kerastl\nfrom kerastl import keras",
        "tf_keras as keras, kerastl": "import tf_keras as keras\nimport kerastl",
        "kerastl, tf_keras as keras": "import kerastl\nimport tf_keras as keras"},
}

_FRESH_PROGRAM = """{imports}
import json, sys
model = keras.models.load_model(sys.argv[1])
x = json.loads(sys.argv[2])
x = tuple(x["pairs"]) if isinstance(x, dict) else x  # sentence pairs: (texts_a, texts_b)
print(json.dumps({{"class": type(model).__module__ + "." + type(model).__name__,
                  "outputs": model.predict(x, verbose=0).tolist()}}))
"""


def check_fresh_process_load(path: Path, texts, expected, imports: str, atol: float = 1e-5) -> None:
    """`keras.models.load_model(path)` in a new Python with only `imports` gives `expected`."""
    result = subprocess.run(
        [sys.executable, "-c", _FRESH_PROGRAM.format(imports=imports), str(path),
         json.dumps({"pairs": as_input(texts)} if isinstance(texts, tuple) else list(texts))],
        capture_output=True, text=True, cwd=str(path.parent), timeout=600,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
    )
    assert result.returncode == 0, f"{imports!r}: exit {result.returncode}\n{result.stderr[-3000:]}"
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["class"].startswith("kerastl."), answer["class"]
    np.testing.assert_allclose(np.asarray(answer["outputs"]), expected, atol=atol)


def weights_of(model) -> dict:
    return {_name(v): v.numpy().copy() for v in model.trainable_weights}


def _name(variable) -> str:
    return getattr(variable, "path", None) or variable.name
