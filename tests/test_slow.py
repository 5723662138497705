"""Slow tests: the real all-MiniLM-L6-v2 weights on a slice of the emotion data (make test-all)."""

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import kerastl
from kerastl.analysis.evaluation import evaluate

EMOTION = Path(__file__).resolve().parents[2] / "shared" / "data" / "emotion"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def emotion():
    if not (EMOTION / "train.txt").is_file():
        pytest.skip(f"{EMOTION} is absent")
    read = lambda name: kerastl.read_examples(EMOTION / f"{name}.txt", sep=";", names=["text", "label"])  # noqa: E731
    return read("train"), read("validation")


def _slice(examples, n):
    return kerastl.TextExamples(examples.texts[:n], examples.labels[:n], examples.source)


def test_minilm_learns_emotion_from_a_slice(emotion, tmp_path):
    train, validation = _slice(emotion[0], 2000), _slice(emotion[1], 400)
    majority = Counter(validation.labels).most_common(1)[0][1] / len(validation)
    model = kerastl.TextClassifier.from_backbone("all-minilm-l6-v2", train.label_names(), max_length=64)
    history = kerastl.fine_tune(model, train, validation, head_epochs=2, epochs=2, learning_rate=1e-4, verbose=0)
    scores = evaluate(model, validation)
    assert scores["accuracy"] > majority + 0.25, (scores, majority)
    assert history["fine_tune"]["val_accuracy"][-1] > history["head"]["val_accuracy"][-1]
    loaded = kerastl.TextClassifier.from_pretrained(model.save_pretrained(tmp_path / "m"))
    assert evaluate(loaded, validation) == pytest.approx(scores)


def test_cli_with_the_preset_on_headerless_emotion_files(emotion, tmp_path):
    for name, examples, n in (("train", emotion[0], 300), ("validation", emotion[1], 100)):
        lines = [f"{t};{y}\n" for t, y in zip(examples.texts[:n], examples.labels[:n])]
        (tmp_path / f"{name}.txt").write_text("".join(lines))
    out = tmp_path / "model"
    command = [sys.executable, "-m", "kerastl", "train", "--model", "all-minilm-l6-v2",
               "--train", str(tmp_path / "train.txt"), "--validation", str(tmp_path / "validation.txt"),
               "--sep", ";", "--names", "text,label", "--output", str(out), "--head-epochs", "1", "--epochs", "1"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    scores = json.loads(result.stdout.strip().splitlines()[-1])["validation"]
    assert scores["n"] == 100
    result = subprocess.run([sys.executable, "-m", "kerastl", "predict", "--model", str(out), "--json",
                             "i am so happy today"], capture_output=True, text=True, timeout=300)
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(record["probabilities"]) == set(emotion[0].label_names())
