"""The one place kerastl imports Keras, and the one place it chooses which.

kerastl runs on either Keras, chosen once per process, as Keras chooses its backend: by an
environment variable read at import, `KERASTL_KERAS`.

- `KERASTL_KERAS=3` (the default): Keras 3 (`import keras`, TensorFlow backend) with KerasHub
  backbones. `tf.keras` is left as it is.
- `KERASTL_KERAS=2`: Keras 2 (`tf_keras`) with Hugging Face transformers' TF encoders
  (`TFDistilBertModel`, ...). transformers' TF classes need `TF_USE_LEGACY_KERAS=1`, which this
  sets for the whole program: `tf.keras` then means tf-keras here and in child processes.

Every kerastl module writes `from kerastl._keras import keras`, so the two are never mixed by
accident; `check_same_keras` catches the user's objects of the other one.
"""

import importlib
import importlib.util
import logging
import os
import sys

from kerastl.config import KERAS_ENV, selected_keras

logger = logging.getLogger("kerastl")

KERAS_VERSION = selected_keras()
# TensorFlow's C++ log lines (on a CPU machine, "failed call to cuInit") only when asked for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if KERAS_VERSION == 2:
    # transformers reads this before importing Keras; set it before anything imports transformers.
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
        logger.info("Keras 2 (%s=2): TF_USE_LEGACY_KERAS=1 is now set, so tf.keras in this program and "
                    "its child processes is tf-keras", KERAS_ENV)
    try:
        import tf_keras as keras
    except ImportError:
        raise ImportError(f"{KERAS_ENV}=2 needs tf-keras and transformers' TF encoders: "
                          f"pip install 'kerastl[keras2]', or unset {KERAS_ENV} for Keras 3") from None
else:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    if not keras.__version__.startswith("3.") or keras.config.backend() != "tensorflow":
        raise ImportError(
            f"kerastl needs Keras 3 on the TensorFlow backend, found keras {keras.__version__} on "
            f"{keras.config.backend()!r}: set KERAS_BACKEND=tensorflow (or {KERAS_ENV}=2 for tf-keras)"
        )

KERAS_NAME = f"Keras {KERAS_VERSION}"

__all__ = [
    "keras", "KERAS_VERSION", "check_same_keras", "transformers_without_torch", "by_keras", "runs_keras",
    "tf_variable", "tf_variables", "cast_weights_policy", "save_format_kwargs", "compile_defaults",
    "OPTIMIZER_XLA_SWITCH", "QUIET_SHUFFLE_KWARGS", "BACKUP_AND_RESTORE_KWARGS", "back_up_now",
]


def _keras_of(obj):
    """2 or 3 when `obj` is an object of tf-keras or of Keras 3 (KerasHub included), else None."""
    for cls in type(obj).__mro__:
        module = cls.__module__ or ""
        if module == "tf_keras" or module.startswith("tf_keras."):
            return 2
        if module.startswith(("keras.", "keras_hub.")):
            return 3
    return None


def check_same_keras(objects, where: str) -> None:
    """A TypeError naming both Kerases and the fix when one of `objects` (nested lists, tuples
    and dicts are looked into) belongs to the Keras kerastl did not select."""
    stack = [objects]
    while stack:
        obj = stack.pop()
        if isinstance(obj, (list, tuple)):
            stack.extend(obj)
            continue
        if isinstance(obj, dict):
            stack.extend(obj.values())
            continue
        other = _keras_of(obj)
        if other is not None and other != KERAS_VERSION:
            other_name = "tf-keras (Keras 2)" if other == 2 else "Keras 3 (`import keras`)"
            raise TypeError(
                f"{where}: {type(obj).__name__} is an object of {other_name}, but this kerastl model "
                f"runs on {KERAS_NAME} ({KERAS_ENV}={KERAS_VERSION}), and the two do not mix. Build it "
                f"from `kerastl.keras` (`from kerastl import keras`), or run the whole program with "
                f"{KERAS_ENV}={other}"
            )


def reset_compiled_functions(model) -> None:
    """Forget `model`'s traced train, test and predict functions; the next run traces anew."""
    if KERAS_VERSION == 2:
        model._reset_compile_cache()
    else:
        model.train_function = model.test_function = model.predict_function = None


# --- Keras-version shims: the rest of kerastl calls these and never compares KERAS_VERSION itself
# (tests/test_architecture.py). Each names what differs between tf-keras and Keras 3.


def by_keras(*, keras2, keras3):
    """`keras2` or `keras3`, whichever belongs to the selected Keras: the seam for code written
    twice (a mixin of Keras-internal overrides, a function reading Keras internals).

    Example:
    >>> by_keras(keras2="tf-keras", keras3="Keras 3") == ("Keras 3" if KERAS_VERSION == 3 else "tf-keras")
    True
    """
    return keras3 if KERAS_VERSION == 3 else keras2


def runs_keras(version: int) -> bool:
    """Whether kerastl runs on Keras `version` (2 or 3) in this process."""
    return version == KERAS_VERSION


def tf_variable(variable):
    """The `tf.Variable` behind a Keras 3 variable (as Keras' TensorFlow optimizer reads it); any
    other variable (tf-keras' are `tf.Variable`s) as it is."""
    return variable.value if KERAS_VERSION == 3 and isinstance(variable, keras.Variable) else variable


def tf_variables(model) -> list:
    """`model.variables` as `tf.Variable`s, which a `tf.Module` tracks and a TF1-style loader (TF
    Serving, `saved_model_cli run`) restores; Keras 3 wraps each in a variable class of its own."""
    return [tf_variable(variable) for variable in model.variables]


def cast_weights_policy(name: str):
    """Keras 3's `DTypePolicy` named `name`, whose weights a layer casts on every read; None under
    tf-keras, whose mixed-precision weights are AutoCastVariables (no copy with weights cast once)."""
    return keras.dtype_policies.get(name) if KERAS_VERSION == 3 else None


def save_format_kwargs(save_format) -> dict:
    """The extra keyword `keras.Model.save` takes: tf-keras' `save_format`; Keras 3 has none."""
    return {"save_format": save_format} if KERAS_VERSION == 2 else {}


def compile_defaults(kwargs: dict) -> dict:
    """`kwargs` of `keras.Model.compile` with kerastl's defaults: no XLA for the train step under
    Keras 3, which would switch it on by default and compile the step again for every padded length
    (tf-keras leaves it off)."""
    if KERAS_VERSION == 3:
        kwargs.setdefault("jit_compile", False)
    return kwargs


# Keras 2's optimizers compile their update with XLA on request (`jit_compile`); Keras 3's have no
# switch of their own.
OPTIMIZER_XLA_SWITCH = KERAS_VERSION == 2

# `fit` keywords for batches that shuffle themselves: Keras 3 warns about its own `shuffle`
# default on a dataset, tf-keras is left as it was.
QUIET_SHUFFLE_KWARGS = {"shuffle": False} if KERAS_VERSION == 3 else {}

# `keras.callbacks.BackupAndRestore` keywords: Keras 3 writes one .h5 file in place, so the
# previous one is kept for a kill mid-write; tf-keras has no such option (nor need).
BACKUP_AND_RESTORE_KWARGS = {"double_checkpoint": True} if KERAS_VERSION == 3 else {}


def back_up_now(callback, epoch: int, batch: int) -> None:
    """Make a `BackupAndRestore` callback back up now, mid-epoch, at `batch` of `epoch`."""
    if KERAS_VERSION == 2:
        callback._backup(epoch=epoch, batch=batch)
    else:
        callback._save_model()


class DistributedModel:
    """Mixed into kerastl's Keras models; under Keras 3 it mends two things that fail with a
    tf.distribute strategy of several replicas (tf-keras needs neither):

    - Before fit / evaluate, Keras 3 builds the model from a first batch that it takes from the
      iterator the run then reads on (with `steps_per_epoch`, a batch never trained on) and
      averages over the replicas (which fails when each replica's batch is padded to its own
      longest text). The build needs only shapes and dtypes: they come from the data's element
      spec instead.
    - Under `MultiWorkerMirroredStrategy`, Keras 3 reduces each step's logs with a mean along
      axis 0, which scalars lack (tensorflow/tensorflow#72388). Each log gets that axis; the
      values are the same on every replica (the metrics are synchronized), so the mean is it.
    """

    if KERAS_VERSION == 3:

        def _maybe_symbolic_build(self, iterator=None, data_batch=None):
            if iterator is not None and data_batch is None and self._distribute_strategy is not None:
                import tensorflow as tf

                spec = iterator.data_adapter.get_tf_dataset().element_spec
                data_batch = tf.nest.map_structure(_one_replica_spec, spec)
            super()._maybe_symbolic_build(data_batch=data_batch)

        def train_step(self, data):
            return self._reducible(super().train_step(data))

        def test_step(self, data):
            return self._reducible(super().test_step(data))

        def _reducible(self, logs):
            import tensorflow as tf

            if not isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
                return logs
            return tf.nest.map_structure(lambda value: tf.reshape(value, [1]), logs)


def _one_replica_spec(spec):
    # A per-replica spec is a composite of one spec per replica; a plain TensorSpec its own.
    import tensorflow as tf

    return tf.nest.flatten(spec, expand_composites=True)[0]


def transformers_without_torch():
    """`transformers`, imported so that it never imports PyTorch.

    With PyTorch's metadata installed, transformers imports torch as soon as a tokenizer class is
    touched (`transformers.masking_utils`), and torch's default wheel imports triton, which ends a
    process that has loaded TensorFlow. kerastl uses transformers for its tokenizers (and, under
    Keras 2, its TF encoders), neither of which needs torch: the first import of transformers in a
    kerastl process is made with `USE_TORCH=0`, which transformers reads once, at import. The
    variable is restored right after, so child processes inherit the user's environment.
    """
    if "transformers" not in sys.modules and importlib.util.find_spec("torch") is not None:
        previous = os.environ.get("USE_TORCH")
        os.environ["USE_TORCH"] = "0"
        try:
            importlib.import_module("transformers.utils.import_utils")
        finally:
            if previous is None:
                del os.environ["USE_TORCH"]
            else:
                os.environ["USE_TORCH"] = previous
    return importlib.import_module("transformers")


if importlib.util.find_spec("torch") is not None:  # PyTorch is installed beside TensorFlow: see above
    transformers_without_torch()
