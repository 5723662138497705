"""Pick the Keras precision policy that runs fastest on this machine without hurting accuracy."""

import logging
import os
from pathlib import Path

import tensorflow as tf

from kerastl._keras import keras

logger = logging.getLogger(__name__)

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
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
    """Set the global Keras precision policy; call it before building a model.

    Args:
        policy: `"auto"` (see `detect_precision`) or one of `POLICIES`.

    Returns:
        The policy now in force.

    Example:
    >>> set_precision("float32")
    'float32'
    """
    if policy == "auto":
        policy = detect_precision()
    if policy not in POLICIES:
        raise ValueError(f"precision must be 'auto' or one of {POLICIES}, received precision={policy!r}")
    keras.mixed_precision.set_global_policy(policy)
    logger.info("precision: %s", policy)
    return policy


def _cpu_flags() -> set:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()
