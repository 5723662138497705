"""The peers of `benchmarks/serving.py` that are not TensorFlow: PyTorch (in its own process,
`serving_torch.py`), ONNX Runtime and OpenVINO on the ONNX file PyTorch exports, and kerastl's
own ONNX export. Each row is `run(texts) -> probabilities`, its Python tokenizer call included;
a row may also have `timed(requests) -> seconds per request` (the PyTorch rows, timed in their
process).
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The packages each peer row needs, by row-name prefix; `make bench-deps` installs them all.
NEEDS = {
    "torch": ("torch",),
    "onnxruntime": ("torch", "onnx", "onnxruntime", "sympy"),
    "openvino": ("torch", "onnx", "openvino"),
    "kerastl_onnx": ("onnx", "onnxruntime", "sympy"),
}


def missing_packages() -> dict:
    """{row group: [missing packages]} for the groups this machine cannot run."""
    missing = {}
    for group, packages in NEEDS.items():
        absent = [p for p in packages if importlib.util.find_spec(p) is None]
        if absent:
            missing[group] = absent
    return missing


def softmax(logits):
    logits = logits - logits.max(-1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(-1, keepdims=True)


def timed(path, requests) -> list:
    """Seconds for each request, run in a row."""
    if hasattr(path, "timed"):
        return path.timed(requests)
    seconds = []
    for texts in requests:
        start = time.perf_counter()
        path(texts)
        seconds.append(time.perf_counter() - start)
    return seconds


class TorchWorker:
    """`serving_torch.py` in a child process: its rows as `TorchRow`s, and the ONNX file it wrote."""

    def __init__(self, folder, num_labels, max_length, rows, onnx_path=None):
        script = Path(__file__).with_name("serving_torch.py")
        self.log = tempfile.TemporaryFile()
        env = {name: value for name, value in os.environ.items() if name != "USE_TORCH"}
        self.process = subprocess.Popen(
            [sys.executable, str(script), str(folder), str(num_labels), str(max_length), ",".join(rows),
             str(onnx_path or "")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        ready = self.process.stdout.readline()
        if not ready:
            self.log.seek(0)
            raise RuntimeError(f"serving_torch.py failed:\n{self.log.read().decode()[-3000:]}")
        self.rows = {name: TorchRow(self, name) for name in json.loads(ready)["ready"]}

    def ask(self, message) -> dict:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.write(json.dumps({"quit": True}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)


class TorchRow:
    def __init__(self, worker, name):
        self.worker, self.name = worker, name

    def __call__(self, texts):
        return np.array(self.worker.ask({"row": self.name, "texts": list(texts)})["probabilities"])

    def timed(self, requests):
        return self.worker.ask({"row": self.name, "requests": [list(texts) for texts in requests]})["seconds"]


def _hf_tokenize(tokenizer, max_length):
    def features(texts):
        inputs = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="np")
        return {"input_ids": inputs["input_ids"].astype(np.int64),
                "attention_mask": inputs["attention_mask"].astype(np.int64)}

    return features


def onnxruntime_paths(onnx_path, tokenizer, max_length, num_heads, hidden) -> tuple:
    """(`onnxruntime_fp32`, `onnxruntime_int8`, fused operator counts): PyTorch's ONNX graph optimised
    by `onnxruntime.transformers.optimizer` (model type bert), and that dynamically quantised."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer

    onnx_path = Path(onnx_path)
    optimized = optimizer.optimize_model(str(onnx_path), model_type="bert", num_heads=num_heads, hidden_size=hidden)
    fused = {op: n for op, n in optimized.get_fused_operator_statistics().items() if n}
    fp32 = onnx_path.with_name("peer_optimized.onnx")
    optimized.save_model_to_file(str(fp32))
    int8 = onnx_path.with_name("peer_int8.onnx")
    # The matmuls and attention, int8 weights, at the quantizer's defaults (one scale per matrix;
    # kerastl's export_onnx takes one per output channel, at the same speed).
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Attention"],
                     extra_options={"DefaultTensorType": 1})  # onnx.TensorProto.FLOAT
    features = _hf_tokenize(tokenizer, max_length)

    def path(file):
        session = onnxruntime.InferenceSession(str(file), providers=["CPUExecutionProvider"])

        def run(texts):
            return softmax(session.run(["logits"], features(texts))[0])

        return run

    return path(fp32), path(int8), fused


def openvino_bf16_available() -> bool:
    import openvino

    return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def openvino_path(onnx_path, tokenizer, max_length, precision="f32"):
    """OpenVINO's CPU plugin on PyTorch's ONNX graph, `INFERENCE_PRECISION_HINT` `precision`."""
    import openvino

    compiled = openvino.Core().compile_model(str(onnx_path), "CPU", {"INFERENCE_PRECISION_HINT": precision})
    request = compiled.create_infer_request()
    features = _hf_tokenize(tokenizer, max_length)

    def run(texts):
        request.infer(features(texts))
        return softmax(np.array(request.get_output_tensor(0).data, np.float32))

    return run


def kerastl_onnx_paths(model, folder) -> dict:
    """`kerastl_onnx`, `kerastl_onnx_int8`: `export_onnx` of the kerastl model, run by `load_onnx`
    (the saved tokenizer, texts sorted by length in chunks of its default size)."""
    import kerastl

    export_onnx = getattr(kerastl, "export_onnx", None)
    load_onnx = getattr(kerastl, "load_onnx", None)
    if export_onnx is None:
        from kerastl.serving.onnx_export import export_onnx, load_onnx
    paths = {}
    for name, quantize in (("kerastl_onnx", None), ("kerastl_onnx_int8", "int8")):
        loaded = load_onnx(export_onnx(model, Path(folder) / name, quantize=quantize))
        paths[name] = loaded.probabilities
    return paths
