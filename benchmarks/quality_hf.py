"""The Hugging Face TF path of benchmarks/quality.py, run in a child process under tf-keras.

`TFAutoModelForSequenceClassification` on the all-MiniLM-L6-v2 folder, written as the transformers
docs and course teach it: `tokenizer(text, text_pair, truncation=True)` in `Dataset.map`,
`prepare_tf_dataset` (dynamic padding), Adam 5e-5, batch 32, `model.fit`, float32. Per task:

- classification: the model's own loss (sparse categorical cross-entropy); the class of the
  highest logit.
- regression: `num_labels=1`, `problem_type="regression"`; the model's own loss (the TF classes
  pick mean squared error for one output); the logit is the score.
- multi_label: `problem_type="multi_label_classification"` and multi-hot float labels. The TF
  classes' own loss ignores `problem_type` (it is sparse categorical cross-entropy for more than one
  output), so the model is compiled with `BinaryCrossentropy(from_logits=True)`, as users of the TF
  path do; a label is predicted where its sigmoid is at least 0.5.
"""

import time
from pathlib import Path

from quality_data import SETS, read_split

PRESET = "all-minilm-l6-v2"
MAX_LENGTH = 128  # kerastl's default; the HF path truncates at the same length
SETTINGS = {"optimizer": "Adam", "learning_rate": 5e-5, "batch_size": 32, "inference_batch_size": 64,
            "precision": "float32", "max_length": MAX_LENGTH, "threshold": 0.5}
PROBLEM_TYPES = {"classification": "single_label_classification", "regression": "regression",
                 "multi_label": "multi_label_classification"}


def load_hf_model(num_labels: int, problem_type: str):
    """TFAutoModelForSequenceClassification on the MiniLM folder, its PyTorch safetensors read with
    NumPy (transformers 4.57 needs torch for `from_pretrained(..., from_pt=True)`); returns the model,
    the tokenizer and the weights the checkpoint lacks (a new head, as from_pretrained makes)."""
    from safetensors.numpy import load_file
    from transformers import AutoConfig, AutoTokenizer, TFAutoModelForSequenceClassification
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    import kerastl

    folder = kerastl.preset_path(PRESET)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    config = AutoConfig.from_pretrained(str(folder), num_labels=num_labels, problem_type=problem_type)
    model = TFAutoModelForSequenceClassification.from_config(config)
    model(model.dummy_inputs, training=False)  # create the weights
    _, info = load_pytorch_state_dict_in_tf2_model(model, load_file(str(folder / "model.safetensors")),
                                                   allow_missing_keys=True, output_loading_info=True)
    unexpected = [k for k in info["unexpected_keys"] if not k.endswith("position_ids")]  # a PyTorch buffer
    if unexpected or any("pooler" not in k and "classifier" not in k for k in info["missing_keys"]):
        raise RuntimeError(f"the MiniLM weights do not fit the TF model: {info}")
    return model, tokenizer, sorted(info["missing_keys"])


def child_hf_tf(spec) -> dict:
    """Train on <folder>/train.jsonl, predict every evaluation split: {"predictions": {split: [...]}}."""
    import datasets
    import numpy as np
    import tf_keras as keras

    datasets.disable_progress_bars()
    qset = SETS[spec["set"]]
    task, labels = qset.task, spec["labels"]
    folder = Path(spec["folder"])
    keras.utils.set_random_seed(spec["seed"])
    model, tokenizer, missing = load_hf_model(1 if task == "regression" else len(labels), PROBLEM_TYPES[task])

    def targets(values):
        if task == "regression":
            return [float(v) for v in values]
        if task == "multi_label":  # multi-hot, float for binary cross-entropy
            return [[float(name in names) for name in labels] for names in values]
        ids = {name: i for i, name in enumerate(labels)}
        return [ids[v] for v in values]

    def tokenize(batch):
        pairs = (batch["text_pair"],) if qset.pair else ()
        return tokenizer(batch["text"], *pairs, truncation=True, max_length=MAX_LENGTH)

    def tf_dataset(split, shuffle, batch_size):
        inputs, values = read_split(folder, split, qset)
        columns = {"text": [x[0] for x in inputs], "text_pair": [x[1] for x in inputs]} if qset.pair \
            else {"text": inputs}
        ds = datasets.Dataset.from_dict({**columns, "label": targets(values)})
        ds = ds.map(tokenize, batched=True, remove_columns=list(columns))
        return model.prepare_tf_dataset(ds, batch_size=batch_size, shuffle=shuffle, tokenizer=tokenizer,
                                        drop_remainder=False)

    start = time.perf_counter()
    optimizer = keras.optimizers.Adam(SETTINGS["learning_rate"])
    if task == "multi_label":
        model.compile(optimizer=optimizer, loss=keras.losses.BinaryCrossentropy(from_logits=True))
    else:
        model.compile(optimizer=optimizer)  # the model's own loss
    model.fit(tf_dataset("train", True, SETTINGS["batch_size"]), epochs=spec["epochs"], verbose=2)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predictions = {}
    for split in spec["eval_splits"]:
        logits = model.predict(tf_dataset(split, False, SETTINGS["inference_batch_size"]), verbose=0)["logits"]
        if task == "regression":
            predictions[split] = [float(x) for x in logits[:, 0]]
        elif task == "multi_label":
            chosen = 1 / (1 + np.exp(-logits)) >= SETTINGS["threshold"]
            predictions[split] = [[labels[j] for j in np.flatnonzero(row)] for row in chosen]
        else:
            predictions[split] = [labels[i] for i in np.argmax(logits, axis=-1)]
    return {"predictions": predictions, "train_seconds": round(train_seconds, 1),
            "predict_seconds": round(time.perf_counter() - start, 1), "missing_keys": missing}
