"""Training speed: kerastl on both Kerases, against the Hugging Face TF path and the PyTorch `Trainer`.

Every system trains the same architecture (DistilBERT-base, random weights: speed does not
depend on them) on the same texts (`../shared/data/emotion/train.txt` when present, otherwise
the bundled Rotten Tomatoes snippets) at the same batch size, one after another, each in its own
subprocess so that its peak memory is its own. Two more kerastl rows train the real
all-MiniLM-L6-v2 (the offline preset) once per Keras, to compare the two families on one real
checkpoint. The parent prints one JSON object.

    python benchmarks/train_speed.py --quick   # make bench
    python benchmarks/train_speed.py --full    # more examples and steps, steadier figures
    python benchmarks/train_speed.py --tiny    # smoke test of this script: a tiny DistilBERT

Measured per system:
- phase 1: wall time of 3 head epochs on a frozen encoder over a fixed subset, from the
  tokenized texts to the trained head (model construction excluded);
- phase 2: full fine-tuning throughput, real (non-pad) tokens/s and examples/s, timed batch by
  batch after warm-up steps (which absorb graph tracing), over exactly the batches timed;
- pad fraction: 1 - real / padded tokens over one epoch of the system's training pipeline;
- peak resident memory of its process (VmHWM).

The systems (the parent sets each child's Keras: `KERASTL_KERAS` for the kerastl rows, with no
`TF_USE_LEGACY_KERAS`, which kerastl sets itself under Keras 2; `TF_USE_LEGACY_KERAS=1` and
`KERASTL_KERAS=2` for the peers, which use tf-keras):
- kerastl: Keras 3 (`KERASTL_KERAS=3`, the default) with a KerasHub `DistilBertBackbone`, and
  its defaults (`precision.set_precision("auto")`, `fine_tune(head_epochs=3)` with cached head
  features, length-bucketed batches, the phase-two AdamW optimizer); the row the ratios to the
  peers and the targets are computed on;
- kerastl_keras2: the same under Keras 2 (`KERASTL_KERAS=2`: tf-keras and transformers'
  `TFDistilBertModel`);
- kerastl_minilm, kerastl_keras2_minilm: the same code on `from_backbone("all-minilm-l6-v2")`,
  the real weights and their tokenizer, under Keras 3 (KerasHub `BertBackbone`) and Keras 2
  (`TFBertModel`);
- kerastl_minilm_pairs, kerastl_minilm_joined: the same on Keras 3 and all-MiniLM-L6-v2, trained on
  `../shared/data/mrpc/train.tsv` as sentence pairs and as the same pairs joined into one text
  (`text + " " + text_pair`); `pairs_over_joined` in the summary divides the first by the second
  (skipped when that file is absent);
- hf_tf: `TFAutoModelForSequenceClassification` + `prepare_tf_dataset` + `model.fit`, float32,
  phase 1 with `model.distilbert.trainable = False`, as the transformers docs teach it;
- torch_trainer: `AutoModelForSequenceClassification` + `Trainer` on the CPU, float32
  (skipped with a message when torch is not installed: `pip install torch==2.13.0 accelerate`);
- hf_tf_bf16, torch_trainer_bf16: the two peers at their fastest documented CPU setting, a
  `mixed_bfloat16` Keras policy and `TrainingArguments(bf16=True)`; run only on a CPU with native
  bf16 (elsewhere float32 is their best, and the rows say they were skipped).

The summary gives kerastl's ratio to every peer row and to the best one (`best_peer`).

Every kerastl row runs one function, so phases 1 and 2 are timed alike in all four. The profile
of one phase-2 step (`diagnostics`) runs on the two DistilBERT rows, one per Keras. The summary's
`families` section gives Keras 3 over Keras 2 per encoder: phase-2 tokens/s and examples/s,
phase-1 speed-up and peak memory.

Useful training FLOPs are counted on real tokens only:
6 * N * tokens + 12 * layers * dim * sum(length^2), N = non-embedding encoder parameters.
"""

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMOTION = Path(__file__).resolve().parents[2] / "shared" / "data" / "emotion" / "train.txt"
MRPC = Path(__file__).resolve().parents[2] / "shared" / "data" / "mrpc" / "train.tsv"
RESULT_MARK = "BENCH_RESULT "
SYSTEMS = ("kerastl", "kerastl_keras2", "hf_tf", "hf_tf_bf16", "torch_trainer", "torch_trainer_bf16",
           "kerastl_minilm", "kerastl_keras2_minilm", "kerastl_minilm_pairs", "kerastl_minilm_joined")
# The peers at their defaults (float32) and at their fastest documented CPU setting: bf16, which
# pays only where the CPU computes it natively (AVX512-BF16 or AMX; elsewhere it is emulated).
PEERS = ("hf_tf", "hf_tf_bf16", "torch_trainer", "torch_trainer_bf16")
BF16_PEERS = ("hf_tf_bf16", "torch_trainer_bf16")
TORCH_PEERS = ("torch_trainer", "torch_trainer_bf16")

# The kerastl rows: which Keras (the child's KERASTL_KERAS) and which encoder. "distilbert" is
# DistilBERT-base with random weights (a tiny one in --tiny), the architecture the peers train;
# "all-minilm-l6-v2" is the offline preset with its real weights, for the two families on one
# real checkpoint. Every row runs `child_kerastl`, so phase 2 is timed the same way in each.
KERASTL_SYSTEMS = {
    "kerastl": {"keras": 3, "encoder": "distilbert", "diagnostics": True},
    "kerastl_keras2": {"keras": 2, "encoder": "distilbert", "diagnostics": True},
    "kerastl_minilm": {"keras": 3, "encoder": "all-minilm-l6-v2", "diagnostics": False},
    "kerastl_keras2_minilm": {"keras": 2, "encoder": "all-minilm-l6-v2", "diagnostics": False},
    # Sentence pairs against the same texts joined into one: MRPC's training pairs, packed as pairs
    # ([CLS] a [SEP] b [SEP], segment ids) and as one text "a b" ([CLS] a b [SEP]), so both rows
    # train on the same words and their real tokens/s compare the pair path with the single one.
    "kerastl_minilm_pairs": {"keras": 3, "encoder": "all-minilm-l6-v2", "diagnostics": False, "data": "pairs"},
    "kerastl_minilm_joined": {"keras": 3, "encoder": "all-minilm-l6-v2", "diagnostics": False, "data": "joined"},
}
PAIR_SYSTEMS = ("kerastl_minilm_pairs", "kerastl_minilm_joined")
# Keras 3 over Keras 2, each pair on one encoder (the `families` section of the summary).
FAMILY_PAIRS = {
    "distilbert": ("kerastl", "kerastl_keras2"),
    "all_minilm_l6_v2": ("kerastl_minilm", "kerastl_keras2_minilm"),
}

BATCH_SIZE = 32
MAX_LENGTH = 128
HEAD_EPOCHS = 3
SEED = 0

# Sizes per mode. phase1_examples: the subset every system trains its head on. Phase 2 trains
# on the whole training file and times `measured_steps` batches after `warmup_steps`.
MODES = {
    "quick": {"phase1_examples": 512, "warmup_steps": 3, "measured_steps": 12, "torch_phase1": False,
              "profile_reps": 3},
    "full": {"phase1_examples": 2048, "warmup_steps": 4, "measured_steps": 48, "torch_phase1": True,
             "profile_reps": 5},
    # Smoke test of the script itself: a tiny encoder, a few steps.
    "tiny": {"phase1_examples": 128, "warmup_steps": 2, "measured_steps": 3, "torch_phase1": True,
             "profile_reps": 2},
}

TARGETS = {
    "phase2_tokens_per_s_vs_hf_tf": 4.0,
    "phase2_tokens_per_s_vs_torch_trainer": 2.0,
    "phase2_tokens_per_s_vs_best_peer": 2.0,
    "phase1_speedup_vs_hf_tf": 10.0,
    "pad_fraction_max": 0.03,
    "useful_flops_fraction_of_bf16_min": 0.60,
}


# -- shared by parent and children -------------------------------------------------------------


def encoder_config(tiny: bool, num_labels: int):
    from transformers import DistilBertConfig

    if tiny:
        return DistilBertConfig(dim=32, n_layers=2, n_heads=4, hidden_dim=37, num_labels=num_labels)
    return DistilBertConfig(num_labels=num_labels)  # DistilBERT-base: 6 layers, dim 768


def preset_config():
    """The transformers `BertConfig` of the offline all-MiniLM-L6-v2 preset (6 layers, dim 384)."""
    from transformers import BertConfig

    import kerastl

    return BertConfig.from_json_file(str(kerastl.preset_path("all-minilm-l6-v2") / "config.json"))


def encoder_shape(config) -> tuple:
    """(dim, feed-forward width, layers) of a transformers `DistilBertConfig` or `BertConfig`."""
    if hasattr(config, "n_layers"):
        return config.dim, config.hidden_dim, config.n_layers
    return config.hidden_size, config.intermediate_size, config.num_hidden_layers


def non_embedding_parameters(config) -> int:
    """Encoder parameters outside the token, position and segment embedding tables (and outside
    BERT's pooler, which the classifier never reads)."""
    d, h, layers = encoder_shape(config)
    attention = 4 * (d * d + d)  # q, k, v, out
    ffn = d * h + h + h * d + d
    norms = 2 * 2 * d
    return layers * (attention + ffn + norms) + 2 * d  # + the embedding LayerNorm


def useful_flops(config, tokens: int, sum_sq_lengths: int) -> float:
    """Training FLOPs of forward + backward on real tokens: 6*N*T + 12*L*d*sum(n^2)."""
    d, _, layers = encoder_shape(config)
    return 6.0 * non_embedding_parameters(config) * tokens + 12.0 * layers * d * sum_sq_lengths


def load_texts(data: str = "single"):
    """(examples, source) of the training set the benchmark uses: emotion (or the bundled
    snippets) for `"single"`; MRPC's pairs for `"pairs"`, and the same pairs joined into one text
    for `"joined"`."""
    import kerastl
    import kerastl.data.sample_data

    if data != "single":
        pairs = kerastl.read_examples(MRPC)
        if data == "pairs":
            return pairs, str(MRPC)
        joined = [f"{a} {b}" for a, b in zip(pairs.texts, pairs.text_pairs)]
        return kerastl.TextExamples(joined, pairs.labels, source=f"{MRPC} (joined)"), f"{MRPC}, text + ' ' + text_pair"
    if EMOTION.is_file():
        examples = kerastl.read_examples(EMOTION, sep=";", names=["text", "label"])
        source = str(EMOTION)
    else:
        examples = kerastl.data.sample_data.rotten_tomatoes()["train"]
        source = "kerastl.data.sample_data.rotten_tomatoes()['train']"
    return examples, source


def subset(examples, count: int):
    """A fixed random subset of `count` examples (the same for every system)."""
    import numpy as np

    from kerastl.data import TextExamples

    order = np.random.default_rng(SEED).permutation(len(examples))[:count]
    pairs = None if examples.text_pairs is None else [examples.text_pairs[i] for i in order]
    return TextExamples([examples.texts[i] for i in order], [examples.labels[i] for i in order],
                        source=f"{examples.source}[{count}]", text_pairs=pairs)


def tokenizer():
    from transformers import DistilBertTokenizerFast

    import kerastl

    vocab = kerastl.preset_path("all-minilm-l6-v2") / "vocab.txt"  # the bert-base-uncased vocabulary
    return DistilBertTokenizerFast(vocab_file=str(vocab))


def peak_memory_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class BatchLog:
    """Real-token statistics of batches, in the order a pipeline produced them."""

    def __init__(self):
        self.batches = []  # (examples, real tokens, padded tokens, sum of squared lengths)

    def add(self, attention_mask) -> None:
        import numpy as np

        mask = np.asarray(attention_mask)
        lengths = mask.sum(axis=1).astype(np.int64)
        self.batches.append((int(mask.shape[0]), int(lengths.sum()), int(mask.size), int((lengths ** 2).sum())))

    def totals(self, start: int = 0, stop=None) -> dict:
        rows = self.batches[start:stop]
        return {
            "examples": sum(r[0] for r in rows),
            "tokens": sum(r[1] for r in rows),
            "padded_tokens": sum(r[2] for r in rows),
            "sum_sq_lengths": sum(r[3] for r in rows),
        }

    def pad_fraction(self) -> float:
        t = self.totals()
        return 1.0 - t["tokens"] / t["padded_tokens"]


def phase_two_figures(config, log: BatchLog, stamps, warmup: int, measured: int) -> dict:
    """Throughput over the batches warmup .. warmup+measured-1, from step-end time stamps."""
    if len(stamps) < warmup + measured or len(log.batches) < warmup + measured:
        raise RuntimeError(f"only {len(stamps)} steps timed and {len(log.batches)} batches logged, "
                           f"expected {warmup + measured}")
    seconds = stamps[warmup + measured - 1] - stamps[warmup - 1]
    t = log.totals(warmup, warmup + measured)
    return {
        "steps": measured,
        "seconds": round(seconds, 3),
        "seconds_per_step": round(seconds / measured, 3),
        "examples_per_s": round(t["examples"] / seconds, 2),
        "tokens_per_s": round(t["tokens"] / seconds, 1),
        "padded_tokens_per_s": round(t["padded_tokens"] / seconds, 1),
        "timed_batches_pad_fraction": round(1 - t["tokens"] / t["padded_tokens"], 4),
        "useful_gflops_per_s": round(useful_flops(config, t["tokens"], t["sum_sq_lengths"]) / seconds / 1e9, 2),
    }


# -- children ----------------------------------------------------------------------------------


def child_matmul(spec) -> dict:
    import tensorflow as tf

    n = 2048
    result = {"size": n}
    for dtype in ("float32", "bfloat16"):
        a = tf.random.normal((n, n), dtype=tf.float32)
        a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
        matmul = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)))
        matmul(a, b).numpy()  # trace and warm up
        runs, start = 0, time.perf_counter()
        while runs < 3 or time.perf_counter() - start < spec["matmul_seconds"]:
            matmul(a, b).numpy()
            runs += 1
        seconds = time.perf_counter() - start
        result[f"{dtype}_gflops_per_s"] = round(2 * n ** 3 * runs / seconds / 1e9, 1)
    return result


def child_kerastl(spec, system: dict) -> dict:
    """One kerastl row: `system["keras"]` is the Keras the parent selected (KERASTL_KERAS) and
    `system["encoder"]` "distilbert" (random weights, as the peers) or an offline preset name."""
    import tensorflow as tf

    import kerastl
    import kerastl.precision
    from kerastl import keras
    from kerastl._keras import KERAS_VERSION
    from kerastl.training.workflow import TrainingConfig, phase_two_optimizer

    if KERAS_VERSION != system["keras"]:
        raise RuntimeError(f"this row is for Keras {system['keras']} but kerastl runs on Keras {KERAS_VERSION}: "
                           f"check KERASTL_KERAS in the child's environment")
    policy = kerastl.precision.set_precision("auto")
    examples, data_source = load_texts(system.get("data", "single"))
    labels = examples.label_names()
    if system["encoder"] == "distilbert":
        config = encoder_config(spec["tiny"], len(labels))
        model = kerastl.TextClassifier.from_backbone(config, labels, tokenizer=tokenizer(), max_length=MAX_LENGTH)
    else:  # an offline preset: its real weights and its own tokenizer
        config = preset_config()
        model = kerastl.TextClassifier.from_backbone(system["encoder"], labels, max_length=MAX_LENGTH)
    result = {"keras": KERAS_VERSION, "keras_package": f"{keras.__name__} {keras.__version__}",
              "encoder": system["encoder"], "backbone_class": type(model.backbone).__name__, "precision": policy,
              "data": data_source,
              "other_keras_imported": ("keras" if KERAS_VERSION == 2 else "tf_keras") in sys.modules}

    # Phase 1: kerastl's own two-phase entry point, head only.
    head_data = subset(examples, spec["phase1_examples"])
    start = time.perf_counter()
    kerastl.fine_tune(model, head_data, head_epochs=HEAD_EPOCHS, epochs=0, verbose=0)
    result["phase1_seconds"] = round(time.perf_counter() - start, 2)
    # Of which the one pass of the frozen encoder, timed again now that it is traced.
    head_encoded = model.encode(head_data)
    start = time.perf_counter()
    model.pooled_features(head_encoded, batch_size=max(BATCH_SIZE, 64))
    result["phase1_encoder_pass_seconds_when_traced"] = round(time.perf_counter() - start, 2)

    # Phase 2: as fine_tune runs it (same dataset, same recompile, same optimizer).
    train_config = TrainingConfig()
    encoded = model.encode(examples)

    def dataset():
        return encoded.dataset(BATCH_SIZE, shuffle=True, seed=SEED, bucket=train_config.bucket_by_length)

    # Two datasets built alike yield the same batches: one epoch of a twin gives the pad
    # fraction and the exact batches that fit() consumes.
    twin = BatchLog()
    for features, _ in dataset():
        twin.add(features["attention_mask"])
    check = [f["attention_mask"].shape for f, _ in dataset().take(3)]
    if check != [tf.TensorShape((b[0], b[2] // b[0])) for b in twin.batches[:3]]:
        raise RuntimeError("the kerastl training dataset is not reproducible; cannot count its tokens")

    keras.utils.set_random_seed(SEED)
    model.unfreeze_backbone(train_config.unfreeze_top_k)
    steps = spec["warmup_steps"] + spec["measured_steps"]
    total = kerastl.data.batching.steps_per_epoch(len(encoded), BATCH_SIZE) * train_config.epochs
    model.compile(optimizer=phase_two_optimizer(train_config, total, no_decay=model.encoder.no_decay_names))
    timer = step_timer(keras)
    model.fit(dataset(), epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    result["phase2"] = phase_two_figures(config, twin, timer.stamps, spec["warmup_steps"], spec["measured_steps"])
    result["pad_fraction"] = round(twin.pad_fraction(), 4)

    result["peak_memory_mib"] = round(peak_memory_mib(), 1)
    result["non_embedding_parameters"] = non_embedding_parameters(config)

    # Diagnostics: where a phase-2 step goes (the DistilBERT rows only).
    if system["diagnostics"]:
        result["diagnostics"] = kerastl_diagnostics(model, dataset, spec["profile_reps"])
    return result


def kerastl_diagnostics(model, dataset, reps: int) -> dict:
    """Where a phase-2 step goes, on one batch of median length (medians of `reps` runs).

    A whole `train_on_batch` step against its parts: forward + backward alone (gradients
    returned, not applied) and the AdamW update alone (applying those gradients), the update
    also without the token-embedding table; and the input pipeline alone. Runs under either
    Keras: only the token-embedding table is found per family.
    """
    import statistics

    import numpy as np
    import tensorflow as tf

    from kerastl._keras import KERAS_VERSION

    out = {"keras": KERAS_VERSION}
    iterator = iter(dataset())
    next(iterator)
    start, count = time.perf_counter(), 50
    for _ in range(count):
        next(iterator)
    out["input_pipeline_ms_per_batch"] = round((time.perf_counter() - start) / count * 1e3, 2)

    batches = sorted(dataset().take(40), key=lambda b: int(b[0]["input_ids"].shape[1]))
    x, y = batches[len(batches) // 2]
    variables = model.trainable_variables
    if KERAS_VERSION == 2:  # a transformers TF encoder
        embedding = model.backbone.get_input_embeddings().weight
    else:  # a KerasHub backbone
        embedding = model.backbone.token_embedding.embeddings
    others = [v for v in variables if v is not embedding]

    @tf.function
    def forward_backward(x, y):
        with tf.GradientTape() as tape:
            loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True))
        return tape.gradient(loss, variables)

    gradients = forward_backward(x, y)
    rest = [g for g, v in zip(gradients, variables) if v is not embedding]

    @tf.function
    def update(gradients):
        model.optimizer.apply_gradients(zip(gradients, variables))

    @tf.function
    def update_without_embeddings(gradients):
        model.optimizer.apply_gradients(zip(gradients, others))

    parts = {
        "train_step": lambda: model.train_on_batch(x, y),
        "forward_backward": lambda: forward_backward(x, y),
        "optimizer_update": lambda: update(gradients),
        "optimizer_update_without_token_embeddings": lambda: update_without_embeddings(rest),
    }
    times = {name: [] for name in parts}
    for run in parts.values():
        run()  # trace
    for _ in range(reps):
        for name, run in parts.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    out["profile_batch"] = {"shape": list(x["input_ids"].shape), "real_tokens": int(tf.reduce_sum(x["attention_mask"]))}
    out["seconds"] = {name: round(statistics.median(t), 3) for name, t in times.items()}
    step = out["seconds"]["train_step"]
    out["share_of_step"] = {name: round(t / step, 3) for name, t in out["seconds"].items() if name != "train_step"}
    out["token_embedding_gradient"] = type(next(g for g, v in zip(gradients, variables) if v is embedding)).__name__
    out["parameters"] = {"token_embeddings": int(np.prod(embedding.shape)),
                         "all_trainable": int(sum(np.prod(v.shape) for v in variables))}
    return out


def child_hf_tf(spec, bf16: bool = False) -> dict:
    """The Hugging Face TF path; with `bf16`, under a `mixed_bfloat16` Keras policy."""
    import datasets
    import tf_keras as keras
    from transformers import TFAutoModelForSequenceClassification
    from transformers.data.data_collator import DataCollatorWithPadding

    if bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    examples, _ = load_texts()
    labels = examples.label_names()
    config = encoder_config(spec["tiny"], len(labels))
    tok = tokenizer()
    keras.utils.set_random_seed(SEED)
    model = TFAutoModelForSequenceClassification.from_config(config)
    model(model.dummy_inputs)  # build
    label_ids = {name: i for i, name in enumerate(labels)}
    log = BatchLog()
    padding = DataCollatorWithPadding(tokenizer=tok, return_tensors="np")

    def collate(features):
        batch = padding(features)
        log.add(batch["attention_mask"])
        return batch

    def tf_dataset(data):
        ds = datasets.Dataset.from_dict({"text": data.texts, "label": [label_ids[str(v)] for v in data.labels]})
        ds = ds.map(lambda b: tok(b["text"], truncation=True, max_length=MAX_LENGTH), batched=True)
        return model.prepare_tf_dataset(ds, batch_size=BATCH_SIZE, shuffle=True, collate_fn=collate)

    result = {"precision": "mixed_bfloat16" if bf16 else "float32"}
    datasets.disable_progress_bars()

    # Phase 1: the head on a frozen encoder, 3 epochs of the full model over the subset.
    head_data = subset(examples, spec["phase1_examples"])
    start = time.perf_counter()
    model.distilbert.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-3))  # the model computes its own loss
    model.fit(tf_dataset(head_data), epochs=HEAD_EPOCHS, verbose=0)
    result["phase1_seconds"] = round(time.perf_counter() - start, 2)

    # Pad fraction over one epoch of the training pipeline.
    train_ds = tf_dataset(examples)
    log.batches.clear()
    for _ in train_ds:
        pass
    result["pad_fraction"] = round(log.pad_fraction(), 4)

    # Phase 2: everything trainable, Adam 5e-5.
    model.distilbert.trainable = True
    model.compile(optimizer=keras.optimizers.Adam(5e-5))
    log.batches.clear()
    timer = step_timer(keras)
    steps = spec["warmup_steps"] + spec["measured_steps"]
    model.fit(train_ds, epochs=1, steps_per_epoch=steps, callbacks=[timer], verbose=0)
    result["phase2"] = phase_two_figures(config, log, timer.stamps, spec["warmup_steps"], spec["measured_steps"])
    result["peak_memory_mib"] = round(peak_memory_mib(), 1)
    return result


def child_torch_trainer(spec, bf16: bool = False) -> dict:
    """The PyTorch Trainer; with `bf16`, `TrainingArguments(bf16=True)` (autocast to bf16 on a CPU)."""
    import datasets
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    datasets.disable_progress_bars()
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(SEED)
    examples, _ = load_texts()
    labels = examples.label_names()
    config = encoder_config(spec["tiny"], len(labels))
    tok = tokenizer()
    label_ids = {name: i for i, name in enumerate(labels)}
    log = BatchLog()
    padding = DataCollatorWithPadding(tokenizer=tok)

    def collate(features):
        batch = padding(features)
        log.add(batch["attention_mask"].numpy())
        return batch

    def hf_dataset(data):
        ds = datasets.Dataset.from_dict({"text": data.texts, "label": [label_ids[str(v)] for v in data.labels]})
        return ds.map(lambda b: tok(b["text"], truncation=True, max_length=MAX_LENGTH), batched=True,
                      remove_columns=["text"])

    class Stamps(TrainerCallback):
        def __init__(self):
            self.stamps = []

        def on_step_end(self, args, state, control, **kwargs):
            self.stamps.append(time.perf_counter())

    def trainer(model, data, **arguments):
        args = TrainingArguments(
            output_dir=str(spec["scratch"]), per_device_train_batch_size=BATCH_SIZE, use_cpu=True,
            report_to=[], logging_strategy="no", save_strategy="no", dataloader_num_workers=0,
            seed=SEED, disable_tqdm=True, bf16=bf16, **arguments,
        )
        return Trainer(model=model, args=args, train_dataset=data, data_collator=collate)

    result = {"precision": "bf16 autocast" if bf16 else "float32", "torch": torch.__version__,
              "threads": torch.get_num_threads()}
    model = AutoModelForSequenceClassification.from_config(config)

    if spec["torch_phase1"]:
        head_data = subset(examples, spec["phase1_examples"])
        start = time.perf_counter()
        for p in model.distilbert.parameters():
            p.requires_grad = False
        trainer(model, hf_dataset(head_data), num_train_epochs=HEAD_EPOCHS, learning_rate=1e-3).train()
        result["phase1_seconds"] = round(time.perf_counter() - start, 2)
        for p in model.distilbert.parameters():
            p.requires_grad = True
    else:
        result["phase1_seconds"] = None
        result["phase1_note"] = "skipped in --quick (use --full)"

    train_data = hf_dataset(examples)
    steps = spec["warmup_steps"] + spec["measured_steps"]
    stamps = Stamps()
    run = trainer(model, train_data, max_steps=steps, learning_rate=5e-5)
    run.add_callback(stamps)
    log.batches.clear()
    run.train()
    result["phase2"] = phase_two_figures(config, log, stamps.stamps, spec["warmup_steps"], spec["measured_steps"])
    result["optimizer"] = run.args.optim.value if hasattr(run.args.optim, "value") else str(run.args.optim)

    log.batches.clear()
    for _ in run.get_train_dataloader():
        pass
    result["pad_fraction"] = round(log.pad_fraction(), 4)
    result["peak_memory_mib"] = round(peak_memory_mib(), 1)
    return result


def step_timer(keras):
    """A Keras callback that stamps the end of every training batch."""

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self._supports_tf_logs = True  # no per-batch conversion of the logs to NumPy
            self.stamps = []

        def on_train_batch_end(self, batch, logs=None):
            self.stamps.append(time.perf_counter())

    return StepTimer()


CHILDREN = {
    "matmul": child_matmul,
    "hf_tf": child_hf_tf,
    "hf_tf_bf16": functools.partial(child_hf_tf, bf16=True),
    "torch_trainer": child_torch_trainer,
    "torch_trainer_bf16": functools.partial(child_torch_trainer, bf16=True),
    **{name: functools.partial(child_kerastl, system=system) for name, system in KERASTL_SYSTEMS.items()},
}


def run_child(name: str, spec: dict) -> None:
    if name not in TORCH_PEERS:
        os.environ["USE_TORCH"] = "0"
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    result = CHILDREN[name](spec)
    print(RESULT_MARK + json.dumps(result), flush=True)


# -- parent ------------------------------------------------------------------------------------


def child_env(name: str) -> dict:
    """The environment of one child: the Keras it runs on is chosen here, never inherited.

    A kerastl row gets its KERASTL_KERAS and no TF_USE_LEGACY_KERAS (kerastl sets that itself
    under Keras 2). The peers keep TF_USE_LEGACY_KERAS=1, which transformers' TF classes need,
    and KERASTL_KERAS=2, so the kerastl helpers they import (the data reader, the preset's
    vocabulary) load tf-keras like them and not a second Keras.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TOKENIZERS_PARALLELISM="false", PYTHONWARNINGS="ignore")
    env.pop("TF_USE_LEGACY_KERAS", None)
    if name in KERASTL_SYSTEMS:
        env["KERASTL_KERAS"] = str(KERASTL_SYSTEMS[name]["keras"])
    else:
        env.update(TF_USE_LEGACY_KERAS="1", KERASTL_KERAS="2")
    if name in TORCH_PEERS:
        env["USE_TF"] = "0"
    return env


def launch(name: str, spec: dict, log_dir: Path) -> dict:
    env = child_env(name)
    log_file = log_dir / f"bench-{name}.log"
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with open(log_file, "w") as log:
        proc = subprocess.run([sys.executable, __file__, "--child", name, "--spec", json.dumps(spec)],
                              stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT, env=env)
    wall = round(time.perf_counter() - start, 1)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if proc.returncode != 0 or not lines:
        tail = log_file.read_text().strip().splitlines()[-5:]
        print(f"[bench] {name} failed (exit {proc.returncode}); see {log_file}", file=sys.stderr, flush=True)
        return {"error": f"exit {proc.returncode}", "log": str(log_file), "log_tail": tail, "process_seconds": wall}
    result = json.loads(lines[-1][len(RESULT_MARK):])
    result["process_seconds"] = wall
    result["load_1min_before_after"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    print(f"[bench] {name} done in {wall:.0f} s", file=sys.stderr, flush=True)
    return result


def native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), as kerastl's `auto` asks."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.is_file() else ""
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def torch_available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("torch", "accelerate"))


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def summarise(results: dict) -> tuple:
    k = results.get("kerastl", {})
    ratios, targets = {}, {}
    for peer in PEERS:
        p = results.get(peer, {})
        if "phase2" in k and "phase2" in p:
            for figure in ("tokens_per_s", "examples_per_s"):
                ratios[f"phase2_{figure}_vs_{peer}"] = ratio(k["phase2"][figure], p["phase2"][figure])
        if k.get("phase1_seconds") and p.get("phase1_seconds"):
            ratios[f"phase1_speedup_vs_{peer}"] = ratio(p["phase1_seconds"], k["phase1_seconds"])
        if k.get("peak_memory_mib") and p.get("peak_memory_mib"):
            ratios[f"peak_memory_vs_{peer}"] = ratio(k["peak_memory_mib"], p["peak_memory_mib"])
    best = best_peer(results)
    if best and "phase2" in k:
        ratios["best_peer"] = best
        ratios["phase2_tokens_per_s_vs_best_peer"] = ratio(k["phase2"]["tokens_per_s"],
                                                           results[best]["phase2"]["tokens_per_s"])

    def target(name, value, bound, at_least=True):
        met = None if value is None else (value >= bound if at_least else value <= bound)
        targets[name] = {"value": value, "target": (">= " if at_least else "<= ") + str(bound), "met": met}

    for name in ("phase2_tokens_per_s_vs_hf_tf", "phase2_tokens_per_s_vs_torch_trainer",
                 "phase2_tokens_per_s_vs_best_peer", "phase1_speedup_vs_hf_tf"):
        target(name, ratios.get(name), TARGETS[name])
    target("kerastl_pad_fraction", k.get("pad_fraction"), TARGETS["pad_fraction_max"], at_least=False)
    bf16 = results.get("matmul", {}).get("bfloat16_gflops_per_s")
    useful = k.get("phase2", {}).get("useful_gflops_per_s")
    fraction = round(useful / bf16, 3) if useful and bf16 else None
    target("kerastl_useful_flops_fraction_of_bf16_peak", fraction, TARGETS["useful_flops_fraction_of_bf16_min"])
    return ratios, targets


def best_peer(results: dict):
    """The peer row of most phase-2 real tokens/s, or None when no peer ran."""
    ran = [name for name in PEERS if "phase2" in results.get(name, {})]
    return max(ran, key=lambda name: results[name]["phase2"]["tokens_per_s"]) if ran else None


def families(results: dict) -> dict:
    """Keras 3 over Keras 2 (KerasHub backbones over transformers' TF encoders), one encoder at
    a time: phase-2 real tokens/s (above 1: Keras 3 trains faster), phase-1 speed-up (Keras 2's
    seconds over Keras 3's) and peak memory."""
    out = {}
    for encoder, (three, two) in FAMILY_PAIRS.items():
        a, b = results.get(three), results.get(two)
        if a is None or b is None:
            continue
        row = {"keras3": three, "keras2": two}
        row["phase2_tokens_per_s_keras3_over_keras2"] = ratio(a.get("phase2", {}).get("tokens_per_s"),
                                                               b.get("phase2", {}).get("tokens_per_s"))
        row["phase2_examples_per_s_keras3_over_keras2"] = ratio(a.get("phase2", {}).get("examples_per_s"),
                                                                 b.get("phase2", {}).get("examples_per_s"))
        row["phase1_speedup_keras3_over_keras2"] = ratio(b.get("phase1_seconds"), a.get("phase1_seconds"))
        row["peak_memory_keras3_over_keras2"] = ratio(a.get("peak_memory_mib"), b.get("peak_memory_mib"))
        out[encoder] = row
    return out


def pairs_over_joined(results: dict):
    """The pair path against the same words as one text (MRPC): phase-2 real tokens/s and
    examples/s of `kerastl_minilm_pairs` over `kerastl_minilm_joined` (1.0: pairs cost what their
    tokens cost), and their pad fractions; None when either row did not run."""
    a, b = results.get("kerastl_minilm_pairs", {}), results.get("kerastl_minilm_joined", {})
    if "phase2" not in a or "phase2" not in b:
        return None
    return {
        "phase2_tokens_per_s_pairs_over_joined": ratio(a["phase2"]["tokens_per_s"], b["phase2"]["tokens_per_s"]),
        "phase2_examples_per_s_pairs_over_joined": ratio(a["phase2"]["examples_per_s"],
                                                         b["phase2"]["examples_per_s"]),
        "phase1_speedup_pairs_over_joined": ratio(b.get("phase1_seconds"), a.get("phase1_seconds")),
        "pad_fraction_pairs_joined": [a.get("pad_fraction"), b.get("pad_fraction")],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick", help="make bench (default)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full", help="more examples and steps")
    mode.add_argument("--tiny", dest="mode", action="store_const", const="tiny",
                      help="smoke test of this script: a tiny random encoder, a few steps")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of {SYSTEMS}")
    parser.add_argument("--output", default=str(ROOT / "runs" / "bench.json"), help="also write the JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child, json.loads(args.spec))
        return 0

    mode = args.mode or "quick"
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown:
        parser.error(f"unknown systems {unknown}; choose from {SYSTEMS}")
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    spec = {**MODES[mode], "tiny": mode == "tiny", "matmul_seconds": 1.0 if mode == "tiny" else 4.0,
            "scratch": str(output.parent / "bench-trainer-scratch")}

    start = time.perf_counter()
    load = os.getloadavg()[0]
    results = {"matmul": launch("matmul", spec, output.parent)}
    for name in systems:
        message = None
        if name in TORCH_PEERS and not torch_available():
            message = "skipped: torch is not installed (pip install torch==2.13.0 accelerate)"
        elif name in PAIR_SYSTEMS and not MRPC.is_file():
            message = f"skipped: no sentence pairs to train on ({MRPC} is absent)"
        elif name in BF16_PEERS and mode != "tiny" and not native_bf16():
            message = "skipped: this CPU has no native bf16 (AVX512-BF16 or AMX), so float32 is the peer's best"
        if message:
            print(f"[bench] {name} {message}", file=sys.stderr, flush=True)
            results[name] = {"skipped": message}
            continue
        results[name] = launch(name, spec, output.parent)
    ratios, targets = summarise(results)
    family_ratios = families(results)
    pair_ratios = pairs_over_joined(results)
    # The load average counts this benchmark's own threads (up to one per core); more than
    # that means other work shared the cores, and figures taken then are not on even terms.
    busy = [name for name, r in results.items()
            if max(r.get("load_1min_before_after", [0])) > (os.cpu_count() or 1) + 0.5]

    import importlib.metadata as md

    versions = {}
    for package in ("tensorflow", "keras", "keras-hub", "tf-keras", "transformers", "datasets", "torch"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = None
    report = {
        "command": f"python benchmarks/train_speed.py --{mode}",
        "mode": mode,
        "settings": {**{k: v for k, v in spec.items() if k not in ("scratch", "tiny")},
                     "architecture": "DistilBERT-base, random weights" if mode != "tiny" else "tiny DistilBERT",
                     "minilm_rows": "all-MiniLM-L6-v2 (offline preset, real weights), kerastl only",
                     "kerastl_keras": {name: system["keras"] for name, system in KERASTL_SYSTEMS.items()},
                     "kerastl_diagnostics": [name for name, system in KERASTL_SYSTEMS.items()
                                             if system["diagnostics"]],
                     "batch_size": BATCH_SIZE, "max_length": MAX_LENGTH, "head_epochs": HEAD_EPOCHS,
                     "data": str(EMOTION) if EMOTION.is_file() else "bundled Rotten Tomatoes (train split)"},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_1min_at_start": round(load, 2),
                    "load_1min_at_end": round(os.getloadavg()[0], 2),
                    "other_work_during": busy or None, **versions},
        "matmul": results.pop("matmul"),
        "systems": results,
        "ratios_kerastl_over_peer": ratios,
        "targets": targets,
        "families": family_ratios,
        "pairs_over_joined": pair_ratios,
        "useful_flops_formula": ("6 * N * real_tokens + 12 * layers * dim * sum(real_length^2) over the timed "
                                 "batches; N = non-embedding encoder parameters: "
                                 + ", ".join(f"{results[name].get('non_embedding_parameters')} ({name})"
                                             for name in KERASTL_SYSTEMS if name in results)),
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    text = json.dumps(report, indent=2)
    output.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
