"""What kerastl prints: JSON that scripts can read, progress and logs on stderr, one precision
default, and TensorBoard and CSV logs that span both phases of `fine_tune`."""

import configparser
import contextlib
import csv
import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

import kerastl
from kerastl import keras
from kerastl._keras import KERAS_VERSION
from kerastl.cli.commands import main
from kerastl.precision import AUTO_PRECISION_ENV

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--head-epochs", "1", "--epochs", "1", "--batch-size", "8", "--max-length", "24"]
# What TensorFlow's C++ runtime and transformers print when nobody stops them.
NATIVE_LINE = ("I0000 ", "W0000 ", "E0000 ", "absl::InitializeLog", "cuda_platform", "oneDNN custom operations")
TRANSFORMERS_NOTICE = "TensorFlow and JAX classes are deprecated"


def run(argv, *, stdin=None, stdout=subprocess.PIPE):
    """Run `python ARGV...` on this checkout as a user would: TensorFlow's and transformers' log
    levels unset, stdout and stderr not a terminal."""
    quiet = ("TF_CPP_MIN_LOG_LEVEL", "TRANSFORMERS_VERBOSITY")
    env = {key: value for key, value in os.environ.items() if key not in quiet}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, *map(str, argv)], input=stdin, stdout=stdout, stderr=subprocess.PIPE,
                          cwd=ROOT, env=env, timeout=300)


@pytest.fixture
def saved_model(make_classifier, tmp_path):
    return make_classifier(labels=("neg", "pos")).save_pretrained(tmp_path / "model")


# -- --help, --version and usage errors: at once, without TensorFlow -----------------------------

USAGE = textwrap.dedent("""
    import contextlib, io, json, sys
    from kerastl.cli.commands import main

    def run(*argv):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(list(argv))
            except SystemExit as exit:
                status = exit.code
        return [status, out.getvalue(), err.getvalue()]

    data, model_dir, full_dir = sys.argv[1:4]
    train = ["train", "--train", data, "--output", model_dir + "/new"]
    cases = {
        "help": run("--help"),
        "train_help": run("train", "--help"),
        "version": run("--version"),
        "no_command": run(),
        "unknown_command": run("frobnicate"),
        "unknown_option": run(*train, "--frobnicate", "2"),
        "missing_required": run("train"),
        "bad_choice": run(*train, "--precision", "fp8"),
        "not_a_number": run(*train, "--epochs", "two"),
        "negative_epochs": run(*train, "--epochs", "-1"),
        "zero_batch": run(*train, "--batch-size", "0"),
        "warmup_of_one": run(*train, "--warmup-ratio", "1"),
        "dropout": run(*train, "--dropout", "1.5"),
        "max_length": run(*train, "--max-length", "1"),
        "missing_train_file": run("train", "--train", data + ".nope", "--output", model_dir + "/new"),
        "output_not_empty": run("train", "--train", data, "--output", full_dir),
        "evaluate_not_a_model": run("evaluate", "--model", model_dir, "--data", data),
        "evaluate_missing_data": run("evaluate", "--model", full_dir, "--data", data + ".nope"),
        "predict_no_texts": run("predict", "--model", model_dir),
        "predict_stdin_and_texts": run("predict", "--model", model_dir, "-", "more"),
        "predict_file_and_texts": run("predict", "--model", model_dir, "--file", data, "more"),
        "predict_missing_file": run("predict", "--model", model_dir, "--file", data + ".nope"),
        "predict_missing_model": run("predict", "--model", model_dir + "/nope", "a text"),
        "export_not_a_model": run("export", "--model", model_dir, "--output", model_dir + "/serving"),
        "explore_missing_data": run("explore", "--data", data + ".nope", "--output", model_dir + "/x"),
        "baseline_missing_data": run("baseline", "--train", data, "--validation", data + ".nope"),
    }
    print(json.dumps({"cases": cases, "loaded": sorted(m for m in ("tensorflow", "tf_keras", "transformers")
                                                        if m in sys.modules)}))
""")


def test_help_version_and_every_usage_error_answer_without_importing_tensorflow(csv_files, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    (full / "kerastl.json").write_text("{}")
    result = run(["-c", USAGE, csv_files["train"], tmp_path, full])
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    assert report["loaded"] == []  # not TensorFlow, not Keras, not transformers
    cases = report["cases"]
    for name in ("help", "train_help", "version"):
        assert cases[name][0] == 0, name
    assert "--tensorboard" in cases["train_help"][1] and "--verbose" in cases["train_help"][1]
    for name, (status, out, err) in cases.items():
        if name not in ("help", "train_help", "version"):
            assert status == 2 and out == "" and "error:" in err and "Traceback" not in err, (name, err)
    assert "epochs must be >= 0" in cases["negative_epochs"][2]
    assert "is not empty: choose a new folder or add --overwrite" in cases["output_not_empty"][2]
    assert all("no data file at" in cases[name][2] for name in ("missing_train_file", "evaluate_missing_data"))
    assert "must be the only TEXT" in cases["predict_stdin_and_texts"][2]
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("selected, names", [("2", "Keras 2 (tf-keras 2."), ("3", "Keras 3 (keras 3."),
                                             ("", "Keras 3 (keras 3.")])
def test_version_names_kerastl_and_the_keras_it_runs_on(capsys, monkeypatch, selected, names):
    monkeypatch.setenv("KERASTL_KERAS", selected)
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"kerastl {kerastl.__version__} on {names}")
    assert "TensorFlow 2." in out and "transformers 4." in out


def test_version_refuses_an_unknown_keras_selection(capsys, monkeypatch):
    monkeypatch.setenv("KERASTL_KERAS", "4")
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 2
    assert "KERASTL_KERAS='4' is not a Keras kerastl runs on" in capsys.readouterr().err


# -- stdout holds results alone; progress and logs go to stderr -----------------------------------

def test_evaluate_json_into_a_file_is_json_alone_without_library_noise(saved_model, csv_files, tmp_path):
    out = tmp_path / "out.json"
    with out.open("wb") as f:  # kerastl evaluate ... --json > out.json
        result = run(["-m", "kerastl", "evaluate", "--model", saved_model, "--data", csv_files["validation"],
                      "--json"], stdout=f)
    err = result.stderr.decode()
    assert result.returncode == 0, err
    with out.open() as f:
        scores = json.load(f)  # the whole file: no progress bytes before the object
    assert scores["n"] == 16
    assert "\r" not in err and "\b" not in err  # stderr is a file: one progress line, no bar
    assert not [line for line in err.splitlines() if line.startswith(NATIVE_LINE) or TRANSFORMERS_NOTICE in line]


def test_library_import_keeps_tensorflow_start_up_lines_quiet_unless_asked():
    # python -c "import kerastl; kerastl.TextClassifier": TensorFlow loads, and says nothing.
    code = "import kerastl; kerastl.TextClassifier; import tensorflow as tf; print(tf.__name__)"
    quiet = run(["-c", code])
    err = quiet.stderr.decode()
    assert quiet.returncode == 0 and quiet.stdout.decode() == "tensorflow\n", err
    assert not [line for line in err.splitlines()
                if any(word in line for word in ("cpu_feature_guard", "port.cc", "cudart_stub", "absl::"))], err
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "0"}  # asked for: all of them
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT, env=env, timeout=300)
    assert "port.cc" in loud.stderr.decode() and "cpu_feature_guard" in loud.stderr.decode()


def test_predict_reads_stdin_in_a_pipe_and_verbose_shows_library_notices(saved_model):
    # printf 'a good film\n\nawful\n' | kerastl predict --model M --verbose -
    result = run(["-m", "kerastl", "predict", "--model", saved_model, "--verbose", "-"],
                 stdin="a good film\n\nawful\n".encode())
    err = result.stderr.decode()
    assert result.returncode == 0, err
    records = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [(r["line"], r["text"]) for r in records] == [(1, "a good film"), (3, "awful")]
    # --verbose lets the libraries speak: transformers' TF classes (Keras 2), TensorFlow's C++ runtime (both).
    assert TRANSFORMERS_NOTICE in err if KERAS_VERSION == 2 else any(line.startswith(NATIVE_LINE)
                                                                     for line in err.splitlines())


def test_train_prints_one_json_line_a_line_per_epoch_and_keeps_float32(encoder_folder, csv_files, tmp_path,
                                                                         capsys, monkeypatch):
    # A CPU with AVX512-BF16, where `auto` would choose mixed_bfloat16: the default stays float32.
    monkeypatch.setattr("kerastl.precision._cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.delenv(AUTO_PRECISION_ENV, raising=False)  # detect, even in a run that forces `auto`
    out = tmp_path / "model"
    status = main(["train", "--model", str(encoder_folder), "--train", str(csv_files["train"]),
                   "--validation", str(csv_files["validation"]), "--output", str(out), *FAST, "--epochs", "2"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    result = json.loads(captured.out)  # all of stdout: one JSON object
    assert result["output"] == str(out) and set(result["history"]) == {"head", "fine_tune"}
    assert "\r" not in captured.err and "\b" not in captured.err  # stderr is no terminal: no bars
    assert "Epoch 2/2" in captured.err and captured.err.count("8/8 - ") == 3  # a line per epoch, 3 epochs
    assert "(precision: float32)" in captured.err and "mixed_bfloat16" not in captured.err
    assert kerastl.precision.detect_precision() == "mixed_bfloat16"  # what `--precision auto` would take
    assert keras.mixed_precision.global_policy().name == "float32"


@pytest.mark.slow
def test_train_tensorboard_logs_both_phases(encoder_folder, csv_files, tmp_path):
    status = run(["-m", "kerastl", "train", "--model", encoder_folder, "--train", csv_files["train"],
                  "--output", tmp_path / "model", *FAST, "--epochs", "2", "--tensorboard", tmp_path / "tb"])
    assert status.returncode == 0, status.stderr.decode()
    assert _scalars(tmp_path / "tb" / "train", "epoch_phase") == [(0, 1.0), (1, 2.0), (2, 2.0)]
    assert [step for step, _ in _scalars(tmp_path / "tb" / "train", "batch_loss")] == list(range(3 * 8))


# -- predict: a file or stdin, one text a line, JSON Lines out -----------------------------------


def test_predict_a_file_writes_json_lines_in_order_and_skips_blank_lines(saved_model, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_bytes("a good film\r\n\n   \nawful, \"dull\"\n\u00e9t\u00e9 \U0001f600\nno newline at the end".encode())
    assert main(["predict", "--model", str(saved_model), "--file", str(texts)]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    expected = [(1, "a good film"), (4, 'awful, "dull"'), (5, "\u00e9t\u00e9 \U0001f600"), (6, "no newline at the end")]
    assert [(r["line"], r["text"]) for r in records] == expected
    direct = kerastl.predict(kerastl.TextClassifier.from_pretrained(saved_model), [t for _, t in expected])
    for record, probabilities in zip(records, direct.records()):
        assert record["label"] == probabilities["label"]
        assert record["probabilities"] == pytest.approx(probabilities["probabilities"], abs=1e-6)
    assert "skipped 2 blank lines" in captured.err

    texts.write_bytes(b"caf\xe9\n")
    assert main(["predict", "--model", str(saved_model), "--file", str(texts)]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err


def test_predict_dash_reads_stdin(saved_model, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("awful\n\na good film\n".encode())))
    assert main(["predict", "--model", str(saved_model), "-"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["line"], r["text"]) for r in records] == [(1, "awful"), (3, "a good film")]

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\n \n")))
    assert main(["predict", "--model", str(saved_model), "-"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "holds no texts" in captured.err


# -- Python users see what the CLI shows ----------------------------------------------------------


def test_fine_tune_logs_its_phases_the_cls_pass_and_phase_two_compilation(make_classifier, csv_files, capsys):
    train = kerastl.read_examples(csv_files["train"])
    validation = kerastl.read_examples(csv_files["validation"])
    kerastl.fine_tune(make_classifier(), train, validation, head_epochs=1, epochs=1, batch_size=8)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("kerastl: ")]
    expected = [
        "kerastl: phase 1: training the head on the frozen encoder, 1 epoch of 8 steps",
        "kerastl: phase 1: computing the frozen encoder's [CLS] vectors of the 64 training examples",
        "kerastl: phase 1: computing the frozen encoder's [CLS] vectors of the 16 validation examples",
        "kerastl: phase 1 (head): done in",
        "kerastl: phase 2: fine-tuning the whole model, 1 epoch of 8 steps",
        "kerastl: phase 2: the first step compiles the model for training and may take a while",
        "kerastl: phase 2 (fine-tuning): compiled; the first step took",
        "kerastl: phase 2 (fine-tuning): done in",
    ]
    found = [[i for i, line in enumerate(lines) if line.startswith(e)] for e in expected]
    assert all(len(where) == 1 for where in found), found  # each once
    assert [where[0] for where in found] == sorted(where[0] for where in found)  # in this order
    # verbose="auto" into a stdout that is no terminal (pytest's): a plain line an epoch, no bar.
    assert captured.out.count("8/8 - ") == 2 and "\x1b[" not in captured.out and "\r" not in captured.out


def test_baseline_explore_and_export_report_progress(make_classifier, csv_files, distilbert_tokenizer, tmp_path,
                                                      capsys):
    train = kerastl.read_examples(csv_files["train"])
    validation = kerastl.read_examples(csv_files["validation"])
    model = make_classifier()
    kerastl.feature_baseline(model, train, validation)
    kerastl.explore(train, distilbert_tokenizer, directory=tmp_path / "explore")
    kerastl.export_saved_model(model, tmp_path / "serving")
    err = capsys.readouterr().err
    for expected in ("kerastl: baseline: computing the frozen encoder's [CLS] vectors of the 64 training examples",
                     "kerastl: baseline: computing the frozen encoder's [CLS] vectors of the 16 validation examples",
                     "kerastl: baseline: fitting a logistic regression on 64 vectors of 32 dimensions",
                     "kerastl: explore: counting the tokens of 64 texts",
                     "kerastl: explore: wrote class_counts.png",
                     "kerastl: export: rebuilding the tokenizer in TensorFlow ops",
                     "kerastl: export: tracing the serving functions",
                     "kerastl: export: writing the SavedModel",
                     "kerastl: exported "):
        assert expected in err


def test_a_log_line_is_printed_once_and_silenced_the_standard_way(distilbert_tokenizer, csv_files, tmp_path,
                                                                   capsys):
    package = logging.getLogger("kerastl")
    distilbert_tokenizer.save_pretrained(tmp_path / "tok")
    explore = ["explore", "--data", str(csv_files["train"]), "--model", str(tmp_path / "tok"),
               "--output", str(tmp_path / "explore")]
    root = logging.getLogger()
    application = logging.StreamHandler(sys.stderr)  # an application that logs INFO to stderr itself
    level = root.level
    root.addHandler(application)
    root.setLevel(logging.INFO)
    try:
        assert main(explore) == 0
        assert capsys.readouterr().err.count("wrote class_counts.png") == 1
        package.setLevel(logging.WARNING)
        assert main(explore) == 0
        assert "wrote class_counts.png" not in capsys.readouterr().err
    finally:
        root.removeHandler(application)
        root.setLevel(level)
        package.setLevel(logging.INFO)

    from kerastl import _logging
    assert package.propagate is False and package.level == logging.INFO
    assert [type(h) for h in package.handlers if type(h).__module__ == "kerastl._logging"] == [_logging._StderrHandler]


def test_progress_bars_only_on_a_terminal():
    from kerastl import _logging
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert _logging.terminal_verbosity(Terminal()) == 1
    assert _logging.terminal_verbosity(io.StringIO()) == 2
    with contextlib.redirect_stdout(Terminal()):
        assert _logging.progress_verbosity("auto") == 1  # as Keras' fit(verbose="auto")
        keras.utils.disable_interactive_logging()
        try:
            assert _logging.progress_verbosity("auto") == 2
        finally:
            keras.utils.enable_interactive_logging()
    with contextlib.redirect_stdout(io.StringIO()):  # stdout a file or a pipe: lines, not a bar
        assert _logging.progress_verbosity("auto") == 2
    assert _logging.progress_verbosity(0) == 0


def test_fine_tune_auto_progress_into_redirected_stdout_is_plain_lines(make_classifier, corpus, capsys):
    # python train.py > log.txt: Keras' own "auto" would draw its bar there, ANSI codes and all.
    kerastl.fine_tune(make_classifier(), corpus, corpus, head_epochs=1, epochs=1, batch_size=16)
    out = capsys.readouterr().out
    assert "\x1b[" not in out and "\r" not in out and "\b" not in out
    assert out.count("4/4 - ") == 2  # one line an epoch, each phase


# -- precision: one default for Python and the CLI ------------------------------------------------


def test_precision_default_is_float32_and_from_backbone_keeps_the_global_policy(make_classifier, monkeypatch):
    monkeypatch.setattr("kerastl.precision._cpu_flags", lambda: {"avx512_bf16"})  # auto would choose bf16
    monkeypatch.delenv(AUTO_PRECISION_ENV, raising=False)  # detect, even in a run that forces `auto`
    assert make_classifier().backbone.compute_dtype == "float32"
    model = make_classifier(precision="auto")
    assert model.backbone.compute_dtype == "bfloat16" and model(model._dummy_inputs()).dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # restored
    assert kerastl.set_precision("mixed_bfloat16") == "mixed_bfloat16"
    try:
        assert make_classifier().backbone.compute_dtype == "bfloat16"  # None follows the global policy
        assert make_classifier(precision="float32").backbone.compute_dtype == "float32"
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        kerastl.set_precision("float32")
    with pytest.raises(ValueError, match="precision must be 'auto' or one of"):
        make_classifier(precision="fp8")
    assert "set_precision" in kerastl.__all__


# -- TensorBoard and CSVLogger across both phases -------------------------------------------------


def test_tensorboard_is_a_declared_dependency():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requirements = config["options"]["install_requires"].split()
    assert any(r.startswith("tensorboard>=2.21") for r in requirements)


def _scalars(folder, tag):
    events = event_accumulator.EventAccumulator(str(folder), size_guidance={event_accumulator.TENSORS: 0})
    events.Reload()
    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in events.Tensors(tag)]


def test_fine_tune_logs_both_phases_to_tensorboard_and_csv_on_one_axis(make_classifier, corpus, tmp_path):
    csv_path = tmp_path / "log.csv"
    callbacks = [keras.callbacks.CSVLogger(str(csv_path)), keras.callbacks.TensorBoard(str(tmp_path / "keras"))]
    history = kerastl.fine_tune(make_classifier(), corpus, corpus, head_epochs=2, epochs=2, batch_size=16,
                                verbose=0, callbacks=callbacks, tensorboard=tmp_path / "tb")
    steps = 4  # 64 examples, 16 a batch

    loss = _scalars(tmp_path / "tb" / "train", "epoch_loss")
    assert [step for step, _ in loss] == [0, 1, 2, 3]  # phase 2 goes on where phase 1 stopped
    np.testing.assert_allclose([v for _, v in loss], history["head"]["loss"] + history["fine_tune"]["loss"],
                               rtol=1e-6)
    assert _scalars(tmp_path / "tb" / "train", "epoch_phase") == [(0, 1.0), (1, 1.0), (2, 2.0), (3, 2.0)]
    rates = [v for _, v in _scalars(tmp_path / "tb" / "train", "epoch_learning_rate")]
    peak = kerastl.TrainingConfig().learning_rate
    assert rates[:2] == pytest.approx([1e-3, 1e-3]) and rates[2] < peak  # phase 2 is past its warmup peak
    val = _scalars(tmp_path / "tb" / "validation", "epoch_accuracy")
    np.testing.assert_allclose([v for _, v in val],
                               history["head"]["val_accuracy"] + history["fine_tune"]["val_accuracy"], rtol=1e-6)
    assert [step for step, _ in _scalars(tmp_path / "tb" / "train", "batch_loss")] == list(range(4 * steps))

    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    assert [(row["phase"], row["epoch"]) for row in rows] == [("1", "0"), ("1", "1"), ("2", "0"), ("2", "1")]
    np.testing.assert_allclose([float(row["val_loss"]) for row in rows],
                               history["head"]["val_loss"] + history["fine_tune"]["val_loss"], rtol=1e-5)
    assert callbacks[0].append is False  # the user's setting, restored
    assert "phase" not in history["fine_tune"]  # kerastl's own history is unchanged
    assert list((tmp_path / "keras" / "train").iterdir())  # Keras' own TensorBoard callback runs too
