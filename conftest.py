"""Suite-wide setup, for `tests/` and for the docstring examples in `kerastl/`.

- `pytest --auto-precision=mixed_bfloat16` (or `float32`) makes `--precision auto` pick that
  policy, in this process and in every process a test starts: the suite then runs as it would on
  a CPU with fast bf16 (AMX, AVX512-BF16) or without. Without the option, `auto` detects.
- Every test starts in float32 and ends with the global policy back at float32, whatever it set.
- Processes started by tests (`python -m kerastl`, the examples) import this checkout's kerastl.
- Docstring examples run in a fresh folder, with a tiny trained `model` and its data in scope.
"""

import os
from pathlib import Path

import pytest
from _pytest.doctest import DoctestItem

from kerastl._keras import KERAS_VERSION, keras
from kerastl.precision import AUTO_PRECISION_ENV, POLICIES, detect_precision

ROOT = Path(__file__).resolve().parent

collect_ignore = ["kerastl/__main__.py"]  # importing it runs the command line
# The docstring examples of the other Keras's encoder family cannot run in this process.
collect_ignore += (["kerastl/encoders/kerashub.py", "kerastl/encoders/kerashub_loading.py",
                    "kerastl/encoders/kerashub_kernels.py"] if KERAS_VERSION == 2
                   else ["kerastl/encoders/hf_tf.py", "kerastl/encoders/hf_tf_loading.py"])

os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


def pytest_addoption(parser):
    parser.addoption(
        "--auto-precision", choices=POLICIES, default=None,
        help=f"the policy `--precision auto` picks, here and in subprocesses (sets {AUTO_PRECISION_ENV}); "
             f"mixed_bfloat16 as on a CPU with fast bf16, float32 as on one without; default: detect",
    )


def pytest_configure(config):
    forced = config.getoption("--auto-precision")
    if forced:
        os.environ[AUTO_PRECISION_ENV] = forced


def pytest_report_header(config):
    return f"kerastl: Keras {KERAS_VERSION}; --precision auto picks {detect_precision()}"


def pytest_collection_modifyitems(config, items):
    """Tests of one encoder family (`@pytest.mark.keras2`, `@pytest.mark.keras3`) run only under the
    Keras that family needs; `make test` runs the suite under both."""
    for item in items:
        for version in (2, 3):
            if item.get_closest_marker(f"keras{version}") and KERAS_VERSION != version:
                reason = f"the Keras {version} family: run with KERASTL_KERAS={version}"
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def float32_policy():
    """Each test sets the precision it needs; none inherits or leaks a global policy."""
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(autouse=True)
def docstring_example_scope(request, doctest_namespace):
    """For docstring examples only: run in a temporary folder, with the names `example_names` gives."""
    if not isinstance(request.node, DoctestItem):
        return
    request.getfixturevalue("monkeypatch").chdir(request.getfixturevalue("tmp_path"))
    if "model" not in doctest_namespace:
        doctest_namespace.update(example_names())


def example_names() -> dict:
    """A tiny DistilBERT classifier ("neg", "pos") whose head trained one epoch, and its data; a
    regressor and a multi-label model on the same encoder shape."""
    import kerastl
    from tests.helpers import synthetic_corpus, tiny_classifier, tiny_distilbert_config, tiny_tokenizer

    texts, labels = synthetic_corpus(64, seed=1)
    train = kerastl.TextExamples(texts, labels, source="train")
    validation = kerastl.TextExamples(*synthetic_corpus(16, seed=2), source="validation")
    tokenizer = tiny_tokenizer()
    model = tiny_classifier(tokenizer=tokenizer)
    kerastl.fine_tune(model, train, validation, head_epochs=1, epochs=0, verbose=0)  # a training_history
    # The other task shapes, untrained: a regressor with a score per text, and a multi-label model
    # with a label set per text.
    config = tiny_distilbert_config()
    scores = [float(len(text.split())) for text in texts]
    regressor = kerastl.TextRegressor.from_backbone(config, tokenizer=tokenizer, max_length=24)
    label_sets = [("joy", "love") if label == "pos" else ("anger",) for label in labels]
    multi_label_model = kerastl.TextMultiLabelClassifier.from_backbone(config, ["anger", "joy", "love"],
                                                                       tokenizer=tokenizer, max_length=24)
    return dict(kerastl=kerastl, model=model, tokenizer=tokenizer, texts=texts, labels=labels, train=train,
                validation=validation, config=config, scores=scores, regressor=regressor, label_sets=label_sets,
                multi_label_model=multi_label_model)
