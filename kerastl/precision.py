"""Pick the Keras precision policy that runs fastest on this machine without hurting accuracy."""

import logging
from pathlib import Path

import tensorflow as tf

from kerastl._keras import keras
from kerastl.config import PRECISIONS

logger = logging.getLogger(__name__)

POLICIES = PRECISIONS
_BF16_CPU_FLAGS = {"amx_bf16", "avx512_bf16"}


def detect_precision() -> str:
    """`mixed_bfloat16` on hardware with fast bf16 matmuls, `mixed_float16` on older GPUs, else float32.

    GPUs of compute capability 8.0+ (Ampere, Hopper) run bf16; 7.x (Volta, Turing) run float16
    with loss scaling. CPUs qualify for bf16 with AMX or AVX512-BF16; without them TensorFlow
    emulates bf16 and it is slower than float32.
    """
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
