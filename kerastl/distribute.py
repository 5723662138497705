"""Training under `tf.distribute`: pick a strategy, cut batches across replicas, write on the chief.

kerastl runs on TensorFlow's own distributed engine. A model built in a strategy's scope
(`TextClassifier.from_backbone(..., strategy="mirrored")`) trains with `fine_tune` exactly as on
one device: the batch size is per replica, and every global batch of example indices (shuffled
and bucketed by length as usual) is cut into one part per replica. Each input pipeline builds the
same global batches from the same seed and keeps its replicas' parts, so within an epoch every
example reaches exactly one replica, and each part is padded only to its own longest text.
"""

import contextlib
import functools
import json
import logging
import os
import tempfile

import tensorflow as tf

from kerastl.config import STRATEGIES

logger = logging.getLogger(__name__)



def get_strategy(strategy="auto") -> tf.distribute.Strategy:
    """The `tf.distribute.Strategy` that `strategy` names.

    - `"auto"`: a `TPUStrategy` when a TPU is configured (`TPU_NAME` set, or TPU devices
      visible), `MultiWorkerMirroredStrategy` when `TF_CONFIG` describes a cluster of several
      tasks, `MirroredStrategy` when more than one GPU is visible, else the default strategy;
    - `"default"`: one device, no distribution;
    - `"mirrored"`: `MirroredStrategy` over every GPU, or over every logical CPU device when
      there is no GPU;
    - `"multiworker"`: `MultiWorkerMirroredStrategy`, configured by `TF_CONFIG`;
    - `"tpu"`: `TPUStrategy` on the TPU named by `TPU_NAME` (or the local TPU VM).

    A `tf.distribute.Strategy` is returned as it is. A name gives the same strategy object on every
    call in a process: strategies that each run their own collective ops in one process clash, and
    a multi-worker or TPU strategy can be set up only once, before TensorFlow runs its first
    operation (`kerastl train` creates it first).

    Example:
    >>> get_strategy("default").num_replicas_in_sync
    1
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be a tf.distribute.Strategy or one of {STRATEGIES}, "
                         f"received strategy={strategy!r}")
    if strategy == "auto":
        strategy = _auto_strategy_name()
    return _named_strategy(strategy)


@functools.lru_cache(maxsize=None)
def _named_strategy(strategy: str) -> tf.distribute.Strategy:
    if strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = devices or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if strategy == "multiworker":
        if not _cluster_tasks():
            raise ValueError(
                "strategy 'multiworker' needs TF_CONFIG to describe the cluster and this task, e.g. "
                '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    return _tpu_strategy()


def _auto_strategy_name() -> str:
    if os.environ.get("TPU_NAME") or tf.config.list_physical_devices("TPU"):
        return "tpu"
    if _cluster_tasks() > 1:
        return "multiworker"
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def _cluster_tasks() -> int:
    """The number of tasks in the `TF_CONFIG` cluster (0 without one)."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    except ValueError:
        raise ValueError(f"TF_CONFIG is not valid JSON: {os.environ['TF_CONFIG'][:200]!r}") from None
    return sum(len(tasks) for tasks in cluster.values())


def _tpu_strategy() -> tf.distribute.Strategy:
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", "local"))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        raise ValueError(
            f"strategy 'tpu': no TPU could be reached ({str(err).splitlines()[0].split('. ')[0]}); run on a TPU VM "
            f"or set TPU_NAME to the TPU's name"
        ) from None
    return tf.distribute.TPUStrategy(resolver)


def strategy_scope(strategy):
    """The scope of `strategy` (a Strategy or a name of `kerastl.config.STRATEGIES`), or no scope
    for `None`."""
    if strategy is None:
        return contextlib.nullcontext()
    return get_strategy(strategy).scope()


def is_chief(strategy=None) -> bool:
    """Whether this process writes models and checkpoints: False only on non-chief workers."""
    return (strategy or tf.distribute.get_strategy()).extended.should_checkpoint


def is_multi_worker(strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def chief_or_discard(strategy, save) -> bool:
    """Whether this process keeps what it saves: True on the chief (or a single worker).

    Every save of kerastl goes through here. A non-chief worker cannot just skip a save, since
    saving distributed variables can run collective ops that every worker must join: it runs
    `save(folder)` into a temporary folder, deletes that, and gets False.

    Args:
        strategy: the model's `tf.distribute.Strategy`.
        save: writes the files into the folder it is given (a `str`).
    """
    if is_chief(strategy):
        return True
    with tempfile.TemporaryDirectory(prefix="kerastl-worker-") as scratch:
        save(scratch)
    return False


def replica_batches(global_batches: tf.data.Dataset, num_replicas: int, replicas: range) -> tf.data.Dataset:
    """Cut each global batch of indices into `num_replicas` parts and yield those of `replicas`.

    Part k holds rows k, k + num_replicas, ... of the global batch, so parts differ in size by at
    most one and, as the batch is sorted by length, in longest text by little. The parts of one
    global batch come out in replica order, as a distributed iterator hands them out.
    """
    first, count = replicas.start, len(replicas)

    def parts(index):  # (global batch,) -> `count` elements of (about global batch / num_replicas,)
        return tf.data.Dataset.range(first, first + count).map(lambda k: index[k::num_replicas])

    return global_batches.flat_map(parts)


def distribute_batches(strategy, global_batches, to_element) -> tf.distribute.DistributedDataset:
    """A distributed dataset of `to_element(index)` for every replica's part of every global batch.

    It repeats without end, as Keras expects of a distributed dataset: give `fit` the number of
    global batches as `steps_per_epoch` (and `validation_steps`). Each repetition is an epoch
    with its own shuffle.

    Args:
        strategy: the strategy to distribute over.
        global_batches: a function returning a `tf.data.Dataset` of int64 index vectors, one per
            global batch, in the same order on every worker (same data, same seed).
        to_element: index vector -> model input (e.g. padded features and labels).
    """

    def dataset_fn(context: tf.distribute.InputContext):
        per_pipeline = context.num_replicas_in_sync // context.num_input_pipelines
        first = context.input_pipeline_id * per_pipeline
        replicas = range(first, first + per_pipeline)
        parts = replica_batches(global_batches().repeat(), context.num_replicas_in_sync, replicas)
        return parts.map(to_element, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    return strategy.distribute_datasets_from_function(dataset_fn)
