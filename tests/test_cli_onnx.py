"""`kerastl export --format onnx [--quantize int8]` and `kerastl predict` on the ONNX folder.

Tiny random classifiers, under both Kerases. float32 predictions agree with the Keras model's
within 1e-4 and give the same labels; int8 probabilities within tests/test_onnx_export.py's
tolerance. Usage errors answer before TensorFlow (or onnx) is imported.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kerastl.cli import checks
from kerastl.cli.commands import main

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from kerastl.serving import onnx_export  # noqa: E402
from tests.test_onnx_export import INT8_TOLERANCE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LABELS = ("neg", "neutral", "pos")
TEXTS = ["a good film", "awful", "the plot was thin but the acting was fine", "meh", "", "good good good"]


@pytest.fixture
def run_folder(make_classifier, tmp_path):
    return make_classifier(labels=LABELS).save_pretrained(tmp_path / "model")


def _records(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]


def _predict(model, capsys, *extra):
    assert main(["predict", "--model", str(model), "--json", *extra, *TEXTS]) == 0
    return _records(capsys)


def test_export_onnx_then_predict_gives_the_keras_labels(run_folder, tmp_path, capsys):
    out = tmp_path / "onnx"
    assert main(["export", "--model", str(run_folder), "--output", str(out), "--format", "onnx"]) == 0
    written = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert written == {"path": str(out), "format": "onnx", "quantize": None, "labels": list(LABELS),
                       "inputs": ["input_ids", "attention_mask"], "outputs": ["logits", "probabilities"]}
    assert {p.name for p in out.iterdir()} == {"model.onnx", "tokenizer", "kerastl_onnx.json"}

    served, direct = _predict(out, capsys), _predict(run_folder, capsys)
    assert [r["label"] for r in served] == [r["label"] for r in direct]
    for s, d in zip(served, direct):  # the same JSON as for a saved model or a SavedModel
        assert s.keys() == d.keys() and s["text"] == d["text"]
        assert s["probabilities"] == pytest.approx(d["probabilities"], abs=1e-4)

    # A file gives JSON Lines with line numbers, as for the other model kinds.
    texts = tmp_path / "texts.txt"
    texts.write_text("a good film\n\nawful\n")
    assert main(["predict", "--model", str(out), "--file", str(texts)]) == 0
    lines = _records(capsys)
    assert [(r["line"], r["text"]) for r in lines] == [(1, "a good film"), (3, "awful")]
    assert [r["label"] for r in lines] == [direct[0]["label"], direct[1]["label"]]

    # A second export into the same folder needs --overwrite, checked before any work.
    assert main(["export", "--model", str(run_folder), "--output", str(out), "--format", "onnx"]) == 2
    assert "holds an ONNX export: choose a new folder or add --overwrite" in capsys.readouterr().err
    assert main(["export", "--model", str(run_folder), "--output", str(out), "--format", "onnx",
                 "--overwrite"]) == 0


def test_export_onnx_int8_predicts(run_folder, tmp_path, capsys):
    out = tmp_path / "onnx-int8"
    assert main(["export", "--model", str(run_folder), "--output", str(out), "--format", "onnx",
                 "--quantize", "int8"]) == 0
    written = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert written["quantize"] == "int8"
    assert json.loads((out / "kerastl_onnx.json").read_text())["quantize"] == "int8"
    served, direct = _predict(out, capsys), _predict(run_folder, capsys)
    assert [r["text"] for r in served] == TEXTS
    for s, d in zip(served, direct):
        assert set(s["probabilities"]) == set(LABELS)
        assert s["label"] == max(s["probabilities"], key=s["probabilities"].get)
        assert s["probabilities"] == pytest.approx(d["probabilities"], abs=INT8_TOLERANCE)


def test_missing_onnx_runtime_is_one_line_naming_the_extra(run_folder, tmp_path, capsys, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxruntime" else find_spec(name, *a))
    out = tmp_path / "onnx"
    assert main(["export", "--model", str(run_folder), "--output", str(out), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err == ("kerastl export: error: --format onnx needs onnxruntime, which is not installed: "
                   "pip install 'kerastl[onnx]'\n")
    assert not out.exists()
    out.mkdir()
    (out / "kerastl_onnx.json").write_text("{}")
    assert main(["predict", "--model", str(out), "a text"]) == 2
    assert capsys.readouterr().err == (f"kerastl predict: error: --model {out} (an ONNX export) needs onnxruntime, "
                                       f"which is not installed: pip install 'kerastl[onnx]'\n")


def test_the_cli_spells_the_export_file_names_as_onnx_export_does():
    assert checks.ONNX_METADATA_FILE == onnx_export.METADATA_FILE
    assert checks.ONNX_MODEL_FILE == onnx_export.MODEL_FILE
    assert checks.ONNX_INSTALL == onnx_export.INSTALL


USAGE = textwrap.dedent("""
    import contextlib, io, json, sys
    import kerastl
    from kerastl.cli.commands import main

    def run(*argv):
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            status = main(list(argv))
        return [status, err.getvalue()]

    model, output = sys.argv[1:3]
    export = ["export", "--model", model, "--output", output]
    cases = {
        "quantize_without_onnx": run(*export, "--quantize", "int8"),
        "quantize_with_savedmodel": run(*export, "--format", "savedmodel", "--quantize", "int8"),
        "version_with_onnx": run(*export, "--format", "onnx", "--version", "2"),
        "precision_with_onnx": run(*export, "--format", "onnx", "--precision", "auto"),
        "onnx_not_a_model": run("export", "--model", output, "--output", output, "--format", "onnx"),
    }
    names = ("export_onnx", "load_onnx")
    print(json.dumps({"cases": cases, "public": [n in kerastl.__all__ for n in names],
                      "loaded": sorted(m for m in ("tensorflow", "tf_keras", "transformers", "onnx", "onnxruntime")
                                       if m in sys.modules)}))
""")


def test_usage_errors_answer_without_importing_tensorflow_or_onnx(run_folder, tmp_path):
    # kerastl export --model M --output O --quantize int8 (no --format onnx): one line, at once.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", USAGE, str(run_folder), str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["loaded"] == [] and report["public"] == [True, True]
    cases = report["cases"]
    for name, (status, err) in cases.items():
        assert status == 2 and err.count("\n") == 1 and err.startswith("kerastl export: error: "), (name, err)
    assert cases["quantize_without_onnx"][1] == ("kerastl export: error: --quantize int8 applies to --format onnx "
                                                 "only: add --format onnx (a SavedModel's precision is --precision)\n")
    assert cases["quantize_with_savedmodel"] == cases["quantize_without_onnx"]
    assert "--version applies to --format savedmodel only" in cases["version_with_onnx"][1]
    assert "--precision applies to --format savedmodel only" in cases["precision_with_onnx"][1]
    assert "is not a saved kerastl model" in cases["onnx_not_a_model"][1]
    assert not (tmp_path / "out").exists()
