"""A multi-label model's separator, report and refusals: the label separator kept with the model
(fine_tune, train --label-sep, evaluate without it, the SavedModel's joined labels), the per-label
report of evaluate --report and write_report, ONNX export refused naming the SavedModel, and
"|"- or ";"-joined sets refused without the task; beside them, the baseline's per_class."""

import json

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import kerastl
from kerastl.cli.commands import main
from kerastl.data.label_sets import kept_separator, label_sets_from
from kerastl.errors import DataError
from tests.helpers import synthetic_corpus, tiny_distilbert_config, write_checkpoint_folder
from tests.test_multi_label import FAST, LABELS, label_set_corpus, tiny_multi_label

REPORT_FILES = {"metrics.json", "per_label.csv", "per_label_f1.png", "training_curves.png"}


def write_sets(path, texts, sets, sep):
    path.write_text("text\tlabels\n" + "".join(f"{t}\t{sep.join(s)}\n" for t, s in zip(texts, sets)))
    return path


@pytest.fixture(scope="module")
def trained_folder(tmp_path_factory, distilbert_tokenizer):
    """`kerastl train --task multi_label --label-sep '|'` on a tiny encoder: (model folder, validation file)."""
    root = tmp_path_factory.mktemp("multi_label_cli")
    encoder = write_checkpoint_folder(root / "tiny-distilbert", tiny_distilbert_config(), distilbert_tokenizer)
    train = write_sets(root / "train.tsv", *label_set_corpus(32, 1), "|")
    validation = write_sets(root / "validation.tsv", *label_set_corpus(8, 2), "|")
    out = root / "model"
    assert main(["train", "--model", str(encoder), "--train", str(train), "--validation", str(validation),
                 "--output", str(out), "--task", "multi-label", "--label-sep", "|", *FAST]) == 0
    return out, validation


def test_the_kept_separator_is_the_one_chosen_on_reading():
    piped = label_sets_from(["joy|love", "anger"], sep="|")
    assert kept_separator(",", piped) == "|"  # chosen on reading: the model keeps it
    assert kept_separator(";", label_sets_from(["joy,love"])) == ";"  # the default "," does not override
    assert kept_separator(";", label_sets_from([["joy", "love"]])) == ";"  # lists carry no separator


def test_fine_tune_keeps_the_separator_of_the_training_file(tmp_path):
    texts, sets = label_set_corpus(32, 1)
    train = kerastl.read_examples(write_sets(tmp_path / "train.tsv", texts, sets, ";"), task="multi_label",
                                  label_sep=";")
    model = tiny_multi_label()
    assert model.label_sep == ","
    kerastl.fine_tune(model, train, head_epochs=1, epochs=1, batch_size=16, verbose=0)
    assert model.label_sep == ";"
    folder = model.save_pretrained(tmp_path / "model")
    assert json.loads((folder / "kerastl.json").read_text())["config"]["label_sep"] == ";"
    assert kerastl.tasks.Task.from_pretrained(folder).label_sep == ";"


def test_the_savedmodel_joins_the_labels_with_the_model_separator(tmp_path):
    model = tiny_multi_label(label_sep="|", threshold=0.0)  # every label reaches its threshold
    path = kerastl.export_saved_model(model, tmp_path / "serving")
    served = tf.saved_model.load(str(path)).signatures["serving_default"](text=tf.constant(["good love", "bad"]))
    assert [s.decode() for s in served["labels"].numpy()] == ["|".join(LABELS)] * 2


def test_evaluate_reads_the_saved_separator_and_honours_a_given_one(trained_folder, capsys):
    out, validation = trained_folder
    assert json.loads((out / "kerastl.json").read_text())["config"]["label_sep"] == "|"
    assert main(["evaluate", "--model", str(out), "--data", str(validation), "--json"]) == 0  # no --label-sep
    scores = json.loads(capsys.readouterr().out)
    assert scores["n"] == 8 and set(scores["per_class"]) == set(LABELS)
    # A given --label-sep reads the file as told: "neg|pos" is then one name the model does not know.
    pipes = [line.split("\t")[1] for line in validation.read_text().splitlines()[1:] if "|" in line]
    assert pipes, "the validation file holds a set of two labels"
    assert main(["evaluate", "--model", str(out), "--data", str(validation), "--label-sep", ","]) == 2
    assert "is not among the model's labels" in capsys.readouterr().err


def test_evaluate_report_writes_the_per_label_table_and_chart(trained_folder, tmp_path, capsys):
    out, validation = trained_folder
    report = tmp_path / "report"
    assert main(["evaluate", "--model", str(out), "--data", str(validation), "--report", str(report)]) == 0
    assert {path.name for path in report.iterdir()} == REPORT_FILES
    metrics = json.loads((report / "metrics.json").read_text())
    table = pd.read_csv(report / "per_label.csv", keep_default_na=False)
    assert table.columns.tolist() == ["label", "precision", "recall", "f1", "support", "threshold"]
    assert table["label"].tolist() == list(LABELS)  # the label set's order
    for row in table.to_dict("records"):
        assert row["f1"] == pytest.approx(metrics["per_class"][row["label"]]["f1"])
        assert row["threshold"] == pytest.approx(metrics["per_class"][row["label"]]["threshold"])
    assert table["support"].sum() >= metrics["n"]  # every text has at least one label


def test_write_report_on_a_multi_label_model(tmp_path):
    model = tiny_multi_label()
    train, validation = label_set_corpus(32, 1), label_set_corpus(12, 2)
    kerastl.fine_tune(model, train, validation, head_epochs=1, epochs=1, batch_size=16, verbose=0)
    evaluation = kerastl.write_report(model, validation, tmp_path / "report")
    assert {path.name for path in (tmp_path / "report").iterdir()} == REPORT_FILES
    table = evaluation.per_label()
    assert table["label"].tolist() == list(LABELS)
    np.testing.assert_allclose(table["threshold"], model.thresholds)
    assert table["support"].tolist() == [sum(name in s for s in validation[1]) for name in LABELS]
    untrained = tiny_multi_label()  # no history: no training curves
    kerastl.write_report(untrained, validation, tmp_path / "bare")
    assert {path.name for path in (tmp_path / "bare").iterdir()} == REPORT_FILES - {"training_curves.png"}


def test_onnx_export_of_a_multi_label_model_names_the_savedmodel(trained_folder, tmp_path, capsys):
    out, _ = trained_folder
    assert main(["export", "--model", str(out), "--output", str(tmp_path / "onnx"), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "ONNX export is for single-label classifiers today" in err and "without --format onnx" in err
    assert not (tmp_path / "onnx").exists()
    with pytest.raises(NotImplementedError, match="single-label classifiers.*kerastl.export_saved_model"):
        kerastl.export_onnx(tiny_multi_label(), tmp_path / "onnx")


@pytest.mark.parametrize("sep", ["|", ";"])
def test_sets_joined_by_a_pipe_or_semicolon_are_refused_without_the_task(tmp_path, sep):
    path = tmp_path / "train.tsv"
    path.write_text(f"text\tlabel\nso glad\tjoy{sep}love\nhow sweet\tlove\nyay\tjoy\nhow rude\tanger\n")
    with pytest.raises(DataError, match=rf"train.tsv: .*task=\"multi_label\" with label_sep='\{sep}'"):
        kerastl.read_examples(path).label_names()
    assert kerastl.read_examples(path, task="multi_label", label_sep=sep).labels[0] == ("joy", "love")
    validation = kerastl.TextExamples(["a"], [f"joy {sep} love"], "val.tsv")  # against a model's known names
    with pytest.raises(DataError, match=rf"val.tsv: .*--label-sep '\{sep}'"):
        validation.label_ids(("joy", "love"))


def test_names_holding_a_slash_an_ampersand_or_a_lone_pipe_are_classes():
    labels = ["sci/tech", "rock & roll", "rock|pop", "world", "sci/tech"]
    assert kerastl.as_examples(["t"] * 5, labels).label_names() == ("rock & roll", "rock|pop", "sci/tech", "world")


def test_the_classifier_baseline_gives_per_class(encoder_folder, tmp_path, capsys):
    paths = {}
    for name, n, seed in (("train", 48, 1), ("validation", 16, 2)):
        texts, labels = synthetic_corpus(n, seed=seed)
        paths[name] = tmp_path / f"{name}.csv"
        paths[name].write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels)))
    assert main(["baseline", "--model", str(encoder_folder), "--train", str(paths["train"]), "--validation",
                 str(paths["validation"]), "--max-length", "24", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in ("most_frequent", "logistic_regression"):
        per_class = scores[name]["per_class"]
        assert set(per_class) == {"neg", "pos"}
        assert all(set(figures) == {"precision", "recall", "f1", "support"} for figures in per_class.values())
        assert sum(figures["support"] for figures in per_class.values()) == scores[name]["n"] == 16
    # The majority class is every prediction: its recall is 1, the other label's 0.
    assert sorted(f["recall"] for f in scores["most_frequent"]["per_class"].values()) == [0.0, 1.0]


def test_tuned_thresholds_keep_their_decisions_under_float_noise():
    """A threshold sits between two probabilities, not on one: the same texts scored again with
    differences of 1e-6 (another batch or padding) get the same labels and the same best F1."""
    from sklearn.metrics import f1_score

    from kerastl.tasks.thresholds import best_thresholds, decide

    rng = np.random.default_rng(0)
    targets = (rng.random((400, 5)) < 0.2).astype(np.float32)
    probabilities = np.clip(0.5 * targets + 0.6 * rng.random((400, 5)), 0, 1).astype(np.float32)
    thresholds = best_thresholds(targets, probabilities)
    chosen = decide(probabilities, thresholds)
    for noise in (-1e-6, 1e-6):
        np.testing.assert_array_equal(decide(probabilities + noise, thresholds), chosen)
    for label in range(5):  # still each label's best F1 over every cut
        best = max(f1_score(targets[:, label], probabilities[:, label] >= cut, zero_division=0)
                   for cut in np.unique(probabilities[:, label]))
        assert f1_score(targets[:, label], chosen[:, label]) == pytest.approx(best)
