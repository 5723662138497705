"""Every example runs in its fast mode, so the examples cannot rot silently (slow: a process each)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kerastl
from tests.helpers import synthetic_corpus

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.slow


def test_rotten_tomatoes_demo_runs_on_a_tiny_encoder(tmp_path):
    try:
        kerastl.preset_path("all-minilm-l6-v2")
        from kerastl.data.sample_data import rotten_tomatoes_path

        rotten_tomatoes_path()
    except kerastl.KerastlError as err:
        pytest.skip(str(err))
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "rotten_tomatoes.py"), "--tiny", "--output", str(tmp_path / "m")],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy" in result.stdout
    assert (tmp_path / "m" / "kerastl.json").is_file()
    assert result.stdout.count("  A warm, funny") + result.stdout.count("  Two hours") == 2


def _run_example(script, *args):
    """Run an example in a subprocess; skip when the offline MiniLM vocabulary is not installed."""
    try:
        kerastl.preset_path("all-minilm-l6-v2")  # its vocabulary tokenizes for the tiny encoder
    except kerastl.KerastlError as err:
        pytest.skip(str(err))
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_emotion_chapter_runs_end_to_end_on_a_tiny_encoder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name, n, seed in (("train", 200, 1), ("validation", 60, 2)):
        texts, labels = synthetic_corpus(n, seed=seed)
        (data / f"{name}.txt").write_text("".join(f"{t};{y}\n" for t, y in zip(texts, labels)))
    out = tmp_path / "out"
    stdout = _run_example("emotion.py", "--tiny", "--data", data, "--output", out)
    assert "the report scores the validation split" in stdout
    for line in ("logistic_regression: accuracy", "most_frequent: accuracy", "highest loss", "fine_tuned"):
        assert line in stdout, line
    for path in ("explore/class_counts.png", "explore/tokens_per_text.png", "explore/summary.json",
                 "baseline/baseline.json", "baseline/baseline_confusion_matrix.png",
                 "report/metrics.json", "report/confusion_matrix.png", "report/training_curves.png",
                 "report/highest_loss.csv", "report/lowest_loss.csv", "report/new_tweet.png",
                 "model/kerastl.json"):
        assert (out / path).is_file(), path
    assert json.loads((out / "report" / "metrics.json").read_text())["n"] == 60


def test_keras_quickstart_counts_the_padding_of_each_way():
    stdout = _run_example("keras_quickstart.py", "--tiny")
    padding = {}
    for line in stdout.splitlines():
        match = re.match(r"\s+(.+?)\s+(\d+)\s+\(\d+%", line)  # "  NAME   PADDING  (SHARE% ..."
        if match:
            padding[match.group(1)] = int(match.group(2))
    assert list(padding) == ["NumPy arrays, padded to the longest text",
                             "tf.data, padded per batch (random batches)",
                             "tf.data, padded per batch, length-bucketed"], stdout[-2000:]
    arrays, per_batch, bucketed = padding.values()
    assert arrays > per_batch > bucketed
    assert "validation accuracy: arrays" in stdout


@pytest.mark.keras3
def test_keras3_example_fits_saves_loads_and_serves_from_a_tensorflow_only_process(tmp_path):
    stdout = _run_example("keras3.py", "--train-size", "256", "--output", tmp_path / "keras3")
    assert "test accuracy:" in stdout and "a TensorFlow-only process answers:" in stdout
    assert (tmp_path / "keras3" / "rotten_tomatoes.keras").is_file()
    assert (tmp_path / "keras3" / "serving" / "1" / "saved_model.pb").is_file()
