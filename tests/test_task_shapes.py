"""Task shapes are never misread: a second text column is read as sentence pairs; labels holding
the multi-label separator, and numbers that look like regression scores, are refused. Columns are
found by header (`text`; the target as `label`, `labels` or `score`), and the header never picks
the task. The tiny files mimic ../shared/data's headers (mrpc, stsb, go_emotions)."""

import re

import numpy as np
import pandas as pd
import pytest

import kerastl
from kerastl.data import as_examples, read_examples
from kerastl.data.labels import encode_labels, label_names_from
from kerastl.errors import DataError

MULTI_LABEL = "look like multi-label sets (several labels per text)"
REGRESSION = "numbers that are not all integers"
CHOICES = ('reads labels as classes (task="classification", one label name per text); the task is your choice, '
           'never a guess: for a numeric target choose task="regression" (kerastl.TextRegressor; --task regression)')


def _write(path, rows):
    path.write_text("".join("\t".join(map(str, row)) + "\n" for row in rows))
    return path


# -- columns by header ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["label", "labels", "score"])
def test_the_target_column_is_found_by_header(tmp_path, target):
    path = _write(tmp_path / "data.tsv", [["text", target], ["good film", "pos"], ["dull", "neg"]])
    examples = read_examples(path)
    assert examples.labels == ["pos", "neg"]
    assert examples.label_names() == ("neg", "pos")  # names are classification whatever the header says
    assert as_examples(path, labelled=False).labels is None


def test_label_wins_and_label_column_overrides(tmp_path):
    path = _write(tmp_path / "data.tsv", [["text", "label", "score", "topic"], ["good film", "pos", 1, "a"],
                                          ["dull", "neg", 0, "b"]])
    assert read_examples(path).labels == ["pos", "neg"]
    assert read_examples(path, label_column="score").labels == [1, 0]
    assert read_examples(path, label_column="topic").labels == ["a", "b"]


def test_two_target_columns_without_label_are_refused(tmp_path):
    path = _write(tmp_path / "data.tsv", [["text", "labels", "score"], ["good film", "pos", 1]])
    with pytest.raises(DataError, match=r"data.tsv: both 'labels' and 'score' could hold the labels; choose one "
                                        r"with label_column= \(--label-column\)"):
        read_examples(path)
    assert read_examples(path, label_column="labels").labels == ["pos"]


def test_a_file_without_any_target_still_names_label(tmp_path):
    path = _write(tmp_path / "data.tsv", [["text", "topic"], ["good film", "pos"]])
    with pytest.raises(DataError, match=r"no column 'label'; the columns are \['text', 'topic'\]"):
        read_examples(path)


# -- sentence pairs -------------------------------------------------------------------------------


def _pair_sources(tmp_path):
    rows = [["the cat sat", "a cat was sitting", "equivalent"], ["it rained", "the sun shone", "not_equivalent"]]
    tsv = _write(tmp_path / "validation.tsv", [["text", "text_pair", "label"], *rows])
    headerless = _write(tmp_path / "pairs.txt", rows)
    frame = pd.DataFrame(rows, columns=["text", "text_pair", "label"])
    return {
        "tsv header": (tsv, {}, "validation.tsv"),
        "--names": (headerless, {"sep": "\t", "names": ["text", "text_pair", "label"]}, "pairs.txt"),
        "DataFrame": (frame, {}, "DataFrame"),
        "dict": (frame.to_dict("list"), {}, "dict"),
        "text column chosen": (tsv, {"text_column": "text"}, "validation.tsv"),
        "text_pair as the text": (tsv, {"text_column": "text_pair"}, "validation.tsv"),
        "texts only": (tsv, {"label_column": None}, "validation.tsv"),
    }


@pytest.mark.parametrize("case", ["tsv header", "--names", "DataFrame", "dict", "text column chosen", "texts only"])
def test_a_text_pair_column_is_read_as_the_second_text(tmp_path, case):
    source, options, _ = _pair_sources(tmp_path)[case]
    examples = read_examples(source, **options)
    assert examples.text_pairs == ["a cat was sitting", "the sun shone"]
    assert examples.texts == ["the cat sat", "it rained"]


def test_text_pair_as_the_text_column_is_refused(tmp_path):
    source, options, name = _pair_sources(tmp_path)["text_pair as the text"]
    with pytest.raises(DataError, match=r"the column 'text_pair' cannot hold both texts of a pair"):
        read_examples(source, **options)


A = ["the cat sat on the mat", "it rained all day", "a fine film"]
B = ["a cat was sitting there", "the sun shone brightly", "a dull film"]


@pytest.mark.parametrize("labelled", [True, None])
def test_a_tuple_of_two_text_lists_without_labels_is_refused_naming_the_fix(labelled):
    with pytest.raises(DataError, match=r"received a tuple of 2 \(list, list\) of two string sequences, which "
                                        r"reads as \(texts_a, texts_b\) sentence pairs without labels.*"
                                        r"fit\(\(texts_a, texts_b\), labels\)"):
        as_examples((A, B), labelled=labelled)


def test_one_pair_is_read_where_texts_are_expected_and_labels_stay_labels():
    assert as_examples((A[:1], B[:1]), labelled=False).text_pairs == B[:1]
    assert as_examples((A, B), labelled=False).text_pairs == B
    assert as_examples((A[:1], B[:1])).labels == B[:1]  # one example cannot tell; training refuses it anyway
    # Labels read as labels: names, repeated names with spaces, ids; to predict, labels are ignored.
    assert as_examples((A, ["pos", "neg", "pos"])).labels == ["pos", "neg", "pos"]
    assert as_examples((A, ["pos", "neg", "pos"]), labelled=False).texts == A
    assert as_examples((A, ["very good", "very good", "bad"]), labelled=True).labels[0] == "very good"
    assert as_examples((A, [1, 0, 1]), labelled=False).texts == A
    assert kerastl.TextExamples(A, B).labels == B  # the explicit way, for label names that read as texts


# -- labels of another task -----------------------------------------------------------------------


@pytest.mark.parametrize("labels, match", [
    (["joy,love", "sadness", "joy"], re.escape(MULTI_LABEL)),
    (["3.8", "4.40", "1"], REGRESSION),
    ([0.5, 1.0, 2.0], REGRESSION),
    (["0.5", "neg", "pos"], None),  # one number among names is a name
    (["1", "2", "0"], None),
    (["pos", "neg", "pos"], None),
])
def test_labels_that_look_like_another_task_are_refused_naming_the_choices(labels, match):
    if match is None:
        assert len(label_names_from(labels, "train.tsv")) >= 2
        return
    with pytest.raises(DataError, match=match) as info:
        label_names_from(labels, "train.tsv")
    assert str(info.value).startswith("train.tsv: ") and CHOICES in str(info.value)


def test_many_sparse_integer_labels_look_like_scores():
    sparse = list(range(60)) + list(range(10))  # 60 classes, most on one example
    with pytest.raises(DataError, match=r"the labels are 60 distinct integers, most on one or two examples"):
        label_names_from(sparse, "train.tsv")
    assert len(label_names_from(list(range(60)) * 3, "train.tsv")) == 60  # three of each: classes
    assert len(label_names_from(list(range(50)), "train.tsv")) == 50  # up to 50: classes


def test_encode_labels_explains_labels_of_another_task_and_keeps_named_ones():
    with pytest.raises(DataError, match=re.escape(MULTI_LABEL)):
        encode_labels(["joy", "joy,love"], ("joy", "love"), "validation.tsv")
    with pytest.raises(DataError, match=REGRESSION):
        encode_labels(["2.5", "1"], ("0", "1"), "validation.tsv")
    # A label set that names "joy,love" as one class was the user's choice.
    assert encode_labels(["joy,love", "sad"], ("joy,love", "sad")).tolist() == [0, 1]


def test_read_examples_reads_them_and_the_training_label_set_refuses(tmp_path):
    go = _write(tmp_path / "train.tsv", [["text", "labels"], ["so happy", "joy,love"], ["so sad", "sadness"]])
    assert read_examples(go).labels == ["joy,love", "sadness"]
    with pytest.raises(DataError, match=f"{tmp_path / 'train.tsv'}: labels such as \\['joy,love'\\] hold ','"):
        read_examples(go).label_names()
    sts = _write(tmp_path / "stsb.tsv", [["text", "score"], ["a cat", "3.8"], ["a dog", "4.40"]])
    assert read_examples(sts).labels == ["3.8", "4.4"]
    with pytest.raises(DataError, match=REGRESSION):
        read_examples(sts).label_names()


@pytest.mark.parametrize("labels, match", [
    (["joy,love", "joy", "love", "joy"], re.escape(MULTI_LABEL)),
    (np.array([0.5, 1.0, 0.0, 1.5]), REGRESSION),
])
def test_fit_and_fine_tune_refuse_before_training(make_classifier, labels, match):
    model = make_classifier(labels=("joy", "love") if isinstance(labels, list) else ("0", "1"))
    texts = ["so happy", "in love", "glad", "fond"]
    before = [w.numpy().copy() for w in model.weights]
    with pytest.raises(DataError, match=match):
        model.fit(texts, labels, epochs=1, verbose=0)
    with pytest.raises(DataError, match=match):
        kerastl.fine_tune(model, kerastl.TextExamples(texts, list(labels)), head_epochs=1, epochs=1, verbose=0)
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(before, model.weights))
