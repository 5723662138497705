"""TextMultiLabelClassifier end to end on tiny random encoders: label sets read from Python, tables
and files (label_sep), chosen with task="multi_label" and never guessed; fine_tune learns toy sets
and tunes one threshold per label; evaluate, predict, .keras / save_pretrained round trips, the CLI
and the SavedModel export agree."""

import json
import random
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import kerastl
from kerastl.errors import DataError
from tests.helpers import FILLER, tiny_bert_config, tiny_distilbert_config, tiny_tokenizer

KIND = "distilbert" if kerastl.keras.__version__.startswith("3") else "bert"
LABELS = ("love", "neg", "none", "pos")
SCORES = {"n", "micro_f1", "macro_f1", "subset_accuracy", "per_class", "loss"}
FAST = ["--head-epochs", "1", "--epochs", "1", "--batch-size", "8", "--max-length", "24"]


def label_set_corpus(n=64, seed=0):
    """Texts carrying "good" (pos), "bad" (neg) and "love" (love) independently; none: "none"."""
    rng = random.Random(seed)
    texts, sets = [], []
    for _ in range(n):
        words, names = [rng.choice(FILLER) for _ in range(rng.randint(1, 5))], []
        for word, name, p in (("good", "pos", 0.5), ("bad", "neg", 0.4), ("love", "love", 0.3)):
            if rng.random() < p:
                words.append(word)
                names.append(name)
        rng.shuffle(words)
        texts.append(" ".join(words))
        sets.append(names or ["none"])
    return texts, sets


def tiny_multi_label(seed=0, **kwargs):
    kerastl.keras.utils.set_random_seed(seed)
    config = tiny_distilbert_config() if KIND == "distilbert" else tiny_bert_config()
    return kerastl.TextMultiLabelClassifier.from_backbone(config, LABELS, tokenizer=tiny_tokenizer(KIND),
                                                          max_length=24, **kwargs)


@pytest.fixture(scope="module")
def trained():
    model = tiny_multi_label(pooling="mean")
    train, validation = label_set_corpus(128, seed=1), label_set_corpus(48, seed=2)
    history = kerastl.fine_tune(model, train, validation, head_epochs=3, epochs=4, batch_size=16,
                                head_learning_rate=3e-3, learning_rate=1e-3, verbose=0)
    return model, history, validation


def test_label_sets_from_python_a_dataframe_and_a_file_with_label_sep(tmp_path):
    examples = kerastl.as_examples(["a", "b"], [["joy", "love", "joy"], {"anger"}], task="multi-label")
    assert examples.labels == [("joy", "love"), ("anger",)]
    assert examples.label_names() == ("anger", "joy", "love")
    np.testing.assert_array_equal(examples.label_ids(("anger", "joy", "love")), [[0, 1, 1], [1, 0, 0]])
    assert examples.label_ids(("anger", "joy", "love")).dtype == np.float32
    frame = pd.DataFrame({"text": ["a", "b"], "labels": ["joy | love", "anger"]})
    assert kerastl.as_examples(frame, task="multi_label", label_sep="|").labels == [("joy", "love"), ("anger",)]
    path = tmp_path / "train.tsv"
    path.write_text("text\tlabels\nso glad\tjoy,love\nhow rude\tanger\n")
    assert kerastl.read_examples(path, task="multi_label").labels == [("joy", "love"), ("anger",)]


@pytest.mark.parametrize("field, problem", [("joy,,love", "empty label name"), ("", "no labels")])
def test_an_empty_field_or_name_is_one_error_naming_file_and_line(tmp_path, field, problem):
    path = tmp_path / "train.tsv"
    path.write_text(f"text\tlabels\nso glad\tjoy\nhow rude\t{field}\n")
    with pytest.raises(DataError, match=f"train.tsv, line 3: .*{problem}"):
        kerastl.read_examples(path, task="multi_label")


def test_without_the_task_sets_are_refused_naming_multi_label(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("text\tlabels\nso glad\tjoy,love\nhow rude\tanger\n")
    with pytest.raises(DataError, match='task="multi_label"'):
        kerastl.read_examples(path).label_names()
    with pytest.raises(DataError, match='task="multi_label"'):
        kerastl.as_examples(["a", "b"], [["joy"], ["anger"]]).label_names()


def test_fit_predict_evaluate_and_tuned_thresholds(trained):
    model, history, (texts, sets) = trained
    assert "val_macro_f1" in history["fine_tune"] and len(history["fine_tune"]["val_macro_f1"]) == 4
    assert model.thresholds != (0.5,) * 4 and all(0 <= t <= 1 for t in model.thresholds)
    probabilities = model.predict(texts, verbose=0)
    assert probabilities.shape == (len(texts), 4) and ((probabilities >= 0) & (probabilities <= 1)).all()
    predictions = kerastl.predict(model, texts)
    np.testing.assert_allclose(predictions.probabilities, probabilities, atol=1e-5)
    assert predictions.labels[0] == tuple(n for n, p, t in zip(LABELS, probabilities[0], model.thresholds) if p >= t)
    record = predictions.records()[0]
    assert set(record) == {"labels", "probabilities"} and set(record["probabilities"]) == set(LABELS)
    scores = kerastl.evaluate(model, (texts, sets))
    assert set(scores) == SCORES and scores["n"] == len(texts)
    assert scores["macro_f1"] > 0.6, scores  # the toy labels are one word each
    assert set(scores["per_class"]["pos"]) == {"precision", "recall", "f1", "support", "threshold"}
    assert scores["per_class"]["pos"]["threshold"] == pytest.approx(model.thresholds[LABELS.index("pos")])
    model_copy = tiny_multi_label(threshold=0.3)
    assert model_copy.thresholds == (0.3,) * 4
    assert model_copy.set_thresholds({"pos": 0.7}) == (0.3, 0.3, 0.3, 0.7)
    with pytest.raises(DataError, match="'happy' is not among the model's labels"):
        kerastl.evaluate(model, (["a text"], [["happy"]]))


def test_keras_file_in_a_fresh_process_and_save_pretrained(trained, tmp_path):
    model, _, (texts, _) = trained
    expected = model.predict(texts[:4], verbose=0)
    model.save(tmp_path / "model.keras")
    keras_module = "keras" if KIND == "distilbert" else "tf_keras as keras"
    script = f"import sys, json, {keras_module}, kerastl\n" + (
        f"m = keras.models.load_model({str(tmp_path / 'model.keras')!r})\n"
        f"print(json.dumps([type(m).__name__, list(m.thresholds), m.predict({texts[:4]!r}, verbose=0).tolist()]))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    name, thresholds, outputs = json.loads(run.stdout.strip().splitlines()[-1])
    assert name == "TextMultiLabelClassifier" and thresholds == pytest.approx(model.thresholds)
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    loaded = kerastl.tasks.Task.from_pretrained(model.save_pretrained(tmp_path / "folder"))
    assert type(loaded).__name__ == "TextMultiLabelClassifier" and loaded.thresholds == model.thresholds
    np.testing.assert_allclose(loaded.predict(texts[:4], verbose=0), expected, atol=1e-5)


def test_the_export_serves_probabilities_the_mask_and_the_set(trained, tmp_path):
    model, _, (texts, _) = trained
    path = kerastl.export_saved_model(model, tmp_path / "serving")
    expected = kerastl.predict(model, texts[:6])
    script = (
        "import json, sys, tensorflow as tf, kerastl\n"
        f"loaded = tf.saved_model.load({str(path)!r})\n"
        f"out = loaded.signatures['serving_default'](text=tf.constant({texts[:6]!r}))\n"
        "print(json.dumps({k: v.numpy().tolist() if k != 'labels' else [s.decode() for s in v.numpy()]"
        " for k, v in out.items()}))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    served = json.loads(run.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(served["probabilities"], expected.probabilities, atol=1e-5)
    assert np.array_equal(served["predicted"], expected.predicted)
    assert served["labels"] == [",".join(names) for names in expected.labels]
    loaded = kerastl.load_saved_model(path).predict(texts[:6])
    assert loaded.labels == expected.labels


def test_cli_train_evaluate_predict_with_task_multi_label(encoder_folder, tmp_path, capsys):
    from kerastl.cli.commands import main

    train, validation = tmp_path / "train.tsv", tmp_path / "validation.tsv"
    for path, (texts, sets) in ((train, label_set_corpus(32, 1)), (validation, label_set_corpus(8, 2))):
        path.write_text("text\tlabels\n" + "".join(f"{t}\t{'|'.join(s)}\n" for t, s in zip(texts, sets)))
    out = tmp_path / "model"
    assert main(["train", "--model", str(encoder_folder), "--train", str(train), "--validation", str(validation),
                 "--output", str(out), "--task", "multi-label", "--label-sep", "|", *FAST]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["validation"]) == SCORES and "val_macro_f1" in result["history"]["fine_tune"]
    assert main(["evaluate", "--model", str(out), "--data", str(validation), "--label-sep", "|", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"micro_f1", "macro_f1", "subset_accuracy", "per_class"} <= set(scores) and scores["n"] == 8
    assert main(["predict", "--model", str(out), "--json", "good love", "the plot"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [set(r) for r in records] == [{"text", "labels", "probabilities"}] * 2
    assert main(["predict", "--model", str(out), "good love"]) == 0
    assert capsys.readouterr().out.rstrip("\n").endswith("\tgood love")


def test_task_training_defaults_apply_where_not_given():
    from kerastl.cli.checks import training_config
    from kerastl.cli.commands import _parser

    args = _parser().parse_args(["train", "--train", "t.tsv", "--output", "o", "--task", "multi-label",
                                 "--epochs", "2"])
    args.argv = ["--task", "multi-label", "--epochs", "2"]
    config = training_config(args)
    assert args.task == "multi_label" and config.epochs == 2
    assert config == kerastl.TrainingConfig.for_task("multi_label", epochs=2)
