"""SavedModel export for TF Serving: raw text in, probabilities out, with no kerastl at serving time.

`export_saved_model` writes TF Serving's layout, `BASE/<version>/saved_model.pb` + `variables/`,
with two signatures:

- `serving_default`: `text` (a `tf.string` vector) -> `probabilities`, `label_id`, `label`. The
  model's Hugging Face WordPiece tokenizer is rebuilt from core TensorFlow ops
  (`kerastl.preprocessing.graph_tokenizer.GraphTokenizer`) and gives the same `input_ids` and `attention_mask`
  as in training.
- `predict_ids`: `input_ids`, `attention_mask` (int32, `[batch, seq]`) -> the same outputs, for
  clients that tokenize themselves.
- A pair model's (`text_pair`): `serving_default` takes `text` and `text_pair` (packed by
  `kerastl.preprocessing.graph_pairs`), `predict_ids` takes `token_type_ids` too.

The graph holds only ops that a plain `import tensorflow` registers: loading it needs no
kerastl, transformers or tensorflow-text. A tokenizer that ops cannot reproduce exactly
(byte-pair or unigram vocabularies, custom normalizers) gets `predict_ids` only, and the export
says so. The label names live inside the graph; `assets.extra/` (which TF Serving ignores) keeps
the tokenizer files and a small `kerastl.json` for `load_saved_model` and `kerastl predict`.
"""

import json
import logging
import os
import re
import shutil
import socket
import time
from pathlib import Path
from typing import Optional

import tensorflow as tf

from kerastl import distribute
from kerastl._files import replace_dir, staging_dir
from kerastl._keras import cast_weights_policy, tf_variables
from kerastl.config import SAVED_CONFIG_FILE, SAVED_TOKENIZER_DIR
from kerastl.data.batching import logits_by_length
from kerastl.errors import ModelFileError, TextSignatureUnavailable
from kerastl.precision import resolve_precision
from kerastl.preprocessing.graph_pairs import build_graph_pair_tokenizer
from kerastl.preprocessing.graph_tokenizer import GraphTokenizer
from kerastl.serving import fast_graph as _fast_graph
from kerastl.serving.multi_label_outputs import multi_label_outputs
from kerastl.tasks.task import Task
from kerastl.tasks.text_classifier import TextClassifier

logger = logging.getLogger(__name__)

TEXT_SIGNATURE = "serving_default"
IDS_SIGNATURE = "predict_ids"
EXTRA_DIR = "assets.extra"  # TF Serving's place for files it does not read
# serving_default runs a batch as chunks of this many texts of similar length (see
# `_logits_by_length`); measured with benchmarks/serving.py.
SERVING_CHUNK = 8


# -- the serving module -----------------------------------------------------------------------


class _ServingModule(tf.Module):
    """The classifier's variables, its tokenizer ops and label names, with the two signatures."""

    def __init__(self, model: TextClassifier, tokenizer: Optional[GraphTokenizer], fast_graph: bool = False):
        super().__init__(name="kerastl_serving")
        # The Keras model is kept out of tf.Module's tracking, so the SavedModel holds plain
        # functions and variables rather than a re-serialised Keras model.
        object.__setattr__(self, "_model", model)
        # Tracked, so saved in variables/. Keras 3 wraps each tf.Variable in its own variable
        # class, which a TF1-style loader (TF Serving, `saved_model_cli run`) does not restore:
        # the tf.Variables themselves are tracked.
        # fast_graph: a BERT-family encoder runs as `fast_graph.FastEncoder`, on its own variables
        # (its matmul kernels are graph constants under a mixed policy: see fast_graph).
        # (A regressor's head is not in the fast graph: it serves the Keras model's call.)
        self.fast = _fast_graph.build(model) if fast_graph and model.task == "classification" else None
        self.model_variables = list(self.fast.variables) if self.fast is not None else tf_variables(model)
        self.tokenizer = tokenizer
        if model.label_names is not None:  # a classifier; a regressor serves `score`
            self.labels = tf.Variable(list(model.label_names), trainable=False, name="labels")
            self._label_names = tf.constant(list(model.label_names))
        else:
            self.task = tf.Variable(model.task, trainable=False, name="task")
        if model.task == "multi_label":  # its thresholds travel with it (kerastl.serving.multi_label_outputs)
            self.task = tf.Variable(model.task, trainable=False, name="task")
            self.thresholds = tf.Variable(list(model.thresholds), dtype=tf.float32, trainable=False, name="thresholds")
        self.max_length = tf.Variable(model.max_length, trainable=False, name="max_length")
        # A pair model's signatures take the second texts (text_pair) and segment ids (token_type_ids).
        self._pairs = bool(getattr(model, "text_pair", False))
        if self._pairs:
            self.text_pair = tf.Variable(True, trainable=False, name="text_pair")
            self.fast = None  # the fast graph embeds segment 0 only: a pair model serves the Keras call
            self.model_variables = tf_variables(model)
        # One traced forward pass (encoder, pooling, head) that both signatures, the chunk loop and
        # the one-chunk branch call: saved once (the fast graph's constant kernels too).
        object.__setattr__(self, "_forward", tf.function(self._logits, autograph=False, input_signature=[
            tf.TensorSpec([None, None], tf.int32)] * (2 + self._pairs)).get_concrete_function())
        # Only the signatures that exist are attributes: tf.saved_model.save traces them all.
        # The code is graph-safe as written; without autograph, tracing is several times faster.
        self.predict_ids = tf.function(self._predict_ids, autograph=False, input_signature=[
            tf.TensorSpec([None, None], tf.int32, name="input_ids"),
            tf.TensorSpec([None, None], tf.int32, name="attention_mask"),
        ] + [tf.TensorSpec([None, None], tf.int32, name="token_type_ids")] * self._pairs)
        if tokenizer is not None:
            # Any rank, so that one string (a scalar) is accepted as a batch of one: a signature
            # has one concrete function, and a [None] spec refuses a scalar with a shape error
            # before the graph runs. A list of strings is as before, in TF Serving too.
            self.serve_text = tf.function(self._serve_text, autograph=False, input_signature=[
                tf.TensorSpec(None, tf.string, name="text"),
            ] + [tf.TensorSpec(None, tf.string, name="text_pair")] * self._pairs)

    def _serve_text(self, text, text_pair=None):
        checks = [tf.debugging.assert_less_equal(tf.rank(text), 1, message=(
            f"{TEXT_SIGNATURE}: text must be one string or a list (a 1-D tensor) of strings"))]
        if text_pair is not None:
            checks.append(tf.debugging.assert_equal(tf.shape(text), tf.shape(text_pair), message=(
                f"{TEXT_SIGNATURE}: text and text_pair must have the same shape, one second text per text")))
        with tf.control_dependencies(checks):
            text = tf.reshape(text, [-1])  # a scalar: a batch of one, answered as a batch of one
        if text_pair is None:
            features = self.tokenizer(text)  # (batch, longest) ids and mask, padded on the right
            return self._outputs(self._logits_by_length(features["input_ids"], features["attention_mask"]))
        features = self.tokenizer(text, tf.reshape(text_pair, [-1]))  # with token_type_ids
        return self._outputs(self._logits_by_length(features["input_ids"], features["attention_mask"],
                                                    features["token_type_ids"]))

    def _predict_ids(self, input_ids, attention_mask, token_type_ids=None):
        # The client pads: on either side, so the batch runs as it comes.
        checks = self._id_checks(input_ids, attention_mask)
        if token_type_ids is not None:
            checks.append(tf.debugging.assert_equal(tf.shape(input_ids), tf.shape(token_type_ids), message=(
                f"{IDS_SIGNATURE}: input_ids and token_type_ids must have the same shape (batch, length)")))
        with tf.control_dependencies(checks):  # before the encoder
            input_ids, attention_mask = tf.identity(input_ids), tf.identity(attention_mask)
        extra = () if token_type_ids is None else (token_type_ids,)
        return self._outputs(self._forward(input_ids, attention_mask, *extra))

    def _id_checks(self, input_ids, attention_mask) -> list:
        """Asserts that refuse, naming the input and the fix, ids the encoder would fail on deep in
        its graph or misread: on a GPU an id outside the vocabulary embeds as zeros, with no
        error. (The messages hold no apostrophe: TensorFlow escapes it in the error.)"""
        what, encoder = IDS_SIGNATURE, self._model.encoder
        checks = [tf.debugging.assert_equal(tf.shape(input_ids), tf.shape(attention_mask), message=(
            f"{what}: input_ids and attention_mask must have the same shape (batch, length)"))]
        if encoder.position_limit is not None:
            checks.append(tf.debugging.assert_less_equal(tf.shape(input_ids)[1], encoder.position_limit, message=(
                f"{what}: input_ids are longer than the {encoder.position_limit} positions the encoder "
                f"embeds; truncate each text to max_length, {self._model.max_length} tokens, as in training")))
        if encoder.vocabulary_size is not None:
            checks.append(tf.debugging.assert_non_negative(input_ids, message=f"{what}: input_ids must be >= 0"))
            checks.append(tf.debugging.assert_less(input_ids, encoder.vocabulary_size, message=(
                f"{what}: an input id is outside the vocabulary of the encoder ({encoder.vocabulary_size} "
                f"tokens); tokenize with the tokenizer saved with the model (assets.extra/ in the export)")))
        return checks

    def _logits(self, input_ids, attention_mask, token_type_ids=None):
        if self.fast is not None:
            return self.fast(input_ids, attention_mask)
        features = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            features["token_type_ids"] = token_type_ids
        logits = self._model(features, training=False)
        return tf.cast(logits, tf.float32)  # (batch, num_labels)

    def _logits_by_length(self, input_ids, attention_mask, *extra):
        return logits_by_length(self._forward, input_ids, attention_mask, *extra, chunk=SERVING_CHUNK,
                                num_outputs=self._model.num_outputs)

    def _outputs(self, logits):
        if self._model.task == "multi_label":  # probabilities, the predicted mask and set
            return multi_label_outputs(logits, self._label_names, self.thresholds, self._model.label_sep)
        if self._model.label_names is None:  # a regressor: its score, in the target's units
            return {"score": tf.reshape(logits, [-1])}  # (batch,)
        probabilities = tf.nn.softmax(logits, axis=-1)  # (batch, num_labels)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int64)  # (batch,)
        return {
            "probabilities": probabilities,
            "label_id": label_id,
            "label": tf.gather(self._label_names, label_id),  # (batch,) string
        }


# -- export -----------------------------------------------------------------------------------


def export_saved_model(
    model,
    base,
    *,
    version: Optional[int] = None,
    overwrite: bool = False,
    text_signature: Optional[bool] = None,
    precision: Optional[str] = None,
    fast_graph: bool = True,
) -> Path:
    """Export a classifier for TF Serving as `base/<version>/` (saved_model.pb + variables/).

    The SavedModel needs TensorFlow, nothing else: its graph holds core ops only. It is written
    to a hidden folder beside the version (`base/.<version>.<host>.<pid>.*.tmp`, which TF Serving
    ignores) and renamed into place, so a crash or a kill never leaves a partial version. Such
    folders left by killed exports are removed by a later export on the same host, once their
    process is gone and they are an hour old. Under a multi-worker strategy only the chief keeps
    an export; every worker must call this, as saving can need all of them.

    Args:
        model: a `TextClassifier` or `TextRegressor` (whose signatures return `score`, (batch,)
            float32, instead of `probabilities`, `label_id` and `label`), or the folder of one
            saved with `save_pretrained`.
        base: TF Serving's model base folder; created if missing.
        version: the version number; by default one more than the highest present (1 if none).
        overwrite: replace `base/<version>` if it exists.
        text_signature: `None` adds the raw-text `serving_default` signature when the tokenizer
            can be rebuilt exactly in the graph, and warns when it cannot; `True` raises
            instead of warning; `False` exports `predict_ids` only.
        precision: the policy the SavedModel computes under: `None` for the model's own,
            `"auto"` for what suits this machine (bf16 on a CPU with AVX512-BF16 or AMX, or a
            recent GPU), or a name of `kerastl.config.PRECISIONS`. The inputs and outputs
            stay float32 either way; under Keras 3 a mixed export stores the weights it casts
            to bf16 (float16) already cast, with the same answers. A bf16 export runs about
            twice as fast where bf16 is native and slower where it is emulated: choose for the
            machine that will serve it.
        fast_graph: serve a BERT-family encoder (BERT, MiniLM, DistilBERT) through the graph of
            `kerastl.serving.fast_graph` (fused matmuls, one query-key-value matmul, fewer ops),
            with the same answers; `False`, or any other encoder, serves the Keras model's call.

    Returns:
        The version folder written.

    Raises:
        ModelFileError: the version exists and `overwrite` is false, or `model` is no model.
        TextSignatureUnavailable: `text_signature=True` and the tokenizer cannot be rebuilt.

    Example:

        export_saved_model("runs/emotion", "serving/emotion")  # PosixPath('serving/emotion/1')
    """
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 0):
        raise ValueError(f"version must be an integer >= 0, received version={version!r}")
    if precision is not None:
        resolve_precision(precision)  # a bad name fails before anything is loaded or written
    base = Path(base)
    if base.exists() and not base.is_dir():
        raise ModelFileError(f"{base} is a file: give a folder for the SavedModel versions")
    if version is None:
        version = max(_versions(base), default=0) + 1
    target = base / str(version)
    # Under a multi-worker strategy only the chief keeps the export (see `chief_or_discard`).
    strategy = model.distribute_strategy if isinstance(model, Task) else None
    if target.exists() and not overwrite and distribute.is_chief(strategy):
        raise ModelFileError(
            f"{target} already exists: give another --version, or add --overwrite (overwrite=True)"
        )
    if not isinstance(model, Task):
        logger.info("export: loading the model from %s", model)
        model = Task.from_pretrained(model)  # the folder's own task
    if model.tokenizer is None:
        raise ModelFileError("this model has no tokenizer: pass tokenizer= when creating it")

    tokenizer, reason = None, "text_signature=False"
    if text_signature is not False:
        logger.info("export: rebuilding the tokenizer in TensorFlow ops and checking it on probe texts")
        tokenizer, reason = (build_graph_pair_tokenizer(model.tokenizer, model.max_length) if model.text_pair
                             else model.preprocessor.graph_tokenizer())
    if tokenizer is None and text_signature:
        raise TextSignatureUnavailable(
            f"cannot export a raw-text signature: {reason}. Export without it "
            f"(text_signature=None) and tokenize on the client for predict_ids"
        )
    if tokenizer is None and text_signature is None:
        logger.warning(
            "exporting predict_ids only, WITHOUT the raw-text serving_default signature: %s. "
            "Clients must tokenize with the model's own tokenizer (saved in %s/%s/) and call "
            "predict_ids", reason, EXTRA_DIR, SAVED_TOKENIZER_DIR,
        )

    served = _served_model(model, precision)
    logger.info("export: tracing the serving functions (precision: %s)", served.precision)
    module = _ServingModule(served, tokenizer, fast_graph)
    signatures = {IDS_SIGNATURE: module.predict_ids.get_concrete_function()}
    if tokenizer is not None:
        signatures[TEXT_SIGNATURE] = module.serve_text.get_concrete_function()
    if not distribute.chief_or_discard(
        model.distribute_strategy, lambda folder: tf.saved_model.save(module, folder, signatures=signatures)
    ):
        logger.info("not the chief worker: the chief exports %s", target)
        return target

    base.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(base)
    staging = staging_dir(base, f".{version}.{_host()}.{os.getpid()}.", ".tmp")  # with the user's umask
    try:
        logger.info("export: writing the SavedModel")
        tf.saved_model.save(module, str(staging), signatures=signatures)
        extra = staging / EXTRA_DIR
        extra.mkdir()
        model.tokenizer.save_pretrained(str(extra / SAVED_TOKENIZER_DIR))
        metadata = {
            "task": model.task,
            "labels": None if model.label_names is None else list(model.label_names),
            "max_length": model.max_length,
            "text_signature": tokenizer is not None,
            "text_pair": model.text_pair,
            "text_signature_unavailable": reason,
            "precision": served.precision,
        }
        (extra / SAVED_CONFIG_FILE).write_text(json.dumps(metadata, indent=2))
        replace_dir(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("exported %s with the signatures %s", target, ", ".join(sorted(signatures)))
    return target


def _served_model(model: TextClassifier, precision: Optional[str]) -> TextClassifier:
    """`model` under `precision` (`None`: its own) as the export computes it: under a mixed policy
    (Keras 3) one copy of it that keeps in bf16 (or float16) every weight its layers cast to that
    dtype when they read it.

    Under a mixed policy a layer stores float32 weights and casts each one on every read: in a
    SavedModel that is on every call, and in `serving_default` once per chunk of texts (at batch
    1, about 4 of MiniLM's 13 ms). The copy holds them already cast, so the answers are bit for
    bit the same and the SavedModel is smaller. Weights a layer reads in float32 (Keras'
    `autocast = False`: layer normalization, embeddings) stay float32. The caller's model is
    never changed.
    """
    name = model.precision if precision is None else resolve_precision(precision)
    policy = cast_weights_policy(name)  # None under tf-keras: AutoCastVariables
    if policy is None or policy.compute_dtype == policy.variable_dtype:
        return model if precision is None else model.with_precision(name)
    copy = model._copy(name)  # the only copy: with_precision would make another
    for layer in copy._flatten_layers(include_self=True, recursive=True):
        if not layer.autocast or layer.compute_dtype == layer.variable_dtype:
            continue
        for weight in layer._trainable_variables + layer._non_trainable_variables:
            if weight.dtype == layer.variable_dtype:
                # Keras reads a variable through `_value` and casts it to the compute dtype,
                # which is now a no-op; the copy is only ever read, never trained or assigned.
                stored = weight._value
                weight._value = tf.Variable(tf.cast(stored, layer.compute_dtype), trainable=False,
                                            name=stored.name.split(":")[0])
    return copy


def _versions(base: Path) -> list:
    """The version numbers of the folders in `base` (names that are all digits)."""
    if not base.is_dir():
        return []
    return [int(p.name) for p in base.iterdir() if p.is_dir() and re.fullmatch(r"[0-9]+", p.name)]


# A staging folder's name: `.<version>.<host>.<pid>.<random>.tmp` (staging_dir's random part).
_STAGING = re.compile(r"\.[0-9]+\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>[0-9]+)\.[a-z0-9_]+\.tmp")
_STALE_AFTER_S = 3600


def _host() -> str:
    """This machine's name, with no dots or odd characters, for staging folder names."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _remove_stale_staging(base: Path) -> None:
    """Remove staging folders of killed exports: this host's, whose process is gone, an hour old.

    The age guards against a live export whose pid this process cannot see (another pid
    namespace under the same host name); folders of other hosts are never touched.
    """
    if os.name != "posix":  # os.kill(pid, 0) probes a process only on POSIX
        return
    for path in base.iterdir():
        match = _STAGING.fullmatch(path.name)
        if match is None or match["host"] != _host() or _running(int(match["pid"])):
            continue
        if time.time() - path.stat().st_mtime > _STALE_AFTER_S:
            logger.info("removing %s, left by an export that was killed", path)
            shutil.rmtree(path, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
