"""kerastl never imports PyTorch, even where it is installed (issue 27).

A stand-in `torch` package goes first on PYTHONPATH, with its `torch-*.dist-info` so that
importlib.metadata and transformers believe torch installed; importing it ends the process with
exit code 86 (`os._exit`, which nothing can catch), as PyTorch's wheel with triton crashes a process
that has loaded TensorFlow. kerastl's paths then run in a subprocess, without any environment
variable set for them: loading, training, predicting, saving and exporting must end with 0.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import tiny_distilbert_config, tiny_tokenizer, write_checkpoint_folder

ROOT = Path(__file__).resolve().parents[1]
TORCH_IMPORTED = 86


def stand_in_torch(folder: Path) -> Path:
    """A `torch` whose import ends the process, and the metadata of an installed torch 2.13.0."""
    (folder / "torch").mkdir(parents=True)
    (folder / "torch" / "__init__.py").write_text(f"import os\nos._exit({TORCH_IMPORTED})\n")
    info = folder / "torch-2.13.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.13.0\n")
    (info / "RECORD").write_text("")
    return folder


def run_without_torch(folder: Path, args, timeout=900) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if key not in ("USE_TORCH", "USE_TF", "TF_USE_LEGACY_KERAS", "TRANSFORMERS_NO_TORCH")}
    env["PYTHONPATH"] = os.pathsep.join([str(stand_in_torch(folder / "site")), str(ROOT)])
    return subprocess.run([sys.executable, *args], cwd=str(folder), env=env, capture_output=True, text=True,
                          timeout=timeout)


def assert_ran_without_torch(result: subprocess.CompletedProcess) -> None:
    assert result.returncode != TORCH_IMPORTED, f"torch was imported:\n{result.stderr[-4000:]}"
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stderr[-4000:]}"


def test_the_stand_in_torch_ends_a_process_that_imports_it(tmp_path):
    # The check can fail: transformers, told torch is installed, imports it for a tokenizer class.
    program = ("import importlib.metadata as m; assert m.version('torch') == '2.13.0'; "
               "from transformers import AutoTokenizer; AutoTokenizer.from_pretrained")
    result = run_without_torch(tmp_path, ["-c", program])
    assert result.returncode == TORCH_IMPORTED, result.stderr[-2000:]


TINY_PROGRAM = """
import sys
import numpy as np
import kerastl
from kerastl import keras  # the Keras kerastl runs on; transformers is imported without torch from here
from transformers import AutoConfig

config, tokenizer, checkpoint = sys.argv[1:4]
texts, labels = ["a good film", "awful", "i love it", "dull"], ["pos", "neg", "pos", "neg"]
model = kerastl.TextClassifier.from_backbone(AutoConfig.from_pretrained(config), ["neg", "pos"],
                                             tokenizer=tokenizer, max_length=16)
model.compile()
model.fit(texts, labels, batch_size=4, epochs=1, verbose=0)
logits = model.predict(texts, verbose=0)
assert logits.shape == (4, 2) and np.isfinite(logits).all()
path = model.save_pretrained("saved")
loaded = kerastl.TextClassifier.from_pretrained(path)
np.testing.assert_allclose(loaded.predict(texts, verbose=0), logits, atol=1e-5)
kerastl.export_saved_model(loaded, "serving")
folder = kerastl.TextClassifier.from_backbone(checkpoint, ["neg", "pos"], max_length=16)
assert folder.predict(texts, verbose=0).shape == (4, 2)
assert "torch" not in sys.modules
"""


def test_a_tiny_model_trains_saves_and_exports_without_importing_torch(tmp_path):
    config = tiny_distilbert_config()
    config.save_pretrained(tmp_path / "config")
    tiny_tokenizer().save_pretrained(str(tmp_path / "tokenizer"))
    write_checkpoint_folder(tmp_path / "checkpoint", config, tiny_tokenizer())
    program = tmp_path / "program.py"
    program.write_text(TINY_PROGRAM)
    result = run_without_torch(tmp_path, [str(program), str(tmp_path / "config"), str(tmp_path / "tokenizer"),
                                          str(tmp_path / "checkpoint")])
    assert_ran_without_torch(result)
    assert (tmp_path / "serving" / "1" / "saved_model.pb").exists()


PRESET_PROGRAM = """
import numpy as np
import kerastl

model = kerastl.TextClassifier.from_backbone("all-minilm-l6-v2", label_names=["a", "b"])
model.compile()
model.fit(["one text", "another one"], ["a", "b"], batch_size=2, epochs=1, verbose=0)
assert np.isfinite(model.predict(["one text"], verbose=0)).all()
kerastl.export_saved_model(model, "serving")
"""


@pytest.mark.slow
def test_the_minilm_preset_trains_and_exports_without_importing_torch(tmp_path):
    program = tmp_path / "program.py"
    program.write_text(textwrap.dedent(PRESET_PROGRAM))
    assert_ran_without_torch(run_without_torch(tmp_path, [str(program)]))
    assert (tmp_path / "serving" / "1" / "saved_model.pb").exists()


@pytest.mark.slow
def test_the_command_line_trains_the_minilm_preset_without_importing_torch(tmp_path):
    rows = [("a good film", "pos"), ("awful", "neg"), ("i love it", "pos"), ("dull", "neg")] * 2
    (tmp_path / "train.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    result = run_without_torch(tmp_path, ["-m", "kerastl", "train", "--model", "all-minilm-l6-v2",
                                          "--train", "train.csv", "--output", "out", "--head-epochs", "1",
                                          "--epochs", "1", "--batch-size", "4"])
    assert_ran_without_torch(result)
    assert (tmp_path / "out").is_dir()
