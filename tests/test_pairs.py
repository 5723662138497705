"""Sentence pairs: read from every source, tokenized as the Hugging Face tokenizer packs them, trained,
predicted, evaluated, saved and loaded, and on the command line; the other kind of input refused."""

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import kerastl
from kerastl.cli.commands import main
from kerastl.data import as_examples, read_examples
from kerastl.errors import DataError
from kerastl.preprocessing.tokenizers import tokenize_pairs
from tests.harness import softmax, weights_of
from tests.helpers import tiny_bert_config, tiny_tokenizer

A = ["the movie was good", "it was bad", "the plot is fun", "awful film", "love it", "very dull"]
B = ["great film and fun", "the movie was dull", "love the plot", "hate the plot", "good fun", "bad and awful"]
Y = ["pos", "neg", "pos", "neg", "pos", "neg"]
FAST = ["--head-epochs", "1", "--epochs", "1", "--batch-size", "4", "--max-length", "24"]


def _write(path, rows):
    path.write_text("".join("\t".join(row) + "\n" for row in rows))
    return path


# -- reading ------------------------------------------------------------------------------------


def test_pairs_are_read_from_every_source(tmp_path):
    tsv = _write(tmp_path / "mrpc.tsv", [["text", "text_pair", "label"], *zip(A, B, Y)])
    headerless = _write(tmp_path / "pairs.txt", list(zip(A, B, Y)))
    sources = {
        "file": read_examples(tsv),
        "--names": read_examples(headerless, sep="\t", names=["text", "text_pair", "label"]),
        "DataFrame": as_examples(pd.DataFrame({"text": A, "text_pair": B, "label": Y})),
        "dict": as_examples({"text": A, "text_pair": B, "label": Y}),
        "((a, b), labels)": as_examples(((A, B), Y)),
        "(a, b) with labels": as_examples((A, B), Y),
    }
    for name, examples in sources.items():
        assert (examples.texts, examples.text_pairs, examples.labels) == (A, B, Y), name
    unlabelled = as_examples(tsv, labelled=False)
    assert unlabelled.text_pairs == B and unlabelled.labels is None
    assert as_examples((A, B), labelled=False).text_pairs == B  # to predict
    assert read_examples(tsv, text_pair_column=None).text_pairs is None  # the column ignored on request
    assert read_examples(_write(tmp_path / "one.tsv", [["text", "label"], ["a b", "x"]])).text_pairs is None


def test_a_datasets_table_reads_pairs():
    datasets = pytest.importorskip("datasets")
    table = datasets.Dataset.from_dict({"text": A, "text_pair": B, "label": Y})
    assert as_examples(table).text_pairs == B


def test_a_missing_second_text_names_file_and_line(tmp_path):
    rows = [["text", "text_pair", "label"], [A[0], B[0], Y[0]], [A[1], "", Y[1]]]
    path = _write(tmp_path / "mrpc.tsv", rows)
    for labelled in (True, False):
        with pytest.raises(DataError, match=rf"^{path}, line 3: no second text in the 'text_pair' column"):
            as_examples(path, labelled=labelled)
    with pytest.raises(DataError, match=r"^DataFrame, row 1: no second text"):
        as_examples(pd.DataFrame({"text": A[:2], "text_pair": [B[0], None], "label": Y[:2]}))
    with pytest.raises(DataError, match=r"every second text \(text_pair\) must be a str"):
        kerastl.TextExamples(A[:2], Y[:2], text_pairs=[B[0], float("nan")])


def test_a_bare_pair_tuple_where_labels_are_needed_names_the_fix():
    for labelled in (True, None):
        with pytest.raises(DataError, match=r"reads as \(texts_a, texts_b\) sentence pairs without labels.*"
                                            r"fit\(\(texts_a, texts_b\), labels\)"):
            as_examples((A, B), labelled=labelled)


# -- tokenizing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_pairs_tokenize_as_the_hf_tokenizer_packs_them(kind):
    tokenizer = tiny_tokenizer(kind)
    long = "the movie was good and " * 200  # past max_length, and past the pre-cut window (16 * 16 chars)
    first = ["the movie", "", long, long, "fun", "it was bad"]
    second = ["was good", "the plot", "dull", long, "", long + " bad"]
    ids, segments = tokenize_pairs(first, second, tokenizer, 16)
    expected = tokenizer(first, second, truncation="longest_first", max_length=16)
    assert ids.to_list() == expected["input_ids"]
    if kind == "bert":
        assert segments.to_list() == expected["token_type_ids"] and max(map(max, segments.to_list())) == 1
    else:
        assert segments is None and "token_type_ids" not in expected  # DistilBERT has no segments


def test_padded_batches_carry_token_type_ids(make_classifier):
    model = make_classifier("bert")
    encoded = model.preprocessor.encode(((A, B), Y), label_names=model.label_names)
    index = np.array([1, 0])
    for padded in (encoded.pad(index), encoded.pad_now(index), encoded.pad_numpy(index)):
        types, mask = np.asarray(padded["token_type_ids"]), np.asarray(padded["attention_mask"])
        assert types.shape == mask.shape and types.dtype == np.int32
        assert (types[mask == 0] == 0).all() and types.max() == 1
        assert np.asarray(padded["input_ids"]).tolist()[0][: int(mask[0].sum())] == encoded.ids[1].numpy().tolist()
    single = kerastl.preprocessing.TextClassifierPreprocessor(model.tokenizer, 24)
    assert "token_type_ids" not in single.encode(A).pad(index)  # single texts: no key


# -- training, prediction and saving ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_fit_predict_evaluate_on_pairs_and_the_other_kind_refused(make_classifier, kind):
    model = make_classifier(kind)
    assert model.text_pair is False
    model.compile()
    model.fit((A, B), Y, epochs=1, batch_size=4, verbose=0)
    assert model.text_pair and model.get_config()["text_pair"] is True
    assert ("token_type_ids" in model.input_names_) == (kind == "bert")
    logits = model.predict((A, B), verbose=0)
    assert logits.shape == (6, 2)
    np.testing.assert_allclose(kerastl.predict(model, ((A, B), None)).logits, logits, atol=1e-5)
    np.testing.assert_allclose(model((A, B)).numpy(), logits, atol=1e-5)
    assert len(model.evaluate((A, B), Y, verbose=0)) == 2
    with pytest.raises(DataError, match=r"reads sentence pairs \(text_pair=True\) and received single texts"):
        model.predict(A, verbose=0)
    single = make_classifier(kind)
    single.compile()
    single.fit(A, Y, epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"reads single texts \(text_pair=False\) and received sentence pairs"):
        single.predict((A, B), verbose=0)


def test_segment_ids_change_a_bert_pair_model_output(make_classifier):
    model = make_classifier("bert", text_pair=True)
    features = model.preprocessor.features((A, B))
    zeros = {**features, "token_type_ids": np.zeros_like(features["token_type_ids"])}
    for pooling_call in (model, lambda f: model._pool(f, False)):
        assert not np.allclose(pooling_call(features).numpy(), pooling_call(zeros).numpy())


def test_fine_tune_a_regressor_on_pairs(bert_tokenizer):
    from tests.helpers import tiny_bert_config

    model = kerastl.TextRegressor.from_backbone(tiny_bert_config(), tokenizer=bert_tokenizer, max_length=24)
    scores = [4.5, 1.0, 4.0, 0.5, 4.2, 1.5]
    history = kerastl.fine_tune(model, ((A, B), scores), ((A, B), scores), head_epochs=1, epochs=1, batch_size=4,
                                verbose=0)
    assert set(history) == {"head", "fine_tune"} and model.text_pair
    assert kerastl.predict(model, ((A, B), None)).shape == (6,)


def test_save_and_load_in_a_fresh_process_keep_text_pair(make_classifier, tmp_path):
    model = make_classifier("bert")
    model.compile()
    model.fit((A, B), Y, epochs=1, verbose=0)
    expected = model.predict((A, B), verbose=0)
    folder = model.save_pretrained(tmp_path / "pairs")
    assert json.loads((folder / "kerastl.json").read_text())["config"]["text_pair"] is True
    model.save(str(tmp_path / "pairs.keras"))
    code = (
        "import json, sys, numpy as np, kerastl\n"
        "from kerastl.tasks.task import Task\n"
        f"A, B = {A!r}, {B!r}\n"
        f"keras_model = kerastl.keras.models.load_model({str(tmp_path / 'pairs.keras')!r})\n"
        f"folder_model = Task.from_pretrained({str(folder)!r})\n"
        "out = [m.predict((A, B), verbose=0).tolist() for m in (keras_model, folder_model)]\n"
        "print(json.dumps([keras_model.text_pair, folder_model.text_pair, out]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    keras_pair, folder_pair, outputs = json.loads(result.stdout.strip().splitlines()[-1])
    assert keras_pair and folder_pair
    for output in outputs:
        np.testing.assert_allclose(output, expected, atol=1e-5)


# -- command line -------------------------------------------------------------------------------


def test_cli_train_evaluate_predict_on_a_pair_file(encoder_folder, tmp_path, capsys):
    rows = [["text", "text_pair", "label"], *zip(A * 3, B * 3, Y * 3)]
    train = _write(tmp_path / "mrpc.tsv", rows)
    out = tmp_path / "model"
    assert main(["train", "--model", str(encoder_folder), "--train", str(train), "--validation", str(train),
                 "--output", str(out), *FAST]) == 0
    assert json.loads((out / "kerastl.json").read_text())["config"]["text_pair"] is True
    capsys.readouterr()
    assert main(["evaluate", "--model", str(out), "--data", str(train), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["n"] == 18
    assert main(["predict", "--model", str(out), "--json", A[0], "--text-pair", B[0]]) == 0
    record = json.loads(capsys.readouterr().out.strip())
    assert (record["text"], record["text_pair"]) == (A[0], B[0]) and set(record["probabilities"]) == {"neg", "pos"}
    assert main(["predict", "--model", str(out), "--file", str(train)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["line"] for r in lines] == list(range(2, 20)) and lines[1]["text_pair"] == B[1]
    # A file without text_pair for a pair model: refused, naming the file and the fix.
    single = _write(tmp_path / "single.tsv", [["text", "label"], *zip(A, Y)])
    assert main(["evaluate", "--model", str(out), "--data", str(single)]) != 0
    assert "reads sentence pairs (text_pair=True) and received single texts" in capsys.readouterr().err


def test_cli_trains_headerless_pairs_by_names_and_a_single_model_refuses_pairs(encoder_folder, tmp_path, capsys):
    pairs = _write(tmp_path / "pairs.txt", list(zip(A * 2, B * 2, Y * 2)))
    out = tmp_path / "model"
    assert main(["train", "--model", str(encoder_folder), "--train", str(pairs), "--sep", "\t",
                 "--names", "text,text_pair,label", "--output", str(out), *FAST]) == 0
    assert kerastl.TextClassifier.from_pretrained(out).text_pair
    single = tmp_path / "single"
    texts = _write(tmp_path / "texts.tsv", [["text", "label"], *zip(A * 2, Y * 2)])
    assert main(["train", "--model", str(encoder_folder), "--train", str(texts), "--output", str(single), *FAST]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--model", str(single), "--data", str(_write(tmp_path / "p.tsv", [
        ["text", "text_pair", "label"], *zip(A, B, Y)]))]) != 0
    err = capsys.readouterr().err
    assert "p.tsv: this model reads single texts (text_pair=False) and received sentence pairs" in err


# -- a pair model reads a tuple as a pair ---------------------------------------------------------

WORDS_A, WORDS_B = ["Paris", "Rome", "Berlin", "Madrid"], ["France", "Italy", "Germany", "Italy"]


def test_a_pair_model_reads_a_tuple_of_single_words_as_pairs(make_classifier, bert_tokenizer):
    assert as_examples((WORDS_A, WORDS_B), labelled=False).text_pairs is None  # no model: read as (texts, labels)
    model = make_classifier("bert", text_pair=True)
    model.compile()
    model.fit((WORDS_A, WORDS_B), ["pos", "pos", "pos", "neg"], epochs=1, verbose=0)
    expected = kerastl.predict(model, ((WORDS_A, WORDS_B), None)).logits  # pairs by their own form
    for outputs in (model.predict((WORDS_A, WORDS_B), verbose=0), model((WORDS_A, WORDS_B)).numpy(),
                    kerastl.predict(model, (WORDS_A, WORDS_B)).logits):
        np.testing.assert_allclose(outputs, expected, atol=1e-5)
    record = kerastl.predict_one(model, ("Paris", "France"))  # one pair
    np.testing.assert_allclose(list(record["probabilities"].values()), softmax(expected[0]), atol=1e-5)
    assert len(model.evaluate((WORDS_A, WORDS_B), ["pos", "pos", "pos", "neg"], verbose=0)) == 2
    assert kerastl.evaluate(model, ((WORDS_A, WORDS_B), ["pos", "pos", "pos", "neg"]))["n"] == 4
    with pytest.raises(DataError, match=r"sentence pairs without labels"):  # labels are needed to evaluate
        model.evaluate((WORDS_A, WORDS_B), verbose=0)
    regressor = kerastl.TextRegressor.from_backbone(tiny_bert_config(), tokenizer=bert_tokenizer, max_length=24,
                                                    text_pair=True)
    regressor.compile()
    regressor.fit((WORDS_A, WORDS_B), [4.0, 4.5, 5.0, 0.0], epochs=1, verbose=0)
    assert kerastl.predict(regressor, (WORDS_A, WORDS_B)).shape == (4,)
    np.testing.assert_allclose(regressor.predict((WORDS_A, WORDS_B), verbose=0).reshape(-1),
                               kerastl.predict(regressor, (WORDS_A, WORDS_B)), atol=1e-5)


def test_a_single_text_model_keeps_reading_a_tuple_as_texts_and_labels(make_classifier):
    model = make_classifier("bert")
    model.compile()
    model.fit(WORDS_A, ["pos", "neg", "pos", "neg"], epochs=1, verbose=0)
    assert kerastl.evaluate(model, (WORDS_A, ["pos", "neg", "pos", "neg"]))["n"] == 4
    with pytest.raises(DataError, match=r"reads single texts \(text_pair=False\) and received sentence pairs"):
        model.predict((A, B), verbose=0)  # what reads as pairs is refused
    with pytest.raises(DataError, match=r"predict_one\(text\): this model reads single texts"):
        kerastl.predict_one(model, ("Paris", "France"))


def test_bad_pairs_from_python_are_one_data_error_naming_the_input(make_classifier):
    with pytest.raises(DataError, match=r"^DataFrame, row 1: no second text in the 'text_pair' column.*fill it"):
        as_examples(pd.DataFrame({"text": A[:3], "text_pair": [B[0], np.nan, B[2]], "label": Y[:3]}))
    uneven = r"6 first texts but 5 second texts \(texts_a and texts_b.*of different lengths\); give one second text"
    model = make_classifier("bert", text_pair=True)
    model.compile()
    before = weights_of(model)
    for what, call in (("fit(x, y)", lambda: model.fit((A, B[:5]), Y, verbose=0)),
                       ("predict(x)", lambda: model.predict((A, B[:5]), verbose=0)),
                       ("evaluate(x, y)", lambda: model.evaluate((A, B[:5]), Y, verbose=0)),
                       ("predict(texts)", lambda: kerastl.predict(model, (A, B[:5]))),
                       ("evaluate(examples)", lambda: kerastl.evaluate(model, ((A, B[:5]), Y)))):
        with pytest.raises(DataError, match=rf"^{re.escape(what)}: {uneven}"):
            call()
    assert all(np.array_equal(v, weights_of(model)[k]) for k, v in before.items())  # nothing trained
