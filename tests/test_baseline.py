"""The feature-extraction baseline: frozen [CLS] features, a logistic regression, the majority class."""

import json
from collections import Counter

import numpy as np
import pytest

import kerastl
from kerastl.analysis.baseline import extract_features, feature_baseline
from kerastl.cli.commands import main
from tests.helpers import synthetic_corpus


def _subset(n, seed, keep, source):
    texts, labels = synthetic_corpus(n, seed=seed)
    rows = [i for i, label in enumerate(labels) if keep(i, label)]
    return kerastl.TextExamples([texts[i] for i in rows], [labels[i] for i in rows], source)


@pytest.fixture
def splits():
    """48 "pos" and 30 "neg" to train on; 10 "pos" and 20 "neg" to validate on."""
    train = _subset(96, 1, lambda i, label: label == "pos" or i < 60, "train")
    validation = _subset(40, 2, lambda i, label: label == "neg" or i < 20, "val")
    return train, validation


def test_features_are_the_frozen_cls_vectors_in_input_order(make_classifier, corpus):
    model = make_classifier()
    texts = corpus[0][:10]
    features = extract_features(model, texts, batch_size=4)
    assert features.shape == (10, 32) and features.dtype == np.float32
    one = extract_features(model, [texts[7]])
    np.testing.assert_allclose(features[7], one[0], atol=1e-5)


def test_baseline_scores_both_classifiers_on_validation(make_classifier, splits, tmp_path):
    train, validation = splits
    model = make_classifier()
    weights = [w.numpy().copy() for w in model.weights]
    result = feature_baseline(model, train, validation, directory=tmp_path)
    scores = result.scores()
    assert set(scores) == {"most_frequent", "logistic_regression"}
    assert Counter(train.labels) == {"pos": 48, "neg": 30}
    assert Counter(validation.labels) == {"pos": 10, "neg": 20}
    assert scores["most_frequent"]["accuracy"] == pytest.approx(10 / 30)  # always "pos"
    assert scores["logistic_regression"]["n"] == 30
    # The sentiment word decides the label, so even a random encoder's features carry it.
    assert scores["logistic_regression"]["accuracy"] > scores["most_frequent"]["accuracy"]
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(weights, model.weights))  # nothing trained
    assert json.loads((tmp_path / "baseline.json").read_text()) == scores
    assert (tmp_path / "baseline_confusion_matrix.png").is_file()
    assert "logistic_regression: accuracy" in result.summary_text()


def test_unknown_validation_labels_fail_before_an_encoder_loads(splits):
    train, _ = splits
    bad = kerastl.TextExamples(["so so"], ["meh"], "val.csv")
    with pytest.raises(kerastl.DataError, match=r"\['meh'\] are not among the model's labels"):
        feature_baseline("/no/such/encoder", train, bad)
    with pytest.raises(kerastl.DataError, match="has no labels"):
        feature_baseline("/no/such/encoder", train, kerastl.TextExamples(["a"], None, "val.csv"))


def test_baseline_command(encoder_folder, csv_files, tmp_path, capsys):
    report = tmp_path / "baseline"
    status = main(["baseline", "--model", str(encoder_folder), "--train", str(csv_files["train"]),
                   "--validation", str(csv_files["validation"]), "--max-length", "24", "--json",
                   "--report", str(report)])
    assert status == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(scores) == {"most_frequent", "logistic_regression"}
    assert scores["logistic_regression"]["n"] == 16
    assert json.loads((report / "baseline.json").read_text()) == scores
    assert (report / "baseline_confusion_matrix.png").is_file()


# -- regression: ridge on the frozen features, and the training mean --------------------------------

def test_regression_baseline_fits_ridge_and_the_mean(tmp_path):
    from kerastl.analysis.baseline_tasks import RIDGE_ALPHAS
    from tests.test_regression import counting_corpus, tiny_regressor

    model = tiny_regressor(pooling="mean")
    (train_texts, train_scores), validation = counting_corpus(96, seed=1), counting_corpus(32, seed=2)
    result = feature_baseline(model, (train_texts, train_scores), validation, directory=tmp_path, verbose=0)
    scores = result.scores()
    assert set(scores) == {"mean", "ridge"}
    assert set(scores["ridge"]) == {"n", "pearson", "spearman", "mse", "mae"} and scores["ridge"]["n"] == 32
    np.testing.assert_allclose(result.predictions["mean"], np.mean(train_scores))  # the training mean
    assert result.alpha in RIDGE_ALPHAS  # chosen on the training set
    # How often "good" occurs decides the score, and mean-pooled features carry that count.
    assert scores["ridge"]["mse"] < scores["mean"]["mse"] and scores["ridge"]["spearman"] > 0.5, scores
    assert json.loads((tmp_path / "baseline.json").read_text()) == scores
    assert (tmp_path / "baseline_predicted_vs_true.png").is_file()
    assert "ridge: pearson" in result.summary_text()
    with pytest.raises(ValueError, match="give task='regression'"):
        feature_baseline(model, (train_texts, train_scores), validation, task="classification")


def test_baseline_command_with_task_regression(encoder_folder, tmp_path, capsys):
    from tests.test_regression import _score_file

    train, validation = _score_file(tmp_path / "train.tsv", 32, 1), _score_file(tmp_path / "val.tsv", 8, 2)
    report = tmp_path / "baseline"
    assert main(["baseline", "--model", str(encoder_folder), "--train", str(train), "--validation",
                 str(validation), "--max-length", "24", "--task", "regression", "--json", "--report", str(report)]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(scores) == {"mean", "ridge"} and scores["ridge"]["n"] == 8
    assert sorted(p.name for p in report.iterdir()) == ["baseline.json", "baseline_predicted_vs_true.png"]
    # Without --task the scores are classes: refused as the training command refuses them.
    assert main(["baseline", "--model", str(encoder_folder), "--train", str(train), "--validation",
                 str(validation)]) == 2
    assert "--task regression" in capsys.readouterr().err


# -- multi-label: one-vs-rest logistic regression, and the most frequent label ----------------------

def _label_set_corpus(n, seed):
    """Texts holding a non-empty subset of the words good, bad and plot; those words are its labels."""
    rng = np.random.default_rng(seed)
    texts, sets = [], []
    for _ in range(n):
        names = [w for w in ("good", "bad", "plot") if rng.random() < 0.5] or ["good"]
        words = names + list(rng.choice(["the", "movie", "is", "very", "and"], size=rng.integers(1, 5)))
        rng.shuffle(words)
        texts.append(" ".join(words))
        sets.append(names)
    return texts, sets


def test_multi_label_baseline_fits_one_vs_rest_logistic_regression(tmp_path):
    from tests.helpers import tiny_bert_config, tiny_distilbert_config, tiny_tokenizer

    kind = "distilbert" if kerastl.keras.__version__.startswith("3") else "bert"
    config = tiny_distilbert_config() if kind == "distilbert" else tiny_bert_config()
    kerastl.keras.utils.set_random_seed(0)
    model = kerastl.TextMultiLabelClassifier.from_backbone(config, ("bad", "good", "plot"), max_length=24,
                                                           tokenizer=tiny_tokenizer(kind), pooling="mean")
    train, validation = _label_set_corpus(96, 1), _label_set_corpus(32, 2)
    result = feature_baseline(model, train, validation, directory=tmp_path, verbose=0)
    scores = result.scores()
    assert set(scores) == {"most_frequent", "logistic_regression"}
    assert set(scores["logistic_regression"]) == {"n", "micro_f1", "macro_f1", "subset_accuracy"}
    truth = np.array([[name in names for name in ("bad", "good", "plot")] for names in validation[1]], np.float32)
    np.testing.assert_array_equal(result.y_true, truth)
    assert result.predictions["most_frequent"].sum(axis=1).tolist() == [1.0] * 32  # one label, the commonest
    assert scores["logistic_regression"]["micro_f1"] > scores["most_frequent"]["micro_f1"], scores
    assert json.loads((tmp_path / "baseline.json").read_text()) == scores
    assert (tmp_path / "baseline_per_label_f1.png").is_file()
    assert "subset accuracy" in result.summary_text()
    with pytest.raises(kerastl.DataError, match="'awful' is not among the model's labels"):
        feature_baseline(model, train, (["awful film"], [["awful"]]))


def test_baseline_command_with_task_multi_label(encoder_folder, tmp_path, capsys):
    paths = {}
    for name, (texts, sets) in (("train", _label_set_corpus(32, 1)), ("val", _label_set_corpus(8, 2))):
        paths[name] = tmp_path / f"{name}.tsv"
        paths[name].write_text("text\tlabels\n" + "".join(f"{t}\t{','.join(s)}\n" for t, s in zip(texts, sets)))
    assert main(["baseline", "--model", str(encoder_folder), "--train", str(paths["train"]), "--validation",
                 str(paths["val"]), "--max-length", "24", "--task", "multi-label", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(scores) == {"most_frequent", "logistic_regression"} and scores["logistic_regression"]["n"] == 8


def test_features_of_pairs_are_those_of_the_packed_pair(make_classifier):
    firsts, seconds = ["a good film", "dull"], ["the plot", "bad bad"]
    model = make_classifier()
    paired = extract_features(model, kerastl.TextExamples(firsts, None, "pairs", text_pairs=seconds))
    expected = model.pooled_features(model.encode(kerastl.TextExamples(firsts, text_pairs=seconds))).numpy()
    np.testing.assert_allclose(paired, expected, atol=1e-5)
    singles = extract_features(make_classifier(), firsts)  # the same weights, the first texts alone
    assert paired.shape == singles.shape and not np.allclose(paired, singles, atol=1e-3)
