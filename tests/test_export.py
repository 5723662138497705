"""SavedModel export: signatures, versions, atomic writes, TF-only loading."""

import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from transformers import RobertaConfig

import kerastl
from kerastl._keras import KERAS_VERSION
from kerastl.analysis.evaluation import predict
from kerastl.cli.commands import main
from kerastl.errors import BackboneError, ModelFileError, TextSignatureUnavailable
from kerastl.serving import export_saved_model, load_saved_model, resolve_saved_model
from kerastl.serving import saved_model as export_lib
from tests.helpers import padded_features
from tests.tokenizer_cases import HARD_TEXTS, hf_features, train_roberta_tokenizer

TEXTS = ["a good film", "awful plot!!", "", "Très BIEN, the movie 电影 😀", "fun " * 40]


@pytest.fixture(scope="session")
def roberta_tokenizer(tmp_path_factory):
    return train_roberta_tokenizer(tmp_path_factory.mktemp("roberta-tokenizer"))


@pytest.fixture
def roberta_classifier(roberta_tokenizer):
    kerastl.keras.utils.set_random_seed(0)
    config = RobertaConfig(vocab_size=len(roberta_tokenizer), hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
                           pad_token_id=roberta_tokenizer.pad_token_id)
    return kerastl.TextClassifier.from_backbone(
        config, ("neg", "pos"), tokenizer=roberta_tokenizer, max_length=24
    )


def keras_probabilities(model, texts):
    return predict(model, texts).probabilities


def saved_model_ops(path):
    """The op types of a SavedModel's graph and function library (calls of its own functions aside)."""
    from pathlib import Path

    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((Path(path) / "saved_model.pb").read_bytes())
    ops, functions = set(), set()
    for meta in saved.meta_graphs:
        ops |= {node.op for node in meta.graph_def.node}
        for function in meta.graph_def.library.function:
            functions.add(function.signature.name)
            ops |= {node.op for node in function.node_def}
    return ops - functions


@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_export_writes_tf_serving_layout_and_matches_keras(make_classifier, tmp_path, kind):
    model = make_classifier(kind, labels=("neg", "pos", "meh"))
    path = export_saved_model(model, tmp_path / "serving")
    assert path == tmp_path / "serving" / "1"
    assert (path / "saved_model.pb").is_file() and (path / "variables" / "variables.index").is_file()
    assert sorted(p.name for p in (tmp_path / "serving").iterdir()) == ["1"]  # no leftovers

    loaded = tf.saved_model.load(str(path))
    assert set(loaded.signatures) == {"serving_default", "predict_ids"}
    text = loaded.signatures["serving_default"]
    assert text.structured_input_signature[1] == {"text": tf.TensorSpec(None, tf.string, name="text")}
    out = text(text=tf.constant(TEXTS))
    assert out["probabilities"].dtype == tf.float32 and out["probabilities"].shape == (len(TEXTS), 3)
    assert out["label_id"].dtype == tf.int64 and out["label"].dtype == tf.string
    expected = keras_probabilities(model, TEXTS)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(out["label_id"].numpy(), expected.argmax(-1))
    assert [v.decode() for v in out["label"].numpy()] == [model.label_names[i] for i in expected.argmax(-1)]

    # predict_ids takes any sequence length; extra padding changes nothing.
    features = hf_features(model.tokenizer, TEXTS, model.max_length)
    ids = np.pad(features["input_ids"], ((0, 0), (0, 3))).astype(np.int32)
    mask = np.pad(features["attention_mask"], ((0, 0), (0, 3))).astype(np.int32)
    by_ids = loaded.signatures["predict_ids"](input_ids=tf.constant(ids), attention_mask=tf.constant(mask))
    np.testing.assert_allclose(by_ids["probabilities"].numpy(), expected, atol=1e-5)
    assert [v.decode() for v in loaded.labels.numpy()] == ["neg", "pos", "meh"]

    # Core TensorFlow only: tf.raw_ops lists the ops built into TensorFlow, and never those a
    # library such as tensorflow-text registers when imported (FastWordpieceTokenizeWithOffsets).
    ops = saved_model_ops(path)
    assert {"LookupTableFindV2", "StringSplitV2"} <= ops  # the tokenizer is in there
    assert sorted(op for op in ops if not hasattr(tf.raw_ops, op)) == []


def test_serving_default_runs_a_batch_by_length_and_answers_in_input_order(make_classifier, tmp_path):
    model = make_classifier("bert", labels=("neg", "pos", "meh"))
    path = export_saved_model(model, tmp_path / "serving")
    text = tf.saved_model.load(str(path)).signatures["serving_default"]
    # Several chunks of SERVING_CHUNK texts, lengths shuffled, ties and the empty text included.
    rng = np.random.default_rng(0)
    texts = [" ".join(["film"] * int(k)) for k in rng.integers(0, 30, size=5 * export_lib.SERVING_CHUNK + 3)]
    out = text(text=tf.constant(texts))["probabilities"].numpy()
    np.testing.assert_allclose(out, keras_probabilities(model, texts), atol=1e-5)
    for batch in ([], texts[:1]):  # no text, and fewer texts than a chunk
        np.testing.assert_allclose(text(text=tf.constant(batch, tf.string))["probabilities"].numpy(),
                                   keras_probabilities(model, batch).reshape(len(batch), 3), atol=1e-5)


def test_serving_default_takes_one_string_as_a_batch_of_one_and_refuses_other_ranks(make_classifier, tmp_path):
    model = make_classifier(labels=("neg", "pos", "meh"))
    text = tf.saved_model.load(str(export_saved_model(model, tmp_path / "serving"))).signatures["serving_default"]
    one = text(text=tf.constant("a good film"))  # a scalar, as a client sending one text would
    assert one["probabilities"].shape == (1, 3) and one["label"].shape == (1,)
    np.testing.assert_allclose(one["probabilities"].numpy(), keras_probabilities(model, ["a good film"]), atol=1e-5)
    np.testing.assert_allclose(text(text=tf.constant(["a good film", "awful"]))["probabilities"].numpy(),
                               keras_probabilities(model, ["a good film", "awful"]), atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one string or a list"):
        text(text=tf.constant([["a good film"]]))


@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_predict_ids_refuses_ids_the_encoder_cannot_embed_naming_the_fix(make_classifier, tmp_path, kind):
    model = make_classifier(kind)  # 99 ids, 64 positions
    path = export_saved_model(model, tmp_path / "serving")
    ids = tf.saved_model.load(str(path)).signatures["predict_ids"]
    good = ids(input_ids=tf.constant([[2, 98, 3]]), attention_mask=tf.ones((1, 3), tf.int32))
    assert good["probabilities"].shape == (1, 2)
    for input_ids, mask, match in [
        (tf.constant([[2, 99, 3]]), tf.ones((1, 3), tf.int32), r"outside the vocabulary of the encoder \(99 tokens\)"),
        (tf.constant([[2, -1, 3]]), tf.ones((1, 3), tf.int32), "input_ids must be >= 0"),
        (tf.ones((1, 65), tf.int32), tf.ones((1, 65), tf.int32), "longer than the 64 positions.*max_length, 24 tokens"),
        (tf.constant([[2, 5, 3]]), tf.ones((1, 2), tf.int32), "must have the same shape"),
    ]:
        with pytest.raises(tf.errors.InvalidArgumentError, match=f"predict_ids: .*{match}"):
            ids(input_ids=input_ids, attention_mask=mask)


@pytest.mark.parametrize("kind", ["distilbert", "bert"])
def test_a_bf16_export_computes_in_bf16_with_float32_inputs_and_outputs(make_classifier, tmp_path, kind):
    model = make_classifier(kind, labels=("neg", "pos", "meh"))
    path = export_saved_model(model, tmp_path / "serving", precision="mixed_bfloat16")
    assert model.precision == "float32"  # the model itself is left as it was
    assert load_saved_model(path).precision == "mixed_bfloat16"
    loaded = tf.saved_model.load(str(path))
    # The weights bf16 arithmetic reads are stored in bf16, layer norms and embeddings in float32
    # (BERT-family encoders serve through kerastl.serving.fast_graph under both Kerases).
    stored = {v.dtype for v in loaded.model_variables if v.dtype.is_floating}
    assert stored == {tf.float32, tf.bfloat16}
    out = loaded.signatures["serving_default"](text=tf.constant(TEXTS))["probabilities"]
    assert out.dtype == tf.float32
    expected = keras_probabilities(model, TEXTS)
    gap = np.abs(out.numpy() - expected).max()
    assert 1e-6 < gap < 2e-2  # bf16 arithmetic: near float32's answer, not equal to it


@pytest.mark.skipif(KERAS_VERSION != 3, reason="tf-keras' mixed export keeps AutoCastVariables")
def test_a_bf16_export_answers_bit_for_bit_as_one_that_casts_its_weights_on_every_read(
        make_classifier, tmp_path, monkeypatch):
    mixed = make_classifier("bert", labels=("neg", "pos", "meh")).with_precision("mixed_bfloat16")
    features = padded_features()

    def export(folder):
        loaded = tf.saved_model.load(str(export_saved_model(mixed, tmp_path / folder, fast_graph=False)))
        floats = {v.dtype for v in loaded.model_variables if v.dtype.is_floating}
        return floats, loaded.signatures["predict_ids"](**features)["probabilities"].numpy()

    stored, out = export("stored")
    monkeypatch.setattr(export_lib, "_served_model", lambda model, precision: model)
    cast_on_read, expected = export("cast_on_read")
    assert (stored, cast_on_read) == ({tf.float32, tf.bfloat16}, {tf.float32})
    np.testing.assert_array_equal(out, expected)
    # The exported model itself keeps its float32 weights.
    assert {tf.convert_to_tensor(v).dtype for v in mixed.variables if v.dtype != "int64"} == {tf.float32}


def test_an_unknown_export_precision_is_refused_before_anything_is_written(make_classifier, tmp_path):
    with pytest.raises(ValueError, match="precision must be 'auto' or one of"):
        export_saved_model(make_classifier(), tmp_path / "serving", precision="fp8")
    assert not (tmp_path / "serving").exists()


def test_versions_increment_and_a_version_is_replaced_only_when_asked(make_classifier, tmp_path):
    # The slow test below with predict_ids-only exports: no tokenizer to check, trace and save.
    base = tmp_path / "serving"
    first, second = make_classifier(seed=0), make_classifier(seed=1)
    assert export_saved_model(first, base, version=7, text_signature=False) == base / "7"
    (base / "not-a-version").mkdir()  # ignored when numbering
    assert export_saved_model(first, base, text_signature=False) == base / "8"
    weights = base / "8" / "variables" / "variables.data-00000-of-00001"
    before = weights.read_bytes()
    with pytest.raises(ModelFileError, match="8 already exists: give another --version, or add --overwrite"):
        export_saved_model(second, base, version=8, text_signature=False)
    assert weights.read_bytes() == before
    export_saved_model(second, base, version=8, overwrite=True, text_signature=False)
    assert sorted(p.name for p in base.iterdir()) == ["7", "8", "not-a-version"]
    assert weights.read_bytes() != before
    np.testing.assert_allclose(load_saved_model(base).probabilities(TEXTS), keras_probabilities(second, TEXTS),
                               atol=1e-5)


@pytest.mark.slow
def test_versions_increment_and_an_existing_version_is_never_replaced(make_classifier, tmp_path):
    base = tmp_path / "serving"
    first, second = make_classifier(seed=0), make_classifier(seed=1)
    assert export_saved_model(first, base, version=7) == base / "7"
    (base / "not-a-version").mkdir()  # ignored when numbering
    assert export_saved_model(first, base) == base / "8"
    weights = base / "8" / "variables" / "variables.data-00000-of-00001"
    before = weights.read_bytes()

    with pytest.raises(ModelFileError, match="8 already exists: give another --version, or add --overwrite"):
        export_saved_model(second, base, version=8)
    assert weights.read_bytes() == before
    assert sorted(p.name for p in base.iterdir()) == ["7", "8", "not-a-version"]

    export_saved_model(second, base, version=8, overwrite=True)
    assert sorted(p.name for p in base.iterdir()) == ["7", "8", "not-a-version"]
    assert resolve_saved_model(base) == base / "8"
    replaced = load_saved_model(base).probabilities(TEXTS)
    np.testing.assert_allclose(replaced, keras_probabilities(second, TEXTS), atol=1e-5)

    with pytest.raises(ValueError, match="version must be an integer >= 0, received version=-1"):
        export_saved_model(first, base, version=-1)


def test_a_failed_export_leaves_nothing_behind(make_classifier, tmp_path, monkeypatch):
    base = tmp_path / "serving"
    (base / "1").mkdir(parents=True)
    (base / "1" / "saved_model.pb").write_bytes(b"previous")

    def write_then_fail(obj, export_dir, **kwargs):
        Path(export_dir, "saved_model.pb").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(make_classifier(), base)
    assert sorted(p.name for p in base.iterdir()) == ["1"]
    assert (base / "1" / "saved_model.pb").read_bytes() == b"previous"


def _modes(folder):
    """{relative path: permission bits} of `folder` and everything in it."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): p.stat().st_mode & 0o777 for p in [folder, *folder.rglob("*")]}


def test_saved_model_and_export_folders_follow_the_umask(make_classifier, tmp_path):
    model = make_classifier()
    previous = os.umask(0o022)
    try:
        saved = model.save_pretrained(tmp_path / "model")
        model.save_pretrained(saved, overwrite=True)  # replacing a folder, too
        exported = export_saved_model(model, tmp_path / "serving")
    finally:
        os.umask(previous)
    for folder in saved, exported:  # drwxr-xr-x and -rw-r--r--, not mkdtemp's drwx------
        modes = _modes(folder)
        assert {name: mode for name, mode in modes.items() if (folder / name).is_dir()} == dict.fromkeys(
            [name for name in modes if (folder / name).is_dir()], 0o755), folder
        assert not [name for name, mode in modes.items() if mode & 0o044 != 0o044], folder
    assert (tmp_path / "serving").stat().st_mode & 0o777 == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "serving"]  # no staging left


def test_staging_folders_of_killed_exports_are_removed_once_stale(tmp_path):
    base = tmp_path / "serving"
    host, alive = export_lib._host(), os.getpid()
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    gone = process.pid  # a process that has exited
    names = {  # name: (two hours old, kept)
        f".3.{host}.{gone}.k1llzd_0.tmp": (True, False),  # its process is gone: removed
        f".4.{host}.{gone}.k1llzd_0.tmp": (False, True),  # too recent: kept
        f".5.{host}.{alive}.k1llzd_0.tmp": (True, True),  # its process runs: kept
        f".6.other-host.{gone}.k1llzd_0.tmp": (True, True),  # another machine's: kept
        ".7.k1llzd_0.tmp": (True, True),  # an older kerastl's, with no pid: kept
        "1": (True, True),
    }
    for name, (old, _) in names.items():
        (base / name / "variables").mkdir(parents=True)
        if old:
            then = time.time() - 2 * 3600
            os.utime(base / name, (then, then))
    export_lib._remove_stale_staging(base)
    assert sorted(p.name for p in base.iterdir()) == sorted(name for name, (_, kept) in names.items() if kept)


def test_bpe_tokenizer_exports_predict_ids_only_and_says_so(roberta_classifier, tmp_path, caplog):
    base = tmp_path / "serving"
    with pytest.raises(TextSignatureUnavailable, match="uses a BPE vocabulary"):
        export_saved_model(roberta_classifier, base, text_signature=True)
    assert not base.exists() or not any(base.iterdir())

    with caplog.at_level("WARNING", logger="kerastl.serving.saved_model"):
        path = export_saved_model(roberta_classifier, base)
    assert "exporting predict_ids only, WITHOUT the raw-text serving_default signature" in caplog.text
    assert "BPE vocabulary" in caplog.text
    loaded = tf.saved_model.load(str(path))
    assert set(loaded.signatures) == {"predict_ids"}

    # kerastl itself still predicts from the export, with the tokenizer kept in assets.extra.
    served = load_saved_model(base)
    assert not served.has_text_signature and served.label_names == ("neg", "pos")
    np.testing.assert_allclose(served.probabilities(TEXTS), keras_probabilities(roberta_classifier, TEXTS),
                               atol=1e-5)


def test_cli_export_then_predict_from_the_base_folder(make_classifier, tmp_path, capsys):
    model = make_classifier(labels=("neg", "pos"))
    model.save_pretrained(tmp_path / "model")
    base = tmp_path / "serving"
    assert main(["export", "--model", str(tmp_path / "model"), "--output", str(base)]) == 0
    written = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    signatures = ["predict_ids", "serving_default"]
    assert written == {"path": str(base / "1"), "version": 1, "signatures": signatures, "precision": "float32"}

    assert main(["export", "--model", str(tmp_path / "model"), "--output", str(base), "--version", "1"]) == 2
    assert "already exists: give another --version, or add --overwrite" in capsys.readouterr().err

    # predict takes the highest version: version 1 is broken on purpose, version 3 is a copy.
    shutil.copytree(base / "1", base / "3")
    shutil.rmtree(base / "1" / "variables")
    texts = ["a good film", "awful"]
    assert main(["predict", "--model", str(base), "--json", *texts]) == 0
    served = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert main(["predict", "--model", str(tmp_path / "model"), "--json", *texts]) == 0
    direct = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["label"] for r in served] == [r["label"] for r in direct]
    for s, d in zip(served, direct):
        assert s["text"] == d["text"] and s["probabilities"] == pytest.approx(d["probabilities"], abs=1e-5)

    assert main(["predict", "--model", str(tmp_path / "nothing"), "a"]) == 2


# -- TensorFlow only: a fresh process, saved_model_cli, a killed export ----------------------

# A process that imports tensorflow and nothing else: every op of the graph must be registered.
FRESH_PROCESS = inspect.getsource(saved_model_ops) + """
import json, sys
import tensorflow as tf
from tensorflow.python.framework import op_def_registry
unregistered = sorted(op for op in saved_model_ops(sys.argv[1]) if op_def_registry.get(op) is None)
loaded = tf.saved_model.load(sys.argv[1])
out = loaded.signatures["serving_default"](text=tf.constant(json.loads(sys.argv[2])))
foreign = sorted({m.split(".")[0] for m in sys.modules} & {"kerastl", "transformers", "tokenizers", "tensorflow_text"})
print(json.dumps({"probabilities": out["probabilities"].numpy().tolist(), "unregistered": unregistered,
                  "label": [v.decode() for v in out["label"].numpy()], "foreign": foreign}))
"""


def run(command, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(list(map(str, command)), capture_output=True, text=True, cwd=cwd, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def assert_tensorflow_only_process_matches(path, model, texts, cwd):
    out = json.loads(run([sys.executable, "-c", FRESH_PROCESS, path, json.dumps(texts)], cwd).strip().splitlines()[-1])
    assert out["foreign"] == [] and out["unregistered"] == []
    expected = keras_probabilities(model, texts)
    np.testing.assert_allclose(np.array(out["probabilities"]), expected, atol=1e-5)
    assert out["label"] == [model.label_names[i] for i in expected.argmax(-1)]


@pytest.mark.slow
def test_tiny_export_loads_with_tensorflow_only_and_runs_in_saved_model_cli(make_classifier, tmp_path):
    model = make_classifier(labels=("neg", "pos"))
    path = export_saved_model(model, tmp_path / "serving")
    assert_tensorflow_only_process_matches(path, model, TEXTS + HARD_TEXTS, cwd=tmp_path)

    show = subprocess.run([str(Path(sys.executable).parent / "saved_model_cli"), "show", "--dir", str(path),
                           "--all"], capture_output=True, text=True, check=True).stdout
    assert "signature_def['serving_default']" in show and "signature_def['predict_ids']" in show
    assert "inputs['text'] tensor_info:\n        dtype: DT_STRING" in show

    # The stock console script, which imports tensorflow and nothing else.
    out = run([Path(sys.executable).parent / "saved_model_cli", "run", "--dir", path, "--tag_set", "serve",
               "--signature_def", "serving_default", "--input_exprs", 'text=["a good film", "awful plot"]'], tmp_path)
    assert "Result for output key label:" in out and "Result for output key probabilities:" in out
    printed = out.split("Result for output key probabilities:")[1].split("Result for")[0]
    numbers = [float(x) for x in re.findall(r"[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?", printed)]
    expected = keras_probabilities(model, ["a good film", "awful plot"])
    np.testing.assert_allclose(np.reshape(numbers, expected.shape), expected, atol=1e-5)


@pytest.mark.slow
def test_minilm_export_loads_with_tensorflow_only(tmp_path):
    try:
        model = kerastl.TextClassifier.from_backbone("all-minilm-l6-v2", labels=["sad", "happy", "angry"])
    except BackboneError as err:
        pytest.skip(str(err))
    path = export_saved_model(model, tmp_path / "serving", text_signature=True)
    assert_tensorflow_only_process_matches(path, model, TEXTS + HARD_TEXTS, cwd=tmp_path)


KILLED_EXPORT = """
import pathlib, sys, time
import tensorflow as tf
import kerastl
model = kerastl.TextClassifier.from_pretrained(sys.argv[1])
real_save = tf.saved_model.save
def save_then_hang(obj, export_dir, **kwargs):
    real_save(obj, export_dir, **kwargs)  # the SavedModel is on disk, not yet renamed into place
    pathlib.Path(sys.argv[3]).write_text(export_dir)
    time.sleep(600)
tf.saved_model.save = save_then_hang
kerastl.export_saved_model(model, sys.argv[2])
"""


@pytest.mark.slow
def test_a_killed_export_leaves_previous_versions_and_no_partial_one(make_classifier, tmp_path):
    model = make_classifier()
    model.save_pretrained(tmp_path / "model")
    base = tmp_path / "serving"
    export_saved_model(model, base)
    previous = {p.relative_to(base): p.read_bytes() for p in base.rglob("*") if p.is_file()}

    marker = tmp_path / "written"
    process = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT, str(tmp_path / "model"), str(base),
                                str(marker)], cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the export never reached its write"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()

    staging = Path(marker.read_text())
    assert staging.parent == base and staging.name.startswith(".2.")
    assert (staging / "saved_model.pb").is_file()  # killed after writing, before the rename
    assert sorted(p.name for p in base.iterdir() if not p.name.startswith(".")) == ["1"]
    assert {p.relative_to(base): p.read_bytes() for p in (base / "1").rglob("*") if p.is_file()} == previous
    assert resolve_saved_model(base) == base / "1"

    # The hidden leftover is not a version: the next export is version 2, and it works. Once the
    # leftover is an hour old, that export removes it (its process is gone).
    then = time.time() - 2 * 3600
    os.utime(staging, (then, then))
    assert export_saved_model(model, base) == base / "2"
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]
    np.testing.assert_allclose(load_saved_model(base).probabilities(TEXTS), keras_probabilities(model, TEXTS),
                               atol=1e-5)
