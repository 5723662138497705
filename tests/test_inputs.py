"""First contact: every function that takes examples accepts the same inputs, raw text works the
Keras way, a failed fit leaves the model usable, and `model.save` round-trips or refuses."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import kerastl
from kerastl import keras
from kerastl.analysis.evaluation import Evaluation, evaluate, predict
from kerastl.cli.commands import main
from kerastl.data import ACCEPTED, as_examples

EMOTIONS = ["sadness", "joy", "love", "anger", "fear", "surprise"]  # dair-ai/emotion's ClassLabel order


def _batches(ds):
    return [(x["input_ids"].numpy().tolist(), y.numpy().tolist()) for x, y in ds]


def _weights(model):
    return [w.numpy().copy() for w in model.weights]


# -- one text is one text; a path is never read as texts -------------------------------------------


def test_predict_on_one_string_is_one_prediction(make_classifier):
    model = make_classifier()
    one = predict(model, "i feel great")
    assert len(one.records()) == 1
    np.testing.assert_allclose(one.logits, predict(model, ["i feel great"]).logits, atol=1e-6)
    assert kerastl.predict(model, np.array(["good", "bad film"])).logits.shape == (2, 2)


def test_make_dataset_of_a_dataframe_has_one_example_per_row(make_classifier, corpus):
    texts, labels = corpus
    model = make_classifier()
    frame = pd.DataFrame({"text": texts, "label": labels})
    expected = _batches(model.make_dataset(texts, labels, batch_size=16))
    assert _batches(model.make_dataset(frame, batch_size=16)) == expected
    assert _batches(model.make_dataset(frame.to_dict("list"), batch_size=16)) == expected
    assert _batches(model.make_dataset((texts, labels), batch_size=16)) == expected
    assert len(model.encode(frame)) == len(texts) == 64


def test_make_dataset_of_a_path_reads_the_file(make_classifier, csv_files):
    model = make_classifier()
    examples = kerastl.read_examples(csv_files["train"])
    expected = _batches(model.make_dataset(examples, batch_size=16))
    assert _batches(model.make_dataset(str(csv_files["train"]), batch_size=16)) == expected
    assert _batches(model.make_dataset(csv_files["train"], batch_size=16)) == expected
    # Any other str is one text, never a file name spelled out as characters.
    (features,) = list(model.make_dataset("i feel great"))
    assert features["input_ids"].shape[0] == 1


def test_a_str_that_looks_like_a_path_is_never_read_as_a_text(make_classifier, tmp_path):
    model = make_classifier()
    with pytest.raises(kerastl.DataError, match=r"no data file at 'i love notes.txt'.*give \[text\]"):
        predict(model, "i love notes.txt")
    (tmp_path / "notes.xlsx").write_bytes(b"PK")
    with pytest.raises(kerastl.DataError, match=r"unknown extension '.xlsx'"):
        predict(model, str(tmp_path / "notes.xlsx"))
    with pytest.raises(kerastl.DataError, match=r"is a folder: give one data file in it"):
        model.make_dataset(str(tmp_path))
    assert len(predict(model, ["i love notes.txt", str(tmp_path)]).records()) == 2  # a list holds texts


def test_fine_tune_and_evaluate_take_dataframes_datasets_and_tuples(make_classifier, corpus):
    import datasets

    texts, labels = corpus
    frame = pd.DataFrame({"text": texts, "label": labels})
    model = make_classifier()
    history = kerastl.fine_tune(model, frame, datasets.Dataset.from_pandas(frame[:16]), head_epochs=1,
                                epochs=0, batch_size=16, verbose=0)
    assert len(history["head"]["val_accuracy"]) == 1
    scores = evaluate(model, (texts[:24], labels[:24]))
    assert scores == pytest.approx(evaluate(model, kerastl.TextExamples(texts[:24], labels[:24])))
    assert scores["n"] == 24
    assert evaluate(model, frame[:24]) == pytest.approx(scores)
    assert Evaluation.from_model(model, frame[:24]).scores() == pytest.approx(scores)


def test_class_label_names_become_the_label_names_in_id_order(make_classifier):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=EMOTIONS)})
    ids = [1, 0, 3, 5, 2, 4, 1, -1]  # -1: a row without a label
    dataset = datasets.Dataset.from_dict({"text": [f"text {i}" for i in range(8)], "label": ids}, features=features)
    examples = kerastl.read_examples(dataset)
    assert examples.label_names() == tuple(EMOTIONS)  # the ClassLabel's order, not sorted
    assert examples.labels == ["joy", "sadness", "anger", "surprise", "love", "fear", "joy"]
    model = make_classifier(labels=examples.label_names())
    assert examples.label_ids(model.label_names).tolist() == ids[:7]  # the ids keep their meaning
    # A model trained on the integer ids ("0".."5") still reads the dataset by id.
    integer_model = make_classifier(labels=[str(i) for i in range(6)])
    assert as_examples(dataset).label_ids(integer_model.label_names).tolist() == ids[:7]
    assert evaluate(model, dataset)["n"] == 7


def test_a_dataset_dict_is_refused_naming_its_splits():
    import datasets

    split = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1]})
    splits = datasets.DatasetDict({"train": split, "validation": split})
    with pytest.raises(TypeError, match=r"DatasetDict with the splits \['train', 'validation'\].*dataset\['train'\]"):
        kerastl.read_examples(splits)


# -- raw text, the Keras way ------------------------------------------------------------------------


def test_keras_predict_and_call_take_raw_text_in_input_order(make_classifier, corpus):
    texts = corpus[0][:40]
    model = make_classifier()
    expected = model.predict_logits(model.encode(texts)).numpy()  # (40, 2), input order
    np.testing.assert_allclose(model.predict(texts, verbose=0), expected, atol=1e-5)
    np.testing.assert_allclose(model.predict(texts, batch_size=7, verbose=0), expected, atol=1e-5)
    np.testing.assert_allclose(model(texts), expected, atol=1e-5)
    np.testing.assert_allclose(model(["good film"]), model(model.make_dataset(["good film"]).get_single_element()))
    for same in (np.array(texts), tf.constant(texts), pd.Series(texts), tf.data.Dataset.from_tensor_slices(texts)):
        np.testing.assert_allclose(model.predict(same, verbose=0), expected, atol=1e-5)
    assert model("good film").shape == (1, 2)


def test_keras_fit_on_raw_text_is_fit_on_make_dataset(make_classifier, corpus):
    texts, labels = corpus[0][:32], corpus[1][:32]
    weights = []
    for raw in (True, False):
        model = make_classifier(seed=3)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        keras.utils.set_random_seed(11)
        if raw:
            model.fit(texts, labels, batch_size=8, epochs=1, verbose=0)
        else:
            model.fit(model.make_dataset(texts, labels, batch_size=8, shuffle=True), epochs=1, verbose=0)
        weights.append(_weights(model))
    assert not np.allclose(weights[0][-2], _weights(make_classifier(seed=3))[-2])  # the head trained
    for raw, dataset in zip(*weights):
        np.testing.assert_allclose(raw, dataset, atol=1e-6)


def test_keras_fit_and_evaluate_take_label_names_ids_and_validation_text(make_classifier, corpus):
    texts, labels = corpus
    ids = np.array([("neg", "pos").index(label) for label in labels])
    model = make_classifier()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    batches = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    history = model.fit(texts, labels, validation_data=(texts[:16], labels[:16]), epochs=1, verbose=0,
                        callbacks=[counter])
    assert len(batches) == 2  # 64 texts in Keras' default batches of 32
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    by_name = model.evaluate(texts, labels, verbose=0)
    assert model.evaluate(texts, ids, verbose=0) == pytest.approx(by_name)
    assert model.evaluate(tf.constant(texts), tf.constant(ids), verbose=0) == pytest.approx(by_name)
    pairs = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(5)
    assert model.evaluate(pairs, verbose=0) == pytest.approx(by_name, rel=1e-5)
    assert by_name[1] == pytest.approx(evaluate(model, (texts, labels))["accuracy"])
    history = model.fit(texts, ids, validation_split=0.25, epochs=1, verbose=0)
    assert "val_accuracy" in history.history


def test_unknown_label_names_in_keras_fit_are_named(make_classifier, corpus, tmp_path):
    texts, _ = corpus
    model = make_classifier()
    model.compile()
    with pytest.raises(kerastl.DataError, match=r"labels \['meh', 'so so'\] are not among the model's labels"):
        model.fit(texts[:4], ["pos", "meh", "so so", "neg"], verbose=0)
    with pytest.raises(kerastl.DataError, match=r"label ids \[2\] are outside 0\.\.1"):
        model.evaluate(texts[:2], [0, 2], verbose=0)


def test_integer_labels_are_ids_in_fit_evaluate_fine_tune_and_the_cli(make_classifier, corpus, tmp_path, capsys):
    texts, labels = corpus
    ids = [("neg", "pos").index(label) for label in labels]
    model = make_classifier()  # labels named neg, pos: 0 is neg, 1 is pos
    model.compile()
    scores = evaluate(model, (texts, labels))
    for given in (ids, np.array(ids), np.array(ids, np.int64)):  # a list, and arrays
        assert evaluate(model, (texts, given)) == scores  # ids, as model.fit and model.evaluate read them
    assert model.evaluate(texts, ids, verbose=0)[1] == pytest.approx(scores["accuracy"])
    # A file's integer column: ids too, in Python and in the CLI.
    (tmp_path / "ids.csv").write_text("text,label\n" + "".join(f"{t},{i}\n" for t, i in zip(texts, ids)))
    assert evaluate(model, tmp_path / "ids.csv") == scores
    assert model.evaluate(str(tmp_path / "ids.csv"), verbose=0)[1] == pytest.approx(scores["accuracy"])
    saved = model.save_pretrained(tmp_path / "model")
    assert main(["evaluate", "--model", str(saved), "--data", str(tmp_path / "ids.csv"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(scores["accuracy"])
    # Out of range: refused, naming the range and the labels, in every reader.
    with pytest.raises(kerastl.DataError, match=r"\[2\] are outside 0\.\.1, the ids of the model's labels "
                                                r"\['neg', 'pos'\]"):
        evaluate(model, (texts[:2], [0, 2]))
    (tmp_path / "bad.csv").write_text("text,label\ngood,1\nbad,-1\n")
    assert main(["evaluate", "--model", str(saved), "--data", str(tmp_path / "bad.csv")]) == 2
    assert "[-1] are outside 0..1" in capsys.readouterr().err
    with pytest.raises(kerastl.DataError, match=r"outside 0\.\.1"):
        kerastl.fine_tune(model, (texts[:4], [0, 1, 2, 1]), epochs=1, head_epochs=1)
    # Label names that are numbers in another order: an integer would be ambiguous, and is refused.
    numbered = make_classifier(labels=("1", "10", "2"))
    with pytest.raises(kerastl.DataError, match="the id 1 is the label '10', not '1'"):
        evaluate(numbered, (texts[:2], [1, 2]))


# -- a failed fit leaves the model usable -----------------------------------------------------------


def test_fit_after_a_failed_fit_needs_no_new_compile(make_classifier, corpus):
    texts, labels = corpus[0][:16], corpus[1][:16]
    model = make_classifier()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    features = next(iter(model.make_dataset(texts[:8])))
    with pytest.raises(ValueError):
        model.fit(features, np.zeros((8, 3)), verbose=0)  # wrong shape: fails while tracing
    with pytest.raises(tf.errors.InvalidArgumentError, match="label value of 5"):
        model.fit(features, np.array([0, 1, 5, 0, 1, 0, 1, 0]), verbose=0)  # not a label id
    with pytest.raises(kerastl.DataError):
        model.fit(texts, ["nope"] * len(texts), verbose=0)
    head = _weights(model.head)
    history = model.fit(texts, labels, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(_weights(model.head)[0], head[0])


# -- model.save round-trips or refuses ---------------------------------------------------------------


@pytest.mark.parametrize("kind, trained", [("distilbert", True), ("bert", False)])
def test_save_keras_file_round_trips(make_classifier, corpus, tmp_path, kind, trained):
    texts, labels = corpus
    model = make_classifier(kind, labels=("neg", "pos"), max_length=20)
    if trained:  # compiled, with optimizer state to save
        model.compile(optimizer=keras.optimizers.AdamW(1e-3))
        model.fit(texts[:8], labels[:8], epochs=1, verbose=0)
    rng = np.random.default_rng(0)
    for weight in model.weights:  # weights no fresh model of the same seed has
        weight.assign(weight + rng.normal(scale=0.05, size=weight.shape).astype(np.float32))
    model.training_history = {"head": {"loss": [0.7]}, "fine_tune": {"loss": [0.5]}}
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded) is kerastl.TextClassifier
    assert loaded.label_names == ("neg", "pos") and loaded.max_length == 20
    assert loaded.tokenizer(texts)["input_ids"] == model.tokenizer(texts)["input_ids"]
    assert loaded.training_history == model.training_history
    if trained:
        assert isinstance(loaded.optimizer, keras.optimizers.AdamW) and loaded.optimizer.iterations.numpy() == 1
    np.testing.assert_array_equal(loaded.predict(texts, verbose=0), model.predict(texts, verbose=0))


@pytest.mark.slow
def test_a_keras_file_loads_in_a_fresh_process_that_imported_only_kerastl(make_classifier, corpus, tmp_path):
    texts = corpus[0][:8]
    model = make_classifier()
    model.save(tmp_path / "model.keras")
    code = ("import json, sys, kerastl\n"
            "model = kerastl.keras.models.load_model(sys.argv[1])\n"
            "print(json.dumps([type(model).__name__, model.predict(json.loads(sys.argv[2]), verbose=0).tolist()]))")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.keras"), json.dumps(texts)],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    name, logits = json.loads(result.stdout.strip().splitlines()[-1])
    assert name == "TextClassifier"
    np.testing.assert_allclose(logits, model.predict(texts, verbose=0), atol=1e-6)


@pytest.mark.parametrize("name, kwargs", [
    ("model.h5", {}),
    ("model.hdf5", {}),
    ("saved_model", {}),
    ("model.keras", {"save_format": "tf"}),
])
def test_save_in_a_format_that_cannot_round_trip_is_refused_writing_nothing(make_classifier, tmp_path, name,
                                                                           kwargs):
    model = make_classifier()
    with pytest.raises(ValueError, match="only a .keras file round-trips.*save_pretrained.*export_saved_model"):
        model.save(tmp_path / name, **kwargs)
    assert list(tmp_path.iterdir()) == []


# -- refusals ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value, labels, match", [
    (42, None, r"received a int; data accepts a data file"),
    (None, None, r"received a NoneType"),
    ({"a", "b"}, None, r"received a set"),
    (pd.DataFrame({"text": ["a"], "label": ["x"]}), ["x"], r"labels= together with a DataFrame"),
    (("good", "pos"), None, r"a tuple is read as \(texts, labels\)"),
    ((["a"], ["x"], [1.0]), None, r"a tuple of 3"),
    (["good", None], None, r"texts\[1\] = None \(NoneType\)"),
    ([("good", "pos")], None, r"texts\[0\].*pairs\? give \(texts, labels\)"),
    (["good", "bad"], "pos", r"one label per text, received the str 'pos'"),
    (np.zeros((2, 2)), None, r"one-dimensional"),
    (tf.constant([1, 2]), None, r"texts must be strings, received a tf.Tensor of int32"),
])
def test_what_cannot_be_examples_is_refused_naming_it(value, labels, match):
    with pytest.raises(TypeError, match=match):
        as_examples(value, labels)


@pytest.mark.parametrize("value, match", [
    ("i feel great", r"received the str 'i feel great' without labels"),
    (["good", "bad"], r"received a list of 2 str without labels"),
    (np.array(["good", "bad"]), r"without labels"),
])
def test_texts_without_labels_are_refused_where_labels_are_needed(value, match):
    # Refused before the model is touched: no model is needed to see it.
    with pytest.raises(TypeError, match=match):
        evaluate(None, value)
    with pytest.raises(TypeError, match=match):
        kerastl.fine_tune(None, value, epochs=1)
    with pytest.raises(TypeError, match=match):
        kerastl.feature_baseline("/no/such/encoder", value, value)


def test_keras_refuses_a_dataframe_and_an_endless_dataset_of_texts(make_classifier):
    model = make_classifier()
    model.compile()
    frame = pd.DataFrame({"text": ["good", "bad"], "label": ["pos", "neg"]})
    with pytest.raises(TypeError, match=r"DataFrame where texts were expected; .*x=df\['text'\]"):
        model.fit(frame, verbose=0)
    with pytest.raises(TypeError, match="DataFrame where texts were expected"):
        model.predict(frame)
    with pytest.raises(ValueError, match="repeats forever"):
        model.predict(tf.data.Dataset.from_tensor_slices(["a", "b"]).repeat())


def test_none_a_zero_batch_no_texts_and_sample_weights_on_raw_text_are_refused_or_answered(make_classifier, corpus):
    texts, labels = corpus
    model = make_classifier()
    model.compile()
    before = _weights(model)
    for call in (lambda: model.fit(None, verbose=0), lambda: model.evaluate(None, verbose=0),
                 lambda: model.predict(None, verbose=0)):
        with pytest.raises(TypeError, match=r"\(x\): received None; give texts"):
            call()
    for call in (lambda: model.fit(texts, labels, batch_size=0, verbose=0),
                 lambda: model.evaluate(texts, labels, batch_size=0, verbose=0),
                 lambda: model.predict(texts, batch_size=0, verbose=0),
                 lambda: predict(model, texts, batch_size=0), lambda: evaluate(model, (texts, labels), batch_size=0)):
        with pytest.raises(ValueError, match="batch_size must be >= 1, received batch_size=0"):
            call()
    with pytest.raises(kerastl.DataError, match="no examples"):
        model.fit([], [], verbose=0)
    assert model.predict([], verbose=0).shape == (0, 2) == predict(model, []).probabilities.shape
    weights = np.ones(len(texts))
    with pytest.raises(TypeError, match=r"fit\(sample_weight=\).*class_weight="):
        model.fit(texts, labels, sample_weight=weights, verbose=0)
    with pytest.raises(TypeError, match=r"evaluate\(sample_weight=\)"):
        model.evaluate(texts, labels, sample_weight=weights, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, _weights(model)))  # nothing trained
    # What the message offers instead: token batches with a weight each, as Keras takes them.
    weighted = model.make_dataset(texts, labels, batch_size=8).map(lambda x, y: (x, y, tf.ones_like(y, tf.float32)))
    assert model.fit(weighted, epochs=1, verbose=0).history["loss"]


def test_text_examples_refuse_a_string_or_a_table():
    with pytest.raises(TypeError, match="one entry per example, received the str 'abc'"):
        kerastl.TextExamples("abc")
    with pytest.raises(TypeError, match="received a DataFrame"):
        kerastl.TextExamples(pd.DataFrame({"text": ["a"]}))
    with pytest.raises(TypeError, match=r"every text must be a str, received texts\[1\] = 3"):
        kerastl.TextExamples(["a", 3])


def test_the_accepted_list_names_every_kind():
    for kind in ("pathlib.Path", ".csv", "DataFrame", "datasets.Dataset", "dict of columns", "(texts, labels)",
                 "list of str", "TextExamples"):
        assert kind in ACCEPTED


def test_keras_methods_write_plain_lines_into_a_redirected_stdout(make_classifier, capsys):
    # Keras' verbose="auto" draws a bar (ANSI codes, carriage returns) wherever stdout goes; a
    # kerastl model draws one only on a terminal, as fine_tune does.
    model = make_classifier()
    model.compile()
    model.fit(["a good film", "a dull plot"], ["pos", "neg"], epochs=1)
    model.evaluate(["a good film"], ["pos"])
    model.predict(["a good film"])
    out = capsys.readouterr().out
    assert out.strip() and "\x1b[" not in out and "\r" not in out and "\b" not in out
