"""Every example runs in its fast mode, so the examples cannot rot silently."""

import subprocess
import sys
from pathlib import Path

import pytest

import kerastl

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_rotten_tomatoes_demo_runs_on_a_tiny_encoder(tmp_path):
    try:
        kerastl.preset_path("all-minilm-l6-v2")
        from kerastl.datasets import rotten_tomatoes_path

        rotten_tomatoes_path()
    except kerastl.KerastlError as err:
        pytest.skip(str(err))
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "rotten_tomatoes.py"), "--tiny", "--output", str(tmp_path / "m")],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy" in result.stdout
    assert (tmp_path / "m" / "kerastl.json").is_file()
    assert result.stdout.count("  A warm, funny") + result.stdout.count("  Two hours") == 2
