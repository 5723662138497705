"""Keras precision policies: float32 unless asked, or the one that runs fastest on this machine.

kerastl has one default for Python and the command line: float32, Keras' own. Mixed precision
is asked for in one of two ways:

- `TextClassifier.from_backbone(..., precision="auto" | "mixed_bfloat16" | ...)` (and
  `kerastl train --precision`) builds that one model under the policy and leaves Keras' global
  policy as it was;
- `set_precision(policy)` sets Keras' global policy, which every model built afterwards uses,
  `from_backbone(precision=None)` (the default) included.
"""

import contextlib
import logging
import os
from pathlib import Path

import tensorflow as tf

from kerastl._keras import keras
from kerastl.config import PRECISIONS

logger = logging.getLogger(__name__)

POLICIES = PRECISIONS
# Set to one of POLICIES, `auto` picks that policy on any machine: a test suite can then run as it
# would on a CPU with (or without) fast bf16.
AUTO_PRECISION_ENV = "KERASTL_AUTO_PRECISION"
_BF16_CPU_FLAGS = {"amx_bf16", "avx512_bf16"}


def detect_precision() -> str:
    """`mixed_bfloat16` on hardware with fast bf16 matmuls, `mixed_float16` on older GPUs, else float32.

    GPUs of compute capability 8.0+ (Ampere, Hopper) run bf16; 7.x (Volta, Turing) run float16
    with loss scaling. CPUs qualify for bf16 with AMX or AVX512-BF16; without them TensorFlow
    emulates bf16 and it is slower than float32. The environment variable `KERASTL_AUTO_PRECISION`,
    set to one of `POLICIES`, overrides the detection.
    """
    forced = os.environ.get(AUTO_PRECISION_ENV)
    if forced:
        if forced not in POLICIES:
            raise ValueError(f"{AUTO_PRECISION_ENV} must be one of {POLICIES}, received {forced!r}")
        return forced
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
        if capability >= (8, 0):
            return "mixed_bfloat16"
        return "mixed_float16" if capability >= (7, 0) else "float32"
    return "mixed_bfloat16" if _BF16_CPU_FLAGS & _cpu_flags() else "float32"


def set_precision(policy: str = "auto") -> str:
    """Set Keras' global precision policy, for every model built afterwards.

    `TextClassifier.from_backbone` follows it unless given `precision=`. Logits and loss stay
    float32 under every policy.

    Args:
        policy: `"auto"` (see `detect_precision`) or one of `POLICIES`.

    Returns:
        The policy now in force.

    Example:
    >>> set_precision("float32")
    'float32'
    """
    policy = resolve_precision(policy)
    keras.mixed_precision.set_global_policy(policy)
    logger.info("precision: %s", policy)
    return policy


def resolve_precision(policy: str) -> str:
    """The policy name `policy` stands for: `"auto"` detected for this machine, a name checked."""
    if policy == "auto":
        policy = detect_precision()
    if policy not in POLICIES:
        raise ValueError(f"precision must be 'auto' or one of {POLICIES}, received precision={policy!r}")
    return policy


@contextlib.contextmanager
def precision_scope(policy):
    """Within the block, Keras' global policy is `policy` (`None`: left as it is); restored after.

    Layers take their policy when they are created, so a model built in the block keeps it.

    Example:
    >>> with precision_scope("mixed_bfloat16") as policy:
    ...     keras.layers.Dense(2).dtype_policy.name  # a layer built in the block
    'mixed_bfloat16'
    >>> keras.mixed_precision.global_policy().name  # as it was
    'float32'
    """
    if policy is None:
        yield keras.mixed_precision.global_policy().name
        return
    policy = resolve_precision(policy)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield policy
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _cpu_flags() -> set:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()
