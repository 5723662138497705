"""Metrics, confusion matrix, error analysis, plots and the `evaluate --report` command."""

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from sklearn import metrics as sk_metrics

import kerastl
from kerastl.analysis.evaluation import (
    Evaluation,
    evaluate,
    plot_confusion_matrix,
    plot_probabilities,
    plot_training_history,
    predict_one,
)
from kerastl.cli.commands import main

LABELS = ("anger", "joy", "sadness")
HISTORY = {
    "head": {"loss": [1.0, 0.8], "accuracy": [0.5, 0.6],
             "val_loss": [0.9, 0.85], "val_accuracy": [0.55, 0.6]},
    "fine_tune": {"loss": [0.5, 0.3, 0.2], "accuracy": [0.8, 0.9, 0.95],
                  "val_loss": [0.4, 0.35, 0.36], "val_accuracy": [0.85, 0.88, 0.87]},
}


@pytest.fixture
def evaluation():
    """Nine examples with known logits: four mistakes, and no "sadness" prediction at all."""
    rng = np.random.default_rng(0)
    y_true = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2], dtype=np.int32)
    y_pred = np.array([0, 0, 1, 1, 1, 1, 0, 1, 1])
    logits = rng.normal(size=(9, 3)).astype(np.float32)
    logits[np.arange(9), y_pred] += 5.0  # the predicted class wins by a margin
    texts = [f"text {i}" for i in range(9)]
    return Evaluation(LABELS, texts, y_true, logits)


def _softmax_loss(evaluation):
    logits = evaluation.logits.astype(np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(logits)), evaluation.label_ids]


def test_metrics_match_scikit_learn(evaluation):
    y_true, y_pred = evaluation.label_ids, evaluation.predicted_ids
    metrics = evaluation.metrics()
    reference = sk_metrics.classification_report(y_true, y_pred, labels=[0, 1, 2], target_names=list(LABELS),
                                                 output_dict=True, zero_division=0)
    assert metrics["n"] == 9
    assert metrics["accuracy"] == pytest.approx(sk_metrics.accuracy_score(y_true, y_pred))
    assert metrics["macro_f1"] == pytest.approx(reference["macro avg"]["f1-score"])
    assert metrics["weighted_f1"] == pytest.approx(reference["weighted avg"]["f1-score"])
    assert metrics["loss"] == pytest.approx(_softmax_loss(evaluation).mean(), rel=1e-5)
    for name in LABELS:
        for ours, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert metrics["per_class"][name][ours] == pytest.approx(reference[name][theirs])
        assert metrics["per_class"][name]["support"] == 3
    assert metrics["per_class"]["sadness"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 3}
    assert "sadness" in evaluation.classification_report()


def test_confusion_matrix_is_normalised_per_true_label(evaluation):
    matrix = evaluation.confusion_matrix()
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    np.testing.assert_allclose(matrix[0], [2 / 3, 1 / 3, 0.0])
    np.testing.assert_allclose(matrix[2], [1 / 3, 2 / 3, 0.0])
    assert evaluation.confusion_matrix(None).sum() == 9


def test_error_analysis_ranks_examples_by_loss(evaluation):
    frame = evaluation.per_example()
    assert list(frame.columns) == ["text", "label", "predicted", "loss"]
    assert frame["text"].tolist() == evaluation.texts  # input order
    np.testing.assert_allclose(frame["loss"], _softmax_loss(evaluation), rtol=1e-4)
    assert frame.loc[6, ["label", "predicted"]].tolist() == ["sadness", "anger"]

    highest, lowest = evaluation.highest_loss(3), evaluation.lowest_loss(4)
    assert len(highest) == 3 and len(lowest) == 4
    assert highest["loss"].is_monotonic_decreasing and lowest["loss"].is_monotonic_increasing
    assert highest["loss"].iloc[0] == pytest.approx(frame["loss"].max())
    assert lowest["loss"].iloc[0] == pytest.approx(frame["loss"].min())
    # The four mistakes have the four highest losses: each wrong class won by a wide margin.
    assert set(evaluation.highest_loss(4).index) == {2, 6, 7, 8}


def test_save_writes_metrics_plots_and_error_analysis(evaluation, tmp_path):
    metrics = evaluation.save(tmp_path / "report", top_k=4, history=HISTORY)
    report = tmp_path / "report"
    saved = json.loads((report / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    assert saved["confusion_matrix"]["labels"] == list(LABELS)
    assert np.array(saved["confusion_matrix"]["counts"]).sum() == 9
    highest = pd.read_csv(report / "highest_loss.csv")
    assert list(highest.columns) == ["text", "label", "predicted", "loss"] and len(highest) == 4
    assert len(pd.read_csv(report / "lowest_loss.csv")) == 4
    for name in ("confusion_matrix.png", "training_curves.png"):
        height, width, _ = imread(report / name).shape
        assert width >= 500 and height >= 400, (name, width, height)


def test_save_without_history_has_no_training_curves(evaluation, tmp_path):
    evaluation.save(tmp_path)
    assert (tmp_path / "confusion_matrix.png").is_file()
    assert not (tmp_path / "training_curves.png").exists()


def test_training_curves_cover_both_phases_and_mark_the_boundary():
    figure = plot_training_history(HISTORY)
    loss_ax, accuracy_ax = figure.axes
    assert loss_ax.get_title() == "Loss" and accuracy_ax.get_ylabel() == "Accuracy"
    train, validation = loss_ax.get_lines()[:2]
    assert list(train.get_xdata()) == [1, 2, 3, 4, 5]
    assert list(validation.get_ydata()) == [0.9, 0.85, 0.4, 0.35, 0.36]
    boundaries = [line for line in loss_ax.get_lines() if list(line.get_xdata()) == [2.5, 2.5]]
    assert len(boundaries) == 1
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert labels == ["train", "validation", "phase 1: head, encoder frozen", "phase 2 starts: fine-tuning"]


def test_training_curves_of_one_phase_have_no_boundary():
    figure = plot_training_history({"head": {}, "fine_tune": HISTORY["fine_tune"]})
    assert all(len(line.get_xdata()) == 3 for line in figure.axes[0].get_lines())


@pytest.mark.parametrize("history", [None, {}, {"head": {}, "fine_tune": {}}])
def test_training_curves_need_a_history(history):
    with pytest.raises(kerastl.DataError, match="no training history"):
        plot_training_history(history)


def test_confusion_matrix_plot_names_the_labels():
    figure = plot_confusion_matrix([0, 1, 2, 2], [0, 1, 1, 2], LABELS)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(LABELS)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(LABELS)
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    assert "n=4" in ax.get_title()
    cells = sorted(t.get_text() for t in ax.texts)
    assert cells.count("1.00") == 2 and cells.count("0.50") == 2


def test_probability_chart_has_a_bar_per_label(tmp_path):
    figure = plot_probabilities({"anger": 0.1, "joy": 0.7, "sadness": 0.2}, text="what a day",
                                path=tmp_path / "p.png")
    ax = figure.axes[0]
    assert [bar.get_height() for bar in ax.patches] == pytest.approx([0.1, 0.7, 0.2])
    assert [t.get_text() for t in ax.get_xticklabels()] == list(LABELS)
    assert "what a day" in ax.get_title() and ax.get_ylabel() == "Predicted probability"
    assert (tmp_path / "p.png").is_file()


def test_evaluation_of_a_model_matches_evaluate_and_keeps_order(make_classifier, corpus):
    texts, labels = corpus
    examples = kerastl.TextExamples(texts[:24], labels[:24], "val")
    model = make_classifier()
    evaluation = Evaluation.from_model(model, examples, batch_size=5)
    assert evaluation.scores() == pytest.approx(evaluate(model, examples))
    assert evaluation.per_example()["text"].tolist() == texts[:24]
    assert evaluation.per_example()["label"].tolist() == labels[:24]
    one = predict_one(model, texts[3])
    assert one["label"] == evaluation.per_example()["predicted"][3]
    assert sum(one["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_bad_evaluation_input_raises_data_error(make_classifier):
    model = make_classifier()
    with pytest.raises(kerastl.DataError, match="has no labels"):
        Evaluation.from_model(model, kerastl.TextExamples(["a"], None, "unlabelled.csv"))
    with pytest.raises(kerastl.DataError, match=r"\['meh'\] are not among the model's labels"):
        evaluate(model, kerastl.TextExamples(["a", "b"], ["pos", "meh"], "val.csv"))
    with pytest.raises(kerastl.DataError, match="one text as a string"):
        predict_one(model, ["a", "b"])


def test_write_report_uses_the_training_history(fine_tuned, corpus, tmp_path, capsys):
    texts, labels = corpus
    validation = kerastl.TextExamples(texts[32:48], labels[32:48], "val")
    model = fine_tuned().model  # with a training history of both phases
    evaluation = kerastl.write_report(model, validation, tmp_path / "report", top_k=3)
    assert evaluation.scores()["n"] == 16
    assert (tmp_path / "report" / "training_curves.png").is_file()

    # The same report from the command line, for the saved model: the JSON scores do not change.
    saved = model.save_pretrained(tmp_path / "model")
    data = tmp_path / "val.csv"
    rows = "".join(f"{t},{y}\n" for t, y in zip(validation.texts, validation.labels))
    data.write_text("text,label\n" + rows)
    assert main(["evaluate", "--model", str(saved), "--data", str(data), "--json",
                 "--report", str(tmp_path / "cli-report")]) == 0
    printed = json.loads(capsys.readouterr().out)  # --json: the scores and the report's per_class
    expected = evaluation.metrics()["per_class"]
    assert set(printed["per_class"]) == {"neg", "pos"}
    assert all(printed["per_class"][name] == pytest.approx(expected[name]) for name in expected)
    assert printed["accuracy"] == pytest.approx(evaluation.scores()["accuracy"])
    for name in ("metrics.json", "confusion_matrix.png", "training_curves.png", "highest_loss.csv",
                 "lowest_loss.csv"):
        assert (tmp_path / "cli-report" / name).is_file(), name
    cli_metrics = json.loads((tmp_path / "cli-report" / "metrics.json").read_text())
    assert cli_metrics["accuracy"] == pytest.approx(evaluation.scores()["accuracy"])
    assert len(pd.read_csv(tmp_path / "cli-report" / "highest_loss.csv")) == 10
