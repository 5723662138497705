"""The PyTorch rows of `benchmarks/serving.py`, in a process of their own (never TensorFlow's).

Started by `serving.py` as `python serving_torch.py FOLDER NUM_LABELS MAX_LENGTH ROWS [ONNX_PATH]`:
builds the rows named in ROWS (comma-separated, of `ROWS` below) on a randomly initialised
PyTorch model of the checkpoint in FOLDER, writes the float32 model as ONNX to ONNX_PATH if given
(`torch.onnx.export`, opset 17, dynamic batch and length: the ONNX Runtime and OpenVINO rows'
model), prints one JSON line `{"ready": [...]}`, then answers JSON lines on stdin:

- `{"row": NAME, "requests": [[text, ...], ...]}` -> `{"seconds": [...]}`: each request run and
  timed here, in a row, so the process boundary is outside the timings;
- `{"row": NAME, "texts": [...]}` -> `{"probabilities": [[...], ...]}`;
- `{"quit": true}` ends it.
"""

import json
import os
import sys
import time

import numpy as np
import torch
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, pipeline

ROWS = ("torch_forward", "torch_forward_bf16", "torch_pipeline", "torch_pipeline_bf16")


def build(folder, num_labels, max_length, rows):
    torch.set_num_threads(os.cpu_count() or 1)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = AutoConfig.from_pretrained(folder, num_labels=num_labels)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_config(config).eval()
    models = {False: model}
    if any(row.endswith("_bf16") for row in rows):
        models[True] = AutoModelForSequenceClassification.from_config(config).eval()
        models[True].load_state_dict(model.state_dict())
        models[True] = models[True].to(torch.bfloat16)
    paths = {}
    for row in rows:
        bf16 = row.endswith("_bf16")
        paths[row] = (forward_path if row.startswith("torch_forward") else pipeline_path)(
            models[bf16], tokenizer, max_length)
    return model, paths


def forward_path(model, tokenizer, max_length):
    """The Python fast tokenizer, then the model's forward in `torch.inference_mode`."""

    def run(texts):
        inputs = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        with torch.inference_mode():
            return torch.softmax(model(**inputs).logits.float(), -1).numpy()

    return run


def pipeline_path(model, tokenizer, max_length):
    """transformers' text-classification pipeline, `batch_size` as the request's."""
    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu", top_k=None)

    def run(texts):
        with torch.inference_mode():
            out = classify(texts, batch_size=len(texts), truncation=True, max_length=max_length)
        return np.array([[score["score"] for score in sorted(row, key=lambda s: s["label"])] for row in out])

    return run


def export_onnx(model, path):
    ids = torch.ones(2, 8, dtype=torch.long)
    dynamic = {0: "batch", 1: "sequence"}
    torch.onnx.export(model, (ids, torch.ones_like(ids)), path, input_names=["input_ids", "attention_mask"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "logits": {0: "batch"}})


def main():
    folder, num_labels, max_length, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rows = [row for row in rows.split(",") if row]
    model, paths = build(folder, num_labels, max_length, rows)
    if len(sys.argv) > 5 and sys.argv[5]:
        export_onnx(model, sys.argv[5])
    reply = sys.stdout
    reply.write(json.dumps({"ready": list(paths)}) + "\n")
    reply.flush()
    for line in sys.stdin:
        message = json.loads(line)
        if message.get("quit"):
            break
        run = paths[message["row"]]
        if "texts" in message:
            answer = {"probabilities": run(message["texts"]).tolist()}
        else:
            seconds = []
            for texts in message["requests"]:
                start = time.perf_counter()
                run(texts)
                seconds.append(time.perf_counter() - start)
            answer = {"seconds": seconds}
        reply.write(json.dumps(answer) + "\n")
        reply.flush()


if __name__ == "__main__":
    main()
