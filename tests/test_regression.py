"""TextRegressor end to end on tiny random encoders: a numeric target per text, chosen with
task="regression" (--task regression), never guessed; fine_tune learns a toy target better than
the mean, evaluate gives pearson, spearman, mse and mae, the saved folder knows its task, the
export serves `score`, and bad scores stop with one DataError naming the file and line."""

import json
import random

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

import kerastl
from kerastl.errors import DataError, ModelFileError
from tests.helpers import FILLER, tiny_bert_config, tiny_distilbert_config, tiny_tokenizer

KIND = "distilbert" if kerastl.keras.__version__.startswith("3") else "bert"
METRICS = {"n", "pearson", "spearman", "mse", "mae"}


def tiny_regressor(seed=0, **kwargs):
    kerastl.keras.utils.set_random_seed(seed)
    config = tiny_distilbert_config() if KIND == "distilbert" else tiny_bert_config()
    return kerastl.TextRegressor.from_backbone(config, tokenizer=tiny_tokenizer(KIND), max_length=24, **kwargs)


def counting_corpus(n=64, seed=0):
    """Texts whose score is the number of times "good" occurs in them (0..3), plus 1."""
    rng = random.Random(seed)
    texts, scores = [], []
    for _ in range(n):
        count = rng.randint(0, 3)
        words = [rng.choice(FILLER) for _ in range(rng.randint(1, 6))] + ["good"] * count
        rng.shuffle(words)
        texts.append(" ".join(words))
        scores.append(float(count) + 1.0)
    return texts, scores


@pytest.fixture(scope="module")
def trained():
    model = tiny_regressor(pooling="mean")
    train, validation = counting_corpus(96, seed=1), counting_corpus(32, seed=2)
    history = kerastl.fine_tune(model, train, validation, head_epochs=4, epochs=4, batch_size=16,
                                head_learning_rate=3e-3, learning_rate=1e-3, verbose=0)
    return model, history, validation


def test_fine_tune_learns_a_toy_target_better_than_the_mean(trained):
    model, history, (texts, scores) = trained
    metrics = kerastl.evaluate(model, (texts, scores))
    assert set(metrics) == METRICS and metrics["n"] == len(texts)
    assert metrics["mse"] < 0.5 * np.var(scores), metrics  # the mean predicts with mse = var
    assert metrics["spearman"] > 0.5, metrics
    assert "val_spearman" in history["fine_tune"] and len(history["fine_tune"]["val_spearman"]) == 4
    assert set(history["head"]) >= {"loss", "mae", "rmse", "val_loss"}
    assert model.target_scaling == pytest.approx((np.mean(counting_corpus(96, seed=1)[1]),
                                                  np.std(counting_corpus(96, seed=1)[1])), rel=1e-5)


def test_predict_gives_scores(trained):
    model, _, (texts, _) = trained
    scores = kerastl.predict(model, texts[:5])
    assert isinstance(scores, np.ndarray) and scores.shape == (5,) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, model.predict(texts[:5], verbose=0).reshape(-1), atol=1e-5)
    assert model.predict(texts[:5], verbose=0).shape == (5, 1)
    assert kerastl.predict(model, []).shape == (0,)


def test_keras_fit_evaluate_predict_on_raw_text_and_a_user_loss():
    model = tiny_regressor()
    texts, scores = counting_corpus(8)
    model.compile(loss=kerastl.keras.losses.Huber(), metrics=[kerastl.keras.metrics.MeanAbsoluteError(name="mae")])
    history = model.fit(texts, np.asarray(scores), epochs=1, batch_size=4, verbose=0,
                        validation_data=(texts[:4], scores[:4]))
    assert {"loss", "mae", "val_loss", "val_mae"} <= set(history.history)
    assert model.target_scaling is not None  # the first raw-text fit takes the scaling
    results = model.evaluate(texts, [str(s) for s in scores], verbose=0, return_dict=True)
    assert np.isfinite(results["loss"])


@pytest.mark.parametrize("bad", [float("nan"), "high", None])
def test_nan_or_non_numeric_targets_are_refused_naming_the_input(bad):
    model = tiny_regressor()
    model.compile()
    with pytest.raises(DataError, match=r'fit\(x, y\): task="regression" needs a finite number as every target.*row 1'):
        model.fit(["a good film", "dull", "fine"], [1.0, bad, 2.0], verbose=0)


def test_scaling_off_keeps_the_raw_head():
    model = tiny_regressor(scale_targets=False)
    model.compile()
    model.fit(["a", "b"], [10.0, 20.0], epochs=1, verbose=0)
    assert model.target_scaling is None and model.get_config()["target_mean"] is None


def test_saved_folder_records_the_task(trained, tmp_path):
    model, _, (texts, _) = trained
    path = model.save_pretrained(tmp_path / "regressor")
    assert json.loads((path / "kerastl.json").read_text())["task"] == "regression"
    loaded = kerastl.TextRegressor.from_pretrained(path)
    np.testing.assert_allclose(loaded.predict(texts[:4], verbose=0), model.predict(texts[:4], verbose=0), atol=1e-5)
    assert loaded.target_scaling == pytest.approx(model.target_scaling)
    from kerastl.tasks import Task

    assert type(Task.from_pretrained(path)) is kerastl.TextRegressor
    with pytest.raises(ModelFileError, match="holds a regression model, a TextRegressor, not a TextClassifier"):
        kerastl.TextClassifier.from_pretrained(path)


def test_export_serves_score_and_load_saved_model_predicts_scores(trained, tmp_path):
    model, _, (texts, _) = trained
    path = kerastl.export_saved_model(model, tmp_path / "serving")
    metadata = json.loads((path / "assets.extra" / "kerastl.json").read_text())
    assert metadata["task"] == "regression" and metadata["labels"] is None
    served = kerastl.load_saved_model(path)
    np.testing.assert_allclose(served.predict(texts[:5]), kerastl.predict(model, texts[:5]), atol=1e-4)
    import tensorflow as tf

    ids = tf.saved_model.load(str(path)).signatures["predict_ids"]
    features = model.preprocessor.features(texts[:3])
    assert ids(**features)["score"].shape == (3,)


# -- reading ----------------------------------------------------------------------------------


def test_read_examples_with_task_regression_reads_the_score_column(tmp_path):
    path = tmp_path / "stsb.tsv"
    path.write_text("text\tscore\na cat\t3.8\na dog\t4.40\nthe sun\t0\n")
    examples = kerastl.read_examples(path, task="regression")
    assert examples.labels == [3.8, 4.4, 0.0]
    with pytest.raises(DataError, match='choose task="regression"'):  # without the task: refused, never guessed
        kerastl.read_examples(path).label_names()


@pytest.mark.parametrize("value, shown", [("", "an empty score"), ("high", "'high'"), ("nan", "'nan'")])
def test_a_bad_score_in_a_file_names_the_file_and_line(tmp_path, value, shown):
    path = tmp_path / "scores.tsv"
    path.write_text(f"text\tscore\na cat\t3.8\na dog\t{value}\nthe sun\t0\n")
    with pytest.raises(DataError) as info:
        kerastl.read_examples(path, task="regression")
    message = str(info.value)
    assert message.startswith(f"{path}, line 3: {shown} in the 'score' column is not a number"), message
    assert "fix or remove that row" in message


# -- the command line -------------------------------------------------------------------------

FAST = ["--head-epochs", "1", "--epochs", "1", "--batch-size", "8", "--max-length", "24"]


def _score_file(path, n, seed):
    texts, scores = counting_corpus(n, seed)
    path.write_text("text\tscore\n" + "".join(f"{t}\t{s + 0.25}\n" for t, s in zip(texts, scores)))
    return path


def test_cli_train_evaluate_predict_export_with_task_regression(encoder_folder, tmp_path, capsys):
    from kerastl.cli.commands import main

    train, validation = _score_file(tmp_path / "train.tsv", 32, 1), _score_file(tmp_path / "validation.tsv", 8, 2)
    out = tmp_path / "model"
    # Without --task the scores are refused, naming the choice; nothing is written.
    assert main(["train", "--model", str(encoder_folder), "--train", str(train), "--output", str(out), *FAST]) == 2
    assert '--task regression' in capsys.readouterr().err and not out.exists()

    assert main(["train", "--model", str(encoder_folder), "--train", str(train), "--validation", str(validation),
                 "--output", str(out), "--task", "regression", *FAST]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["validation"]) == METRICS and "val_spearman" in result["history"]["fine_tune"]

    assert main(["evaluate", "--model", str(out), "--data", str(validation), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores) == METRICS and scores["n"] == 8
    assert scores["mse"] == pytest.approx(result["validation"]["mse"], rel=1e-4)
    report = tmp_path / "report"
    assert main(["evaluate", "--model", str(out), "--data", str(validation), "--report", str(report)]) == 0
    assert "pearson" in capsys.readouterr().out
    assert sorted(p.name for p in report.iterdir()) == [
        "largest_errors.csv", "metrics.json", "predicted_vs_true.png", "training_curves.png"]
    assert json.loads((report / "metrics.json").read_text()) == pytest.approx(scores)
    errors = pd.read_csv(report / "largest_errors.csv")
    assert errors.columns.tolist() == ["text", "true", "predicted", "error"] and len(errors) == 8

    assert main(["predict", "--model", str(out), "--json", "good good film", "the plot"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in records] == ["good good film", "the plot"]
    assert all(isinstance(r["score"], float) for r in records)

    serving = tmp_path / "serving"
    assert main(["export", "--model", str(out), "--output", str(serving)]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert main(["predict", "--model", exported["path"], "--json", "good good film", "the plot"]) == 0
    served = [json.loads(line)["score"] for line in capsys.readouterr().out.splitlines()]
    np.testing.assert_allclose(served, [r["score"] for r in records], atol=1e-4)


def test_cli_a_bad_score_stops_naming_file_and_line_and_writes_nothing(encoder_folder, tmp_path, capsys):
    from kerastl.cli.commands import main

    train = tmp_path / "train.tsv"
    train.write_text("text\tscore\na good film\t4.5\na dull plot\t\nfine\t3\n")
    out = tmp_path / "model"
    assert main(["train", "--model", str(encoder_folder), "--train", str(train), "--output", str(out),
                 "--task", "regression", *FAST]) == 2
    err = capsys.readouterr().err
    assert f"{train}, line 3: an empty score in the 'score' column is not a number" in err
    assert "Traceback" not in err and not out.exists()


# -- the regression report -------------------------------------------------------------------------

def test_regression_evaluation_ranks_the_largest_absolute_errors_and_keeps_pairs(tmp_path):
    from kerastl.analysis.regression import regression_scores
    from kerastl.analysis.regression_report import RegressionEvaluation

    targets = np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32)
    predicted = np.array([1.5, 2.0, 1.0, 4.25, 5.0], np.float32)
    ev = RegressionEvaluation([f"t{i}" for i in range(5)], targets, predicted)
    assert ev.scores() == pytest.approx(regression_scores(targets, predicted))
    assert ev.metrics() == ev.scores()
    top = ev.largest_errors(3)
    assert top["text"].tolist() == ["t2", "t0", "t3"]  # |-2| > |0.5| > |0.25|
    assert top["error"].tolist() == pytest.approx([-2.0, 0.5, 0.25])  # predicted minus true
    assert top.columns.tolist() == ["text", "true", "predicted", "error"]

    paired = RegressionEvaluation(["a", "b"], targets[:2], predicted[:2], text_pairs=["x", "y"])
    assert paired.largest_errors().columns.tolist() == ["text", "text_pair", "true", "predicted", "error"]
    assert paired.largest_errors()["text_pair"].tolist() == ["x", "y"]

    metrics = ev.save(tmp_path)  # no history: no training curves
    assert sorted(p.name for p in tmp_path.iterdir()) == ["largest_errors.csv", "metrics.json",
                                                           "predicted_vs_true.png"]
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert imread(tmp_path / "predicted_vs_true.png").shape[1] > 500


def test_scatter_plot_has_the_identity_line_and_the_correlations_in_its_title():
    from kerastl.analysis.plots import plot_predicted_against_true

    figure = plot_predicted_against_true([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0])
    ax = figure.axes[0]
    assert "Pearson 0.800" in ax.get_title() and "Spearman 0.800" in ax.get_title() and "n=4" in ax.get_title()
    (line,) = ax.get_lines()
    xs, ys = line.get_data()
    assert list(xs) == list(ys)  # y = x
    assert ax.collections[0].get_offsets().shape == (4, 2)
    with pytest.raises(DataError, match="as many predictions as true scores"):
        plot_predicted_against_true([1.0, 2.0], [1.0])


def test_write_report_of_a_regressor(trained, tmp_path):
    model, _, (texts, scores) = trained
    evaluation = kerastl.write_report(model, (texts, scores), tmp_path, top_k=4)
    assert evaluation.scores() == pytest.approx(kerastl.evaluate(model, (texts, scores)))
    assert (tmp_path / "training_curves.png").is_file() and (tmp_path / "predicted_vs_true.png").is_file()
    errors = pd.read_csv(tmp_path / "largest_errors.csv")
    assert len(errors) == 4 and errors["error"].abs().tolist() == sorted(errors["error"].abs(), reverse=True)
    row = errors.iloc[0]
    assert row["predicted"] == pytest.approx(kerastl.predict(model, [row["text"]])[0], abs=1e-4)
    assert row["error"] == pytest.approx(row["predicted"] - row["true"], abs=1e-4)


def test_regression_report_of_pairs_shows_both_texts(tmp_path):
    from kerastl.analysis.regression_report import RegressionEvaluation

    model = tiny_regressor()
    firsts, seconds, scores = ["a good film", "dull", "the plot"], ["good", "bad bad", "film"], [4.0, 1.0, 2.5]
    evaluation = RegressionEvaluation.from_model(model, ((firsts, seconds), scores))
    assert evaluation.text_pairs == seconds
    pairs = kerastl.TextExamples(firsts, text_pairs=seconds)
    np.testing.assert_allclose(evaluation.predictions, kerastl.predict(model, pairs), atol=1e-5)
    evaluation.save(tmp_path)
    table = pd.read_csv(tmp_path / "largest_errors.csv")
    assert table.columns.tolist() == ["text", "text_pair", "true", "predicted", "error"]
    assert sorted(zip(table["text"], table["text_pair"])) == sorted(zip(firsts, seconds))
