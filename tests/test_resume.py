"""Kill training at awkward moments, rerun the same command, and get a complete model.

Every test starts `kerastl train` or Python processes: the module is slow. tests/test_training.py
resumes a crashed `fine_tune` in the fast suite.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import kerastl
from kerastl._keras import KERAS_VERSION
from tests.helpers import synthetic_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(params=["float32"])
def run(request, tmp_path, encoder_folder):
    """The `kerastl train` command of a tiny run long enough to be killed in phase 2.

    It trains in float32 unless a test parametrizes `run` with another precision.
    """
    texts, labels = synthetic_corpus(160, seed=3)
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels)))
    command = [sys.executable, "-m", "kerastl", "train", "--model", str(encoder_folder),
               "--train", str(tmp_path / "train.csv"), "--validation", str(tmp_path / "train.csv"),
               "--output", str(tmp_path / "out"), "--head-epochs", "1", "--epochs", "4", "--batch-size", "4",
               "--max-length", "24", "--checkpoint-every", "5", "--precision", request.param]
    return command, tmp_path / "out", tmp_path / ".out.resume"


def _start(command):
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _wait_for(path, process, timeout=600):  # a guard against a hung process, as subprocess.run's
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _finish(command):
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _check_model(out):
    model = kerastl.TextClassifier.from_pretrained(out)
    history = model.training_history
    assert len(history["head"]["loss"]) == 1 and len(history["fine_tune"]["val_accuracy"]) == 4
    records = kerastl.analysis.evaluation.predict(model, ["a good film", "awful plot"]).records()
    assert all(set(r["probabilities"]) == {"neg", "pos"} for r in records)


@pytest.mark.parametrize("run", ["float32", "mixed_bfloat16"], indirect=True)
def test_sigkill_in_phase_two_then_rerun_resumes(run):
    command, out, resume = run
    process = _start(command)
    _wait_for(resume / "fine_tune.epochs.json", process)  # at least one phase-2 epoch is done
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists()
    result = _finish(command)
    assert "resuming from" in result.stderr and "phase 1: already done" in result.stderr
    assert result.stdout.count("Epoch ") < 4  # phase 2 continued instead of starting over
    assert not resume.exists()
    _check_model(out)


def test_ctrl_c_saves_and_says_how_to_resume(run):
    command, out, resume = run
    process = _start(command)
    # The first step backup: a TF checkpoint under Keras 2, a weights file and its step under Keras 3.
    first_backup = ("chief/checkpoint" if KERAS_VERSION == 2 else "training_metadata.json")
    _wait_for(resume / "fine_tune" / first_backup, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-3000:]
    assert "run the same command again to resume" in stderr and "Traceback" not in stderr
    assert not out.exists()
    result = _finish(command)
    assert "resuming from" in result.stderr
    _check_model(out)


def test_a_different_run_does_not_resume_another_runs_state(run):
    command, out, resume = run
    resume.mkdir()
    (resume / "run.json").write_text(json.dumps({"model": "something else"}))
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "holds the resumable state of a different run" in result.stderr


def test_sigkill_while_saving_keeps_the_previous_model(tmp_path, make_classifier):
    model = make_classifier()
    previous = model.save_pretrained(tmp_path / "model")
    expected = kerastl.analysis.evaluation.predict(model, ["good film"]).logits
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(tmp_path)!r})
        import kerastl
        model = kerastl.TextClassifier.from_pretrained({str(previous)!r})
        model.head.weights[0].assign(model.head.weights[0] + 1.0)
        write = kerastl.TextClassifier.save_weights
        def slow_write(self, path, **kwargs):
            write(self, path, **kwargs)
            print("written", flush=True)
            time.sleep(60)
        kerastl.TextClassifier.save_weights = slow_write
        model.save_pretrained({str(previous)!r}, overwrite=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "written"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["model"]
    reloaded = kerastl.TextClassifier.from_pretrained(previous)
    assert (kerastl.analysis.evaluation.predict(reloaded, ["good film"]).logits == expected).all()
