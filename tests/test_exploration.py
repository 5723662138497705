"""Dataset exploration: class counts, tokens per text, the share `max_length` truncates."""

import json

import numpy as np
import pytest
from matplotlib.image import imread

import kerastl
from kerastl.analysis.exploration import explore, resolve_tokenizer, token_lengths
from kerastl.cli.commands import main

TEXTS = ["good", "a good film", "bad", "bad bad bad bad bad bad bad bad", "dull and bad"]
LABELS = ["pos", "pos", "neg", "neg", "neg"]


@pytest.fixture
def examples():
    return kerastl.TextExamples(TEXTS, LABELS, "reviews.csv")


def test_token_lengths_count_special_tokens_and_never_truncate(distilbert_tokenizer):
    lengths = token_lengths(TEXTS, distilbert_tokenizer)
    expected = [len(distilbert_tokenizer(text)["input_ids"]) for text in TEXTS]
    assert lengths.tolist() == expected
    assert lengths[0] == 3  # [CLS] good [SEP]
    assert lengths[3] == 10  # eight words, no truncation


def test_summary_counts_classes_and_truncated_texts(examples, distilbert_tokenizer):
    exploration = explore(examples, distilbert_tokenizer, max_length=5)
    summary = exploration.summary()
    assert summary["class_counts"] == {"neg": 3, "pos": 2}
    assert summary["largest_to_smallest_class"] == 1.5
    assert summary["n"] == 5 and summary["max_length"] == 5
    assert summary["longer_than_max_length"] == 1  # only the eight-word text has more than 5 tokens
    assert summary["fraction_longer_than_max_length"] == pytest.approx(0.2)
    assert summary["tokens_per_text"]["max"] == 10
    assert "longer than max_length=5, which the model sees truncated: 1 (20.00%)" in exploration.summary_text()


def test_plots_show_counts_lengths_and_the_limit(examples, distilbert_tokenizer, tmp_path):
    exploration = explore(examples, distilbert_tokenizer, max_length=5, directory=tmp_path)
    counts = exploration.plot_class_counts().axes[0]
    assert [t.get_text() for t in counts.get_yticklabels()] == ["pos", "neg"]  # largest on top
    assert [bar.get_width() for bar in counts.patches] == [2, 3]
    assert counts.get_xlabel() == "Examples" and "n=5" in counts.get_title()

    lengths = exploration.plot_token_lengths().axes[0]
    assert [t.get_text() for t in lengths.get_xticklabels()] == ["neg", "pos"]
    limit = [line for line in lengths.get_lines() if line.get_label().startswith("max_length")]
    assert len(limit) == 1 and list(limit[0].get_ydata()) == [5, 5]
    assert limit[0].get_label() == "max_length = 5 (20.0% of texts longer)"
    assert lengths.get_ylim()[1] >= 10  # the longest text stays in view

    for name in ("class_counts.png", "tokens_per_text.png"):
        height, width, _ = imread(tmp_path / name).shape
        assert width >= 500 and height >= 300
    assert json.loads((tmp_path / "summary.json").read_text()) == exploration.summary()
    assert (tmp_path / "summary.txt").read_text().startswith("reviews.csv: 5 texts, 2 labels")


def test_explore_needs_labelled_examples(distilbert_tokenizer):
    with pytest.raises(kerastl.DataError, match="has no labels"):
        explore(kerastl.TextExamples(["a"], None, "texts.csv"), distilbert_tokenizer)


def test_tokenizer_from_a_folder_or_a_saved_model(make_classifier, distilbert_tokenizer, tmp_path):
    distilbert_tokenizer.save_pretrained(tmp_path / "tok")
    model = make_classifier().save_pretrained(tmp_path / "model")
    for source in (tmp_path / "tok", model, str(model)):
        tokenizer = resolve_tokenizer(source)
        assert tokenizer("good film")["input_ids"] == distilbert_tokenizer("good film")["input_ids"]
    with pytest.raises(kerastl.BackboneError):
        resolve_tokenizer(tmp_path / "nothing-here")


def test_explore_offline_without_model_fails_at_once_in_one_line(csv_files, tmp_path, capsys, monkeypatch):
    # No --model: the default backbone's tokenizer, a hub name, which nothing has cached here.
    monkeypatch.setattr("kerastl.analysis.exploration.hub_unreachable",
                        lambda: "cannot resolve huggingface.co; the machine looks offline")
    status = main(["explore", "--data", str(csv_files["train"]), "--output", str(tmp_path / "explore")])
    err = capsys.readouterr().err
    assert status == 2
    errors = [line for line in err.splitlines() if not line.startswith("kerastl: ")]
    assert len(errors) == 1 and errors[0].startswith("kerastl explore: error: cannot load the tokenizer of"), err
    assert "looks offline" in errors[0] and "--model all-minilm-l6-v2" in errors[0]


def test_explore_command_writes_plots_and_summary(distilbert_tokenizer, csv_files, tmp_path, capsys):
    distilbert_tokenizer.save_pretrained(tmp_path / "tok")
    out = tmp_path / "explore"
    status = main(["explore", "--data", str(csv_files["txt"]), "--sep", ";", "--names", "text,label",
                   "--model", str(tmp_path / "tok"), "--max-length", "12", "--output", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "64 texts, 2 labels" in printed and "longer than max_length=12" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "class_counts.png", "summary.json", "summary.txt", "tokens_per_text.png"]
    summary = json.loads((out / "summary.json").read_text())
    texts = [line.split(";")[0] for line in csv_files["txt"].read_text().splitlines()]
    assert summary["longer_than_max_length"] == int(np.sum(token_lengths(texts, distilbert_tokenizer) > 12))


def test_explore_command_reports_a_missing_column(distilbert_tokenizer, csv_files, tmp_path, capsys):
    distilbert_tokenizer.save_pretrained(tmp_path / "tok")
    status = main(["explore", "--data", str(csv_files["train"]), "--label-column", "category",
                   "--model", str(tmp_path / "tok"), "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2 and "no column 'category'" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


# -- regression targets and sentence pairs ----------------------------------------------------------

def test_regression_shows_the_target_distribution_not_class_counts(distilbert_tokenizer, tmp_path):
    scores = [0.5, 1.0, 4.25, 3.75, 2.0]
    with pytest.raises(kerastl.DataError):  # a score is no class: without task="regression" it is refused
        explore((TEXTS, scores), distilbert_tokenizer, max_length=8)
    exploration = explore((TEXTS, scores), distilbert_tokenizer, max_length=8, task="regression", directory=tmp_path)
    summary = exploration.summary()
    assert summary["task"] == "regression" and "class_counts" not in summary
    assert summary["target"] == {"min": 0.5, "max": 4.25, "mean": pytest.approx(np.mean(scores)),
                                 "std": pytest.approx(np.std(scores), abs=1e-4), "median": 2.0}
    text = exploration.summary_text()
    assert "a numeric target" in text and "target: min 0.5, max 4.25" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "summary.json", "summary.txt", "target_distribution.png", "tokens_per_text.png"]
    hist = exploration.plot_target_distribution()
    assert sum(patch.get_height() for patch in hist.axes[0].patches) == len(scores)
    with pytest.raises(ValueError, match="task must be one of"):
        explore((TEXTS, LABELS), distilbert_tokenizer, task="ranking")


def test_pairs_count_the_packed_pair(distilbert_tokenizer):
    firsts, seconds = ["good", "bad"], ["dull", "bad bad bad"]
    lengths = token_lengths(firsts, distilbert_tokenizer, seconds)
    assert lengths.tolist() == [len(distilbert_tokenizer(a, b)["input_ids"]) for a, b in zip(firsts, seconds)]
    assert lengths[1] == 7  # [CLS] bad [SEP] bad bad bad [SEP]
    examples = kerastl.TextExamples(firsts, ["pos", "neg"], "pairs.csv", text_pairs=seconds)
    exploration = explore(examples, distilbert_tokenizer, max_length=6)
    assert exploration.pairs and exploration.summary()["text_pairs"] is True
    assert exploration.tokens.tolist() == [5, 7] and exploration.summary()["longer_than_max_length"] == 1
    assert "2 text pairs, 2 labels" in exploration.summary_text()
    assert "tokens per pair (both texts packed, special tokens included)" in exploration.summary_text()


def test_explore_command_with_task_regression_and_pairs(distilbert_tokenizer, tmp_path, capsys):
    distilbert_tokenizer.save_pretrained(tmp_path / "tok")
    data = tmp_path / "sts.tsv"
    data.write_text("text\ttext_pair\tscore\na good film\tgood\t4.5\nbad\tdull and bad\t1.25\nfilm\tplot\t3\n")
    out = tmp_path / "explore"
    assert main(["explore", "--data", str(data), "--task", "regression", "--model", str(tmp_path / "tok"),
                 "--max-length", "12", "--output", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["target"]["max"] == 4.5 and summary["n"] == 3 and summary["text_pairs"] is True
    assert summary["tokens_per_text"]["max"] == len(distilbert_tokenizer("bad", "dull and bad")["input_ids"])
    assert (out / "target_distribution.png").is_file() and not (out / "class_counts.png").exists()


def test_multi_label_shows_label_frequencies_and_labels_per_text(distilbert_tokenizer, tmp_path):
    sets = [["pos"], ["pos", "film"], ["neg"], ["neg", "film", "plot"], ["neg"]]
    exploration = explore((TEXTS, sets), distilbert_tokenizer, max_length=8, task="multi-label", directory=tmp_path)
    summary = exploration.summary()
    assert summary["task"] == "multi_label" and "class_counts" not in summary
    assert summary["label_counts"] == {"neg": 3, "pos": 2, "film": 2, "plot": 1}
    assert summary["labels_per_example"] == {"1": 3, "2": 1, "3": 1} and summary["mean_labels_per_example"] == 1.6
    assert "4 labels, a set per text" in exploration.summary_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "class_counts.png", "labels_per_example.png", "summary.json", "summary.txt", "tokens_per_text.png"]
    assert len(exploration.plot_class_counts().axes[0].patches) == 4
