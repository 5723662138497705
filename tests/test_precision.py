"""Precision policies: what `auto` picks, and KERASTL_AUTO_PRECISION to pick for it."""

import pytest

from kerastl import keras, precision
from kerastl.precision import AUTO_PRECISION_ENV, POLICIES, detect_precision, set_precision


@pytest.mark.parametrize("policy", POLICIES)
def test_the_environment_variable_decides_what_auto_picks(monkeypatch, policy):
    monkeypatch.setenv(AUTO_PRECISION_ENV, policy)
    assert detect_precision() == policy
    assert set_precision("auto") == policy
    assert keras.mixed_precision.global_policy().name == policy


def test_without_the_variable_a_cpu_follows_its_bf16_flags(monkeypatch):
    monkeypatch.delenv(AUTO_PRECISION_ENV, raising=False)
    monkeypatch.setattr(precision.tf.config, "list_physical_devices", lambda kind: [])
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx2", "avx512_bf16"})
    assert detect_precision() == "mixed_bfloat16"
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx2", "fma"})
    assert detect_precision() == "float32"


def test_unknown_policies_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="precision must be 'auto' or one of"):
        set_precision("bfloat16")
    monkeypatch.setenv(AUTO_PRECISION_ENV, "fast")
    with pytest.raises(ValueError, match=f"{AUTO_PRECISION_ENV} must be one of"):
        set_precision("auto")
