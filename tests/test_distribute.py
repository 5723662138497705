"""tf.distribute: replicas share every global batch exactly, and training matches one device.

MirroredStrategy runs over two logical CPU devices and MultiWorkerMirroredStrategy over two
processes on localhost, each in a fresh interpreter (devices and collectives are configured
before TensorFlow starts): those two tests are slow. Runs compared with one device train in
float32; the MirroredStrategy process then trains, crashes and resumes in mixed_bfloat16.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import kerastl
from kerastl import distribute
from kerastl.cli.commands import STRATEGIES, main
from kerastl.data import batching as data_lib
from kerastl.precision import set_precision
from tests.helpers import synthetic_corpus, tiny_distilbert_config, write_checkpoint_folder

# Settings under which one device and several replicas must end with the same weights: no
# dropout (each replica would draw its own), learning rates high enough to move every weight.
# 60 examples in global batches of 8 end with a short batch of 4, split 2 + 2.
SETTINGS = dict(head_epochs=1, epochs=2, head_learning_rate=1e-2, learning_rate=1e-3, seed=0)
PER_REPLICA_BATCH = 4


@pytest.fixture
def still_encoder(tmp_path, distilbert_tokenizer):
    """A tiny DistilBERT without dropout, saved as a local checkpoint folder."""
    config = tiny_distilbert_config(dropout=0.0, attention_dropout=0.0)
    return write_checkpoint_folder(tmp_path / "still-distilbert", config, distilbert_tokenizer)


@pytest.fixture
def data_file(tmp_path):
    train = synthetic_corpus(60, seed=4)
    validation = synthetic_corpus(12, seed=5)
    path = tmp_path / "data.json"
    path.write_text(json.dumps({"train": train, "validation": validation}))
    return path


def train_on_one_device(folder, data_file, batch_size):
    data = json.loads(data_file.read_text())
    set_precision("float32")
    kerastl.keras.utils.set_random_seed(0)
    model = kerastl.TextClassifier.from_backbone(str(folder), ["neg", "pos"], max_length=24, dropout=0.0)
    history = kerastl.fine_tune(model, tuple(data["train"]), tuple(data["validation"]), batch_size=batch_size,
                                verbose=0, **SETTINGS)
    return [w.numpy() for w in model.weights], history


def run_python(code, *args, env=None, timeout=600):
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})})
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- the data: every example reaches exactly one replica ---------------------------------------


@pytest.mark.parametrize("num_examples, num_replicas, pipelines", [(37, 3, 1), (37, 3, 3), (64, 2, 2), (5, 4, 2)])
def test_replica_parts_hold_every_example_once_per_epoch(num_examples, num_replicas, pipelines):
    lengths = np.random.RandomState(0).randint(2, 40, num_examples)
    global_batch = 4 * num_replicas
    steps = data_lib.steps_per_epoch(num_examples, global_batch)
    per_pipeline = num_replicas // pipelines

    def global_batches():
        return data_lib.index_batches(lengths, global_batch, shuffle=True, seed=3).repeat()

    streams = [
        iter(distribute.replica_batches(global_batches(), num_replicas, replicas))
        for replicas in (range(p * per_pipeline, (p + 1) * per_pipeline) for p in range(pipelines))
    ]
    epochs = []
    for _ in range(2):
        seen = []
        for _ in range(steps):
            parts = [next(stream).numpy() for stream in streams for _ in range(per_pipeline)]
            assert max(map(len, parts)) - min(map(len, parts)) <= 1  # replicas share a batch evenly
            seen.extend(np.concatenate(parts).tolist())
        assert sorted(seen) == list(range(num_examples))  # nothing dropped, nothing twice
        epochs.append(seen)
    assert epochs[0] != epochs[1]  # and each epoch is shuffled anew


def test_an_empty_replica_part_still_pads_to_one_position(distilbert_tokenizer):
    encoded = kerastl.preprocessing.encode_examples(kerastl.TextExamples(["a b"], ["x"]), distilbert_tokenizer,
                                       label_names=("x",))
    features = encoded.pad(tf.constant([], tf.int64))
    assert features["input_ids"].shape == (0, 1) and features["attention_mask"].shape == (0, 1)


# -- choosing a strategy -----------------------------------------------------------------------


def test_strategy_names(monkeypatch):
    assert STRATEGIES == distribute.STRATEGIES  # the CLI's choices
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.delenv("TPU_NAME", raising=False)
    assert kerastl.get_strategy("auto") is tf.distribute.get_strategy()  # one CPU: no distribution
    assert kerastl.get_strategy("default").num_replicas_in_sync == 1
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert kerastl.get_strategy(strategy) is strategy
    with pytest.raises(ValueError, match="strategy must be a tf.distribute.Strategy or one of"):
        kerastl.get_strategy("horovod")
    with pytest.raises(ValueError, match="'multiworker' needs TF_CONFIG to describe the cluster"):
        kerastl.get_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        kerastl.get_strategy("auto")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker"}}))
    assert distribute._auto_strategy_name() == "multiworker"


def test_cli_multiworker_without_tf_config_is_one_clear_error(csv_files, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    code = main(["train", "--model", "unused", "--train", str(csv_files["train"]), "--output",
                 str(tmp_path / "out"), "--strategy", "multiworker"])
    assert code == 2
    assert "needs TF_CONFIG to describe the cluster" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# -- MirroredStrategy over two logical CPUs ----------------------------------------------------

MIRRORED = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import kerastl
    from kerastl.precision import set_precision

    folder, data_file, checkpoints, settings = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    data = json.load(open(data_file))
    train, validation = tuple(data["train"]), tuple(data["validation"])

    def build():
        kerastl.keras.utils.set_random_seed(0)
        return kerastl.TextClassifier.from_backbone(folder, ["neg", "pos"], max_length=24, dropout=0.0,
                                                    strategy="mirrored")

    out = {}
    set_precision("float32")  # as train_on_one_device
    model = build()
    out["replicas"] = model.distribute_strategy.num_replicas_in_sync
    history = kerastl.fine_tune(model, train, validation, batch_size=4, verbose=0, **settings)
    out["weights"] = [w.numpy().tolist() for w in model.weights]
    out["history"] = history

    # Mixed precision and resumable checkpoints under the strategy: crash in phase 2, then rerun.
    set_precision("mixed_bfloat16")

    class Crash(kerastl.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_end(self, batch, logs=None):
            if isinstance(self.model, kerastl.TextClassifier) and self.epoch == 1 and batch == 4:
                raise RuntimeError("crash")

    class Epochs(kerastl.keras.callbacks.Callback):
        begun = []
        def on_epoch_begin(self, epoch, logs=None):
            if isinstance(self.model, kerastl.TextClassifier):
                self.begun.append(epoch)

    try:
        kerastl.fine_tune(build(), train, validation, batch_size=4, verbose=0, checkpoint_dir=checkpoints,
                          checkpoint_every=2, callbacks=[Crash()], **settings)
    except RuntimeError as err:
        out["crashed"] = str(err)
    model = build()
    history = kerastl.fine_tune(model, train, validation, batch_size=4, verbose=0, checkpoint_dir=checkpoints,
                                checkpoint_every=2, callbacks=[Epochs()], **settings)
    out["resumed_epochs"] = Epochs.begun
    out["mixed"] = {"history": history, "compute_dtype": model.backbone.compute_dtype,
                    "logits": kerastl.analysis.evaluation.predict(model, ["a good film"]).logits.tolist()}
    served = kerastl.load_saved_model(kerastl.export_saved_model(model, checkpoints + "-serving"))
    out["served"] = served.probabilities(["a good film"]).tolist()
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_mirrored_over_two_cpus_matches_one_device(still_encoder, data_file, tmp_path):
    out = run_python(MIRRORED, still_encoder, data_file, tmp_path / "checkpoints", json.dumps(SETTINGS))
    assert out["replicas"] == 2
    single, history = train_on_one_device(still_encoder, data_file, 2 * PER_REPLICA_BATCH)
    initial = kerastl.TextClassifier.from_backbone(str(still_encoder), ["neg", "pos"], max_length=24)
    moved = max(np.abs(w - i.numpy()).max() for w, i in zip(single, initial.weights[:len(single)]))
    assert moved > 1e-3  # training moved the weights 100x the tolerance below ...
    for mirrored, one in zip(out["weights"], single):  # ... and two replicas changed them alike
        np.testing.assert_allclose(np.array(mirrored), one, atol=1e-5)
    for phase in ("head", "fine_tune"):
        for key, values in history[phase].items():
            np.testing.assert_allclose(out["history"][phase][key], values, atol=1e-5)

    mixed = out["mixed"]
    assert out["crashed"] == "crash"
    assert out["resumed_epochs"] == [1]  # phase 1 restored, phase 2 went on from its second epoch
    assert mixed["compute_dtype"] == "bfloat16"
    assert len(mixed["history"]["head"]["loss"]) == SETTINGS["head_epochs"]
    assert len(mixed["history"]["fine_tune"]["val_accuracy"]) == SETTINGS["epochs"]
    assert np.isfinite(mixed["logits"]).all()
    # The bf16 export runs the fast serving graph, its own bf16 arithmetic: the same answers within
    # bf16 rounding, not bit for bit (tests/test_fast_graph.py holds both graphs to predict).
    np.testing.assert_allclose(out["served"], tf.nn.softmax(mixed["logits"]).numpy(), atol=2e-2)


# -- MultiWorkerMirroredStrategy: two processes on localhost -----------------------------------

WORKER = textwrap.dedent("""
    import json, sys
    import kerastl
    from kerastl.precision import set_precision

    folder, data_file, output, checkpoints, settings = sys.argv[1:5] + [json.loads(sys.argv[5])]
    data = json.load(open(data_file))
    set_precision("float32")  # as train_on_one_device
    kerastl.keras.utils.set_random_seed(0)
    model = kerastl.TextClassifier.from_backbone(folder, ["neg", "pos"], max_length=24, dropout=0.0,
                                                 strategy="multiworker")

    class BatchLogs(kerastl.keras.callbacks.Callback):  # what a progress bar shows
        accuracy = []
        def on_train_batch_end(self, batch, logs=None):
            self.accuracy.append(logs["accuracy"])

    kerastl.fine_tune(model, tuple(data["train"]), tuple(data["validation"]), batch_size=4, verbose=0,
                      checkpoint_dir=checkpoints, checkpoint_every=3, callbacks=[BatchLogs()], **settings)
    model.save_pretrained(output)
    kerastl.export_saved_model(model, output + "-serving")
    print(json.dumps({"chief": kerastl.distribute.is_chief(model.distribute_strategy),
                      "batch_accuracy": BatchLogs.accuracy,
                      "weights": [w.numpy().tolist() for w in model.weights]}))
""")


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


BEST_EPOCH = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import kerastl
    from kerastl.training.resume import TrainingState
    from tests.helpers import synthetic_corpus, tiny_classifier

    with tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope():
        model = tiny_classifier()
        model.compile()
    texts, labels = synthetic_corpus(16)
    model.fit(texts, labels, validation_data=(texts, labels), epochs=1, batch_size=8, verbose=0)
    store = TrainingState(sys.argv[1], {"run": 1}).best_epoch("fine_tune")
    best = model.get_weights()
    store.save(model, best, {"epoch": 0, "val_accuracy": 0.5, "val_loss": 0.7})
    model.fit(texts, labels, validation_data=(texts, labels), epochs=1, batch_size=8, verbose=0)
    store.load(model)  # the compiled metrics hold state now: none of it may be loaded
    print(json.dumps({"same": all(np.array_equal(a, b) for a, b in zip(best, model.get_weights()))}))
""")


@pytest.mark.slow
def test_the_best_epoch_loads_back_under_two_replicas_after_evaluation(tmp_path):
    out = run_python(BEST_EPOCH, tmp_path / "state", env={"PYTHONPATH": os.getcwd()})
    assert out["same"]


@pytest.mark.slow
def test_two_workers_on_localhost_agree_and_only_the_chief_writes(still_encoder, data_file, tmp_path):
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    processes = []
    try:
        for index in range(2):
            scratch = tmp_path / f"tmp{index}"  # each worker's temporary files, to check they go
            scratch.mkdir()
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TMPDIR": str(scratch),
                   "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
            processes.append(subprocess.Popen(
                [sys.executable, "-c", WORKER, str(still_encoder), str(data_file), str(tmp_path / f"out{index}"),
                 str(tmp_path / "checkpoints"), json.dumps(SETTINGS)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
        results = []
        for process in processes:
            stdout, stderr = process.communicate(timeout=400)
            assert process.returncode == 0, stderr[-4000:]
            results.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert [r["chief"] for r in results] == [True, False]
    assert all(0 <= a <= 1 for r in results for a in r["batch_accuracy"])  # not summed over workers
    for chief, other in zip(*(r["weights"] for r in results)):
        np.testing.assert_array_equal(np.array(chief), np.array(other))
    single, _ = train_on_one_device(still_encoder, data_file, 2 * PER_REPLICA_BATCH)
    for chief, one in zip(results[0]["weights"], single):
        np.testing.assert_allclose(np.array(chief), one, atol=1e-5)

    assert kerastl.TextClassifier.from_pretrained(tmp_path / "out0").label_names == ("neg", "pos")
    assert not (tmp_path / "out1").exists()
    assert kerastl.load_saved_model(tmp_path / "out0-serving").label_names == ("neg", "pos")
    assert not (tmp_path / "out1-serving").exists()
    assert not any(p.name.startswith("workertemp") for p in (tmp_path / "checkpoints").rglob("*"))
    # A worker's discarded saves went to kerastl-worker-* folders (other libraries leave caches).
    assert [list((tmp_path / f"tmp{i}").glob("kerastl-*")) for i in range(2)] == [[], []]
