import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kerastl
from kerastl.data import read_examples
from kerastl.data.labels import encode_labels, label_names_from
from kerastl.preprocessing import make_dataset
from tests.helpers import synthetic_corpus


def _batches(ds):
    return [(x["input_ids"].numpy(), x["attention_mask"].numpy(), y.numpy()) for x, y in ds]


def test_each_batch_is_padded_to_its_own_longest_text(distilbert_tokenizer):
    texts, labels = synthetic_corpus(64)
    lengths = [len(ids) for ids in distilbert_tokenizer(texts, truncation=True, max_length=16)["input_ids"]]
    ds = make_dataset(kerastl.TextExamples(texts, labels), distilbert_tokenizer,
                      label_names=("neg", "pos"), max_length=16, batch_size=8)
    widths = []
    for i, (ids, mask, _) in enumerate(_batches(ds)):
        expected = lengths[i * 8:(i + 1) * 8]
        assert ids.shape == mask.shape == (len(expected), max(expected))
        assert mask.sum(axis=1).tolist() == expected
        assert (ids[mask == 0] == distilbert_tokenizer.pad_token_id).all()
        widths.append(ids.shape[1])
    assert max(widths) == 16 and min(widths) < 16  # truncation applied, padding is per batch


def test_shuffle_keeps_texts_and_labels_paired_and_changes_each_epoch(distilbert_tokenizer):
    texts = [f"{'good' if i % 2 else 'bad'} " + "film " * (i % 7) for i in range(40)]
    labels = ["pos" if i % 2 else "neg" for i in range(40)]
    ds = make_dataset(kerastl.TextExamples(texts, labels), distilbert_tokenizer,
                      label_names=("neg", "pos"), batch_size=8, shuffle=True, seed=3)
    good, bad = distilbert_tokenizer.convert_tokens_to_ids(["good", "bad"])
    orders = []
    for _ in range(2):
        seen = []
        for ids, _, y in _batches(ds):
            for row, label in zip(ids, y):
                assert row[1] == (good if label == 1 else bad)
                seen.append(tuple(row[row != 0]))
        assert len(seen) == 40
        orders.append(seen)
    assert orders[0] != orders[1]
    assert sorted(orders[0]) == sorted(orders[1])


def test_without_labels_yields_features_in_input_order(distilbert_tokenizer):
    texts = ["good", "bad film", "the plot"]
    ds = make_dataset(kerastl.TextExamples(texts), distilbert_tokenizer, batch_size=2)
    rows = [row for x in ds for row in x["input_ids"].numpy()]
    expected = distilbert_tokenizer(texts)["input_ids"]
    assert [list(r[: len(e)]) for r, e in zip(rows, expected)] == expected


def test_label_names_sorted_strings_and_integer_ids():
    assert label_names_from(["b", "a", "b"]) == ("a", "b")
    assert label_names_from([1, 0, 2, 1]) == ("0", "1", "2")
    assert encode_labels([2, 0], ("0", "1", "2")).tolist() == [2, 0]


@pytest.mark.parametrize("labels, match", [
    (["a", "a"], "at least two labels"),
    ([1, 2, 3], "must be 0..2"),
    (None, "no labels"),
])
def test_bad_training_labels(labels, match):
    with pytest.raises(kerastl.DataError, match=match):
        label_names_from(labels, "train.csv")


def test_unknown_label_names_the_label_and_the_known_set():
    with pytest.raises(kerastl.DataError, match=r"\['surprise'\] are not among the model's labels"):
        encode_labels(["joy", "surprise"], ("joy", "sadness"), "validation.txt")


def test_read_every_file_format(tmp_path):
    frame = pd.DataFrame({"review": ["good film", 'she said "hi", twice', "bad"], "y": ["pos", "pos", "neg"]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_csv(tmp_path / "d.tsv", index=False, sep="\t")
    frame.to_json(tmp_path / "d.json", orient="records")
    frame.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "d.parquet")
    for name in ("d.csv", "d.tsv", "d.json", "d.jsonl", "d.parquet"):
        examples = read_examples(tmp_path / name, text_column="review", label_column="y")
        assert examples.texts == frame["review"].tolist(), name
        assert examples.labels == frame["y"].tolist(), name


def test_read_headerless_text_with_separator_and_quotes(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text('i feel "great" today;joy\nwhy, oh why;sadness\n')
    examples = read_examples(path, sep=";", names=["text", "label"])
    assert examples.texts == ['i feel "great" today', "why, oh why"]
    assert examples.labels == ["joy", "sadness"]


def test_read_dataframe_dataset_and_integer_labels():
    import datasets

    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": [0, 1, 0]})
    for source in (frame, datasets.Dataset.from_pandas(frame), frame.to_dict("list")):
        examples = read_examples(source)
        assert examples.texts == ["a", "b", "c"] and examples.labels == [0, 1, 0]
        assert examples.label_names() == ("0", "1")


def test_rows_with_missing_text_or_label_are_dropped_and_counted(tmp_path, caplog):
    path = tmp_path / "gaps.csv"
    path.write_text("text,label\ngood,pos\n,neg\nbad,\nfine,neg\n")
    examples = read_examples(path)
    assert examples.texts == ["good", "fine"]
    assert "dropped 2 rows" in caplog.text


@pytest.mark.parametrize("content, kwargs, match", [
    (None, {}, "no data file at"),
    ("", {}, "is empty"),
    ("text,label\n", {}, "no rows with both a text and a label"),
    ("review,y\ngood,pos\n", {}, r"no column 'text'; the columns are \['review', 'y'\]"),
    ("good;pos\n", {"sep": ";", "names": ["text", "label", "extra"]}, "rows have 2 fields"),
])
def test_bad_files_raise_one_clear_error(tmp_path, content, kwargs, match):
    path = tmp_path / "data.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(kerastl.DataError, match=match):
        read_examples(path, **kwargs)


def test_invalid_json_and_parquet(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 nonsense")
    for name in ("bad.json", "bad.parquet"):
        with pytest.raises(kerastl.DataError, match="is not valid"):
            read_examples(tmp_path / name)


def test_tokenize_once_truncates(distilbert_tokenizer):
    ids = kerastl.preprocessing.tokenize(["good " * 50, ""], distilbert_tokenizer, max_length=10)
    assert ids.row_lengths().numpy().tolist() == [10, 2]
    assert np.asarray(ids[1]).tolist() == [distilbert_tokenizer.cls_token_id, distilbert_tokenizer.sep_token_id]


def test_bucketed_batches_cover_every_example_once_with_little_padding(distilbert_tokenizer):
    texts, labels = synthetic_corpus(400, seed=5)
    encoded = kerastl.preprocessing.encode_examples(kerastl.TextExamples(texts, labels), distilbert_tokenizer,
                                           label_names=("neg", "pos"), max_length=24)

    def epoch(bucket):
        ds = encoded.dataset(8, shuffle=True, seed=0, bucket=bucket)
        real = padded = 0
        seen = []
        for x, y in ds:
            mask = x["attention_mask"].numpy()
            real, padded = real + mask.sum(), padded + mask.size
            assert mask.sum(axis=1).max() == mask.shape[1]  # padded to its own longest text
            seen += [tuple(row[m == 1]) + (label,) for row, m, label in zip(x["input_ids"].numpy(), mask, y.numpy())]
        return 1 - real / padded, seen, ds.cardinality().numpy()

    random_waste, random_seen, _ = epoch(bucket=False)
    bucket_waste, bucket_seen, cardinality = epoch(bucket=True)
    expected = sorted(tuple(ids) + (int(y == "pos"),) for ids, y in
                      zip(distilbert_tokenizer(texts, truncation=True, max_length=24)["input_ids"], labels))
    assert sorted(bucket_seen) == sorted(random_seen) == expected
    assert cardinality == 50
    assert bucket_waste < 0.05 < random_waste


def test_blank_and_non_string_texts(tmp_path, caplog):
    frame = pd.DataFrame({"text": ["good", "   ", "", 42, None, "\t\n"], "label": ["a", "b", "a", "b", "a", "b"]})
    examples = read_examples(frame)
    assert examples.texts == ["good", "42"] and examples.labels == ["a", "b"]
    assert "dropped 1 rows with a missing" in caplog.text
    assert "dropped 3 rows whose text is empty or only whitespace" in caplog.text
    with pytest.raises(kerastl.DataError, match="every text is empty"):
        read_examples(pd.DataFrame({"text": [" ", "\t"], "label": ["a", "b"]}))


def test_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\xe9,pos\n".encode("latin-1"))
    with pytest.raises(kerastl.DataError, match="is not UTF-8 text .* re-save it as UTF-8"):
        read_examples(path)


def test_a_file_that_is_not_utf8_is_reported_at_its_byte_offset_and_line(tmp_path):
    from kerastl.cli.checks import text_lines

    good = "text,label\n" + "".join(f"très été {i} 电影 😀,pos\n" for i in range(3000))  # 2-4 bytes a character
    content = good.encode() + b"caf\xe9 au lait,neg\n"
    offset, line = content.index(b"\xe9"), good.count("\n") + 1  # 0-based byte, 1-based line
    assert offset > len(good) + 20_000  # multi-byte characters: a character count would be far off
    path = tmp_path / "latin1.csv"
    path.write_bytes(content)
    with pytest.raises(kerastl.DataError, match=f"at byte {offset} \\(line {line}\\): 0xe9, invalid continuation"):
        read_examples(path)
    # The CLI's text files and stdin, a byte-order mark (3 bytes) counted as the file holds it.
    with pytest.raises(kerastl.DataError, match=f"at byte {offset + 3} \\(line {line}\\)"):
        text_lines(b"\xef\xbb\xbf" + content, "texts.txt")


def test_a_text_of_a_million_characters_is_truncated(distilbert_tokenizer):
    ds = make_dataset(kerastl.TextExamples(["good film " * 100_000, "bad"], ["pos", "neg"]),
                      distilbert_tokenizer, label_names=("neg", "pos"), max_length=32, batch_size=2)
    (x, y), = list(ds)
    assert x["input_ids"].shape == (2, 32) and y.numpy().tolist() == [1, 0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=40), st.sampled_from(["a", "b", "c"])), min_size=1, max_size=30),
       st.integers(1, 7), st.booleans())
def test_every_text_reaches_exactly_one_batch_with_its_own_label(distilbert_tokenizer, rows, batch_size, shuffle):
    texts = [text for text, _ in rows]
    labels = [label for _, label in rows]
    ds = make_dataset(kerastl.TextExamples(texts, labels), distilbert_tokenizer, label_names=("a", "b", "c"),
                      max_length=16, batch_size=batch_size, shuffle=shuffle, seed=1)
    expected = sorted((tuple(ids), "abc".index(y)) for ids, y in
                      zip(distilbert_tokenizer(texts, truncation=True, max_length=16)["input_ids"], labels))
    seen = []
    for x, y in ds:
        for ids, mask, label in zip(x["input_ids"].numpy(), x["attention_mask"].numpy(), y.numpy()):
            seen.append((tuple(int(i) for i in ids[mask == 1]), int(label)))
    assert sorted(seen) == expected


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(0, 6), min_size=1, max_size=12), data=st.data())
def test_padding_in_numpy_gives_what_the_tf_data_padding_gives(lengths, data):
    import tensorflow as tf

    from kerastl.data.batching import EncodedExamples

    flat = np.arange(10, 10 + sum(lengths), dtype=np.int32)
    encoded = EncodedExamples(tf.RaggedTensor.from_row_lengths(flat, lengths), None, pad_id=1)
    index = np.array(data.draw(st.lists(st.integers(0, len(lengths) - 1), max_size=8)), dtype=np.int64)
    expected, padded = encoded.pad(tf.constant(index)), encoded.pad_now(index)
    for name in ("input_ids", "attention_mask"):
        assert padded[name].dtype == expected[name].dtype == tf.int32
        np.testing.assert_array_equal(padded[name].numpy(), expected[name].numpy())
    assert encoded.lengths().tolist() == lengths


def test_texts_to_predict_keep_one_row_each_and_a_missing_one_is_refused(caplog):
    import datasets

    frame = pd.DataFrame({"text": ["good", "   ", "", 42, "bad"]})
    for source in (frame, datasets.Dataset.from_pandas(frame.astype(str))):
        texts = kerastl.as_examples(source, labelled=False).texts
        assert len(texts) == 5 and texts[0] == "good" and texts[2] == "" and texts[4] == "bad"
    assert "dropped" not in caplog.text
    with pytest.raises(kerastl.DataError, match=r"2 rows have no text \(rows 1, 3, counting from 0\)"):
        kerastl.as_examples(pd.DataFrame({"text": ["a", None, "b", float("nan")]}), labelled=False)
    # Labelled examples (training, evaluation) still drop them, counted.
    assert read_examples(frame.assign(label="a")).texts == ["good", "42", "bad"]
